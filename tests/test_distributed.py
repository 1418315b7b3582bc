"""Data-parallel training (torchrun, gloo on CPU): equivalence, the CLI end to end, launch errors.

Every subprocess runs with a timeout, so a broken rendezvous fails the test instead of hanging CI.
"""

import json
import os
import socket
import subprocess
import sys
from pathlib import Path
from pydoc_data.topics import topics

import pytest
import torch
from safetensors.torch import load_file

from reformer_cli import checkpoint as ckpt
from reformer_cli.training.data_parallel import all_reduce_gradients
from reformer_cli.training.launch import DistributedLaunchError, launch_environment
from reformer_cli.training.runtime import Runtime

sys.path.insert(0, str(Path(__file__).resolve().parent))
from distributed_worker import GRAD_ACCUM, STEPS, train_tiny  # noqa: E402

REPO = Path(__file__).resolve().parent.parent
WORKER = Path(__file__).resolve().parent / "distributed_worker.py"
# One thread per process (the machine is shared); short rendezvous waits for the error cases.
ENV = {k: v for k, v in os.environ.items()
       if k not in ("RANK", "WORLD_SIZE", "LOCAL_RANK", "MASTER_ADDR", "MASTER_PORT")}
ENV.update(OMP_NUM_THREADS="1", COLUMNS="200", REFORMER_RENDEZVOUS_TIMEOUT="20")
TINY_YAML = """\
model: {d_model: 32, n_heads: 2, d_ff: 64, n_layers: 2, layer_types: [lsh, local], chunk_length: 32,
        hash_seed: 3}
data: {seq_len: 128}
train: {steps: 4, batch_size: 1, grad_accum: 2, warmup_steps: 1, eval_every: 2, eval_batches: 1,
        log_every: 2, checkpoint_every: 2, keep_checkpoints: 1, device: cpu, lr: 3.0e-3}
"""


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def launch_ranks(world_size: int, args: list[str], port: int, timeout: float = 300) -> list:
    """Start one process per rank the way torchrun would (env vars), wait for all with a timeout."""
    processes = []
    for rank in range(world_size):
        env = dict(ENV, RANK=str(rank), LOCAL_RANK=str(rank), WORLD_SIZE=str(world_size),
                   MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port))
        processes.append(subprocess.Popen([sys.executable, *args], env=env, cwd=REPO,
                                          stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True))
    results = []
    try:
        for process in processes:
            out, err = process.communicate(timeout=timeout)
            results.append((process.returncode, err))
    finally:
        for process in processes:  # only ours, by handle
            if process.poll() is None:
                process.kill()
                process.wait()
    return results


# -- equivalence -----------------------------------------------------------------------------

@pytest.mark.slow
def test_two_processes_with_half_batches_match_one_process_with_the_whole_batch(tmp_path):
    """Reversible layers + LSH (hash_seed) + dropout 0, gradient accumulation 2, 2 steps."""
    results = launch_ranks(2, [str(WORKER), str(tmp_path), "2"], free_port())
    for code, err in results:
        assert code == 0, err[-3000:]
    reference, _ = train_tiny(4, Runtime())  # one process, global batch 4 per micro-step
    rank0 = load_file(str(tmp_path / "rank-0.safetensors"))
    rank1 = load_file(str(tmp_path / "rank-1.safetensors"))
    initial, _ = _initial_state()
    moved = max(float((reference[k] - initial[k]).abs().max()) for k in reference)
    assert moved > 5e-5  # the steps really changed the weights
    # The check can tell: one process with only half of the batch lands far outside 1e-5.
    half, _ = train_tiny(2, Runtime())
    assert max(float((half[k] - reference[k]).abs().max()) for k in reference) > 1e-4
    for name, expected in reference.items():
        assert torch.allclose(rank0[name], expected, atol=1e-5, rtol=0), name
        assert torch.equal(rank0[name], rank1[name]), name  # replicas stay identical
    counters = json.loads((tmp_path / "rank-1.json").read_text())
    # One all-reduce per optimizer step, none for the other micro-batches of the cycle.
    assert counters == {"world_size": 2, "step": STEPS, "gradient_syncs": STEPS}
    assert GRAD_ACCUM > 1


def _initial_state():
    from distributed_worker import tiny_config

    from reformer_cli.core.model import ReformerLM
    from reformer_cli.training.trainer import seed_everything

    seed_everything(0)
    model = ReformerLM(tiny_config(4).model)
    return model.state_dict(), model


def test_gradient_average_keeps_missing_gradients_none_and_averages_partial_ones():
    """One process, world size 1 group: the bucket logic itself (presence flags, split back)."""
    import torch.distributed as dist

    store = dist.HashStore()
    dist.init_process_group("gloo", store=store, rank=0, world_size=1)
    try:
        a, b, c = (torch.nn.Parameter(torch.ones(3, 2)), torch.nn.Parameter(torch.ones(5)),
                   torch.nn.Parameter(torch.ones(1)))
        a.grad, b.grad = torch.arange(6.0).reshape(3, 2), torch.full((5,), 4.0)
        all_reduce_gradients([a, b, c], world_size=1)
        assert torch.equal(a.grad, torch.arange(6.0).reshape(3, 2))
        assert torch.equal(b.grad, torch.full((5,), 4.0))
        assert c.grad is None
    finally:
        dist.destroy_process_group()


