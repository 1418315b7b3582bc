#!/usr/bin/env bash
# The GPU checks of issue 13 in one go, on a machine with one CUDA GPU:
#
#   bash bench/gpu_check.sh          # environment, CUDA tests, then the benchmark tables
#   bash bench/gpu_check.sh tests    # environment and CUDA tests only (at most TEST_LIMIT s)
#   bash bench/gpu_check.sh bench    # environment and benchmark only (under 8 minutes)
#
# Both together fit a 15-minute GPU loan with the machine's start: the tests stop after
# TEST_LIMIT seconds (default 240), the benchmark plans its rows within BENCH_BUDGET seconds
# (default 300) and is stopped 60 s after that.
# Logs go to $OUT (or gpu-check-out/): environment.txt, tests.txt, gpu_speed.txt (the
# tables), gpu_speed.stderr, gpu_speed.json. PYTHON picks the interpreter (default: the first
# of .venv/bin/python, python3, python whose torch sees a GPU). Nothing is installed: the
# package runs from this checkout.
set -u
cd "$(dirname "$0")/.."
what=${1:-all}
out=${OUT:-gpu-check-out}
mkdir -p "$out"

python=${PYTHON:-}
if [ -z "$python" ]; then
    for candidate in .venv/bin/python python3 python; do
        if command -v "$candidate" >/dev/null 2>&1 &&
           "$candidate" -c "import torch, sys; sys.exit(not torch.cuda.is_available())" 2>/dev/null
        then python=$candidate; break; fi
    done
fi
if [ -z "$python" ]; then
    echo "gpu_check: no Python whose torch sees a CUDA GPU (set PYTHON=...)" >&2
    exit 2
fi
export PYTHONPATH="$PWD${PYTHONPATH:+:$PYTHONPATH}"

"$python" - <<'EOF' 2>&1 | tee "$out/environment.txt"
import importlib, platform, torch
print("python", platform.python_version(), "| torch", torch.__version__, "| CUDA", torch.version.cuda)
print("device", torch.cuda.get_device_name(0), "|", torch.cuda.get_device_properties(0).total_memory // 2**30, "GiB")
for name in ("triton", "pytest", "typer", "rich", "sentencepiece", "yaml", "safetensors", "numpy"):
    try:
        print(name, getattr(importlib.import_module(name), "__version__", "present"))
    except ImportError:
        print(name, "MISSING")
EOF

status=0
if [ "$what" != bench ]; then
    # the CUDA tests (test_cuda*.py), then the CPU flex tests on this machine's torch version
    timeout "${TEST_LIMIT:-240}" "$python" -m pytest -q -rs -m cuda tests/ 2>&1 | tee "$out/tests.txt"
    status=${PIPESTATUS[0]}
    timeout 60 "$python" -m pytest -q tests/test_flex_attention.py 2>&1 | tail -3 | tee -a "$out/tests.txt"
fi
if [ "$what" != tests ]; then
    budget=${BENCH_BUDGET:-300}
    timeout $((budget + 60)) "$python" bench/gpu_speed.py --budget "$budget" \
        --json "$out/gpu_speed.json" 2>"$out/gpu_speed.stderr" | tee "$out/gpu_speed.txt"
    bench=${PIPESTATUS[0]}
    [ "$status" -eq 0 ] && status=$bench
fi
exit "$status"
