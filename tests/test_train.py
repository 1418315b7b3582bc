"""The Trainer in-process: schedule, optimizer groups, evaluation maths, exact resume, stopping."""

import io
import math
from pydoc_data.topics import topics

import pytest
import torch
from rich.console import Console

from reformer_cli import checkpoint as ckpt
from reformer_cli.commands.progress import ProgressDisplay
from reformer_cli.config.run import RunConfig, TrainConfig
from reformer_cli.core.head_loss import IGNORE_INDEX
from reformer_cli.core.model import ReformerLM
from reformer_cli.data.windows import WindowSampler, evaluation_batches
from reformer_cli.errors import ResourceError
from reformer_cli.text.tokenizer import ByteTokenizer
from reformer_cli.training.trainer import (
    EvalSet,
    Trainer,
    TrainingInterrupted,
    build_optimizer,
    evaluate,
    learning_rate,
    seed_everything,
)

TEXT = "\n\n".join(topics[key] for key in sorted(topics))[:40_000]


pytestmark = pytest.mark.usefixtures("one_thread")


def tiny_run_config(**train) -> RunConfig:
    config = RunConfig(name="tiny")
    model = dict(vocab_size=258, d_model=32, n_heads=2, d_ff=64, n_layers=2,
                 layer_types=["local", "lsh"], chunk_length=16, dropout=0.1)
    for key, value in model.items():
        setattr(config.model, key, value)
    config.data.seq_len, config.data.tokenizer = 64, "byte"
    settings = dict(steps=6, batch_size=2, grad_accum=2, warmup_steps=2, eval_every=2, eval_batches=1,
                    log_every=1, checkpoint_every=0, deterministic=True, device="cpu")
    settings.update(train)
    for key, value in settings.items():
        setattr(config.train, key, value)
    return config.validate()


def make_trainer(config, run_dir=None, on_event=None, model_seed=0):
    tokenizer = ByteTokenizer()
    tokens = tokenizer.encode_to_array(TEXT)
    split = int(len(tokens) * 0.9)
    seed_everything(model_seed)
    model = ReformerLM(config.model)
    eval_set = EvalSet(evaluation_batches(tokens[split:], config.data.seq_len, 2, 2),
                       characters=0, unit="byte")
    eval_set.characters = sum(int((t != IGNORE_INDEX).sum()) for _, t in eval_set.batches)
    seed_everything(config.train.seed)
    sampler = WindowSampler(tokens[:split], config.data.seq_len, seed=config.train.seed)
    return Trainer(config, model, tokenizer, sampler, eval_set, run_dir, on_event=on_event,
                   data_fingerprint="test")


def test_learning_rate_warms_up_linearly_then_follows_the_cosine_to_the_floor():
    train = TrainConfig(steps=110, lr=1e-3, warmup_steps=10, min_lr_ratio=0.1)
    assert [learning_rate(s, train) for s in (0, 4, 9)] == pytest.approx([1e-4, 5e-4, 1e-3])
    assert learning_rate(10, train) == pytest.approx(1e-3)
    assert learning_rate(60, train) == pytest.approx(1e-4 + 0.9e-3 * 0.5)  # halfway down
    assert learning_rate(110, train) == pytest.approx(1e-4)
    assert learning_rate(500, train) == pytest.approx(1e-4)  # resumed past the end: stays at the floor
    budget = TrainConfig(steps=10**9, lr=1e-3, warmup_steps=0, min_lr_ratio=0.0, time_budget=100.0)
    assert learning_rate(5, budget, elapsed=50.0) == pytest.approx(0.5e-3)  # time drives the cosine


def test_no_weight_decay_on_embeddings_norms_and_biases():
    model = ReformerLM(tiny_run_config().model)
    groups = build_optimizer(model, TrainConfig(weight_decay=0.1)).param_groups
    decayed = {id(p) for p in groups[0]["params"]}
    assert groups[0]["weight_decay"] == 0.1 and groups[1]["weight_decay"] == 0.0
    assert id(model.embedding.weight) not in decayed and id(model.final_norm.weight) not in decayed
    for name, parameter in model.named_parameters():
        assert (id(parameter) in decayed) == (parameter.dim() == 2 and name != "embedding.weight"), name
    assert sum(len(g["params"]) for g in groups) == len(list(model.parameters()))


