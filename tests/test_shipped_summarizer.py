"""The sentence scorer shipped with the tool (reformer_cli/shipped_models, made by `make
summarizer`): small, verified, fp16 on disk, and what `reformer summarize` and `reformer eval`
use by default for English documents."""

import json
import subprocess
import sys
from pathlib import Path
from pydoc_data.topics import topics

import pytest
import torch

from reformer_cli.checkpoint import (
    MODEL_FILE,
    STATE_JSON,
    load_config,
    load_model,
    read_model_state,
    save_inference_copy,
    verify_checkpoint,
)
from reformer_cli.shipped_models import SUMMARIZERS, shipped_summarizer
from reformer_cli.summarize.scoring import candidate_indexes
from reformer_cli.text.sentences import split_sentences

ROOT = Path(__file__).resolve().parents[1]
DEV = ROOT.parent / "shared" / "data" / "summarization"
MAX_SHIPPED_BYTES = 25 * 2**20  # the limit for a model kept in the repository
DEV_SAMPLE = 12  # the first 12 of the 31 RFC dev documents (all of them: bench/summarization.py)


def reformer(*args, cwd=ROOT):
    return subprocess.run([sys.executable, "-m", "reformer_cli", *map(str, args)], cwd=cwd,
                          capture_output=True, text=True, timeout=300)


@pytest.mark.parametrize("language", sorted(SUMMARIZERS))
def test_the_shipped_scorer_is_small_verified_fp16_and_trained_to_extract(language):
    path = shipped_summarizer(language)
    assert path is not None, f"{SUMMARIZERS[language]} is missing: make summarizer writes it"
    verify_checkpoint(path)  # every file matches the manifest's size and SHA-256
    assert load_config(path).data.task == "extract"
    assert sum(file.stat().st_size for file in path.iterdir()) <= MAX_SHIPPED_BYTES
    assert not (path / STATE_JSON).exists()  # inference only: no optimizer moments
    loaded = load_model(path)
    stored = read_model_state(path)
    for name, parameter in loaded.model.named_parameters():
        assert stored[name].dtype == torch.float16, name
        assert parameter.dtype == torch.float32  # runs in fp32 on the CPU


def test_an_inference_copy_is_the_model_rounded_to_fp16(tmp_path):
    from tiny_models import save_tiny_model

    from reformer_cli.summarize.learned import score_sentences

    source = save_tiny_model(tmp_path, "scorer", task="extract", seq_len=256)
    copy = save_inference_copy(tmp_path / "models" / "scorer", tmp_path / "copy")
    verify_checkpoint(copy)
    assert (copy / MODEL_FILE).stat().st_size < 0.6 * (source / MODEL_FILE).stat().st_size
    full, half = load_model(source), load_model(copy)
    parameters = dict(full.model.named_parameters())
    for name, parameter in half.model.named_parameters():
        assert torch.equal(parameter, parameters[name].half().float()), name
    full_buffers = dict(full.model.named_buffers())
    for name, buffer in half.model.named_buffers():  # buffers are not rounded
        assert torch.equal(buffer, full_buffers[name]), name
    sentences = split_sentences(topics["typesseq"])
    candidates = candidate_indexes(sentences)
    expected = score_sentences(full.model, full.tokenizer, sentences, candidates, 256)
    got = score_sentences(half.model, half.tokenizer, sentences, candidates, 256)
    assert got == pytest.approx(expected, abs=1e-2)  # fp16 rounding through two layers


def test_eval_without_a_model_measures_the_default_summaries(tmp_path):
    pairs = tmp_path / "pairs.jsonl"
    records = [{"document": topics["typesseq"], "reference": "Sequence types support slicing."},
               {"document": "劉備與關羽結義。曹操大怒，起兵追之。孫權按兵不動。" * 5,
                "reference": "桃園結義。"}]
    pairs.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in records),
                     encoding="utf-8")
    result = reformer("eval", pairs, "--format", "json")
    assert result.returncode == 0, result.stderr
    record = json.loads(result.stdout)
    # the English pair went through the shipped scorer, the Chinese one through the model-free method
    assert record["method"] == "learned+extractive" and record["n_pairs"] == 2
    assert record["model"] == str(shipped_summarizer("en"))


@pytest.mark.slow
def test_the_shipped_scorer_beats_the_model_free_method_on_rfc_dev_documents():
    from reformer_cli.evaluation.files import summarizer_for
    from reformer_cli.evaluation.pairs import evaluate_summaries, pairs_from_records
    from reformer_cli.text.reading import read_summarization_records

    path = DEV / "rfc_abstract.dev.jsonl"
    if not path.exists():
        pytest.skip(f"no dev data at {path} (../shared/data is not on this machine)")
    pairs = pairs_from_records(read_summarization_records(str(path)))[:DEV_SAMPLE]
    used: dict = {}
    default = evaluate_summaries(pairs, summarizer_for("auto", None, "cpu", used))
    assert list(used) == [("learned", str(shipped_summarizer("en")))]
    model_free = evaluate_summaries(pairs, summarizer_for("extractive", None))
    for name, score in default.rouge.items():
        assert score > model_free.rouge[name], (name, default.rouge, model_free.rouge)


def test_the_shipped_scorer_scales_the_model_free_score_keyword_density_included():
    from reformer_cli.summarize.extractive import summarize_extractive
    from reformer_cli.summarize.learned import summarize_learned
    from reformer_cli.summarize.scoring import ScoringConfig
    from reformer_cli.summarize.selection import Budget
    from reformer_cli.summarize.summary import SummarizeOptions

    options = SummarizeOptions(budget=Budget(max_words=60), language="en")
    for key in ("typesseq", "exceptions", "assignment"):
        without_model = summarize_learned(topics[key], shipped_summarizer("en"), options,
                                          scoring=ScoringConfig(model_exponent=0.0))
        assert without_model.text == summarize_extractive(topics[key], options.budget, "en").text
        if key == "typesseq":  # the keyword density changes this one's summary
            assert without_model.text != summarize_extractive(
                topics[key], options.budget, "en", ScoringConfig(keyword_exponent=0.0)).text
