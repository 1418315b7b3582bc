"""`--resume` from an older checkpoint starts a branch: the abandoned later checkpoints are moved
aside (kept whole), and `--resume auto` and model names follow the new branch."""

from pathlib import Path

import pytest
from cli_runs import TINY_TRAIN_FLAGS, read_metrics, run_cli, write_pydoc_corpus

from reformer_cli import checkpoint as ckpt

TINY = [*TINY_TRAIN_FLAGS, "--set", "train.batch_size=2", "--set", "train.eval_batches=1",
        "--set", "train.warmup_steps=1"]


@pytest.fixture
def workspace(cli_workspace):
    write_pydoc_corpus(cli_workspace, 60_000)
    return cli_workspace


def train(capsys, *args):
    code, out, err = run_cli(capsys, "train", "corpus.txt", *TINY, *args)
    assert code == 0, err
    return err


def snapshot(folder: Path) -> dict:
    return {str(path.relative_to(folder)): path.read_bytes()
            for path in sorted(folder.rglob("*")) if path.is_file()}


def test_resuming_an_older_step_moves_the_later_checkpoints_aside(workspace, capsys):
    run = workspace / "br"
    train(capsys, "--out", "br", "--steps", "6", "--set", "train.checkpoint_every=2",
          "--set", "train.keep_checkpoints=5")
    abandoned = {name: snapshot(run / name) for name in ("step-000004", "final")}

    # A resume written to another folder leaves the source folder as it was.
    before = snapshot(run)
    train(capsys, "--resume", "br/step-000002", "--out", "elsewhere", "--steps", "3")
    assert snapshot(run) == before
    assert ckpt.resolve_model_dir(workspace / "elsewhere") == workspace / "elsewhere" / "final"

    err = train(capsys, "--resume", "br/step-000002", "--steps", "3")
    [moved] = [p for p in run.iterdir() if p.name.startswith(ckpt.SUPERSEDED_PREFIX)]
    assert moved.name.startswith("superseded-2-")
    assert (f"moved 2 checkpoints after step 2 (step-000004, final) to {Path('br') / moved.name}; "
            "`--resume auto` continues from step 2") in " ".join(err.split())
    assert {name: snapshot(moved / name) for name in abandoned} == abandoned  # whole, untouched
    assert ckpt.verify_checkpoint(moved / "final")["step"] == 6
    assert [step for step, _ in ckpt.list_checkpoints(run)] == [2, 3]
    assert ckpt.resolve_model_dir(run) == run / "final"
    assert ckpt.verify_checkpoint(run / "final")["step"] == 3

    # Pruning (keep 1) runs in the branch; the moved folder is neither pruned nor resumed from.
    err = train(capsys, "--out", "br", "--resume", "auto", "--steps", "5",
                "--set", "train.checkpoint_every=1", "--set", "train.keep_checkpoints=1")
    assert "resuming from br/final at step 3" in err
    assert [step for step, _ in ckpt.list_checkpoints(run)] == [4, 5]
    assert {name: snapshot(moved / name) for name in abandoned} == abandoned
    assert read_metrics(run)[-1]["step"] == 5


def branched(capsys) -> Path:
    """br/ trained to step 4, then resumed from step 2: its final/ (step 4) is set aside."""
    train(capsys, "--out", "br", "--steps", "4", "--set", "train.checkpoint_every=2")
    train(capsys, "--resume", "br/step-000002", "--steps", "3")
    [moved] = Path("br").glob(f"{ckpt.SUPERSEDED_PREFIX}*")
    return moved


def test_metrics_mark_where_the_abandoned_branch_ends(workspace, capsys):
    moved = branched(capsys)
    kinds = [(record["kind"], record["step"]) for record in read_metrics("br")]
    branch = kinds.index(("branch", 2))
    assert kinds[branch - 1] == ("end", 4) and kinds[branch + 1] == ("start", 2)
    record = read_metrics("br")[branch]
    assert list(record) == ["kind", "step", "time", "from_step", "set_aside"]  # MetricsLog.branch
    assert record["from_step"] == 2 and record["set_aside"] == moved.name


def test_a_checkpoint_of_an_archived_branch_resumes_only_into_a_new_folder(workspace, capsys):
    moved = branched(capsys)
    before = snapshot(moved)
    for source in (moved / "final", moved):
        code, out, err = run_cli(capsys, "train", "corpus.txt", *TINY, "--resume", source,
                                 "--steps", "5", "--name", "other")
        assert code == 2 and out == ""
        assert err.strip().splitlines() == [
            f"error: {moved / 'final'} is in an archived branch ({moved}); "
            "resume it into a new run folder with --out DIR"]
    train(capsys, "--resume", moved / "final", "--steps", "5", "--out", "revived")
    assert snapshot(moved) == before
    assert ckpt.verify_checkpoint(Path("revived") / "final")["step"] == 5
    assert not Path("models").exists()