def test_interrupted_and_resumed_run_equals_an_uninterrupted_one(tmp_path):
    config = tiny_run_config(steps=6, checkpoint_every=0)
    straight = make_trainer(config, tmp_path / "straight")
    straight.fit()

    def stop_at_three(event):
        if event.kind == "log" and event.step == 3:
            interrupted.request_stop()

    interrupted = make_trainer(config, tmp_path / "split", on_event=stop_at_three)
    with pytest.raises(TrainingInterrupted, match="at step 3"):
        interrupted.fit()
    assert ckpt.latest_checkpoint(tmp_path / "split") == tmp_path / "split" / "step-000003"
    torch.manual_seed(123)  # the resumed process starts from an unrelated random state
    resumed = make_trainer(config, tmp_path / "split", model_seed=99)
    resumed.resume_from(tmp_path / "split" / "step-000003")
    assert resumed.step == 3
    resumed.fit()
    for (name, a), b in zip(straight.model.named_parameters(), resumed.model.parameters()):
        assert torch.equal(a, b), name
    for key, a in straight.optimizer.state_dict()["state"].items():
        b = resumed.optimizer.state_dict()["state"][key]
        assert all(torch.equal(a[k], b[k]) for k in a)
    assert straight.sampler.state_dict() == resumed.sampler.state_dict()
    assert straight.last_eval == resumed.last_eval


def test_evaluation_matches_a_slow_reference_and_leaves_the_rng_alone():
    config = RunConfig()
    for key, value in dict(vocab_size=258, d_model=32, n_heads=2, d_ff=64, n_layers=2,
                           layer_types=["local", "full"], chunk_length=16).items():
        setattr(config.model, key, value)
    torch.manual_seed(0)
    model = ReformerLM(config.model).eval()
    tokenizer = ByteTokenizer()
    ids = torch.tensor([list(TEXT[i * 48:(i + 1) * 48].encode()) for i in range(6)])  # (6, 48) ASCII
    targets = torch.roll(ids, -1, dims=1)
    targets[0, :30] = IGNORE_INDEX  # batches score different numbers of tokens: the mean must weight them
    targets[3, 5:] = IGNORE_INDEX
    batches = [(ids[:2], targets[:2]), (ids[2:3], targets[2:3]), (ids[3:], targets[3:])]
    characters = sum(len(tokenizer.decode(t[t != IGNORE_INDEX].tolist())) for _, t in batches)
    eval_set = EvalSet(batches, characters, unit="char")
    before = torch.get_rng_state()
    result = evaluate(model, eval_set, torch.device("cpu"))
    assert torch.equal(torch.get_rng_state(), before)
    with torch.no_grad():
        log_probs = torch.log_softmax(model(ids), dim=-1)  # (6, 48, vocab)
    valid = targets != IGNORE_INDEX
    nats = -log_probs.gather(-1, targets.clamp(min=0)[..., None])[..., 0][valid].sum().item()
    assert result["val_tokens"] == int(valid.sum())
    assert result["val_loss"] == pytest.approx(nats / int(valid.sum()), rel=1e-5)
    assert result["val_perplexity"] == pytest.approx(math.exp(nats / int(valid.sum())), rel=1e-5)
    assert result["val_bits_per_char"] == pytest.approx(nats / (math.log(2) * characters), rel=1e-5)


def test_a_sentence_scorers_evaluation_matches_a_plain_recount():
    """With labels the loss is model(ids, targets)'s; accuracy and the top-k share are recounted
    marker by marker from the full logits."""
    config = RunConfig()
    for key, value in dict(vocab_size=258, d_model=32, n_heads=2, d_ff=64, n_layers=2,
                           layer_types=["local", "full"], chunk_length=16, causal=False).items():
        setattr(config.model, key, value)
    torch.manual_seed(0)
    model = ReformerLM(config.model).eval()
    keep, skip = 257, 256  # <sep>, </s>: the byte tokenizer's labels (data/extraction.py)
    generator = torch.Generator().manual_seed(1)
    ids = torch.randint(0, 256, (5, 40), generator=generator)  # (5, 40)
    targets = torch.full_like(ids, IGNORE_INDEX)
    for row, markers in enumerate([[3, 9, 20, 33], [5, 6], [10, 30], [], [1, 2, 3, 4, 5, 6]]):
        ids[row, markers] = keep
        labels = torch.randint(0, 2, (len(markers),), generator=generator)
        targets[row, markers] = torch.where(labels == 1, keep, skip)
    targets[1, 5], targets[4, 1] = keep, keep  # every row with markers has a pick
    batches = [(ids[:2], targets[:2]), (ids[2:], targets[2:])]
    result = evaluate(model, EvalSet(batches, 0, unit="sentence"), torch.device("cpu"),
                      labels=(keep, skip))
    with torch.no_grad():
        logits = model(ids)  # (5, 40, vocab)
        loss = model(ids, targets)
    correct = sentences = kept_count = hits = picks = 0
    chance = 0.0
    for row in range(5):
        marked = (targets[row] != IGNORE_INDEX).nonzero().flatten().tolist()
        margins = [float(logits[row, i, keep] - logits[row, i, skip]) for i in marked]
        kept = [int(targets[row, i]) == keep for i in marked]
        sentences += len(marked)
        kept_count += sum(kept)
        correct += sum((margin > 0) == label for margin, label in zip(margins, kept))
        k = sum(kept)
        if k:
            best = sorted(range(len(marked)), key=lambda j: -margins[j])[:k]
            hits += sum(kept[j] for j in best)
            picks += k
            chance += k * k / len(marked)
    assert set(result) == {"val_loss", "val_accuracy", "val_keep_share", "val_picks_in_top_k",
                           "val_picks_in_top_k_chance", "val_tokens"}
    assert result["val_loss"] == pytest.approx(float(loss), rel=1e-5)
    assert result["val_tokens"] == sentences == 14
    assert result["val_accuracy"] == pytest.approx(correct / sentences)
    assert result["val_keep_share"] == pytest.approx(kept_count / sentences)
    assert result["val_picks_in_top_k"] == pytest.approx(hits / picks)
    assert result["val_picks_in_top_k_chance"] == pytest.approx(chance / picks)