# -- the CLI under torchrun ------------------------------------------------------------------

def torchrun(*args, cwd, nproc=2, timeout=300):
    command = [sys.executable, "-m", "torch.distributed.run", "--standalone",
               "--nproc_per_node", str(nproc), "-m", "reformer_cli", "train", *map(str, args)]
    return subprocess.run(command, cwd=cwd, capture_output=True, text=True, timeout=timeout, env=ENV)


@pytest.mark.slow
def test_torchrun_trains_writes_one_run_folder_and_resumes(tmp_path):
    (tmp_path / "corpus.txt").write_text("\n\n".join(topics[k] for k in sorted(topics))[:60_000])
    (tmp_path / "tiny.yaml").write_text(TINY_YAML)
    # SentencePiece and the shards: rank 0 trains and encodes, rank 1 waits and maps them.
    first = torchrun("corpus.txt", "--config", "tiny.yaml", "--vocab-size", "700", "--out", "run",
                     cwd=tmp_path)
    assert first.returncode == 0, first.stderr[-3000:]
    run = tmp_path / "run"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["corpus.txt", "run", "tiny.yaml"]
    assert {p.name for p in run.iterdir()} == {"config.yaml", "metrics.jsonl", "final", "step-000002",
                                               "data"}  # rank 0 encoded the shards, both mapped them
    assert "encoded 2 shard(s)" in first.stderr
    assert "effective batch 1 × 2 × 2 = 4 windows per step" in first.stderr
    assert first.stderr.count("step 4/4") == 1  # only rank 0 reports progress
    records = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]
    start = records[0]
    assert start["world_size"] == 2 and start["effective_batch"] == 4
    assert start["tokens_per_step"] == 4 * 128
    assert sum(r["kind"] == "log" for r in records) == 2  # one writer, not two
    assert ckpt.read_training_state(run / "final")["step"] == 4
    assert (run / "final" / "tokenizer.model").is_file()

    # Resume with more steps and a different number of processes (1): the sampler state is global.
    more = subprocess.run([sys.executable, "-m", "reformer_cli", "train", "corpus.txt", "--config",
                           "tiny.yaml", "--out", "run", "--resume", "auto",
                           "--steps", "6"], cwd=tmp_path, capture_output=True, text=True,
                          timeout=120, env=ENV)
    assert more.returncode == 0, more.stderr[-3000:]
    assert "resuming from run/final at step 4" in more.stderr and "reused all 2 shard(s)" in more.stderr
    # ... and back to two processes.
    again = torchrun("corpus.txt", "--config", "tiny.yaml", "--out", "run", "--resume", "auto",
                     "--steps", "8", cwd=tmp_path)
    assert again.returncode == 0, again.stderr[-3000:]
    assert "resuming from run/final at step 6" in again.stderr
    assert ckpt.read_training_state(run / "final")["step"] == 8
    steps = [r["step"] for r in map(json.loads, (run / "metrics.jsonl").read_text().splitlines())
             if r["kind"] == "log"]
    assert steps == [2, 4, 6, 8]


@pytest.mark.slow
def test_torchrun_extraction_shares_the_pairs_rank_0_prepared(tmp_path):
    """Rank 0 trains the tokenizer and labels the pairs, then keeps them in the run's data
    folder; the other rank starts from that file, and both check they hold the same data."""
    keys = [key for key in sorted(topics) if len(topics[key]) > 800][:30]
    (tmp_path / "pairs.jsonl").write_text("\n".join(
        json.dumps({"document": topics[key], "summary": topics[key].split(". ")[0]}) for key in keys))
    (tmp_path / "tiny.yaml").write_text(TINY_YAML)
    first = torchrun("pairs.jsonl", "--config", "tiny.yaml", "--task", "extract", "--vocab-size",
                     "700", "--out", "run", cwd=tmp_path)
    assert first.returncode == 0, first.stderr[-3000:]
    assert "training a SentencePiece tokenizer" in first.stderr
    [kept, tokenizer] = sorted((tmp_path / "run" / "data").glob("pairs-*.npz"),
                               key=lambda path: "tokenizer" in path.name)
    assert tokenizer.name.startswith("pairs-tokenizer-")
    assert f"pairs: examples of 30 documents kept for the next start in {Path('run', 'data', kept.name)}" \
        in first.stderr
    more = subprocess.run([sys.executable, "-m", "reformer_cli", "train", "pairs.jsonl", "--config",
                           "tiny.yaml", "--out", "run", "--resume", "auto", "--steps", "6"],
                          cwd=tmp_path, capture_output=True, text=True, timeout=120, env=ENV)
    assert more.returncode == 0, more.stderr[-3000:]
    assert "pairs: reused the examples prepared from 30 documents" in more.stderr
    assert "training a SentencePiece tokenizer" not in more.stderr
    assert ckpt.read_training_state(tmp_path / "run" / "final")["step"] == 6


