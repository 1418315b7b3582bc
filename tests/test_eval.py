"""`reformer eval`: our ROUGE against a slow, obviously-correct reference and against rouge-score,
the command end to end on pairs (numbers checked) and on text (the trainer's own numbers), and
bad input as one line each."""

import json
import lzma
import math
import os
import random
import subprocess
import sys
from collections import Counter
from pathlib import Path
from pydoc_data.topics import topics

import pytest

from reformer_cli.evaluation.rouge import (
    cut_to_length,
    lcs_length,
    reference_length,
    rouge,
    rouge_tokens,
    tokens,
)
from reformer_cli.summarize.extractive import summarize_extractive
from reformer_cli.summarize.selection import Budget

ROOT = Path(__file__).resolve().parents[1]
ENV = dict(os.environ, OMP_NUM_THREADS="1", COLUMNS="200")
TINY_YAML = """\
model: {d_model: 32, n_heads: 2, d_ff: 64, n_layers: 2, layer_types: [local, lsh], chunk_length: 32}
data: {seq_len: 128}
train: {steps: 4, batch_size: 2, warmup_steps: 1, eval_every: 4, eval_batches: 2, log_every: 2,
        checkpoint_every: 4, keep_checkpoints: 1, device: cpu, deterministic: true, lr: 3.0e-3}
"""
CHINESE = ("劉備與關羽、張飛在桃園結義，誓同生死。曹操聞之大怒；孫權按兵不動！諸葛亮曰：「此乃天意也。」"
           "眾人皆服。") * 6


def reformer(*args, cwd=ROOT, timeout=300):
    return subprocess.run([sys.executable, "-m", "reformer_cli", *map(str, args)], cwd=cwd,
                          capture_output=True, text=True, timeout=timeout, env=ENV)


def assert_one_line_error(result, *fragments):
    assert result.returncode != 0
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), lines
    assert result.stdout == ""
    for fragment in fragments:
        assert fragment in lines[0], lines[0]


# --- ROUGE against a slow reference ------------------------------------------------------------

def slow_lcs(first, second):
    table = [[0] * (len(second) + 1) for _ in range(len(first) + 1)]
    for i, a in enumerate(first):
        for j, b in enumerate(second):
            table[i + 1][j + 1] = table[i][j] + 1 if a == b else max(table[i][j + 1], table[i + 1][j])
    return table[-1][-1]


def slow_f1(overlap, predicted, target):
    if overlap == 0:
        return 0.0
    precision, recall = overlap / predicted, overlap / target
    return 2 * precision * recall / (precision + recall)


def slow_ngram_f1(target, prediction, n):
    def grams(seq):
        return Counter(tuple(seq[i:i + n]) for i in range(len(seq) - n + 1))

    target_grams, predicted_grams = grams(target), grams(prediction)
    overlap = sum(min(count, predicted_grams[gram]) for gram, count in target_grams.items())
    return slow_f1(overlap, sum(predicted_grams.values()), sum(target_grams.values()))


def slow_rouge(target, prediction):
    lcs = slow_lcs(target, prediction) if target and prediction else 0
    return (slow_ngram_f1(target, prediction, 1), slow_ngram_f1(target, prediction, 2),
            slow_f1(lcs, len(prediction), len(target)))


def test_rouge_of_random_token_lists_matches_the_slow_reference():
    rng = random.Random(0)
    for trial in range(400):
        vocabulary = [f"w{i}" for i in range(rng.randint(1, 12))]
        target = rng.choices(vocabulary, k=rng.randint(0, 90 if trial % 10 else 200))
        prediction = rng.choices(vocabulary, k=rng.randint(0, 90))
        assert lcs_length(target, prediction) == slow_lcs(target, prediction)
        ours = rouge_tokens(target, prediction).as_tuple()
        assert ours == pytest.approx(slow_rouge(target, prediction), abs=1e-12)


def test_length_rule_cuts_english_words_and_chinese_letters():
    assert reference_length("one two  three\nfour", "en") == 4
    assert cut_to_length("a b c d e f", 3, "en") == "a b c"
    assert reference_length("桃園結義，誓同生死。", "zh") == 8
    assert cut_to_length("桃園，結義。誓同生死", 3, "zh") == "桃園，結"  # punctuation is free
    assert tokens("桃園，結義。A1", "zh") == ["桃", "園", "結", "義", "A", "1"]


