"""The GPU benchmark's code paths on the CPU (--dry-run: tiny sizes, every table and row kind),
so that the one GPU command does not fail on a path no CPU run reaches."""

import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_gpu_benchmark_dry_run_fills_every_table(tmp_path):
    result = subprocess.run([sys.executable, str(ROOT / "bench" / "gpu_speed.py"), "--dry-run",
                             "--with-chunked", "--json", str(tmp_path / "out.json")],
                            capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr[-2000:]
    records = json.loads((tmp_path / "out.json").read_text())["records"]
    errors = [record for record in records if "error" in record or "skipped" in record]
    assert not errors, errors
    layers = {(r["dtype"], r["layer"]) for r in records if r["table"] == "attention"}
    for dtype in ("bf16", "fp32"):
        for layer in ("full", "lsh c64", "lsh c128", "local c64", "local c128", "lsh-chunked c64"):
            assert (dtype, layer) in layers
    steps = [r for r in records if r["table"] == "model"]
    assert [r["tokens"] for r in steps] == [128, 256]  # the 16K row and the 1M row, shrunk
    assert all(r["tokens_per_s"] > 0 for r in steps)
