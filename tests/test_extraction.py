"""`--task extract`: the greedy ROUGE oracle against a slow recomputation, the training examples
(markers and labels), a scorer that learns which sentence the summaries take, and the learned
method end to end through the CLI (train, summarize, eval, wrong models as one line)."""

import json
import random
import subprocess
import sys
from pathlib import Path

import pytest

from reformer_cli.core.head_loss import IGNORE_INDEX
from reformer_cli.data.extraction import ExtractionExamples, label_ids, marked_windows
from reformer_cli.evaluation.oracle import greedy_oracle
from reformer_cli.evaluation.rouge import rouge_tokens
from reformer_cli.summarize.scoring import candidate_indexes
from reformer_cli.text.sentences import split_sentences
from reformer_cli.text.tokenizer import ByteTokenizer
from reformer_cli.text.words import count_words

ROOT = Path(__file__).resolve().parents[1]
PYTHON = ROOT / ".venv" / "bin" / "python"
PYTHON = str(PYTHON) if PYTHON.exists() else sys.executable


def slow_greedy_oracle(sentences, reference):
    """Each step recomputes ROUGE-1 + ROUGE-2 F1 of the whole concatenation."""
    chosen, selection, best_score = [], [], 0.0
    while len(selection) < len(reference):
        best, best_index = best_score, None
        for index, words in enumerate(sentences):
            if index in chosen or not words:
                continue
            scores = rouge_tokens(reference, selection + words)
            if scores.rouge1 + scores.rouge2 > best + 1e-12:
                best, best_index = scores.rouge1 + scores.rouge2, index
        if best_index is None:
            return chosen
        chosen.append(best_index)
        selection = selection + sentences[best_index]
        best_score = best
    return chosen


def test_greedy_oracle_matches_a_recomputation_of_rouge_at_every_step():
    rng = random.Random(0)
    vocabulary = "a b c d e f g h".split()
    picked_counts = []
    for _ in range(300):
        sentences = [[rng.choice(vocabulary) for _ in range(rng.randint(0, 6))]
                     for _ in range(rng.randint(1, 8))]
        reference = [rng.choice(vocabulary) for _ in range(rng.randint(1, 12))]
        expected = slow_greedy_oracle(sentences, reference)
        assert greedy_oracle(sentences, reference) == expected
        picked_counts.append(len(expected))
    assert max(picked_counts) >= 3  # the cases do exercise several steps and the junction bigram


def test_oracle_of_a_reference_that_is_one_sentence_is_that_sentence():
    sentences = [s.split() for s in ("the cat sat", "a dog ran far away", "birds fly south")]
    assert greedy_oracle(sentences, "a dog ran far away".split()) == [1]
    assert greedy_oracle(sentences, "nothing shared".split()) == []


DOCUMENT = ("Heading\n\nThe quick fox jumps over the dog. Zebras graze on the wide plain today. "
            "Rain falls in the north. The market opens at nine.\n\n- a list item here\n\n"
            "Snow covers the high mountains. Ships sail from the old harbour.")


def test_examples_label_the_oracle_sentence_at_its_marker_and_nothing_else():
    tokenizer = ByteTokenizer()
    keep, skip = label_ids(tokenizer)
    sentences = split_sentences(DOCUMENT)
    candidates = candidate_indexes(sentences)
    zebra = next(i for i in candidates if "Zebras" in sentences[i].text)
    for seq_len in (64, 100, 4096):  # several windows, and one
        examples = ExtractionExamples([(DOCUMENT, "Zebras graze on the wide plain today.")],
                                      tokenizer, seq_len)
        windows = marked_windows(sentences, candidates, tokenizer, seq_len)
        assert len(examples) == len(windows) and (len(windows) > 1) == (seq_len < 4096)
        assert sorted(i for w in windows for i in w.marked) == candidates  # each scored once
        for window, ids, targets in zip(windows, examples.inputs, examples.targets):
            assert len(window.ids) <= seq_len
            labelled = [int(p) for p in (targets != IGNORE_INDEX).nonzero()[0]]
            assert labelled == window.markers
            assert all(ids[p] == tokenizer.sep_id for p in window.markers)
            for position, index in zip(window.markers, window.marked):
                assert targets[position] == (keep if index == zebra else skip)
                text = tokenizer.decode(ids[:position].tolist())  # the marker follows its sentence
                assert text.endswith(sentences[index].text[-(seq_len - 1):])
        assert examples.n_kept == 1 and examples.n_marked == len(candidates)


