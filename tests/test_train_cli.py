"""`reformer train` end to end, in subprocesses: folders, reload, resume, Ctrl-C, errors, Chinese."""

import json
import os
import re
import shutil
import signal
import subprocess
import sys
from pathlib import Path
from pydoc_data.topics import topics

import pytest
import torch
import yaml
from cli_runs import TINY_TRAIN_FLAGS, read_metrics, run_cli, write_pydoc_corpus

from reformer_cli import checkpoint as ckpt
from reformer_cli.training.setup import prepare_data
from reformer_cli.training.trainer import evaluate

REPO = Path(__file__).resolve().parent.parent
SHARED_LM = REPO.parent / "shared" / "data" / "lm"
TINY_YAML = """\
model: {d_model: 32, n_heads: 2, d_ff: 64, n_layers: 2, layer_types: [local, lsh], chunk_length: 32}
data: {seq_len: 128}
train: {steps: 12, batch_size: 2, warmup_steps: 2, eval_every: 6, eval_batches: 2, log_every: 3,
        checkpoint_every: 6, keep_checkpoints: 1, device: cpu, deterministic: true, lr: 3.0e-3}
"""
# One thread per process: on a shared 2-core machine, two OpenMP threads per process thrash.
ENV = dict(os.environ, OMP_NUM_THREADS="1", COLUMNS="200")


def reformer(*args, cwd, stdin=None, timeout=180):
    return subprocess.run([sys.executable, "-m", "reformer_cli", "train", *map(str, args)], cwd=cwd,
                          input=stdin, capture_output=True, text=True, timeout=timeout, env=ENV)


@pytest.fixture(scope="module")
def workspace(tmp_path_factory):
    folder = tmp_path_factory.mktemp("train_cli")
    (folder / "corpus.txt").write_text("\n\n".join(topics[k] for k in sorted(topics))[:120_000])
    (folder / "tiny.yaml").write_text(TINY_YAML)
    return folder


@pytest.fixture(scope="module")
def byte_run(workspace):
    result = reformer("corpus.txt", "--config", "tiny.yaml", "--tokenizer", "byte", "--out", "run",
                      cwd=workspace)
    assert result.returncode == 0, result.stderr
    return workspace / "run", result


def test_a_run_writes_a_complete_self_describing_folder(byte_run):
    run, result = byte_run
    assert result.stdout == ""  # progress goes to stderr only
    assert "step 12/12" in result.stderr and "bits/byte" in result.stderr
    assert {p.name for p in run.iterdir()} == {"config.yaml", "metrics.jsonl", "final", "step-000006",
                                               "data"}  # data: the token shards, reused on resume
    assert {p.name for p in (run / "final").iterdir()} == {
        "config.yaml", "model.safetensors", "tokenizer.json", "training_state.json",
        "training_state.safetensors", "manifest.json"}
    records = read_metrics(run)
    assert [r["step"] for r in records if r["kind"] == "log"] == [3, 6, 9, 12]
    assert [r["step"] for r in records if r["kind"] == "eval"] == [6, 12]
    assert records[-1]["kind"] == "end" and records[-1]["step"] == 12
    assert all(r["loss"] > 0 and r["tokens_per_second"] > 0 for r in records if r["kind"] == "log")


def test_the_checkpoint_reloads_and_gives_the_same_validation_loss(byte_run, workspace):
    run, _ = byte_run
    loaded = ckpt.load_model(run)
    assert loaded.path == run / "final" and loaded.config.model.vocab_size == 258
    prepared = prepare_data([str(workspace / "corpus.txt")], loaded.config, loaded.tokenizer)
    again = evaluate(loaded.model, prepared.eval_set, torch.device("cpu"), seed=loaded.config.train.seed)
    final = read_metrics(run)[-1]
    assert again["val_loss"] == pytest.approx(final["val_loss"], abs=1e-6)
    assert again["val_bits_per_byte"] == pytest.approx(final["val_bits_per_byte"], abs=1e-6)


