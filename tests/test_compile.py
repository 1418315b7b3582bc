"""`train.compile: true`: the model compiles to a handful of graphs and trains as in eager mode."""

import pytest
import torch
import torch._dynamo
from test_train import make_trainer, tiny_run_config

from reformer_cli.config.model import ModelConfig
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
