"""`reformer train` and its token shards, end to end: reused by a resume, --prepare-only then
--data-cache, and an exact resume that still equals the uninterrupted run."""

import json
import os
import shutil
import subprocess
import sys
from pydoc_data.topics import topics

import pytest
from safetensors.torch import load_file

TINY_YAML = """\
model: {d_model: 32, n_heads: 2, d_ff: 64, n_layers: 2, layer_types: [local, lsh], chunk_length: 32}
data: {seq_len: 128, vocab_size: 600}
train: {steps: 4, batch_size: 2, warmup_steps: 1, eval_every: 0, eval_batches: 1, log_every: 1,
        checkpoint_every: 2, keep_checkpoints: 2, device: cpu, deterministic: true}
"""
ENV = dict(os.environ, OMP_NUM_THREADS="1", COLUMNS="200")


def reformer(*args, cwd):
    result = subprocess.run([sys.executable, "-m", "reformer_cli", "train", *map(str, args)], cwd=cwd,
                            capture_output=True, text=True, timeout=180, env=ENV)
    assert result.returncode == 0, result.stderr
    return result.stderr


@pytest.fixture
def workspace(tmp_path):
    (tmp_path / "corpus.txt").write_text("\n\n".join(topics[k] for k in sorted(topics))[:80_000])
    (tmp_path / "tiny.yaml").write_text(TINY_YAML)
    return tmp_path


@pytest.mark.slow
def test_a_resume_reuses_the_shards_and_ends_where_the_straight_run_does(workspace):
    straight = reformer("corpus.txt", "--config", "tiny.yaml", "--out", "straight", cwd=workspace)
    assert "encoded 2 shard(s)" in straight  # training and validation text
    shutil.copytree(workspace / "straight", workspace / "split", ignore=shutil.ignore_patterns("final"))
    resumed = reformer("corpus.txt", "--config", "tiny.yaml", "--out", "split", "--resume",
                       "split/step-000002", cwd=workspace)
    assert "reused all 2 shard(s)" in resumed and "at step 2" in resumed
    split, whole = (load_file(workspace / run / "final" / "model.safetensors")
                    for run in ("split", "straight"))
    assert all(split[name].equal(whole[name]) for name in whole)  # bit-identical on the CPU


@pytest.mark.slow
def test_prepare_only_then_every_run_naming_the_cache_reuses_it(workspace):
    prepared = reformer("corpus.txt", "--config", "tiny.yaml", "--tokenizer", "byte", "--prepare-only",
                        "--data-cache", "cache", "--name", "unused", cwd=workspace)
    assert "encoded 2 shard(s)" in prepared and not (workspace / "models").exists()
    (index_file,) = (workspace / "cache").glob("*/index.json")  # the entry of this corpus
    index = json.loads(index_file.read_text())
    assert index["dtype"] == "uint16" and index["tokenizer"]["kind"] == "byte"
    for name in ("one", "two"):
        stderr = reformer("corpus.txt", "--config", "tiny.yaml", "--tokenizer", "byte", "--data-cache",
                          "cache", "--out", name, "--steps", "1", cwd=workspace)
        assert "reused all 2 shard(s)" in stderr
        assert not (workspace / name / "data").exists()


@pytest.mark.slow
def test_a_shared_cache_keeps_the_shards_of_every_corpus_it_was_given(workspace):
    (workspace / "doc.txt").write_text(topics["assert"])
    byte_cache = ["--config", "tiny.yaml", "--tokenizer", "byte", "--prepare-only", "--data-cache", "cache"]
    for corpus in ("corpus.txt", "doc.txt"):
        assert "encoded 2 shard(s)" in reformer(corpus, *byte_cache, "--name", "unused", cwd=workspace)
    again = reformer("corpus.txt", *byte_cache, "--name", "unused", cwd=workspace)
    assert "reused all 2 shard(s)" in again
    assert len(list((workspace / "cache").glob("*/index.json"))) == 2
