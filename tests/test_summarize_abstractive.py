"""Abstractive summarization (reformer_cli/summarize_abstractive.py).

Decoding is checked against slow, obviously-correct references: the cached decoder with beam
reordering must give exactly what a decoder that recomputes the full forward of every
hypothesis gives; beam search with enough beams must find the best sequence found by brute
force; repetition control must forbid what it says. Then the honest test: a small model trained
on the CPU must reproduce, for unseen documents, the one sentence repeated in each document.
"""

import itertools
import math
import os
import random
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from reformer_cli.config import ModelConfig
from reformer_cli.core.decoding import prefill
from reformer_cli.core.model import ReformerLM
from reformer_cli.errors import ConfigError, InputError
from reformer_cli.summarize import SummarizeOptions
from reformer_cli.summarize.selection import Budget
from reformer_cli.summarize_abstractive import (STOP_EOS, STOP_LENGTH, CachedDecoder,
                                                DecodingOptions, apply_budget, banned_tokens,
                                                beam_search, build_prompt, control_repetition,
                                                greedy_search, reorder_state)

ROOT = Path(__file__).resolve().parents[1]
PYTHON = ROOT / ".venv" / "bin" / "python"
PYTHON = str(PYTHON) if PYTHON.exists() else sys.executable
VOCAB = 23
EOS = 22


pytestmark = pytest.mark.usefixtures("one_thread")


def tiny_model(layer_types, seed=0, **overrides) -> ReformerLM:
    torch.manual_seed(seed)
    settings = dict(vocab_size=VOCAB, d_model=32, n_heads=2, d_ff=48, n_layers=2,
                    layer_types=layer_types, chunk_length=4, n_hashes=2, hash_seed=5,
                    max_seq_len=256, ff_chunk_size=0)
    settings.update(overrides)
    return ReformerLM(ModelConfig(**settings)).eval()


def random_prompt(length, seed=1):
    return torch.randint(0, EOS, (length,), generator=torch.Generator().manual_seed(seed)).tolist()


class FullForwardDecoder:
    """Reference: keeps every hypothesis's whole sequence and reruns the model's ordinary
    forward on it at every step (no cache)."""

    def __init__(self, model, prompt_ids, capacity):
        self.model, self.capacity = model, capacity
        self.sequences = torch.tensor([prompt_ids])  # (B, L)
        with torch.no_grad():
            self.first_logits = model(self.sequences)[:, -1]

    @property
    def full(self):
        return self.sequences.shape[1] >= self.capacity

    def step(self, tokens, parents):
        if parents is not None:
            self.sequences = self.sequences[parents]
        self.sequences = torch.cat([self.sequences, tokens[:, None]], dim=1)
        with torch.no_grad():
            return self.model(self.sequences)[:, -1].float()


class MarkovDecoder:
    """A fake decoder whose next-token logits depend only on the last token (table row)."""

    def __init__(self, table, first, capacity=10**6):
        self.table, self.first_logits, self.length, self.capacity = table, first[None], 0, capacity

    @property
    def full(self):
        return self.length >= self.capacity

    def step(self, tokens, parents):
        self.length += 1
        return self.table[tokens]


# ------------------------------------------------------------------------- cache reordering

@pytest.mark.parametrize("layer_types", [["lsh", "local"], ["full"]])
def test_reordered_cache_steps_like_a_cache_prefilled_in_that_order(layer_types):
    model = tiny_model(layer_types, n_layers=2)
    a, b = random_prompt(13, seed=1), random_prompt(13, seed=2)
    state, _ = prefill(model, torch.tensor([a, b]), capacity=20)
    reorder_state(state, torch.tensor([1, 0, 1]))
    reference, _ = prefill(model, torch.tensor([b, a, b]), capacity=20)
    for tokens in ([3, 4, 5], [6, 6, 1], [0, 2, 9]):
        got = state.step(torch.tensor(tokens))
        want = reference.step(torch.tensor(tokens))
        assert torch.allclose(got, want, atol=1e-5, rtol=0), (got - want).abs().max()


def test_reorder_refuses_a_cache_tensor_without_the_batch_dimension():
    model = tiny_model(["full"])
    state, _ = prefill(model, torch.tensor([random_prompt(5)]), capacity=8)
    state.caches[0].strange = torch.zeros(7, 3)
    with pytest.raises(ConfigError, match="strange"):
        reorder_state(state, torch.tensor([0, 0]))