FILLER = ("river stone cloud market window garden letter morning silver engine paper forest "
          "bridge candle winter harbour").split()
CUES = ("zebra", "violet", "quartz")


def synthetic_pair(rng):
    """Six filler sentences and one that carries a cue word; the summary is that sentence."""
    sentences = [" ".join(rng.choice(FILLER) for _ in range(5)).capitalize() + "." for _ in range(6)]
    words = [rng.choice(FILLER) for _ in range(4)]
    words.insert(rng.randrange(5), rng.choice(CUES))
    key = " ".join(words).capitalize() + "."
    sentences.insert(rng.randrange(7), key)
    return " ".join(sentences), key


def reformer(*args, cwd, timeout=600):
    return subprocess.run([PYTHON, "-m", "reformer_cli", *map(str, args)], capture_output=True,
                          text=True, cwd=cwd, timeout=timeout)


TINY_EXTRACT = """\
model: {d_model: 64, n_heads: 2, d_ff: 128, n_layers: 2, layer_types: [local, lsh], chunk_length: 32,
        causal: false, dropout: 0.0}
data: {seq_len: 256, tokenizer: byte, task: extract, val_fraction: 0.05}
train: {steps: 250, batch_size: 8, lr: 3.0e-3, warmup_steps: 20, eval_every: 250, eval_batches: 2,
        log_every: 50, checkpoint_every: 250, keep_checkpoints: 1, device: cpu, seed: 0}
"""


@pytest.fixture(scope="module")
def scorer_root(tmp_path_factory):
    """models/scorer: trained with --task extract on synthetic pairs; models/lm: a language model."""
    from tiny_models import save_tiny_model

    root = tmp_path_factory.mktemp("extract")
    rng = random.Random(0)
    with (root / "pairs.jsonl").open("w") as file:
        for _ in range(400):
            document, key = synthetic_pair(rng)
            file.write(json.dumps({"document": document, "summary": key}) + "\n")
    (root / "tiny.yaml").write_text(TINY_EXTRACT)
    result = reformer("train", "pairs.jsonl", "--config", "tiny.yaml", "--name", "scorer", cwd=root)
    assert result.returncode == 0, result.stderr
    save_tiny_model(root, "lm", task="lm", seq_len=256)
    return root


@pytest.mark.slow
def test_the_scorer_learns_which_sentence_the_summaries_take(scorer_root):
    from reformer_cli.summarize.learned import load_scorer, score_sentences

    loaded = load_scorer(scorer_root / "models" / "scorer")
    rng = random.Random(1)  # documents the model has not seen
    hits = 0
    for _ in range(40):
        document, key = synthetic_pair(rng)
        sentences = split_sentences(document)
        candidates = candidate_indexes(sentences)
        keep = score_sentences(loaded.model, loaded.tokenizer, sentences, candidates, 256)
        assert keep.shape == (len(candidates),) and ((keep > 0) & (keep < 1)).all()
        hits += sentences[candidates[int(keep.argmax())]].text == key
    assert hits >= 32  # chance is 1 in 7