# -- launch errors ---------------------------------------------------------------------------

@pytest.mark.parametrize("env, message", [
    ({"RANK": "0", "WORLD_SIZE": "0"}, "WORLD_SIZE=0 is not a valid number of processes"),
    ({"RANK": "2", "WORLD_SIZE": "2", "MASTER_ADDR": "x", "MASTER_PORT": "1"}, "RANK=2 is outside 0..1"),
    ({"RANK": "-1", "WORLD_SIZE": "2"}, "RANK=-1 is outside 0..1"),
    ({"RANK": "0", "WORLD_SIZE": "two"}, "WORLD_SIZE='two' is not an integer"),
    ({"WORLD_SIZE": "2"}, "RANK is not set"),
    ({"RANK": "1", "WORLD_SIZE": "2"}, "MASTER_ADDR and MASTER_PORT are missing"),
    ({"RANK": "1", "WORLD_SIZE": "2", "MASTER_ADDR": "h"}, "MASTER_PORT is missing"),
    ({"RANK": "1", "WORLD_SIZE": "2", "MASTER_ADDR": "h", "MASTER_PORT": "70000"}, "not a TCP port"),
])
def test_bad_launch_variables_are_named(env, message):
    with pytest.raises(DistributedLaunchError, match=message.replace("(", r"\(").replace(".", r"\.")):
        launch_environment(env)


def test_ranks_above_0_get_their_own_dropout_stream_rank_0_keeps_its_own():
    from reformer_cli.training.data_parallel import DistributedRuntime

    draws = []
    for rank in (0, 1, 2):
        torch.manual_seed(5)
        DistributedRuntime(torch.device("cpu"), rank, 3).seed_rank_rng(seed=5, step=0)
        draws.append(torch.rand(4))
    torch.manual_seed(5)
    assert torch.equal(draws[0], torch.rand(4))  # rank 0: the single-process stream
    assert not torch.equal(draws[1], draws[0]) and not torch.equal(draws[2], draws[1])


def test_plain_and_single_process_launches_need_no_group():
    assert launch_environment({}) is None
    single = launch_environment({"RANK": "0", "WORLD_SIZE": "1", "LOCAL_RANK": "0"})
    assert single.world_size == 1  # torchrun --nproc_per_node 1: no rendezvous needed


@pytest.fixture(scope="module")
def small_corpus(tmp_path_factory):
    folder = tmp_path_factory.mktemp("launch_errors")
    (folder / "corpus.txt").write_text(topics["with"] * 4)
    (folder / "tiny.yaml").write_text(TINY_YAML)
    return folder


def run_cli_with(env: dict, cwd: Path, timeout: float = 60):
    return subprocess.run([sys.executable, "-m", "reformer_cli", "train", "corpus.txt", "--config",
                           "tiny.yaml", "--tokenizer", "byte", "--out", "run"], cwd=cwd,
                          capture_output=True, text=True, timeout=timeout, env=dict(ENV, **env))


def _one_error_line(result) -> str:
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, result.stderr[-3000:]
    assert lines[0].startswith("error: ")
    return lines[0]


def test_bad_world_size_is_one_line_and_exit_2(small_corpus):
    result = run_cli_with({"RANK": "0", "WORLD_SIZE": "0"}, small_corpus)
    assert result.returncode == 2
    assert "WORLD_SIZE=0" in _one_error_line(result)
    assert not (small_corpus / "run").exists()


@pytest.mark.parametrize("rank", [0, 1])
def test_a_rendezvous_nobody_completes_times_out_with_one_line(small_corpus, rank):
    """Rank 1: nobody listens at the port. Rank 0: hosts the store, but rank 1 never comes."""
    result = run_cli_with({"RANK": str(rank), "WORLD_SIZE": "2", "MASTER_ADDR": "127.0.0.1",
                           "MASTER_PORT": str(free_port()), "REFORMER_RENDEZVOUS_TIMEOUT": "2"},
                          small_corpus)
    assert result.returncode == 2
    line = _one_error_line(result)
    assert f"rank {rank} of 2" in line and "REFORMER_RENDEZVOUS_TIMEOUT" in line
    assert not (small_corpus / "run").exists()


def test_rank_zero_keeps_the_store_until_every_other_rank_has_left():
    """Rank 0 hosts the store server: leaving, it waits for the others' "left" marks first."""
    import threading
    import time

    import torch.distributed as dist

    from reformer_cli.training.data_parallel import DistributedRuntime

    store = dist.HashStore()
    others = [DistributedRuntime(rank=r, world_size=3, store=store) for r in (1, 2)]
    main = DistributedRuntime(rank=0, world_size=3, store=store)
    left_at = []

    def leave_late():
        for runtime in others:
            time.sleep(0.3)
            runtime.release_store()
            left_at.append(time.monotonic())

    thread = threading.Thread(target=leave_late)
    thread.start()
    main.release_store()
    returned_at = time.monotonic()
    thread.join()
    assert len(left_at) == 2 and returned_at >= left_at[-1]