def test_a_byte_run_records_the_vocabulary_it_has(byte_run, workspace):
    run, _ = byte_run
    for config in (ckpt.load_config(run / "final"), ckpt.load_config(run / "step-000006")):
        assert config.data.vocab_size == config.model.vocab_size == 258  # not the 4000 of SentencePiece
    assert yaml.safe_load((run / "config.yaml").read_text())["data"]["vocab_size"] == 258
    # The byte tokenizer ignores a vocabulary size, on a resume as in a new run.
    copy = workspace / "byte_vocab"
    shutil.copytree(run, copy)
    result = reformer("corpus.txt", "--out", "byte_vocab", "--resume", "auto", "--steps", "8",
                      "--vocab-size", 4000, cwd=workspace)
    assert result.returncode == 0 and "is already at step 12" in result.stderr, result.stderr


def test_resume_auto_extends_a_finished_run_and_appends_metrics(byte_run, workspace):
    run, _ = byte_run
    copy = workspace / "extended"
    shutil.copytree(run, copy)
    result = reformer("corpus.txt", "--out", "extended", "--resume", "auto", "--steps", "15",
                      cwd=workspace)
    assert result.returncode == 0, result.stderr
    assert "resuming from extended/final at step 12" in result.stderr
    records = read_metrics(copy)
    start = [r for r in records if r["kind"] == "start"][-1]
    assert start["start_step"] == 12 and start["resumed_from"] == "extended/final"
    assert records[-1]["kind"] == "end" and records[-1]["step"] == 15
    assert len(records) > len(read_metrics(run))  # appended, not rewritten


def test_resume_of_a_run_already_at_its_steps_leaves_the_folder_as_it_is(byte_run, workspace):
    run, _ = byte_run
    copy = workspace / "finished"
    shutil.copytree(run, copy)
    before = {p: p.read_bytes() for p in sorted(copy.rglob("*")) if p.is_file()}
    result = reformer("corpus.txt", "--out", "finished", "--resume", "auto", "--steps", "8",
                      cwd=workspace)
    assert result.returncode == 0, result.stderr
    assert "is already at step 12 of 8; raise --steps" in result.stderr
    assert {p: p.read_bytes() for p in sorted(copy.rglob("*")) if p.is_file()} == before


def one_line_error(result, code: int, text: str) -> None:
    assert result.returncode == code, result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error:") and text in lines[0], result.stderr


def test_refused_resumes_give_one_line(byte_run, workspace):
    run, _ = byte_run
    one_line_error(reformer("corpus.txt", "--config", "tiny.yaml", "--tokenizer", "byte", "--out", "run",
                            cwd=workspace), 2, "--resume auto")
    one_line_error(reformer("corpus.txt", "--out", "run", "--resume", "auto", "--set", "model.d_model=64",
                            cwd=workspace), 2, "model.d_model cannot change when resuming")
    damaged = workspace / "damaged"
    shutil.copytree(run, damaged)
    model_file = damaged / "final" / "model.safetensors"
    model_file.write_bytes(model_file.read_bytes()[:-64])
    one_line_error(reformer("corpus.txt", "--out", "damaged", "--resume", "auto", cwd=workspace),
                   3, "truncated")


def test_init_from_starts_a_new_run_from_the_weights_and_tokenizer(byte_run, workspace):
    from safetensors.torch import load_file

    run, _ = byte_run
    pairs = [{"document": topics[key][:300], "summary": key} for key in sorted(topics)[:12]]
    (workspace / "init_pairs.jsonl").write_text("\n".join(json.dumps(p) for p in pairs))
    # lr 1e-12: the new run's weights must stay the source's; a longer window, another task
    # and more hash rounds are allowed, and the byte tokenizer comes with the weights.
    result = reformer("init_pairs.jsonl", "--init-from", "run", "--task", "summarize", "--seq-len",
                      256, "--out", "tuned", "--steps", 2, "--batch-size", 2,
                      "--set", "train.lr=1e-12", "--set", "model.n_hashes=4", "--set",
                      "train.eval_every=0", "--set", "data.val_fraction=0", cwd=workspace)
    assert result.returncode == 0, result.stderr
    assert "starting from the weights of run/final" in result.stderr
    start = [r for r in read_metrics(workspace / "tuned") if r["kind"] == "start"][0]
    assert start["start_step"] == 0 and start["initialised_from"] == "run/final"
    source, tuned = load_file(run / "final" / "model.safetensors"), load_file(
        workspace / "tuned" / "final" / "model.safetensors")
    assert source.keys() == tuned.keys()
    assert all(torch.allclose(source[k], tuned[k], rtol=0, atol=1e-9) for k in source)
    loaded = ckpt.load_model(workspace / "tuned")
    assert loaded.tokenizer.kind == "byte" and loaded.config.data.task == "summarize"
    assert loaded.config.data.seq_len == 256 and loaded.config.model.n_hashes == 4
    assert loaded.config.model.d_model == 32  # from the checkpoint, not the defaults (256)