def test_scores_equal_rouge_score_on_english_and_chinese_text():
    rouge_scorer = pytest.importorskip("rouge_score.rouge_scorer", reason="rouge-score (dev extra)")

    class Characters:
        def tokenize(self, text):
            return [char for char in text if char.isalnum()]

    english = rouge_scorer.RougeScorer(["rouge1", "rouge2", "rougeL"], use_stemmer=True)
    chinese = rouge_scorer.RougeScorer(["rouge1", "rouge2", "rougeL"], tokenizer=Characters())
    keys = sorted(topics)
    rng = random.Random(1)
    for _ in range(30):
        document = topics[rng.choice(keys)]
        reference = " ".join(document.split()[:rng.randint(5, 60)])
        summary = summarize_extractive(document, Budget(max_words=80)).text
        expected = english.score(reference, cut_to_length(summary, len(reference.split()), "en"))
        assert rouge(summary, reference, "en").as_tuple() == tuple(
            expected[key].fmeasure for key in ("rouge1", "rouge2", "rougeL"))
    for start in range(0, 60, 7):
        reference, summary = CHINESE[start:start + 20], CHINESE[start + 5:start + 60]
        expected = chinese.score(reference, cut_to_length(summary, reference_length(reference, "zh"), "zh"))
        assert rouge(summary, reference, "zh").as_tuple() == tuple(
            expected[key].fmeasure for key in ("rouge1", "rouge2", "rougeL"))


# --- the command on pairs ----------------------------------------------------------------------

PAIRS = [
    {"document": topics["typesseq"], "reference": " ".join(topics["typesseq"].split()[40:90]),
     "lang": "en"},
    {"document": topics["with"], "summary": "The with statement wraps a block with methods "
                                            "defined by a context manager."},
    {"document": CHINESE, "reference": "桃園結義，曹操大怒。"},  # no "lang": detected
]


def write_jsonl(path, records, compress=False):
    data = "".join(json.dumps(record, ensure_ascii=False) + "\n" for record in records).encode()
    path.write_bytes(lzma.compress(data) if compress else data)
    return path


def expected_rouge(pairs):
    """Mean F1 x 100 by the slow reference, on the extractive summaries asked for within and cut
    to each reference's length."""
    totals = [0.0, 0.0, 0.0]
    for pair in pairs:
        reference = pair.get("reference", pair.get("summary"))
        language = pair.get("lang") or ("zh" if pair["document"] is CHINESE else "en")
        length = reference_length(reference, language)
        summary = summarize_extractive(pair["document"], Budget(max_words=length), language).text
        scores = slow_rouge(tokens(reference, language),
                            tokens(cut_to_length(summary, length, language), language))
        totals = [total + score * 100 for total, score in zip(totals, scores)]
    return [total / len(pairs) for total in totals]


def test_eval_extractive_on_pairs_prints_the_reference_rouge(tmp_path):
    plain = write_jsonl(tmp_path / "pairs.jsonl", PAIRS)
    result = reformer("eval", plain, "--method", "extractive", "--format", "json")
    assert result.returncode == 0, result.stderr
    record = json.loads(result.stdout)
    assert record["kind"] == "rouge" and record["method"] == "extractive" and record["n_pairs"] == 3
    assert record["model"] is None
    assert [record["rouge1"], record["rouge2"], record["rougeL"]] == pytest.approx(
        expected_rouge(PAIRS), abs=1e-9)
    assert 0 < record["rouge2"] < record["rouge1"] <= 100

    packed = write_jsonl(tmp_path / "pairs.jsonl.xz", PAIRS, compress=True)
    table = reformer("eval", packed, "--method", "extractive")
    assert table.returncode == 0, table.stderr
    assert "ROUGE-1" in table.stdout and f"{record['rouge1']:.2f}" in table.stdout
    assert f"{record['rougeL']:.2f}" in table.stdout

    first = reformer("eval", plain, "--method", "extractive", "--limit", 1, "--format", "json")
    assert json.loads(first.stdout)["rouge1"] == pytest.approx(expected_rouge(PAIRS[:1])[0], abs=1e-9)


