"""ReformerLM: chunked loss vs full logits, causality, any length, padding, interface."""

import pytest
import torch
import torch.nn.functional as F

from reformer_cli.config.model import ModelConfig
from reformer_cli.core.head_loss import IGNORE_INDEX, chunked_cross_entropy
from reformer_cli.core.model import ReformerLM
from reformer_cli.errors import ConfigError, InputError

VOCAB = 29


def make_model(layer_types=("local", "lsh"), dtype=torch.float64, **overrides) -> ReformerLM:
    settings = dict(vocab_size=VOCAB, d_model=32, n_heads=2, d_ff=64, n_layers=2,
                    layer_types=list(layer_types), chunk_length=8, n_hashes=2, dropout=0.0,
                    ff_chunk_size=16, loss_chunk_size=11, hash_seed=11)
    settings.update(overrides)
    torch.manual_seed(0)
    return ReformerLM(ModelConfig(**settings)).to(dtype)


def random_batch(batch=2, length=45, seed=1):
    generator = torch.Generator().manual_seed(seed)
    ids = torch.randint(0, VOCAB, (batch, length), generator=generator)
    targets = torch.randint(0, VOCAB, (batch, length), generator=generator)
    targets[0, :6] = IGNORE_INDEX
    targets[-1, -3:] = IGNORE_INDEX
    return ids, targets


# ---- chunked head + loss -------------------------------------------------------------------

@pytest.mark.parametrize("chunk", [0, 1, 5, 37, 500])
@pytest.mark.parametrize("scored_fraction", [1.0, 0.1])  # 0.1: only the scored rows go through
def test_chunked_loss_matches_full_logits(chunk, scored_fraction):
    torch.manual_seed(0)
    hidden = torch.randn(2, 37, 16, dtype=torch.float64, requires_grad=True)
    weight = torch.randn(VOCAB, 16, dtype=torch.float64, requires_grad=True)
    _, targets = random_batch(2, 37)
    targets[torch.rand(targets.shape, generator=torch.Generator().manual_seed(1))
            > scored_fraction] = IGNORE_INDEX
    loss = chunked_cross_entropy(hidden, weight, targets, chunk)
    (2.5 * loss).backward()
    grads = hidden.grad.clone(), weight.grad.clone()
    hidden.grad = weight.grad = None
    expected = F.cross_entropy((hidden @ weight.t()).view(-1, VOCAB), targets.view(-1))
    (2.5 * expected).backward()
    torch.testing.assert_close(loss, expected, rtol=1e-12, atol=1e-12)
    torch.testing.assert_close(grads, (hidden.grad, weight.grad), rtol=1e-10, atol=1e-12)
    with torch.no_grad():  # the no-grad path gives the same number
        torch.testing.assert_close(chunked_cross_entropy(hidden, weight, targets, chunk), expected)


def test_all_targets_ignored_gives_zero_not_nan():
    hidden = torch.randn(1, 4, 8, requires_grad=True)
    loss = chunked_cross_entropy(hidden, torch.randn(5, 8), torch.full((1, 4), IGNORE_INDEX), 2)
    loss.backward()
    assert loss.item() == 0.0 and torch.all(hidden.grad == 0)


@pytest.mark.parametrize("tied", [True, False])
def test_model_loss_matches_logits_and_cross_entropy(tied):
    model = make_model(tie_embeddings=tied, dropout=0.0)
    ids, targets = random_batch()
    loss = model(ids, targets)
    loss.backward()
    grads = {name: p.grad.clone() for name, p in model.named_parameters()}
    model.zero_grad()
    logits = model(ids)
    assert logits.shape == (2, 45, VOCAB)
    expected = F.cross_entropy(logits.reshape(-1, VOCAB), targets.reshape(-1))
    expected.backward()
    torch.testing.assert_close(loss, expected, rtol=1e-10, atol=1e-12)
    for name, p in model.named_parameters():
        torch.testing.assert_close(grads[name], p.grad, rtol=1e-8, atol=1e-10, msg=name)


# ---- causality ------------------------------------------------------------------------------

@pytest.mark.parametrize("layers", [["full"], ["local"], ["local", "lsh"], ["lsh"]])
def test_no_gradient_flows_from_later_positions(layers):
    """d logits[:, :t] / d embedding[:, t:] == 0 exactly, for every layer type (LSH included:
    with the buckets fixed, a query never reads a later key)."""
    model = make_model(layers)
    ids, _ = random_batch(1, 50)
    captured = {}

    def keep(_module, _inputs, output):
        output.retain_grad()
        captured["embedded"] = output

    model.embedding.register_forward_hook(keep)
    logits = model(ids)
    t = 29
    probe = torch.randn(logits[:, :t].shape, dtype=logits.dtype)
    (logits[:, :t] * probe).sum().backward()
    grad = captured["embedded"].grad[0]  # (L, d_model)
    assert torch.all(grad[t:] == 0)
    assert grad[:t].abs().sum(dim=-1).min() > 0  # every earlier position does matter


@pytest.mark.parametrize("layers", [["full"], ["local"], ["local", "full"]])
def test_changing_a_token_never_changes_earlier_logits(layers):
    """Value-level causality. Not asserted for LSH: there a token's bucket changes the sorted
    order, so an earlier query may see a different set of (earlier) keys -- no information from
    the future, but not bit-identical logits (see the gradient test above for LSH)."""
    model = make_model(layers)
    ids, _ = random_batch(1, 50)
    changed = ids.clone()
    t = 23
    changed[0, t] = (ids[0, t] + 1) % VOCAB
    with torch.no_grad():
        before, after = model(ids), model(changed)
    assert torch.equal(before[:, :t], after[:, :t])
    assert not torch.allclose(before[:, t], after[:, t])