def test_refused_init_from_gives_one_line(byte_run, workspace):
    one_line_error(reformer("corpus.txt", "--init-from", "run", "--out", "wider", "--set",
                            "model.d_model=64", cwd=workspace),
                   2, "model.d_model cannot change with --init-from")
    one_line_error(reformer("corpus.txt", "--init-from", "run", "--out", "run", "--resume", "auto",
                            cwd=workspace), 2, "cannot be combined")
    one_line_error(reformer("corpus.txt", "--init-from", "no_such_model", "--out", "x",
                            cwd=workspace), 3, "no model found")
    assert not (workspace / "wider").exists() and not (workspace / "x").exists()


def test_a_tokenizer_flag_that_the_given_tokenizer_would_overrule_is_refused(byte_run, workspace):
    # The weights of --init-from, or --tokenizer-model, bring their tokenizer: a flag asking for
    # another one was dropped without a word before.
    one_line_error(reformer("corpus.txt", "--init-from", "run", "--tokenizer", "sentencepiece",
                            "--out", "t1", cwd=workspace), 2, "--tokenizer sentencepiece conflicts")
    one_line_error(reformer("corpus.txt", "--config", "tiny.yaml", "--tokenizer-model", "run/final",
                            "--set", "data.tokenizer=sentencepiece", "--out", "t2", cwd=workspace),
                   2, "--tokenizer sentencepiece conflicts with the tokenizer of --tokenizer-model")
    one_line_error(reformer("corpus.txt", "--init-from", "run", "--tokenizer-model", "run/final",
                            "--out", "t3", cwd=workspace), 2, "cannot be combined")
    made = reformer("corpus.txt", "--config", "tiny.yaml", "--tokenizer", "sentencepiece",
                    "--vocab-size", 400, "--steps", 2, "--out", "sp", cwd=workspace)
    assert made.returncode == 0, made.stderr
    one_line_error(reformer("corpus.txt", "--config", "tiny.yaml", "--tokenizer-model", "sp/final",
                            "--vocab-size", 1000, "--out", "t4", cwd=workspace),
                   2, "--vocab-size 1000 conflicts")
    assert not any((workspace / name).exists() for name in ("t1", "t2", "t3", "t4"))
    reused = reformer("corpus.txt", "--config", "tiny.yaml", "--tokenizer-model", "sp/final",
                      "--steps", 2, "--out", "t5", cwd=workspace)
    assert reused.returncode == 0, reused.stderr
    loaded = ckpt.load_model(workspace / "t5")  # the config records the tokenizer it really has
    assert loaded.config.data.vocab_size == loaded.config.model.vocab_size
    assert loaded.config.data.vocab_size == loaded.tokenizer.vocab_size
    assert loaded.tokenizer.vocab_size != 4000  # not the default it was never trained with


def test_help_groups_options_in_panels_with_defaults(workspace):
    result = reformer("--help", cwd=workspace)
    assert result.returncode == 0
    for text in ("Input", "Run folder and config", "Tokens and windows", "Training", "--time-budget",
                 "[default: (300)]", "--resume"):
        assert text in result.stdout, text


