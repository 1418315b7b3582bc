"""Checkpoints: exact round trips, atomic replacement, kill -9 safety, corrupt-file detection."""

import json
import os
import pickle
import random
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import numpy as np
import pytest
import torch

from reformer_cli import checkpoint as ckpt
from reformer_cli.config.run import RunConfig
from reformer_cli.core.model import ReformerLM
from reformer_cli.errors import CheckpointError
from reformer_cli.text.tokenizer import ByteTokenizer

REPO = Path(__file__).resolve().parent.parent


pytestmark = pytest.mark.usefixtures("one_thread")


def tiny_config(**model) -> RunConfig:
    config = RunConfig(name="tiny")
    settings = dict(vocab_size=258, d_model=32, n_heads=2, d_ff=64, n_layers=2,
                    layer_types=["local", "lsh"], chunk_length=16)
    settings.update(model)
    for key, value in settings.items():
        setattr(config.model, key, value)
    config.data.seq_len = 64
    config.data.tokenizer = "byte"
    return config.validate()


def save_tiny(target, config=None, step=3, state=None, seed=0):
    config = config or tiny_config()
    torch.manual_seed(seed)
    model = ReformerLM(config.model)
    path = ckpt.save_checkpoint(target, config=config, model=model, tokenizer=ByteTokenizer(),
                                step=step, training_state=state if state is not None else {"step": step})
    return path, model, config


def test_model_round_trip_is_exact_and_self_describing(tmp_path):
    path, model, config = save_tiny(tmp_path / "run" / "final", tiny_config(tie_embeddings=True))
    assert sorted(p.name for p in path.iterdir()) == sorted([
        "config.yaml", "model.safetensors", "tokenizer.json", "training_state.json",
        "training_state.safetensors", "manifest.json"])
    loaded = ckpt.load_model(tmp_path / "run")  # a run folder resolves to its newest checkpoint
    assert loaded.path == path and not loaded.model.training
    assert loaded.config.to_dict() == config.to_dict()
    assert loaded.tokenizer.kind == "byte"
    original, restored = model.state_dict(), loaded.model.state_dict()
    assert original.keys() == restored.keys()
    for name in original:
        assert torch.equal(original[name], restored[name]), name
    ids = torch.randint(0, 258, (1, 40))
    torch.manual_seed(1)
    expected = model.eval()(ids)
    torch.manual_seed(1)
    assert torch.equal(loaded.model(ids), expected)


def test_training_state_round_trips_every_kind_of_value(tmp_path):
    model = torch.nn.Linear(4, 3)
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-3)
    model(torch.randn(2, 4)).sum().backward()
    optimizer.step()
    random.seed(3)
    np.random.seed(4)
    state = {"optimizer": optimizer.state_dict(), "python": random.getstate(),
             "numpy": np.random.get_state(), "torch": torch.get_rng_state(),
             "generator": np.random.default_rng(5).bit_generator.state,  # 128-bit ints
             "mixed": {1: (2.5, None, "x"), "list": [True, np.int64(7)]}, "scalar": torch.tensor(1.5)}
    path, _, _ = save_tiny(tmp_path / "c", state=state)
    restored = ckpt.read_training_state(path)
    assert restored["python"] == state["python"]
    assert restored["generator"] == state["generator"]
    assert restored["mixed"] == {1: (2.5, None, "x"), "list": [True, 7]}
    name, keys, pos, has_gauss, gauss = restored["numpy"]
    assert keys.dtype == np.uint32 and np.array_equal(keys, state["numpy"][1])
    assert (name, pos, has_gauss, gauss) == (state["numpy"][0], *state["numpy"][2:])
    assert torch.equal(restored["torch"], state["torch"]) and restored["scalar"].item() == 1.5
    reloaded = torch.optim.AdamW(torch.nn.Linear(4, 3).parameters(), lr=1e-3)
    reloaded.load_state_dict(restored["optimizer"])
    for key in ("exp_avg", "exp_avg_sq", "step"):
        assert torch.equal(reloaded.state_dict()["state"][0][key], optimizer.state_dict()["state"][0][key])
    assert reloaded.state_dict()["param_groups"] == optimizer.state_dict()["param_groups"]


def test_replacing_a_checkpoint_keeps_one_complete_folder_and_prunes_old_steps(tmp_path):
    run = tmp_path / "run"
    for step in (1, 2, 3, 4):
        save_tiny(run / ckpt.step_dir_name(step), step=step, seed=step)
    save_tiny(run / "final", step=4, seed=10)
    save_tiny(run / "final", step=5, seed=11)  # replaces the existing final/
    assert ckpt.prune_step_checkpoints(run, keep=2) == [run / "step-000001", run / "step-000002"]
    assert [step for step, _ in ckpt.list_checkpoints(run)] == [3, 4, 5]
    assert ckpt.latest_checkpoint(run) == run / "final"
    assert not any(p.name.startswith((".tmp-", ".old-")) for p in run.iterdir())
    torch.manual_seed(11)
    expected = ReformerLM(tiny_config().model).embedding.weight
    assert torch.equal(ckpt.load_model(run).model.embedding.weight, expected)