# ---- lengths, padding, interface ------------------------------------------------------------

@pytest.mark.parametrize("length", [1, 7, 8, 33, 100])
def test_any_length_works(length):
    model = make_model(["local", "lsh", "full"], dtype=torch.float32, n_layers=3, dropout=0.1)
    model.train()
    ids, targets = random_batch(2, length)
    loss = model(ids, targets)
    loss.backward()
    assert torch.isfinite(loss)
    assert all(torch.isfinite(p.grad).all() for p in model.parameters() if p.grad is not None)
    with torch.no_grad():
        assert model.eval()(ids).shape == (2, length, VOCAB)


@pytest.mark.parametrize("layers", [["full"], ["local"]])
def test_right_padding_does_not_change_real_positions(layers):
    model = make_model(layers)
    ids, targets = random_batch(2, 30)
    real = 21
    mask = torch.ones(2, 30, dtype=torch.bool)
    mask[1, real:] = False
    with torch.no_grad():
        padded = model(ids, padding_mask=mask)
        alone = model(ids[1:, :real])
        torch.testing.assert_close(padded[1, :real], alone[0], rtol=1e-10, atol=1e-10)
        # The loss skips padded positions even though their targets are not IGNORE_INDEX.
        loss = model(ids, targets, padding_mask=mask)
        kept = targets.masked_fill(~mask, IGNORE_INDEX)
        expected = F.cross_entropy(padded.reshape(-1, VOCAB), kept.reshape(-1))
        torch.testing.assert_close(loss, expected)


def test_right_padding_with_lsh_does_not_change_real_positions():
    """A chunk that holds the whole sequence makes every bucket assignment attend alike (a
    chunk attends within itself by position), so the padded row must equal the row alone
    whatever the padding tokens hash to: padding can leak through nothing but the masks."""
    model = make_model(["local", "lsh"], chunk_length=64, n_buckets=4)
    ids, targets = random_batch(2, 40)
    real = 25
    mask = torch.ones(2, 40, dtype=torch.bool)
    mask[0, real:] = False
    with torch.no_grad():
        padded = model(ids, padding_mask=mask)
        alone = model(ids[:1, :real])
    torch.testing.assert_close(padded[0, :real], alone[0], rtol=1e-10, atol=1e-10)
    loss = model(ids, targets, padding_mask=mask)
    loss.backward()
    expected = F.cross_entropy(padded.reshape(-1, VOCAB),
                               targets.masked_fill(~mask, IGNORE_INDEX).reshape(-1))
    torch.testing.assert_close(loss.detach(), expected)


def test_state_dict_keys_and_parameter_count():
    tied, untied = make_model(tie_embeddings=True), make_model(tie_embeddings=False)
    assert "head.weight" not in tied.state_dict()
    assert set(untied.state_dict()) - set(tied.state_dict()) == {"head.weight"}
    assert untied.num_parameters() - tied.num_parameters() == VOCAB * 32
    assert tied.num_parameters() == sum(p.numel() for p in tied.parameters())
    plain = make_model(reversible=False)  # same layout either way: checkpoints interchange
    plain.load_state_dict(tied.state_dict(), strict=True)


def test_set_n_hashes_reaches_every_lsh_layer():
    model = make_model(["local", "lsh"], n_layers=4)
    model.set_n_hashes(6)
    lsh_layers = [b.attention for i, b in enumerate(model.stack.blocks) if i % 2 == 1]
    assert [layer.n_hashes for layer in lsh_layers] == [6, 6]
    assert model.config.n_hashes == 6
    with torch.no_grad():
        _, buckets = lsh_layers[0](torch.randn(1, 24, model.config.d_model, dtype=torch.float64))
    assert buckets.shape[2] == 6  # (B, H, rounds, L)
    with pytest.raises(ConfigError):
        model.set_n_hashes(0)


def test_bad_inputs_raise_input_error():
    model = make_model(max_seq_len=64)
    with pytest.raises(InputError, match="vocabulary"):
        model(torch.tensor([[1, VOCAB]]))
    with pytest.raises(InputError, match="max_seq_len"):
        model(torch.zeros(1, 65, dtype=torch.long))
    with pytest.raises(InputError, match="shape"):
        model(torch.zeros(4, dtype=torch.long))
    with pytest.raises(InputError, match="padding_mask"):
        model(torch.zeros(1, 4, dtype=torch.long), padding_mask=torch.ones(1, 4))


def test_bf16_autocast_model_loss_and_backward():
    model = make_model(["local", "lsh", "full"], dtype=torch.float32, n_layers=3)
    ids, targets = random_batch(2, 40)
    reference = model(ids, targets)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        loss = model(ids, targets)
    loss.backward()
    assert loss.dtype == torch.float32
    assert abs(loss.item() - reference.item()) < 0.05
    grads = {name: p.grad.clone() for name, p in model.named_parameters()}
    model.zero_grad()
    reference.backward()  # same rotations: the model has a hash_seed
    for name, p in model.named_parameters():
        scale = p.grad.abs().max().clamp_min(1e-3)
        assert (grads[name] - p.grad).abs().max() < 0.1 * scale, name