@pytest.mark.parametrize("content, fragments", [
    (None, ["no such file"]),
    ("", ["holds no document/summary pairs"]),
    ('{"document": "a b c", "summary": "a"}\n{"document": "x", oops}\n', ["line 2", "not valid JSON"]),
    ('{"document": "a b c"}\n', ["line 1", 'lacks string fields "document" and "summary" (or "reference")']),
])
def test_bad_pairs_files_are_one_line(tmp_path, content, fragments):
    path = tmp_path / "pairs.jsonl"
    if content is not None:
        path.write_text(content)
    assert_one_line_error(reformer("eval", path), *fragments)


def test_text_needs_a_model_and_method_is_for_pairs(tmp_path):
    text = tmp_path / "held_out.txt"
    text.write_text("some held-out text")
    assert_one_line_error(reformer("eval", text), "needs a model", "--model")
    assert_one_line_error(reformer("eval", tmp_path / "empty.txt", "--model", tmp_path), "no such")


# --- the command with a model --------------------------------------------------------------------

@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """A tiny language model trained 4 steps (SentencePiece, so bits per character) whose
    validation text is held_out.txt, and a summarizer checkpoint with random weights."""
    folder = tmp_path_factory.mktemp("eval")
    corpus = "\n\n".join(topics[key] for key in sorted(topics))[:60_000]
    (folder / "corpus.txt").write_text(corpus)
    (folder / "held_out.txt").write_text(topics["with"][:700])
    (folder / "tiny.yaml").write_text(TINY_YAML)
    result = reformer("train", "corpus.txt", "--config", "tiny.yaml", "--vocab-size", 400,
                      "--val", "held_out.txt", "--out", "lm", cwd=folder)
    assert result.returncode == 0, result.stderr
    return folder


@pytest.mark.slow
def test_bits_per_character_equal_the_trainers_own_evaluation(trained):
    """On the validation windows the trainer scored (whole windows of 128 from the start), eval
    gives the trainer's numbers; on the whole text it scores the tokens after them too."""
    from reformer_cli.checkpoint import load_model

    metrics = [json.loads(line) for line in (trained / "lm" / "metrics.jsonl").read_text().splitlines()]
    final = [record for record in metrics if record["kind"] == "eval"][-1]
    tokenizer = load_model(trained / "lm").tokenizer
    ids = tokenizer.encode((trained / "held_out.txt").read_text())
    assert final["val_tokens"] % 128 == 0 and len(ids) - 1 > final["val_tokens"]  # a tail it left
    windows = tokenizer.decode(ids[:final["val_tokens"] + 1])
    assert tokenizer.encode(windows) == ids[:final["val_tokens"] + 1]
    (trained / "windows.txt").write_text(windows)
    result = reformer("eval", "windows.txt", "--model", "lm", "--device", "cpu", "--format", "json",
                      cwd=trained)
    assert result.returncode == 0, result.stderr
    record = json.loads(result.stdout)
    assert record["kind"] == "text" and record["tokens"] == final["val_tokens"]
    assert record["bits_per_char"] == pytest.approx(final["val_bits_per_char"], rel=1e-6)
    assert record["perplexity"] == pytest.approx(final["val_perplexity"], rel=1e-6)
    table = reformer("eval", "windows.txt", "--model", "lm", cwd=trained)
    assert "bits/char" in table.stdout and f"{final['val_bits_per_char']:.4f}" in table.stdout
    whole = json.loads(reformer("eval", "held_out.txt", "--model", "lm", "--device", "cpu",
                                "--format", "json", cwd=trained).stdout)
    assert whole["tokens"] == len(ids) - 1


def test_a_model_that_is_not_a_summarizer_is_one_line_for_pairs(trained, tmp_path):
    pairs = write_jsonl(tmp_path / "pairs.jsonl", PAIRS)
    assert_one_line_error(reformer("eval", pairs, "--model", "lm", cwd=trained),
                          "--task summarize` (abstractive) or `--task extract` (learned sentence "
                          "scorer)", "--task lm")
    empty = tmp_path / "empty.txt"
    empty.write_text("")
    assert_one_line_error(reformer("eval", empty, "--model", "lm", cwd=trained), "empty")


