"""`train.compile: true`: the model compiles to a handful of graphs and trains as in eager mode."""

import pytest
import torch
import torch._dynamo
from test_train import make_trainer, tiny_run_config

from reformer_cli.config.model import ModelConfig
from reformer_cli.core import chunked_ops
from reformer_cli.core.chunked_ops import SCORES_PER_BLOCK, window_key_positions
from reformer_cli.core.model import ReformerLM

VOCAB = 29


def graph_breaks(reversible: bool) -> int:
    """Graph breaks of one forward + loss of a 2-layer (local, lsh) model."""
    torch.manual_seed(0)
    model = ReformerLM(ModelConfig(vocab_size=VOCAB, d_model=32, n_heads=2, d_ff=64, n_layers=2,
                                   layer_types=["local", "lsh"], chunk_length=8, n_hashes=2,
                                   dropout=0.0, reversible=reversible))
    ids = torch.randint(0, VOCAB, (2, 30))  # not a multiple of the chunk: padding inside
    torch._dynamo.reset()
    try:
        explanation = torch._dynamo.explain(lambda ids: model(ids, ids))(ids)
    finally:
        torch._dynamo.reset()
    return explanation.graph_break_count


def test_the_plain_stack_compiles_to_one_graph():
    assert graph_breaks(reversible=False) == 0


def test_the_reversible_stack_runs_eagerly_between_two_compiled_parts():
    # embedding | the reversible stack (its backward calls autograd.grad) | norm, head, loss
    assert graph_breaks(reversible=True) <= 2


def logged_losses(compile: bool) -> list[float]:
    losses = []

    def record(event):
        if event.kind == "log":
            losses.append(event.values["loss"])

    config = tiny_run_config(steps=3, eval_every=0, compile=compile)
    torch._dynamo.reset()
    try:
        make_trainer(config, on_event=record).fit()
    finally:
        torch._dynamo.reset()
    return losses


@pytest.mark.slow
def test_compiled_training_gives_the_eager_losses():
    eager, compiled = logged_losses(False), logged_losses(True)
    assert len(compiled) == len(eager) == 3
    assert compiled == pytest.approx(eager, rel=1e-4, abs=1e-4)


@pytest.mark.parametrize("gathered", [False, True])
def test_the_chunked_kernel_is_a_well_formed_custom_operator(gathered):
    """torch.library's own checks: schema, autograd registration, the fake (shape-only)
    implementation the compiler traces with, and forward/backward through AOT dispatch."""
    generator = torch.Generator().manual_seed(0)
    sort_index = torch.cat([torch.randperm(12, generator=generator) for _ in range(2)])
    shape = (12, 8) if gathered else (6, 4, 8)
    q = torch.randn(shape, dtype=torch.float64, generator=generator, requires_grad=True)
    v = torch.randn(shape, dtype=torch.float64, generator=generator, requires_grad=True)
    query_positions = (sort_index if gathered else torch.arange(24)).float().view(6, 4)
    no_look_back = torch.arange(6) % 3 == 0
    window_positions = window_key_positions(query_positions[None], no_look_back).view(6, 8)
    arguments = (q, v, sort_index if gathered else None, query_positions, window_positions,
                 None, True, 0.35, SCORES_PER_BLOCK)
    results = torch.library.opcheck(chunked_ops._forward_op, arguments)
    assert set(results.values()) == {"SUCCESS"}, results


def test_eager_training_never_imports_the_compiler():
    """torch._dynamo is a large import (time and memory): a model that is
    not compiled trains (reversible, local and LSH layers) without importing it."""
    import subprocess
    import sys

    code = (
        "import sys, torch\n"
        "from reformer_cli.config.model import ModelConfig\n"
        "from reformer_cli.core.model import ReformerLM\n"
        "model = ReformerLM(ModelConfig(vocab_size=29, d_model=32, n_heads=2, d_ff=64,\n"
        "    n_layers=2, layer_types=['local', 'lsh'], chunk_length=8, reversible=True))\n"
        "ids = torch.randint(0, 29, (2, 30))\n"
        "model(ids, ids).backward()\n"
        "with torch.no_grad():\n"
        "    model(ids)\n"
        "print(sorted(m for m in sys.modules if m.startswith('torch._dynamo'))[:3])\n")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.strip() == "[]"
