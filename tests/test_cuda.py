"""The CUDA path: the same model, hashing, RNG replay and commands on a GPU as on the CPU.

Skipped where there is no CUDA GPU (run them alone with `pytest -m cuda`). Gradients are
compared with the LSH buckets passed explicitly, so that hashing noise between devices cannot
make two correct runs attend differently.
"""

import copy
import json
import os
import subprocess
import sys
from pydoc_data.topics import topics

import pytest
import torch
from cli_runs import read_metrics, run_cli
from tiny_models import save_tiny_model

from reformer_cli import checkpoint as ckpt
from reformer_cli.config.model import ModelConfig
from reformer_cli.core.lsh_attention import LSHSelfAttention, bucket_factors, draw_rotations, hash_vectors
from reformer_cli.core.model import ReformerLM
from reformer_cli.core.reversible import ReversibleStack
from reformer_cli.training.runtime import autocast_context, capture_rng_state, restore_rng_state

pytestmark = [pytest.mark.cuda,
              pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")]

CUDA = torch.device("cuda")
ENV = dict(os.environ, OMP_NUM_THREADS="1", COLUMNS="200")


def model_config(**overrides) -> ModelConfig:
    settings = dict(vocab_size=64, d_model=64, n_heads=2, d_ff=128, n_layers=2,
                    layer_types=["local", "lsh"], chunk_length=16, n_hashes=2, n_buckets=8,
                    max_seq_len=1024)
    settings.update(overrides)
    return ModelConfig(**settings)


def force_buckets(model: ReformerLM, buckets: torch.Tensor) -> ReformerLM:
    """Every LSH layer attends with `buckets` (moved to its device) instead of hashing; the
    layer's own forward does the rest (the reversible recompute passes the same ones back)."""
    for block in model.stack.blocks:
        attention = block.attention
        if isinstance(attention, LSHSelfAttention):
            forward = attention.forward
            attention.forward = (lambda hidden, padding_mask=None, given=None, forward=forward:
                                 forward(hidden, padding_mask, buckets.to(hidden.device)))
    return model


def loss_and_grads(model, ids, targets, precision="fp32"):
    device = next(model.parameters()).device
    model.zero_grad()
    with autocast_context(device, precision):
        loss = model(ids.to(device), targets.to(device))
    loss.backward()
    grads = {name: p.grad.detach().double().cpu() for name, p in model.named_parameters()}
    return float(loss), grads


@pytest.mark.parametrize("precision, bound", [("fp32", 1e-4), ("bf16", 3e-2)])
def test_whole_model_gradients_on_cuda_match_the_cpu(precision, bound):
    """Reference: the CPU in fp64. On the CPU, fp32 is within ~1e-6 of it and bf16 autocast
    within ~1e-2 (relative norm per parameter); the bounds leave a margin over those."""
    if precision == "bf16" and not torch.cuda.is_bf16_supported():
        pytest.skip("this GPU has no bf16")
    torch.manual_seed(0)
    model = ReformerLM(model_config())
    generator = torch.Generator().manual_seed(1)
    ids = torch.randint(0, 64, (2, 128), generator=generator)
    targets = torch.randint(0, 64, (2, 128), generator=generator)
    buckets = torch.randint(0, 8, (2, 2, 2, 128), generator=generator)  # (B, H, r, L)
    reference = force_buckets(copy.deepcopy(model).double(), buckets)
    on_cuda = force_buckets(copy.deepcopy(model).to(CUDA), buckets)
    want_loss, want = loss_and_grads(reference, ids, targets)
    got_loss, got = loss_and_grads(on_cuda, ids, targets, precision)
    assert got_loss == pytest.approx(want_loss, rel=bound)
    for name in want:
        error = float((got[name] - want[name]).norm() / want[name].norm())
        assert error < bound, f"{name}: relative error {error:.2e}"


def run_stack(stack, x, weights, seed):
    x1 = x.clone().requires_grad_(True)
    x2 = (x * 0.5).requires_grad_(True)
    stack.zero_grad()
    torch.manual_seed(seed)
    y1, y2 = stack(x1, x2)
    cuda_state_after_forward = torch.cuda.get_rng_state()
    ((y1 * weights[0]).sum() + (y2 * weights[1]).sum()).backward()
    grads = {name: p.grad.clone() for name, p in stack.named_parameters()}
    return dict(y1=y1.detach(), dx1=x1.grad, dx2=x2.grad, grads=grads,
                rng_forward=cuda_state_after_forward, rng_backward=torch.cuda.get_rng_state())


def test_reversible_equals_plain_with_dropout_on_cuda():
    """The recompute replays the CUDA generator: same dropout masks, same buckets."""
    config = dict(vocab_size=32, d_model=32, n_heads=2, d_ff=64, n_layers=4,
                  layer_types=["local", "lsh"], chunk_length=8, n_hashes=2, dropout=0.1,
                  ff_chunk_size=7, hash_seed=None)
    torch.manual_seed(0)
    reversible = ReversibleStack(ModelConfig(**config, reversible=True)).double().to(CUDA).train()
    plain = ReversibleStack(ModelConfig(**config, reversible=False)).double().to(CUDA).train()
    plain.load_state_dict(reversible.state_dict())
    generator = torch.Generator().manual_seed(7)
    x = torch.randn(2, 45, 32, dtype=torch.float64, generator=generator).to(CUDA)
    weights = torch.randn(2, 2, 45, 32, dtype=torch.float64, generator=generator).to(CUDA)
    got, want = run_stack(reversible, x, weights, 1234), run_stack(plain, x, weights, 1234)
    for key in ("y1", "dx1", "dx2"):
        torch.testing.assert_close(got[key], want[key], rtol=1e-7, atol=1e-9, msg=key)
    for name in want["grads"]:
        torch.testing.assert_close(got["grads"][name], want["grads"][name], rtol=1e-7, atol=1e-9,
                                   msg=name)
    assert torch.equal(got["rng_backward"], got["rng_forward"])  # the recompute forked it
    other = run_stack(plain, x, weights, 4321)
    assert not torch.allclose(other["y1"], want["y1"])  # dropout is really on


def test_seeded_rotations_and_buckets_are_the_same_on_cuda_and_the_cpu():
    factors = bucket_factors(2048)
    on_cpu = draw_rotations(4, 16, 2, factors, "cpu", seed=5)
    on_cuda = draw_rotations(4, 16, 2, factors, CUDA, seed=5)
    assert on_cuda.device.type == "cuda" and torch.equal(on_cuda.cpu(), on_cpu)
    vectors = torch.randn(2, 4, 1024, 16, generator=torch.Generator().manual_seed(0))
    reference = hash_vectors(vectors.to(CUDA), on_cuda, factors)
    with torch.autocast("cuda", dtype=torch.bfloat16):
        assert torch.equal(hash_vectors(vectors.to(CUDA), on_cuda, factors), reference)


def test_a_checkpoint_from_an_8_gpu_run_restores_here():
    saved = capture_rng_state(CUDA)
    assert isinstance(saved["cuda"], torch.Tensor)  # this process's device only
    expected = torch.cuda.get_rng_state()
    saved["cuda"] = [expected.clone() for _ in range(8)]  # what every-device saving wrote
    torch.cuda.manual_seed(99)
    restore_rng_state(saved, CUDA)
    assert torch.equal(torch.cuda.get_rng_state(), expected)


# -- the commands with --device cuda -----------------------------------------------------------

TINY_YAML = """\
model: {d_model: 32, n_heads: 2, d_ff: 64, n_layers: 2, layer_types: [local, lsh], chunk_length: 32}
data: {seq_len: 128}
train: {steps: 6, batch_size: 2, warmup_steps: 2, eval_every: 3, eval_batches: 2, log_every: 3,
        checkpoint_every: 3, keep_checkpoints: 1, device: cpu, lr: 3.0e-3}
"""


def reformer(*args, cwd, timeout=300):
    return subprocess.run([sys.executable, "-m", "reformer_cli", *map(str, args)], cwd=cwd,
                          capture_output=True, text=True, timeout=timeout, env=ENV)


@pytest.fixture(scope="module")
def cuda_run(tmp_path_factory):
    folder = tmp_path_factory.mktemp("cuda_cli")
    (folder / "corpus.txt").write_text("\n\n".join(topics[k] for k in sorted(topics))[:120_000])
    (folder / "tiny.yaml").write_text(TINY_YAML)
    result = reformer("train", "corpus.txt", "--config", "tiny.yaml", "--tokenizer", "byte",
                      "--out", "run", "--device", "cuda", cwd=folder)
    assert result.returncode == 0, result.stderr
    return folder


def test_train_on_cuda(cuda_run):
    records = read_metrics(cuda_run / "run")
    start = [r for r in records if r["kind"] == "start"][0]
    assert start["device"].startswith("cuda")
    expected = "bf16" if torch.cuda.is_bf16_supported() else "fp32"  # precision auto
    assert start["precision"] == expected
    assert records[-1]["kind"] == "end" and records[-1]["step"] == 6
    losses = [r["loss"] for r in records if r["kind"] == "log"]
    assert losses and all(0 < loss < 10 for loss in losses)
    state = ckpt.read_training_state(cuda_run / "run" / "final")
    assert isinstance(state["rng"]["cuda"], torch.Tensor)  # one device's state, not a list


def test_resume_on_cuda_and_on_the_cpu(cuda_run):
    for device, steps in (("cuda", 8), ("cpu", 10)):
        result = reformer("train", "corpus.txt", "--out", "run", "--resume", "auto", "--steps",
                          steps, "--device", device, cwd=cuda_run)
        assert result.returncode == 0, result.stderr
        assert "resuming from run/final" in result.stderr
        assert read_metrics(cuda_run / "run")[-1]["step"] == steps


@pytest.fixture
def continue_model(tmp_path, monkeypatch):
    save_tiny_model(tmp_path, "tiny")
    (tmp_path / "prompt.txt").write_text(topics["with"][:400], encoding="utf-8")
    monkeypatch.chdir(tmp_path)


def test_continue_on_cuda_gives_the_cpu_text_for_a_seed(continue_model, capsys):
    """Rotations come from the seeded CPU generator and sampling runs on the CPU in fp32."""
    runs = {}
    for device in ("cuda", "cpu"):
        code, out, err = run_cli(capsys, "continue", "prompt.txt", "--model", "tiny", "-n", "24",
                                "--context", "400", "--seed", "3", "--device", device)
        assert code == 0, err
        runs[device] = out, err
    assert "on cuda" in runs["cuda"][1]
    assert runs["cuda"][0].strip() and runs["cuda"][0] == runs["cpu"][0]


def test_memprofile_on_cuda(tmp_path):
    json_path = tmp_path / "rows.json"
    result = reformer("memprofile", "--seq-len", "1024", "--device", "cuda", "--set",
                      "model.d_model=64", "--set", "model.n_heads=4", "--set", "model.d_ff=128",
                      "--set", "model.n_layers=2", "--json", json_path, cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    document = json.loads(json_path.read_text())
    assert document["header"]["device"] == torch.cuda.get_device_name()
    measured = [row for row in document["rows"] if row["source"] == "measured"]
    assert measured and all(row["peak_bytes"] > row["param_bytes"] for row in measured)


def test_summarize_abstractive_on_cuda_and_extractive(tmp_path, capsys, monkeypatch):
    """A model saved for --task summarize writes a summary on CUDA (greedy: the CPU's tokens);
    the extractive method ignores the device."""
    save_tiny_model(tmp_path, "summ", task="summarize", seq_len=256)
    (tmp_path / "doc.txt").write_text(topics["with"][:3000], encoding="utf-8")
    monkeypatch.chdir(tmp_path)
    records = {}
    for device in ("cuda", "cpu"):
        code, out, err = run_cli(capsys, "summarize", "doc.txt", "--model", "summ", "--method",
                                "abstractive", "--max-new-tokens", "12", "--format", "json",
                                "--device", device)
        assert code == 0, err
        records[device] = json.loads(out)
    assert records["cuda"]["method"] == "abstractive"
    assert records["cuda"]["generation"]["generated_tokens"] >= 1
    texts = {device: [s["text"] for s in record["sentences"]] for device, record in records.items()}
    assert texts["cuda"] == texts["cpu"]
    code, out, err = run_cli(capsys, "summarize", "doc.txt", "--sentences", "2", "--device", "cuda")
    assert code == 0, err
    assert len(out.strip().splitlines()) == 2