def test_ctrl_c_saves_a_checkpoint_exits_130_and_resumes(workspace):
    process = subprocess.Popen(
        [sys.executable, "-m", "reformer_cli", "train", "-", "--config", "tiny.yaml", "--tokenizer",
         "byte", "--out", "interrupted", "--steps", "500", "--set", "train.log_every=1"],
        cwd=workspace, stdin=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=ENV)
    process.stdin.write((workspace / "corpus.txt").read_text())  # PATH '-' reads stdin
    process.stdin.close()
    lines = []
    for line in process.stderr:
        lines.append(line)
        if line.startswith("step 2/"):
            process.send_signal(signal.SIGINT)
            break
    rest = process.stderr.read()
    assert process.wait(timeout=60) == 130, "".join(lines) + rest
    assert "Traceback" not in rest
    last = rest.strip().splitlines()[-1]
    assert last.startswith("error: interrupted at step") and "--resume auto" in last
    step = int(last.split("at step ")[1].split(";")[0])
    run = workspace / "interrupted"
    assert ckpt.latest_checkpoint(run) == run / ckpt.step_dir_name(step)
    # An explicit checkpoint folder inside a run folder continues that run (here: the same one).
    result = reformer("-", "--resume", f"interrupted/{ckpt.step_dir_name(step)}", "--steps", str(step + 2),
                      cwd=workspace, stdin=(workspace / "corpus.txt").read_text())
    assert result.returncode == 0, result.stderr
    assert read_metrics(run)[-1]["step"] == step + 2


def _make_inputs(folder: Path) -> None:
    (folder / "empty.txt").write_text("")
    (folder / "binary.bin").write_bytes(bytes(range(256)) * 8)
    (folder / "latin1.txt").write_bytes("caf\xe9 au lait ".encode("latin-1") * 50)
    (folder / "no_text").mkdir(exist_ok=True)
    (folder / "no_text" / "image.png").write_bytes(b"\x89PNG\r\n\x1a\n\x00\x00" * 20)
    (folder / "short.txt").write_text("only a few words here")
    (folder / "unnamed_pairs.jsonl").write_text('{"text": "a document", "abstract": "its summary"}\n')


@pytest.mark.parametrize("args, message", [
    (["corpus.txt", "--set", "train.lerning_rate=0.1"], "did you mean train.lr"),
    (["corpus.txt", "--set", "train.steps=many"], "train.steps"),
    (["corpus.txt", "--set", "train.lr=-0.001"], "train.lr"),
    (["empty.txt"], "empty"),
    (["binary.bin"], "binary"),
    (["latin1.txt"], "--encoding"),
    (["corpus.txt", "--encoding", "unicode_escape"],
     "error: unknown encoding 'unicode_escape'; use e.g. utf-8, latin-1, gb18030"),
    (["corpus.txt", "--set", "data.encoding=raw_unicode_escape"], "unknown encoding 'raw_unicode_escape'"),
    (["no_text"], "no text files"),
    (["missing.txt"], "error: no such file: missing.txt; check the path"),
    (["short.txt", "--tokenizer", "byte"], "--seq-len"),
    (["unnamed_pairs.jsonl", "--task", "summarize"], '"document" and "summary" (or "reference")'),
])
def test_bad_configs_and_inputs_give_one_line_and_leave_nothing(workspace, args, message):
    _make_inputs(workspace)
    result = reformer(*args, "--config", "tiny.yaml", "--out", "should_not_exist", cwd=workspace)
    assert result.returncode != 0
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error:") and message in lines[0], result.stderr
    assert "Traceback" not in result.stderr
    assert not (workspace / "should_not_exist").exists()


def test_the_fix_suggested_for_a_text_shorter_than_a_window_works_as_written(workspace):
    # tiny.yaml has lsh layers with chunk_length 32: a shorter --seq-len alone would break it
    (workspace / "hello.txt").write_text("hello world\n")
    args = ["hello.txt", "--config", "tiny.yaml", "--tokenizer", "byte", "--steps", 1]
    first = reformer(*args, "--out", "hello_short", cwd=workspace)
    hint = first.stderr.split("(e.g. ", 1)[1].split(")", 1)[0]
    assert first.returncode == 2 and hint == "--seq-len 8 --set model.chunk_length=8", first.stderr
    fixed = reformer(*args, *hint.split(), "--out", "hello_fixed", cwd=workspace)
    assert fixed.returncode == 0, fixed.stderr


