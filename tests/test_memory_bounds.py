"""Peak memory of forward + backward does not grow with depth (reversible layers).

Each measurement runs in a fresh subprocess: peak resident memory (VmHWM) minus the resident
memory right after the imports, so one run's allocations never count in another's.
"""

import json
import os
import subprocess
import sys

import pytest

CHILD = r"""
import json, sys
import torch
from reformer_cli.config.model import ModelConfig
from reformer_cli.core.model import ReformerLM

def mib(key):
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith(key):
                return int(line.split()[1]) / 1024

settings = json.loads(sys.argv[1])
length = settings.pop("length")
torch.set_num_threads(2)
baseline = mib("VmRSS:")
torch.manual_seed(0)
model = ReformerLM(ModelConfig(**settings))
ids = torch.randint(0, settings["vocab_size"], (1, length))
model(ids, ids).backward()
print(json.dumps({"peak_mib": mib("VmHWM:") - baseline, "parameters": model.num_parameters()}))
"""

# A narrow model (d_model 128, one hash round) keeps the
# 12-layer run within the test budget on two shared cores: depth is what is being tested.
SETTINGS = dict(vocab_size=32, d_model=128, n_heads=2, d_ff=256, layer_types=["local", "lsh"],
                chunk_length=64, n_hashes=1, ff_chunk_size=1024, loss_chunk_size=1024,
                dropout=0.0, reversible=True, hash_seed=0, length=16384)


def peak_mib(**overrides) -> dict:
    settings = dict(SETTINGS, **overrides)
    # Pin glibc's mmap threshold (at its usual 128 KiB start value): otherwise it rises after
    # the first big free and later blocks stay in the heap, so the resident peak would measure
    # the allocator's history rather than the tensors alive at once.
    env = dict(os.environ, MALLOC_MMAP_THRESHOLD_="131072")
    done = subprocess.run([sys.executable, "-c", CHILD, json.dumps(settings)], env=env,
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    return json.loads(done.stdout.strip().splitlines()[-1])


@pytest.mark.slow
@pytest.mark.skipif(not os.path.exists("/proc/self/status"), reason="needs Linux /proc (VmHWM)")
def test_twelve_layers_peak_under_one_and_a_half_times_two_layers():
    shallow = peak_mib(n_layers=2)
    deep = peak_mib(n_layers=12)
    # Without reversibility the 12-layer run would keep six times the per-layer activations.
    assert deep["parameters"] > 5 * shallow["parameters"]
    assert deep["peak_mib"] < 1.5 * shallow["peak_mib"], (shallow, deep)