# ---------------------------------------------------------------------- searches vs references

@pytest.mark.parametrize("layer_types", [["local", "full"], ["lsh"]])
def test_greedy_and_beam_search_match_a_full_forward_reference(layer_types):
    # LSH: chunk_length >= the whole sequence, where the cached step equals the forward exactly.
    overrides = {"chunk_length": 64} if layer_types == ["lsh"] else {}
    model = tiny_model(layer_types, seed=3, **overrides)
    prompt = random_prompt(17, seed=4)
    for beams in (1, 3):
        options = DecodingOptions(num_beams=beams, max_new_tokens=12, repetition_penalty=1.3,
                                  no_repeat_ngram_size=2).validate()
        search = greedy_search if beams == 1 else beam_search
        cached = search(CachedDecoder(model, prompt, 17 + 12), EOS, 12, options, 2)
        reference = search(FullForwardDecoder(model, prompt, 17 + 12), EOS, 12, options, 2)
        assert cached.tokens == reference.tokens and len(cached.tokens) > 3
        assert math.isclose(cached.score, reference.score, abs_tol=1e-3)


def test_beam_search_with_enough_beams_finds_the_brute_force_best_sequence():
    vocab, max_new = 4, 3  # token 3 is end-of-text
    for seed in range(5):
        generator = torch.Generator().manual_seed(seed)
        table = torch.randn(vocab, vocab, generator=generator) * 2
        first = torch.randn(vocab, generator=generator) * 2
        log_first, log_table = torch.log_softmax(first, -1), torch.log_softmax(table, -1)
        best = (-math.inf, None)
        for length in range(1, max_new + 1):  # every sequence: ends in eos, or max_new tokens
            for sequence in itertools.product(range(vocab), repeat=length):
                if 3 in sequence[:-1] or (length < max_new and sequence[-1] != 3):
                    continue
                score = float(log_first[sequence[0]]) + sum(
                    float(log_table[p, t]) for p, t in zip(sequence, sequence[1:]))
                best = max(best, (score, [t for t in sequence if t != 3]))
        options = DecodingOptions(num_beams=64, length_penalty=0.0)
        found = beam_search(MarkovDecoder(table, first), 3, max_new, options, 0)
        assert found.tokens == best[1] and math.isclose(found.score, best[0], abs_tol=1e-5)
        greedy = greedy_search(MarkovDecoder(table, first), 3, max_new, options, 0)
        assert found.score >= greedy.score - 1e-6


def test_greedy_stops_at_eos_and_at_max_new_tokens():
    table = torch.full((4, 4), -5.0)
    table[0, 1] = table[1, 3] = 5.0  # 0 -> 1 -> eos
    first = torch.tensor([5.0, 0, 0, 0])
    result = greedy_search(MarkovDecoder(table, first), 3, 10, DecodingOptions(), 0)
    assert result.tokens == [0, 1] and result.stop_reason == STOP_EOS
    result = greedy_search(MarkovDecoder(table, first), 3, 1, DecodingOptions(), 0)
    assert result.tokens == [0] and result.stop_reason == STOP_LENGTH


# ----------------------------------------------------------------------- repetition control

def test_banned_tokens_complete_an_earlier_ngram():
    assert banned_tokens([1, 2, 3, 1, 2], 3) == [3]
    assert banned_tokens([1, 2, 3, 1, 2], 2) == [3]
    assert sorted(banned_tokens([5, 6, 5], 1)) == [5, 5, 6]
    assert banned_tokens([1, 2], 4) == [] and banned_tokens([1, 2, 1], 0) == []


def test_no_repeat_ngram_breaks_a_loop_and_the_penalty_scales_logits():
    table = torch.full((5, 5), -5.0)
    table[0, 1] = table[1, 0] = 5.0  # a model that loops 0 1 0 1 ...
    table[1, 2] = table[0, 2] = 0.0
    first = torch.tensor([5.0, 0, 0, 0, 0])
    looping = greedy_search(MarkovDecoder(table, first), 4, 8, DecodingOptions(), 0)
    assert looping.tokens == [0, 1] * 4
    controlled = greedy_search(MarkovDecoder(table, first), 4, 8, DecodingOptions(), 2)
    bigrams = list(zip(controlled.tokens, controlled.tokens[1:]))
    assert len(bigrams) == len(set(bigrams)) and controlled.tokens[:3] == [0, 1, 0]
    logits = torch.tensor([[2.0, -2.0, 1.0]])
    assert control_repetition(logits, [[0, 1]], 2.0, 0).tolist() == [[1.0, -4.0, 1.0]]