def test_summarize_task_trains_on_document_summary_pairs(workspace):
    pairs = [{"document": topics[key][:400], "summary": key.replace("-", " ")}
             for key in sorted(topics)[:40]]
    (workspace / "pairs.jsonl").write_text("\n".join(json.dumps(p) for p in pairs))
    result = reformer("pairs.jsonl", "--task", "summarize", "--config", "tiny.yaml", "--tokenizer",
                      "byte", "--out", "summ", "--steps", "4", "--set", "data.val_fraction=0.1",
                      cwd=workspace)
    assert result.returncode == 0, result.stderr
    end = read_metrics(workspace / "summ")[-1]
    assert end["kind"] == "end" and end["val_tokens"] > 0
    # A summarizer is a language model of its summaries: perplexity and bits mean something.
    assert re.search(r"eval at step 4: val loss [\d.]+, perplexity [\d.]+, [\d.]+ bits/byte",
                     result.stderr), result.stderr
    # Only summary tokens (+ end of text) are scored: far fewer than the windows' positions.
    summaries = [p["summary"] for p in pairs[-4:]]
    assert end["val_tokens"] == sum(len(s.encode()) + 1 for s in summaries)


@pytest.mark.skipif(not (SHARED_LM / "hongloumeng.zh.txt").exists(),
                    reason="../shared/data/lm/hongloumeng.zh.txt is absent (shared data not mounted)")
@pytest.mark.parametrize("tokenizer", ["byte", "sentencepiece"])
def test_chinese_text_trains_with_bytes_and_sentencepiece(workspace, tokenizer):
    raw = (SHARED_LM / "hongloumeng.zh.txt").read_bytes()[:200_000]
    (workspace / "zh.txt").write_text(raw.decode("utf-8", errors="ignore"))
    # No --out: the run goes to models/<name>/ under the working directory.
    result = reformer("zh.txt", "--config", "tiny.yaml", "--tokenizer", tokenizer, "--vocab-size", "4000",
                      "--name", f"zh-{tokenizer}", "--steps", "24", "--set", "train.eval_every=0",
                      cwd=workspace)
    assert result.returncode == 0, result.stderr
    run = workspace / "models" / f"zh-{tokenizer}"
    losses = [r["loss"] for r in read_metrics(run) if r["kind"] == "log"]
    assert losses[-1] < losses[0] - 0.3, losses
    names = {p.name for p in (run / "final").iterdir()}
    assert ("tokenizer.model" if tokenizer == "sentencepiece" else "tokenizer.json") in names


def test_time_budget_alone_lifts_the_step_limit(workspace):
    result = reformer("corpus.txt", "--config", "tiny.yaml", "--tokenizer", "byte", "--out", "budget",
                      "--time-budget", "2", "--set", "train.eval_every=0", cwd=workspace)
    assert result.returncode == 0, result.stderr
    end = read_metrics(workspace / "budget")[-1]
    assert end["kind"] == "end" and end["reason"] == "time budget"
    assert end["elapsed"] >= 2.0


def test_a_separate_validation_file_is_what_gets_scored(workspace):
    from reformer_cli.config.load import load_run_config

    (workspace / "val.txt").write_text("x" * 500)
    config = load_run_config(workspace / "tiny.yaml", flags={
        "data.tokenizer": "byte", "data.val_path": str(workspace / "val.txt")})
    prepared = prepare_data([str(workspace / "corpus.txt")], config)
    ids, targets = prepared.eval_set.batches[0]
    assert torch.all(ids == ord("x")) and prepared.eval_set.unit == "byte"
    assert prepared.eval_set.characters == sum(int(t.numel()) for _, t in prepared.eval_set.batches)
    assert prepared.train_tokens == len((workspace / "corpus.txt").read_bytes())  # nothing held out


def test_a_lowered_vocabulary_is_said_again_by_a_run_reusing_the_shards(cli_workspace, capsys):
    write_pydoc_corpus(cli_workspace, 20_000)  # too small for the 4000 SentencePiece pieces
    sentencepiece = [flag for flag in TINY_TRAIN_FLAGS if flag not in ("--tokenizer", "byte")]
    said = []
    for name in ("first", "second"):
        code, _, err = run_cli(capsys, "train", "corpus.txt", *sentencepiece, "--steps", 1,
                               "--data-cache", "cache", "--out", name)
        assert code == 0, err
        said.append([line for line in err.splitlines() if "vocabulary" in line])
    assert "reused all" in err  # the second run trains no tokenizer: the cache's is reused
    [warning] = said[0]
    assert warning.startswith("warning: the corpus is too small for a 4000-token vocabulary; using ")
    assert said[1] == said[0]