@pytest.mark.slow
def test_the_model_exponent_goes_from_the_model_free_method_to_the_model(scorer_root):
    from reformer_cli.summarize.extractive import summarize_extractive
    from reformer_cli.summarize.learned import summarize_learned
    from reformer_cli.summarize.scoring import ScoringConfig
    from reformer_cli.summarize.selection import Budget
    from reformer_cli.summarize.summary import SummarizeOptions

    options = SummarizeOptions(budget=Budget(sentences=1))
    rng = random.Random(3)
    hits = 0
    for _ in range(20):
        document, key = synthetic_pair(rng)
        without = summarize_learned(document, scorer_root / "models" / "scorer", options,
                                    scoring=ScoringConfig(model_exponent=0.0))
        # A model of the user's own scales centrality and the lead prior, not the keyword
        # density and phrase prior that were chosen with the shipped scorer.
        assert without.text == summarize_extractive(
            document, options.budget,
            config=ScoringConfig(keyword_exponent=0.0, phrase_weight=0.0)).text
        only = summarize_learned(document, scorer_root / "models" / "scorer", options,
                                 scoring=ScoringConfig(model_exponent=8.0))
        assert only.method == "learned" and len(only.sentences) == 1
        hits += only.text == key
    assert hits >= 16


@pytest.mark.slow
def test_summarize_and_eval_with_the_scorer_through_the_cli(scorer_root):
    rng = random.Random(2)
    document, key = synthetic_pair(rng)
    (scorer_root / "doc.txt").write_text(document)
    result = reformer("summarize", "doc.txt", "--model", "scorer", "--max-words", 12, "--format",
                      "json", cwd=scorer_root)
    assert result.returncode == 0, result.stderr
    record = json.loads(result.stdout)
    assert record["method"] == "learned" and record["model"].endswith("scorer/final")
    assert record["device"] == "cpu" and record["summary_words"] <= 12
    assert sum(count_words(s["text"]) for s in record["sentences"]) == record["summary_words"]
    starts = [s["start"] for s in record["sentences"]]
    assert starts == sorted(starts)
    assert "learned method" in result.stderr

    pairs = scorer_root / "eval.jsonl"
    with pairs.open("w") as file:
        for _ in range(5):
            document, key = synthetic_pair(rng)
            file.write(json.dumps({"document": document, "summary": key}) + "\n")
    result = reformer("eval", pairs, "--model", "scorer", "--format", "json", cwd=scorer_root)
    assert result.returncode == 0, result.stderr
    record = json.loads(result.stdout)
    assert record["method"] == "learned" and record["n_pairs"] == 5
    assert record["rouge1"] > 50  # the references are sentences the scorer learned to find


@pytest.mark.slow
@pytest.mark.parametrize("args, words", [
    (("--model", "lm", "--method", "learned"), ("--task extract", "--task lm")),
    (("--model", "scorer", "--method", "abstractive"), ("--task summarize", "--task extract")),
])
def test_a_model_of_the_wrong_kind_is_one_line(scorer_root, args, words):
    (scorer_root / "short.txt").write_text("One sentence here. Another one there.")
    result = reformer("summarize", "short.txt", *args, cwd=scorer_root)
    assert result.returncode != 0 and result.stdout == ""
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: ") and "Traceback" not in result.stderr
    assert all(word in lines[0] for word in words), lines[0]


@pytest.mark.slow
def test_a_language_model_can_start_a_bidirectional_scorer(scorer_root):
    """--init-from a causal language model into --task extract with the config file's
    `causal: false` (the reader is pretrained as a language model, then learns to score
    sentences); the weights' shape comes from the model, not from the config file."""
    result = reformer("train", "pairs.jsonl", "--config", "tiny.yaml", "--init-from", "lm",
                      "--set", "train.steps=2", "--set", "model.chunk_length=8",
                      "--set", "data.seq_len=64", "--name", "from_lm", cwd=scorer_root)
    assert result.returncode == 0, result.stderr
    from reformer_cli.checkpoint import load_config

    config = load_config(scorer_root / "models" / "from_lm" / "final")
    source = load_config(scorer_root / "models" / "lm" / "final").model
    assert config.data.task == "extract" and config.model.causal is False  # from tiny.yaml
    assert source.causal is True
    assert (config.model.d_model, config.model.d_ff) == (source.d_model, source.d_ff) != (64, 128)
    assert config.model.chunk_length == 8  # --set beats both