def test_option_validation():
    for bad in (dict(num_beams=0), dict(max_new_tokens=0), dict(repetition_penalty=0.5),
                dict(no_repeat_ngram_size=-1), dict(num_beams=1.5)):
        with pytest.raises(ConfigError):
            DecodingOptions(**bad).validate()
    assert DecodingOptions.from_any({"num_beams": 2, "max_new_tokens": None}).num_beams == 2


# -------------------------------------------------------------------------- prompt and budget

def test_prompt_cuts_the_end_of_the_document_and_ends_with_the_separator():
    document = list(range(100))
    prompt = build_prompt(document, 999, context=64, max_new_tokens=16)
    assert prompt.ids == list(range(47)) + [999] and prompt.capacity == 64
    short = build_prompt(document[:10], 999, context=64, max_new_tokens=16)
    assert short.ids == list(range(10)) + [999] and short.capacity == 27
    greedy_room = build_prompt(document, 999, context=64, max_new_tokens=1000)
    assert len(greedy_room.ids) == 33  # the document keeps at least half the context
    with pytest.raises(InputError):
        build_prompt([], 999, 64, 16)


def test_budget_on_the_generated_text():
    text = "One two three four. Five six seven. Eight nine."
    words = apply_budget(text, SummarizeOptions(budget=Budget(max_words=6)), 10)
    assert [s.text for s in words] == ["One two three four.", "Five six"]
    assert [s.truncated for s in words] == [False, True]
    first = apply_budget(text, SummarizeOptions(budget=Budget(sentences=1)), 10)
    assert [s.text for s in first] == ["One two three four."]
    assert len(apply_budget(text, SummarizeOptions(), 10)) == 3


# ------------------------------------------------------------------ the honest learning test
# Each document: 18 sentences of 4 random words (from 50 made-up words); one sentence appears
# 8 times at random places, and that sentence is the summary. A small model trained for
# about two minutes on the CPU (one thread) must write it for documents it has never seen.

N_WORDS, N_FILLER, N_REPEATS, WORDS_PER_SENTENCE = 50, 10, 8, 4
TRAIN_STEPS = 2200
ENV = dict(os.environ, OMP_NUM_THREADS="1", COLUMNS="200")  # one thread: 2 thrash when shared


def made_up_words(count, seed=123):
    rng, words = random.Random(seed), set()
    while len(words) < count:
        words.add(rng.choice("bdfgklmnprstvz") + rng.choice("aeiou") + rng.choice("bdfgklmnprstvz"))
    return sorted(words)


def repeated_sentence_pair(rng, words):
    def sentence():
        return " ".join(rng.choice(words) for _ in range(WORDS_PER_SENTENCE)) + "."

    key, fillers = sentence(), []
    while len(fillers) < N_FILLER:
        candidate = sentence()
        if candidate != key and candidate not in fillers:
            fillers.append(candidate)
    slots = set(rng.sample(range(N_FILLER + N_REPEATS), N_REPEATS))
    rest = iter(fillers)
    sentences = [key if i in slots else next(rest) for i in range(N_FILLER + N_REPEATS)]
    return " ".join(sentences), key


def reformer(*args, cwd, timeout=400):
    return subprocess.run([PYTHON, "-m", "reformer_cli", *map(str, args)], cwd=cwd, env=ENV,
                          capture_output=True, text=True, timeout=timeout)


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    import json

    folder = tmp_path_factory.mktemp("abstractive")
    words = made_up_words(N_WORDS)
    train_rng, test_rng = random.Random(0), random.Random(99)
    pairs = [repeated_sentence_pair(train_rng, words) for _ in range(3000)]
    held_out = [repeated_sentence_pair(test_rng, words) for _ in range(40)]
    assert not {doc for doc, _ in held_out} & {doc for doc, _ in pairs}
    (folder / "pairs.jsonl").write_text(
        "\n".join(json.dumps({"document": d, "summary": s}) for d, s in pairs), encoding="utf-8")
    result = reformer(
        "train", "pairs.jsonl", "--task", "summarize", "--out", "summarizer", "--seq-len", 128,
        "--vocab-size", 1000, "--steps", TRAIN_STEPS, "--batch-size", 32, "--device", "cpu",
        "--set", "model.d_model=64", "--set", "model.n_heads=4", "--set", "model.d_ff=128",
        "--set", "model.n_layers=2", "--set", "model.layer_types=[full]",
        "--set", "model.reversible=false", "--set", "model.dropout=0.0",
        "--set", "train.lr=3e-3", "--set", "train.warmup_steps=20", "--set", "train.eval_every=0",
        "--set", "train.checkpoint_every=0", "--set", "train.log_every=100",
        "--set", "data.val_fraction=0.01", cwd=folder)
    assert result.returncode == 0, result.stderr[-2000:]
    return folder, folder / "summarizer", held_out