def test_evaluation_with_lsh_is_repeatable():
    trainer = make_trainer(tiny_run_config())
    first = evaluate(trainer.model, trainer.eval_set, torch.device("cpu"), seed=3)
    second = evaluate(trainer.model, trainer.eval_set, torch.device("cpu"), seed=3)
    assert first == second
    assert first["val_bits_per_byte"] == pytest.approx(first["val_loss"] / math.log(2))


def test_time_budget_stops_the_run_and_still_saves_final(tmp_path):
    config = tiny_run_config(steps=10**9, time_budget=1.0, eval_every=0)
    result = make_trainer(config, tmp_path / "run").fit()
    assert result["reason"] == "time budget" and result["step"] >= 1
    assert ckpt.latest_checkpoint(tmp_path / "run") == tmp_path / "run" / "final"


def test_a_time_budget_spent_at_an_evaluation_does_not_evaluate_that_step_again(tmp_path):
    config = tiny_run_config(steps=10**9, time_budget=3600.0, eval_every=2)
    events = []

    def spend_the_budget_at_the_first_evaluation(event):  # no clock: the budget is used up
        events.append(event)
        if event.kind == "eval":
            trainer.elapsed_before = config.train.time_budget

    trainer = make_trainer(config, tmp_path / "run", on_event=spend_the_budget_at_the_first_evaluation)
    result = trainer.fit()
    assert result["reason"] == "time budget" and result["step"] == 2
    [evaluation] = [event for event in events if event.kind == "eval"]
    assert evaluation.step == 2
    end = events[-1]
    assert end.kind == "end" and end.values["val_loss"] == evaluation.values["val_loss"]
    assert result["val_loss"] == evaluation.values["val_loss"]
    state = ckpt.read_training_state(tmp_path / "run" / "final")
    assert state["last_eval"] == evaluation.values and state["last_eval_step"] == 2


class _Diverging(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.weight = torch.nn.Parameter(torch.ones(1))

    def forward(self, ids, targets=None):
        return self.weight.sum() * float("nan")


def test_a_diverging_loss_stops_with_a_clear_error():
    config = tiny_run_config()
    trainer = make_trainer(config)
    trainer.model = trainer.forward_model = _Diverging()
    trainer.optimizer = build_optimizer(trainer.model, config.train)
    with pytest.raises(ResourceError, match="diverged"):
        trainer.fit()


def test_progress_display_reports_steps_losses_speed_and_eta():
    buffer = io.StringIO()
    display = ProgressDisplay(Console(file=buffer, width=200), live=False)
    config = tiny_run_config(steps=4, eval_every=2)
    make_trainer(config, on_event=display).fit()
    text = buffer.getvalue()
    assert "step 1/4" in text and "step 4/4" in text and "ETA" in text and "tok/s" in text
    assert "eval at step 2" in text and "bits/byte" in text and "done (steps) at step 4" in text


def test_gradient_accumulation_equals_one_larger_batch():
    def one_step(batch_size, grad_accum):
        config = tiny_run_config(steps=1, batch_size=batch_size, grad_accum=grad_accum, eval_every=0,
                                 grad_clip=0.0, lr=10.0)
        config.model.layer_types, config.model.dropout = ["local", "full"], 0.0  # no randomness
        trainer = make_trainer(config)
        trainer.eval_set = None
        # Plain SGD: the update is the gradient itself, so a wrongly scaled sum would show
        # (AdamW would hide it: its update does not depend on the gradient's scale).
        trainer.optimizer = torch.optim.SGD(trainer.model.parameters(), lr=10.0)
        trainer.fit()
        return trainer.model

    accumulated, whole = one_step(1, 4), one_step(4, 1)
    for (name, a), b in zip(accumulated.named_parameters(), whole.parameters()):
        torch.testing.assert_close(a, b, rtol=1e-5, atol=1e-6, msg=name)