def test_a_folder_moved_aside_mid_replace_still_counts_and_temporaries_do_not(tmp_path):
    run = tmp_path / "run"
    save_tiny(run / "step-000002", step=2)
    path, _, _ = save_tiny(run / "final", step=7)
    os.replace(path, run / ".old-final-1234abcd")  # killed between the two renames
    (run / ".tmp-final-99-deadbeef").mkdir()  # killed while writing
    assert ckpt.latest_checkpoint(run) == run / ".old-final-1234abcd"
    ckpt.load_model(run)
    ckpt.remove_stale_temporaries(run)
    assert not (run / ".tmp-final-99-deadbeef").exists()
    assert (run / ".old-final-1234abcd").exists()  # still the newest checkpoint: kept
    save_tiny(run / "final", step=8)
    ckpt.remove_stale_temporaries(run)  # now superseded by final/
    assert sorted(p.name for p in run.iterdir()) == ["final", "step-000002"]


def test_bare_name_resolves_under_models(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    save_tiny(Path("models/mine/step-000005"), step=5)
    assert ckpt.resolve_model_dir("mine") == Path("models/mine/step-000005")
    with pytest.raises(CheckpointError, match="no model found"):
        ckpt.resolve_model_dir("other")


KILL_WRITER = textwrap.dedent("""
    import sys, torch
    from reformer_cli import checkpoint as ckpt
    from reformer_cli.config.run import RunConfig
    from reformer_cli.core.model import ReformerLM
    from reformer_cli.text.tokenizer import ByteTokenizer
    config = RunConfig(name="k")
    config.model.vocab_size, config.model.d_model, config.model.d_ff = 258, 128, 512
    config.model.n_layers = 2
    model = ReformerLM(config.model)
    state = {"moments": [torch.randn(200_000) for _ in range(4)]}  # a few MB per save
    run = sys.argv[1]
    for step in range(1, 10_000):
        with torch.no_grad():
            model.embedding.weight.fill_(float(step))
        ckpt.save_checkpoint(f"{run}/final" if step % 3 == 0 else f"{run}/{ckpt.step_dir_name(step)}",
                             config=config, model=model, tokenizer=ByteTokenizer(), step=step,
                             training_state=dict(state, step=step))
        ckpt.prune_step_checkpoints(run, keep=2)
        print(step, flush=True)
""")


def test_kill_minus_nine_during_saves_leaves_a_loadable_checkpoint(tmp_path):
    script = tmp_path / "writer.py"
    script.write_text(KILL_WRITER)
    rng = random.Random(0)
    for attempt in range(3):
        run = tmp_path / f"run{attempt}"
        writer = subprocess.Popen([sys.executable, str(script), str(run)], stdout=subprocess.PIPE,
                                  text=True, cwd=REPO, env=dict(os.environ, OMP_NUM_THREADS="1"))
        try:
            for _ in range(2 + attempt):
                assert writer.stdout.readline(), "the writer died before saving"
            time.sleep(rng.uniform(0.0, 0.05))  # land anywhere inside the next save
        finally:
            writer.send_signal(signal.SIGKILL)
            writer.wait()
        newest = ckpt.latest_checkpoint(run)
        step = json.loads((newest / "manifest.json").read_text())["step"]
        assert step >= 2 + attempt
        loaded = ckpt.load_model(run)
        assert torch.all(loaded.model.embedding.weight == float(step))
        assert ckpt.read_training_state(newest)["step"] == step
        for _, path in ckpt.list_checkpoints(run):  # every listed checkpoint is complete
            ckpt.verify_checkpoint(path)


@pytest.mark.parametrize("damage, message", [
    ("truncate", "truncated"), ("flip", "checksum"), ("version", "format version"),
    ("manifest", "unreadable manifest"), ("missing", "missing model.safetensors")])
def test_damaged_checkpoints_give_one_clear_line(tmp_path, damage, message):
    path, _, _ = save_tiny(tmp_path / "c")
    model_file = path / "model.safetensors"
    if damage == "truncate":
        model_file.write_bytes(model_file.read_bytes()[:-100])
    elif damage == "flip":
        data = bytearray(model_file.read_bytes())
        data[-5] ^= 0xFF
        model_file.write_bytes(bytes(data))
    elif damage == "version":
        manifest = json.loads((path / "manifest.json").read_text())
        manifest["format_version"] = 99
        (path / "manifest.json").write_text(json.dumps(manifest))
    elif damage == "manifest":
        (path / "manifest.json").write_text("{not json")
    else:
        model_file.unlink()
    with pytest.raises(CheckpointError, match=message) as caught:
        ckpt.load_model(path)
    assert "\n" not in caught.value.one_line()


def test_a_checkpoint_that_does_not_fit_its_config_is_incompatible(tmp_path):
    # A self-consistent folder (checksums fine) whose weights were made for another shape.
    big = tiny_config(d_model=64)
    torch.manual_seed(0)
    model = ReformerLM(big.model)
    path = ckpt.save_checkpoint(tmp_path / "c", config=tiny_config(), model=model,
                                tokenizer=ByteTokenizer(), step=1, training_state={})
    with pytest.raises(CheckpointError, match="does not fit the model"):
        ckpt.load_model(path)


class _Exploit:
    def __reduce__(self):
        return (os.system, (f"touch {os.environ.get('PWNED_MARK', '/tmp/pwned')}",))


def test_pickle_checkpoints_are_refused_without_being_unpickled(tmp_path, monkeypatch):
    mark = tmp_path / "pwned"
    monkeypatch.setenv("PWNED_MARK", str(mark))
    folder = tmp_path / "pickled"
    folder.mkdir()
    (folder / "model.pt").write_bytes(pickle.dumps(_Exploit()))
    with pytest.raises(CheckpointError, match="pickle"):
        ckpt.load_model(folder)
    assert not mark.exists()