def test_a_small_trained_model_writes_the_repeated_sentence_of_unseen_documents(trained):
    from reformer_cli.checkpoint import load_model
    from reformer_cli.summarize_abstractive import generate_summary

    _, model_dir, held_out = trained
    loaded = load_model(model_dir)
    decoding = DecodingOptions(max_new_tokens=12)
    exact = sum(generate_summary(loaded.model, loaded.tokenizer, document, 128, decoding)[0] == key
                for document, key in held_out)
    assert exact >= 0.8 * len(held_out), f"{exact}/{len(held_out)} exact"
    beams = DecodingOptions(max_new_tokens=12, num_beams=3)
    exact_beam = sum(generate_summary(loaded.model, loaded.tokenizer, document, 128, beams)[0]
                     == key for document, key in held_out[:10])
    assert exact_beam >= 8, f"beam search: {exact_beam}/10 exact"
    # The same architecture untrained (same tokenizer) gets none right: the skill was learned.
    torch.manual_seed(0)
    untrained = ReformerLM(loaded.model.config).eval()
    assert sum(generate_summary(untrained, loaded.tokenizer, document, 128, decoding)[0] == key
               for document, key in held_out) == 0


def test_summarize_command_abstractive_and_auto_end_to_end(trained):
    from reformer_cli.checkpoint import load_model
    from reformer_cli.summarize_abstractive import generate_summary

    folder, model_dir, held_out = trained
    loaded = load_model(model_dir)  # a held-out document the model gets right (most of them)
    greedy = DecodingOptions(max_new_tokens=16)
    document, key = next((document, key) for document, key in held_out if generate_summary(
        loaded.model, loaded.tokenizer, document, 128, greedy)[0] == key)
    (folder / "doc.txt").write_text(document + "\n", encoding="utf-8")
    for method in ("abstractive", "auto"):
        result = reformer("summarize", "doc.txt", "--model", model_dir, "--method", method,
                          cwd=folder, timeout=120)
        assert result.returncode == 0, result.stderr
        assert result.stdout == key + "\n"
        assert "abstractive" in result.stderr
    result = reformer("summarize", "doc.txt", "--model", model_dir, "--method", "abstractive",
                      "--max-words", 2, "--num-beams", 2, cwd=folder, timeout=120)
    assert result.returncode == 0, result.stderr
    assert result.stdout == " ".join(key.split()[:2]) + "\n"


def test_abstractive_request_with_a_language_model_gives_one_line(trained):
    folder, _, held_out = trained
    (folder / "text.txt").write_text(" ".join(doc for doc, _ in held_out), encoding="utf-8")
    (folder / "doc.txt").write_text(held_out[0][0] + "\n", encoding="utf-8")
    result = reformer("train", "text.txt", "--tokenizer", "byte", "--out", "lm", "--seq-len", 64,
                      "--steps", 1, "--set", "model.d_model=32", "--set", "model.n_heads=2",
                      "--set", "model.d_ff=32", "--set", "model.n_layers=2",
                      "--set", "model.chunk_length=32", "--set", "train.eval_every=0", cwd=folder)
    assert result.returncode == 0, result.stderr[-2000:]
    result = reformer("summarize", "doc.txt", "--model", "lm", "--method", "abstractive",
                      cwd=folder, timeout=120)
    assert result.returncode != 0 and result.stdout == ""
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: ") and "--task summarize" in lines[0]
    bad = reformer("summarize", "doc.txt", "--model", "summarizer", "--method", "abstractive",
                   "--num-beams", 0, cwd=folder, timeout=120)
    assert bad.returncode != 0 and len(bad.stderr.strip().splitlines()) == 1