def test_english_rouge_without_nltk_says_how_to_install_it(tmp_path):
    pairs = write_jsonl(tmp_path / "pairs.jsonl", PAIRS[:1])
    code = ("import sys\nsys.modules['nltk'] = None  # as if it were not installed\n"
            "from reformer_cli.cli import main\n"
            f"main(['eval', {str(pairs)!r}])\n")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=ENV,
                            timeout=60)
    assert_one_line_error(result, "NLTK", "reformer-cli[eval]")
    assert result.returncode == 1  # a missing optional dependency (errors.MissingDependency)
    assert result.stderr == ("error: ROUGE on English text stems words with NLTK's Porter stemmer "
                             "(as rouge-score does), and NLTK is not installed; pip install "
                             "'reformer-cli[eval]' (or pip install nltk)\n")


def test_a_piped_table_keeps_a_long_file_name_whole(tmp_path):
    """Not a terminal, the table is as wide as its cells: no "…/peps_abstract.dev.js…"."""
    folder = tmp_path.joinpath(*[f"folder-{index:02d}" for index in range(12)])
    folder.mkdir(parents=True)
    pairs = write_jsonl(folder / "peps_abstract.dev.jsonl", PAIRS[:1])
    assert len(str(pairs)) > 150  # wider than the old piped width, and than $COLUMNS here
    result = reformer("eval", pairs, "--method", "extractive")
    assert result.returncode == 0, result.stderr
    assert str(pairs) in result.stdout and "…" not in result.stdout
    assert all(line == line.rstrip() for line in result.stdout.splitlines())  # no padding to the width


@pytest.fixture(scope="module")
def random_summarizer(tmp_path_factory):
    """models/summ: a checkpoint marked --task summarize, random weights, byte tokenizer."""
    from tiny_models import save_tiny_model

    root = tmp_path_factory.mktemp("summarizer")
    save_tiny_model(root, "summ", task="summarize", seq_len=256)
    return root


def test_eval_of_a_summarizer_scores_its_own_summaries(random_summarizer, tmp_path):
    pairs = write_jsonl(tmp_path / "pairs.jsonl", PAIRS[1:])
    result = reformer("eval", pairs, "--model", "summ", "--device", "cpu", "--format", "json",
                      cwd=random_summarizer)
    assert result.returncode == 0, result.stderr
    record = json.loads(result.stdout)
    assert record["method"] == "abstractive" and record["model"].endswith("summ/final")
    assert record["n_pairs"] == 2 and all(0 <= record[k] <= 100 for k in ("rouge1", "rouge2", "rougeL"))
    extractive = json.loads(reformer("eval", pairs, "--model", "summ", "--method", "extractive",
                                     "--format", "json", cwd=random_summarizer).stdout)
    assert extractive["method"] == "extractive" and extractive["model"] is None
    assert extractive["rouge1"] == pytest.approx(expected_rouge(PAIRS[1:])[0], abs=1e-9)


# --- what a model may score, and pairs or text from stdin -----------------------------------------

@pytest.fixture(scope="module")
def tiny_models(tmp_path_factory):
    """models/lm (a language model), models/scorer (--task extract, causal: false) and
    models/summ (--task summarize): random weights, byte tokenizer."""
    from tiny_models import save_tiny_model

    root = tmp_path_factory.mktemp("tiny_models")
    save_tiny_model(root, "lm")
    save_tiny_model(root, "scorer", task="extract", causal=False)
    save_tiny_model(root, "summ", task="summarize")
    (root / "held_out.txt").write_text(topics["with"][:300])
    return root


def test_bits_per_character_need_a_causal_model(tiny_models):
    result = reformer("eval", "held_out.txt", "--model", "scorer", "--device", "cpu",
                      cwd=tiny_models)
    assert_one_line_error(result, "causal language model", "--task extract (causal: false)",
                          "--task lm", "pairs")
    # A summarizer is causal: it scores text as the language model of the summaries it writes.
    summarizer = reformer("eval", "held_out.txt", "--model", "summ", "--device", "cpu",
                          "--format", "json", cwd=tiny_models)
    assert summarizer.returncode == 0, summarizer.stderr
    assert json.loads(summarizer.stdout)["kind"] == "text"


def test_limit_is_for_pairs_and_held_out_text_says_so(tiny_models):
    """--limit takes the first N pairs; a text has no pairs to take, so it is an error, not
    silently the whole text."""
    result = reformer("eval", "held_out.txt", "--model", "lm", "--limit", "3", cwd=tiny_models)
    assert_one_line_error(result, "--limit applies to pairs", "held_out.txt", "leave --limit out")


