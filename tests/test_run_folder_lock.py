"""One process at a time trains a run folder, and `--out` must name a folder."""

import contextlib
import subprocess
import sys
from pathlib import Path

import pytest
from cli_runs import TINY_TRAIN_FLAGS, read_metrics, run_cli, write_pydoc_corpus

from reformer_cli import checkpoint as ckpt
from reformer_cli.training.setup import TrainRequest, resolve_run

TINY = [*TINY_TRAIN_FLAGS, "--set", "train.batch_size=2", "--set", "train.eval_batches=1",
        "--set", "train.warmup_steps=1"]
# Holds the run folder's lock, in another process, until its stdin closes.
HOLDER = """
import sys
from pathlib import Path
from reformer_cli.checkpoint import run_folder_lock
with run_folder_lock(Path(sys.argv[1])):
    print("held", flush=True)
    sys.stdin.read()
"""


@pytest.fixture
def workspace(cli_workspace):
    write_pydoc_corpus(cli_workspace, 60_000)
    return cli_workspace


def train(capsys, *args):
    return run_cli(capsys, "train", "corpus.txt", *TINY, *args)


@contextlib.contextmanager
def held_elsewhere(folder: str, kill: bool = False):
    """Another process holding `folder`'s lock while the block runs; it lets go at the end, or
    with `kill` dies by kill -9 (the OS then drops the lock, leaving only the file)."""
    holder = subprocess.Popen([sys.executable, "-c", HOLDER, folder], stdin=subprocess.PIPE,
                              stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline() == "held\n"
        yield holder
    finally:
        if kill:
            holder.kill()
        holder.communicate("" if not kill else None)


def snapshot(folder: Path) -> dict:
    return {str(path.relative_to(folder)): path.read_bytes()
            for path in sorted(folder.rglob("*")) if path.is_file()}


def test_a_second_process_fails_at_once_and_leaves_the_folder_alone(workspace, capsys):
    code, _, err = train(capsys, "--out", "conc", "--steps", "4", "--set", "train.checkpoint_every=2")
    assert code == 0, err
    before = snapshot(workspace / "conc")
    with held_elsewhere("conc", kill=True) as holder:
        code, out, err = train(capsys, "--out", "conc", "--steps", "8", "--resume", "auto")
    assert code == 4 and out == ""
    assert err.strip().splitlines() == [
        f"error: conc is being trained by another process (pid {holder.pid}); "
        "wait for it to finish, or choose another --out"]
    after = snapshot(workspace / "conc")
    assert after.pop(ckpt.RUN_LOCK_FILE) == f"{holder.pid}\n".encode()
    assert after == before  # no checkpoint, metric or config touched

    code, _, err = train(capsys, "--out", "conc", "--steps", "6", "--resume", "auto")
    assert code == 0, err
    assert read_metrics(workspace / "conc")[-1]["step"] == 6
    assert not (workspace / "conc" / ckpt.RUN_LOCK_FILE).exists()  # released and removed


def test_a_new_run_in_a_locked_folder_is_refused_before_any_work(workspace, capsys):
    with held_elsewhere("fresh"):
        code, _, err = train(capsys, "--out", "fresh", "--steps", "2")
    assert code == 4 and "fresh is being trained by another process" in err
    assert sorted(p.name for p in (workspace / "fresh").iterdir()) == []  # no shards, no config


def test_out_naming_a_file_is_refused_in_one_line(workspace, capsys):
    (workspace / "afile.txt").write_text("keep me\n")
    code, out, err = train(capsys, "--out", "afile.txt", "--steps", "2")
    assert code == 2 and out == ""
    assert err.strip().splitlines() == [
        "error: --out afile.txt is a file, not a folder; give a folder for the run (it is "
        "created if missing)"]
    assert (workspace / "afile.txt").read_text() == "keep me\n"


def test_resuming_a_run_folder_another_process_trains_names_that_process(workspace, capsys):
    """--resume RUN finds RUN's latest checkpoint only once RUN is locked: a run that has written
    none yet gets the lock error, not "holds no complete checkpoint"."""
    with held_elsewhere("busy") as holder:
        code, out, err = train(capsys, "--resume", "busy", "--steps", "4")
    assert code == 4 and out == ""
    assert err.strip().splitlines() == [
        f"error: busy is being trained by another process (pid {holder.pid}); "
        "wait for it to finish, or choose another --out"]
    assert list((workspace / "busy").iterdir()) == []  # lock released and removed, nothing else


class WritesWhileWaited:
    """A claim that, as it takes the run folder, finds the checkpoints another run wrote in the
    meantime (put back from `held`)."""

    def __init__(self, held: Path):
        self.held = held

    def take(self, run_dir: Path) -> None:
        for path in self.held.iterdir():
            path.rename(run_dir / path.name)


def test_the_checkpoint_resumed_from_a_run_folder_is_its_latest_once_claimed(workspace, capsys):
    code, _, err = train(capsys, "--out", "grow", "--steps", "4", "--set", "train.checkpoint_every=2")
    assert code == 0, err
    held = workspace / "held"
    held.mkdir()
    (workspace / "grow" / "final").rename(held / "final")  # not written yet: step 2 is the latest
    request = TrainRequest(["corpus.txt"], resume="grow")
    _, run_dir, resume_from = resolve_run(request, claim=WritesWhileWaited(held))
    assert run_dir == Path("grow") and resume_from == Path("grow") / "final"
