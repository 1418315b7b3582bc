"""A run records its training files (data.inputs in config.yaml), so `reformer train --resume RUN`
needs no PATH, and resumes exactly as it does given the files; what it cannot find is one line."""

import json
import os
import shutil
from pathlib import Path

import pytest
import yaml
from cli_runs import TINY_TRAIN_FLAGS, read_metrics, run_cli, write_pydoc_corpus
from safetensors.torch import load_file

from reformer_cli import checkpoint as ckpt
from reformer_cli.checkpoint.layout import file_sha256

TINY = [*TINY_TRAIN_FLAGS, "--set", "train.batch_size=2", "--set", "train.eval_batches=1",
        "--set", "train.warmup_steps=1", "--set", "train.deterministic=true"]


@pytest.fixture
def workspace(cli_workspace):
    write_pydoc_corpus(cli_workspace, 40_000)
    return cli_workspace


def train(capsys, *args) -> str:
    code, _, err = run_cli(capsys, "train", *args)
    assert code == 0, err
    return err


def refused(capsys, *args) -> str:
    """The one error line of a `reformer train` that exits 2."""
    code, out, err = run_cli(capsys, "train", *args)
    assert code == 2 and out == "" and "Traceback" not in err, err
    [line] = err.strip().splitlines()
    return line


@pytest.fixture
def run(workspace, capsys) -> Path:
    """run/ trained to step 4, checkpoints at steps 2 and 4."""
    train(capsys, "corpus.txt", *TINY, "--out", "run", "--steps", "4",
          "--set", "train.checkpoint_every=2")
    return workspace / "run"


def at_step_two(run: Path, name: str) -> Path:
    """A copy of `run` whose latest checkpoint is step 2."""
    copy = run.parent / name
    shutil.copytree(run, copy, ignore=shutil.ignore_patterns("final", "step-000004"))
    return copy


def test_a_run_records_its_inputs_in_its_config(run, workspace):
    corpus = os.path.abspath(workspace / "corpus.txt")
    for config_file in (run / "config.yaml", run / "final" / "config.yaml",
                        run / "step-000002" / "config.yaml"):
        data = yaml.safe_load(config_file.read_text())["data"]
        assert data["inputs"] == [corpus] and data["encoding"] == "utf-8", config_file
    assert ckpt.load_config(run / "final").data.inputs == [corpus]


def test_a_resume_without_the_files_equals_one_given_them(run, capsys):
    at_step_two(run, "given")
    at_step_two(run, "recorded")
    train(capsys, "corpus.txt", *TINY, "--resume", "given", "--steps", "4")
    err = train(capsys, "--resume", "recorded", "--steps", "4")
    assert "resuming from recorded/step-000002 at step 2" in err
    assert "differ" not in err  # the recorded files are the files
    given, recorded, straight = (load_file(run.parent / name / "final" / "model.safetensors")
                                 for name in ("given", "recorded", "run"))
    assert set(recorded) == set(given)
    assert all(recorded[name].equal(given[name]) for name in given)
    assert all(recorded[name].equal(straight[name]) for name in given)  # and the unbroken run's
    ends = [read_metrics(run.parent / name)[-1] for name in ("given", "recorded")]
    assert ends[0]["kind"] == ends[1]["kind"] == "end" and ends[0]["step"] == ends[1]["step"] == 4
    assert ends[0]["val_loss"] == ends[1]["val_loss"]


def test_resume_auto_without_files_resumes_the_run_or_says_what_to_pass(run, capsys):
    at_step_two(run, "auto")
    err = train(capsys, "--out", "auto", "--resume", "auto", "--steps", "3")
    assert "resuming from auto/step-000002 at step 2" in err
    assert ckpt.verify_checkpoint(Path("auto") / "final")["step"] == 3
    assert refused(capsys, "--out", "empty", "--resume", "auto") == (
        "error: no run to resume in empty; pass training files to start one: "
        "reformer train FILES --resume auto --out empty")
    assert not Path("empty").exists()


def test_a_checkpoint_named_by_resume_finds_its_files_too(run, capsys):
    err = train(capsys, "--resume", "run/step-000002", "--out", "branch", "--steps", "3")
    assert "at step 2" in err
    assert ckpt.verify_checkpoint(Path("branch") / "final")["step"] == 3