def reformer_reading(stdin: str, *args, cwd=ROOT):
    return subprocess.run([sys.executable, "-m", "reformer_cli", *map(str, args)], cwd=cwd,
                          input=stdin, capture_output=True, text=True, timeout=300, env=ENV)


def test_pairs_from_stdin_are_pairs(tiny_models):
    pairs = "\n" + "".join(json.dumps(pair, ensure_ascii=False) + "\n" for pair in PAIRS)
    result = reformer_reading(pairs, "eval", "-", "--method", "extractive", "--format", "json")
    assert result.returncode == 0, result.stderr
    record = json.loads(result.stdout)
    assert record["kind"] == "rouge" and record["file"] == "-" and record["n_pairs"] == 3
    assert [record["rouge1"], record["rouge2"], record["rougeL"]] == pytest.approx(
        expected_rouge(PAIRS), abs=1e-9)
    # pairs, so a language model is the wrong kind of model (not the bits of the JSON text)
    assert_one_line_error(reformer_reading(pairs, "eval", "-", "--model", "lm", cwd=tiny_models),
                          "--task summarize", "--task lm")
    assert_one_line_error(reformer_reading('{"document": "a b c"}\n', "eval", "-"),
                          "<stdin> line 1", '"summary"')


def test_text_from_stdin_is_held_out_text(tiny_models):
    held_out = (tiny_models / "held_out.txt").read_text()
    from_file = reformer("eval", "held_out.txt", "--model", "lm", "--device", "cpu",
                         "--format", "json", cwd=tiny_models)
    scores = []
    for text in (held_out, '{"title": "JSON, but not a pair"}\n' + held_out):
        result = reformer_reading(text, "eval", "-", "--model", "lm", "--device", "cpu",
                                  "--format", "json", cwd=tiny_models)
        assert result.returncode == 0, result.stderr
        record = json.loads(result.stdout)
        assert record["kind"] == "text" and record["file"] == "-"
        scores.append(record["bits_per_byte"])
    assert scores[0] == pytest.approx(json.loads(from_file.stdout)["bits_per_byte"], rel=1e-9)
    assert_one_line_error(reformer_reading("some text", "eval", "-", "--method", "extractive",
                                           "--model", "lm", cwd=tiny_models),
                          "--method applies to pairs", "stdin")


# --- --encoding ----------------------------------------------------------------------------------

FRENCH = ("Le café de la gare était fermé ce matin. Les élèves sont partis à midi sans déjeuner. "
          "Ça arrive souvent en été, dit le maître. Personne ne savait pourquoi.\n")
FRENCH_PAIRS = [{"document": FRENCH * 3, "summary": "Le café était fermé; les élèves sont partis."},
                {"document": "Le train de huit heures est parti en retard. Les voyageurs ont "
                             "attendu sur le quai. Un employé a expliqué la panne. Le café du "
                             "wagon-restaurant était offert.\n" * 2,
                 "reference": "Le train est parti en retard à cause d'une panne."}]


def test_latin1_held_out_text_needs_its_encoding_named(tiny_models):
    (tiny_models / "twin.txt").write_text(FRENCH, encoding="utf-8")
    (tiny_models / "latin.txt").write_bytes(FRENCH.encode("latin-1"))
    scored = [reformer("eval", name, "--model", "lm", "--device", "cpu", "--format", "json", *args,
                       cwd=tiny_models)
              for name, args in (("twin.txt", []), ("latin.txt", ["--encoding", "latin-1"]))]
    assert all(result.returncode == 0 for result in scored), scored[1].stderr
    records = [json.loads(result.stdout) for result in scored]
    assert records[0]["bits_per_byte"] == records[1]["bits_per_byte"]
    assert records[0]["tokens"] == records[1]["tokens"]
    assert_one_line_error(reformer("eval", "latin.txt", "--model", "lm", cwd=tiny_models),
                          "latin.txt is not valid UTF-8: byte 0xe9 at offset 6",
                          "pass --encoding (e.g. latin-1, cp1252, gb18030)")


