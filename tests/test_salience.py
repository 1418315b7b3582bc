"""Term salience with coverage (summarize/salience.py): the weights against a hand computation,
the incremental greedy against one that recomputes everything after each pick, the switch by
language, and quality against centrality on the Chinese dev set and on a held-out slice of the
Chinese train split."""

import json
import lzma
import math
import random

import pytest
from dev_sets import DEV, NO_DATA, model_free_rouge

from reformer_cli.summarize.extractive import summarize_extractive
from reformer_cli.summarize.salience import select_by_salience, term_weights
from reformer_cli.summarize.scoring import ScoringConfig
from reformer_cli.summarize.selection import Budget


def test_weights_are_probability_times_inverse_part_frequency():
    # Rows 0-1 form part 0, rows 2-3 part 1. Occurrences: a 3, b 1, c 2 of 6.
    weights = term_weights([{"a", "b"}, {"a"}, {"c"}, {"a", "c"}], parts=2)
    assert weights["a"] == pytest.approx(3 / 6 * math.log(3 / 2))  # in both parts
    assert weights["b"] == pytest.approx(1 / 6 * math.log(3))  # in part 0 only
    assert weights["c"] == pytest.approx(2 / 6 * math.log(3))  # in part 1 only


def assert_each_pick_is_the_best_by_recomputing(picks, term_sets, costs, parts):
    """The selection spelled out: before each pick, every sentence's value is recomputed from
    the weights of the terms no earlier pick holds; the pick made must have the largest."""
    weights = term_weights(term_sets, parts)
    covered, chosen = set(), set()
    for pick in sorted(picks, key=lambda pick: pick.rank):
        values = [-math.inf if row in chosen else
                  sum(weights[t] for t in term_set - covered) / costs[row]
                  for row, term_set in enumerate(term_sets)]
        assert values[pick.candidate] == pytest.approx(max(values), rel=1e-9, abs=1e-12)
        chosen.add(pick.candidate)
        covered |= term_sets[pick.candidate]


@pytest.mark.parametrize("seed", range(20))
def test_incremental_greedy_matches_recomputing_everything(seed):
    rng = random.Random(seed)
    vocabulary = [f"t{i}" for i in range(rng.randint(5, 40))]
    n = rng.randint(3, 60)
    term_sets = [set(rng.sample(vocabulary, rng.randint(1, min(8, len(vocabulary)))))
                 for _ in range(n)]
    texts = [f"sentence {row}" for row in range(n)]
    n_picks = rng.randint(1, n)
    picks, _ = select_by_salience(texts, term_sets, [2] * n, Budget(sentences=n_picks), parts=4)
    assert len(picks) == n_picks
    assert [pick.candidate for pick in picks] == sorted(pick.candidate for pick in picks)
    assert_each_pick_is_the_best_by_recomputing(picks, term_sets, [1] * n, parts=4)
    # Under a word budget the value is per word.
    lengths = [rng.randint(1, 9) for _ in range(n)]
    texts = [" ".join([f"w{row}"] + ["w"] * (length - 1)) + "." for row, length in enumerate(lengths)]
    budget = sum(lengths)  # room for every sentence: nothing skipped, the order is compared
    picks, _ = select_by_salience(texts, term_sets, lengths, Budget(max_words=budget), parts=4)
    assert len(picks) == n
    assert_each_pick_is_the_best_by_recomputing(picks, term_sets, lengths, parts=4)


def test_covered_terms_stop_counting():
    # The two copies of the rare-named sentence have the highest salience; the second copy
    # adds nothing once the first is chosen, so the next pick is a sentence with new terms.
    names = "曹操大怒，引兵攻打徐州。"
    other = "孫權按兵不動，坐觀成敗。"
    filler = [f"{'天地人和山水風雲'[i % 8]}{'日月星辰江河湖海'[(i * 3) % 8]}之事也。" for i in range(30)]
    text = "".join([names] + filler[:15] + [names, other] + filler[15:])
    summary = summarize_extractive(text, Budget(sentences=2), language="zh")
    lines = [s.text for s in summary.sentences]
    assert lines.count(names) == 1 and other in lines


def test_only_the_salience_languages_use_it():
    """Twelve repeats of one episode, then a new one: salience takes the new episode's terms
    (found in one part only); centrality stays with the sentences most like all the others."""
    episode = "".join(f"第{i}章。劉備與關羽在桃園結義。曹操聞之大怒。孫權按兵不動。" for i in range(12))
    text = episode + "諸葛亮火燒赤壁大破曹軍。周瑜借東風。"
    salience = summarize_extractive(text, Budget(max_words=30), language="zh")
    centrality = summarize_extractive(text, Budget(max_words=30), language="zh",
                                      config=ScoringConfig(salience_languages=()))
    assert "諸葛亮火燒赤壁大破曹軍。" in [s.text for s in salience.sentences]
    assert "諸葛亮火燒赤壁大破曹軍。" not in [s.text for s in centrality.sentences]


@pytest.mark.skipif(not (DEV / "zh_classics_huimu.dev.jsonl").exists(),
                    reason=NO_DATA)
def test_beats_centrality_on_the_chinese_dev_set_and_a_held_out_train_slice():
    dev = [json.loads(line) for line in (DEV / "zh_classics_huimu.dev.jsonl").open(encoding="utf-8")]
    with lzma.open(DEV / "zh_classics_huimu.train.jsonl.xz", "rt", encoding="utf-8") as file:
        train = [json.loads(line) for line in file][::4]  # 21 documents never used to choose
    for rows in (dev, train):
        salience = model_free_rouge(rows, "zh", ScoringConfig())
        centrality = model_free_rouge(rows, "zh", ScoringConfig(salience_languages=()))
        assert (salience > centrality).all(), (salience, centrality)