def test_a_training_file_that_is_gone_is_one_line(run, workspace, capsys):
    at_step_two(run, "moved")
    (workspace / "corpus.txt").rename(workspace / "elsewhere.txt")
    before = sorted(p.name for p in (workspace / "moved").iterdir())
    corpus = os.path.abspath(workspace / "corpus.txt")
    assert refused(capsys, "--resume", "moved") == (
        f"error: the run's training input {corpus} is gone; pass the training files again: "
        "reformer train FILES --resume moved")
    assert refused(capsys, "--resume", "auto", "--out", "moved") == (  # runnable as it stands
        f"error: the run's training input {corpus} is gone; pass the training files again: "
        "reformer train FILES --resume auto --out moved")
    assert sorted(p.name for p in (workspace / "moved").iterdir()) == before
    # Given again (under their new name), the files are used, and the change is noted.
    err = train(capsys, "elsewhere.txt", "--resume", "moved", "--steps", "3")
    assert (f"note: the training files given are not the ones moved recorded ({corpus}); "
            "the run goes on if their text is the same") in " ".join(err.split())
    assert ckpt.load_config(workspace / "moved" / "final").data.inputs == [
        os.path.abspath(workspace / "elsewhere.txt")]  # the next resume uses them


def test_a_resume_from_another_folder_finds_the_files_and_the_val_file(workspace, capsys,
                                                                      monkeypatch):
    (workspace / "val.txt").write_text("held-out text, read from wherever the resume runs. " * 20)
    train(capsys, "corpus.txt", *TINY, "--val", "val.txt", "--out", "val_run", "--steps", "2")
    (workspace / "elsewhere").mkdir()
    monkeypatch.chdir(workspace / "elsewhere")
    err = train(capsys, "--resume", "../val_run", "--steps", "3")
    assert "at step 2" in err
    data = ckpt.load_config(workspace / "val_run" / "final").data
    assert data.val_path == os.path.abspath(workspace / "val.txt")
    assert data.inputs == [os.path.abspath(workspace / "corpus.txt")]
    end = read_metrics(workspace / "val_run")[-1]
    assert end["step"] == 3 and end["val_loss"] > 0


def forget_inputs(checkpoint: Path) -> None:
    """Make `checkpoint` look written by the version before data.inputs (manifest kept valid)."""
    config_file = checkpoint / ckpt.CONFIG_FILE
    document = yaml.safe_load(config_file.read_text())
    del document["data"]["inputs"]
    config_file.write_text(yaml.safe_dump(document, sort_keys=False))
    manifest = json.loads((checkpoint / ckpt.MANIFEST_FILE).read_text())
    manifest["files"][ckpt.CONFIG_FILE] = {"bytes": config_file.stat().st_size,
                                           "sha256": file_sha256(config_file)}
    (checkpoint / ckpt.MANIFEST_FILE).write_text(json.dumps(manifest))


def test_a_run_from_before_recorded_inputs_asks_for_its_files(run, capsys):
    old = at_step_two(run, "old")
    forget_inputs(old / "step-000002")
    assert refused(capsys, "--resume", "old") == (
        "error: the run at old does not record its training files (it predates data.inputs in "
        "config.yaml); pass them: reformer train FILES --resume old")
    train(capsys, "corpus.txt", "--resume", "old", "--steps", "3")  # given, as before


def test_bare_train_is_still_a_usage_error(workspace, capsys):
    assert refused(capsys) == "error: missing argument 'PATH'; see `reformer train --help`"


def listing(folder: Path) -> list[str]:
    """Every file and folder under `folder`, relative to it."""
    return sorted(str(path.relative_to(folder)) for path in folder.rglob("*"))


def test_other_text_is_refused_before_the_run_folder_keeps_any_of_it(run, workspace, capsys):
    at_step_two(run, "other")
    (workspace / "other.txt").write_text("Text this run was never trained on. " * 600)
    before = listing(workspace / "other")
    for args, start_anew in ((["--resume", "other"], "--name"),
                             (["--resume", "auto", "--out", "other"], "another --out")):
        code, out, err = run_cli(capsys, "train", "other.txt", *args, "--steps", "4")
        assert code == 2 and out == "" and "Traceback" not in err, err
        assert err.strip().splitlines()[-1] == (
            "error: the training text differs from the text this run was trained on; resume with "
            f"the same files, or start a new run with {start_anew}")
        assert listing(workspace / "other") == before  # no shards of other.txt in other/data
    assert refused(capsys, "--resume", "other", "--seq-len", "64") == (
        "error: data.seq_len cannot change when resuming (the checkpoint has 128, the command "
        "asks for 64); drop that setting, or start a new run with --name")


def test_a_run_folder_given_no_files_says_to_resume_it(run, workspace, capsys):
    assert refused(capsys, "--out", "run", *TINY) == (
        "error: run already holds a training run, and no training files were given; continue it "
        "with the files it recorded: reformer train --resume run")
    (workspace / "models").mkdir()
    shutil.copytree(run, workspace / "models" / "named")
    assert refused(capsys, "--name", "named") == (
        "error: models/named already holds a training run, and no training files were given; "
        "continue it with the files it recorded: reformer train --resume models/named")
    assert refused(capsys, "--out", "new") == ("error: missing argument 'PATH'; "
                                               "see `reformer train --help`")
    assert not Path("new").exists()