def test_latin1_pairs_need_their_encoding_named(tmp_path):
    twin = write_jsonl(tmp_path / "twin.jsonl", FRENCH_PAIRS)
    latin = tmp_path / "latin.jsonl"
    latin.write_bytes(twin.read_text(encoding="utf-8").encode("latin-1"))
    expected = reformer("eval", twin, "--method", "extractive", "--format", "json")
    assert expected.returncode == 0, expected.stderr
    named = reformer("eval", latin, "--method", "extractive", "--format", "json", "--encoding",
                     "latin-1")
    assert named.returncode == 0, named.stderr
    keys = ("n_pairs", "rouge1", "rouge2", "rougeL")
    assert [json.loads(named.stdout)[k] for k in keys] == [json.loads(expected.stdout)[k] for k in keys]
    assert_one_line_error(reformer("eval", latin, "--method", "extractive"),
                          "is not valid UTF-8", "--encoding")
    piped = subprocess.run([sys.executable, "-m", "reformer_cli", "eval", "-", "--method", "extractive",
                          "--format", "json", "--encoding", "latin-1"], input=latin.read_bytes(),
                         capture_output=True, timeout=300, env=ENV)
    assert piped.returncode == 0, piped.stderr  # told pairs by the first line, read as latin-1
    assert json.loads(piped.stdout)["rouge1"] == json.loads(expected.stdout)["rouge1"]


def test_an_unknown_encoding_fails_before_stdin_is_read_or_a_model_loaded(tmp_path):
    for args in (["-"], [tmp_path / "held_out.txt", "--model", tmp_path / "no-such-model"]):
        result = reformer_reading("", "eval", *args, "--encoding", "klingon")
        assert_one_line_error(result, "unknown encoding 'klingon'", "use e.g. utf-8, latin-1, gb18030")


def test_dns_codecs_are_unknown_encodings(tmp_path):
    # punycode and idna decode domain names, not a file's text (text/encodings.py)
    (tmp_path / "held_out.txt").write_text("plain ascii words and spaces\n", encoding="utf-8")
    result = reformer("eval", tmp_path / "held_out.txt", "--model", "lm", "--encoding", "punycode")
    assert_one_line_error(result, "unknown encoding 'punycode'", "use e.g. utf-8, latin-1, gb18030")
    assert result.returncode == 2
    piped = reformer_reading(FRENCH, "eval", "-", "--model", "lm", "--encoding", "idna")
    assert_one_line_error(piped, "unknown encoding 'idna'", "use e.g. utf-8, latin-1, gb18030")
    assert piped.returncode == 2


# --- every token of held-out text is scored once, the tail included -------------------------------

SEQ_LEN = 64


@pytest.fixture(scope="module")
def reading_model(tmp_path_factory):
    """models/reader: windows of 64 tokens, local and full attention (no LSH, so nothing is
    drawn at random) whose outputs are 900 times larger, so a token's loss depends on the context
    it is read with; byte tokenizer: one token per byte."""
    from tiny_models import save_tiny_model

    root = tmp_path_factory.mktemp("reader")
    save_tiny_model(root, "reader", seq_len=SEQ_LEN, layer_types=["local", "full"],
                    attention_gain=30.0)
    return root


def slow_token_losses(model_dir, ids, window_start):
    """-log p(ids[t] | the window of SEQ_LEN tokens (or fewer) starting at window_start(t)), for
    every t >= 1: the plain definition, each window's log-probabilities computed whole."""
    import functools

    import torch

    from reformer_cli.checkpoint import load_model

    model = load_model(model_dir).model

    @functools.cache
    def log_probs(start):  # (L, vocab)
        window = torch.tensor([ids[start:start + min(SEQ_LEN, len(ids) - 1)]])  # (1, L)
        with torch.no_grad():
            return torch.log_softmax(model(window)[0].double(), dim=-1)

    losses = []
    for t in range(1, len(ids)):
        start = window_start(t)
        assert start < t <= start + len(log_probs(start))  # the target follows a token of it
        losses.append(-float(log_probs(start)[t - 1 - start, ids[t]]))
    return losses


def evaluated(root, name, *flags):
    result = reformer("eval", name, "-m", "reader", "--device", "cpu", *flags, cwd=root)
    assert result.returncode == 0, result.stderr
    return result


@pytest.mark.parametrize("n_tokens", [3 * SEQ_LEN + 1 + 17, 3 * SEQ_LEN + 1, 40])
def test_every_token_after_the_first_is_scored_once_with_a_full_window(reading_model, n_tokens):
    """A text of 3 windows + 17 tokens scores all of them (not 3 windows' worth), each token
    read in its whole window, the last 17 in the window that ends at the text's end; a text of
    whole windows and one shorter than a window are the plain cases."""
    text = (topics["assert"] * 2)[:n_tokens]  # ASCII: one byte token per character
    (reading_model / "held_out.txt").write_text(text)
    record = json.loads(evaluated(reading_model, "held_out.txt", "--format", "json").stdout)
    assert record["tokens"] == record["bytes"] == n_tokens - 1  # the first has nothing before it

    ids = list(text.encode())
    whole = (n_tokens - 1) // SEQ_LEN * SEQ_LEN  # targets 1..whole are in whole windows
    tail_start = max(n_tokens - 1 - SEQ_LEN, 0)
    losses = slow_token_losses(reading_model / "models" / "reader", ids,
                               lambda t: (t - 1) // SEQ_LEN * SEQ_LEN if t <= whole else tail_start)
    mean = sum(losses) / len(losses)
    assert record["loss"] == pytest.approx(mean, rel=1e-6)
    assert record["bits_per_byte"] == pytest.approx(mean / math.log(2), rel=1e-6)
    if n_tokens > whole + 1 and whole:
        # the tail's context matters here: read from where the whole windows stop (a shorter
        # window), it scores otherwise, by far more than the tolerance above
        short = slow_token_losses(reading_model / "models" / "reader", ids,
                                  lambda t: (t - 1) // SEQ_LEN * SEQ_LEN)
        assert abs(sum(short) / len(short) - mean) > 20 * 1e-6 * mean

    table = evaluated(reading_model, "held_out.txt").stdout
    assert "tokens" in table and "bytes" in table
    row = [line for line in table.splitlines() if "held_out.txt" in line][0]
    assert [cell.strip() for cell in row.split("│")[-3:-1]] == [f"{n_tokens - 1:,}"] * 2


def test_the_assert_topic_is_scored_whole_with_sentencepiece(trained):
    """The tester's case: a SentencePiece model, a text of several windows and a part: every
    token after the first, and the characters they spell."""
    from reformer_cli.checkpoint import load_model

    (trained / "assert.txt").write_text(topics["assert"])
    record = json.loads(reformer("eval", "assert.txt", "-m", "lm", "--device", "cpu", "--format",
                                 "json", cwd=trained).stdout)
    tokenizer = load_model(trained / "lm").tokenizer
    ids = tokenizer.encode(topics["assert"])
    assert len(ids) - 1 > 128 and (len(ids) - 1) % 128  # windows of 128 and a part
    assert record["tokens"] == len(ids) - 1
    assert record["chars"] == len(topics["assert"]) - len(tokenizer.decode(ids[:1]))


def test_help_names_each_value_readably_and_m_is_model():
    """Every option's value has a name or its choices (not typer's <str>, <int>, <path>), as in
    `reformer train --help`; -m is --model, as for `continue`."""
    result = reformer("eval", "--help")
    assert result.returncode == 0, result.stderr
    options = result.stdout.split("Options")[1]
    for placeholder in ("<str>", "<int>", "<float>", "<path>"):
        assert placeholder not in options, options
    for flag, name in (("--model", "NAME_OR_DIR"), ("--method", "auto|extractive|learned|abstractive"),
                       ("--device", "auto|cpu|cuda|cuda:N|mps"), ("--limit", "N"),
                       ("--format", "text|json"), ("--encoding", "ENC")):
        row = [line for line in options.splitlines() if f" {flag} " in line][0]
        assert f" {name} " in row, row
    assert [line for line in options.splitlines() if " --model " in line][0].split()[1:3] == [
        "--model", "-m"]


def test_a_limit_below_one_and_a_missing_file_read_as_in_every_command(tmp_path):
    pairs = write_jsonl(tmp_path / "pairs.jsonl", PAIRS[:1])
    result = reformer("eval", pairs, "--method", "extractive", "--limit", "0")
    assert result.returncode == 2 and result.stdout == ""
    assert result.stderr.strip().splitlines() == ["error: --limit=0 is out of range; it must be >= 1"]
    missing = reformer("eval", tmp_path / "nope.jsonl", "--method", "extractive")
    assert missing.returncode == 2
    assert missing.stderr.strip().splitlines() == [
        f"error: no such file: {tmp_path / 'nope.jsonl'}; check the path"]
