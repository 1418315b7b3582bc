"""What every command that fits a shipped table must do (shipped_models/fit_keywords.py,
fit_phrases.py): fit a sample of pairs into --out, and answer a file that is not JSONL with one
line on stderr and exit code 2, leaving the file already written as it was."""

import json
import subprocess
import sys
from pathlib import Path
from pydoc_data.topics import topics


def run_fitting(module: str, *args) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", f"reformer_cli.shipped_models.{module}",
                           *map(str, args)], capture_output=True, text=True, timeout=300)


def check_fitting_command(tmp_path: Path, module: str, out_name: str, summary_of) -> Path:
    """Fits 20 of Python's pydoc topics (summary_of(key, text) their summaries) into
    tmp_path/out_name, checks that a bad file leaves it alone, and returns its path."""
    pairs = tmp_path / "pairs.jsonl"
    pairs.write_text("\n".join(json.dumps({"document": text, "summary": summary_of(key, text)})
                               for key, text in sorted(topics.items())[:60] if len(text) > 500),
                     encoding="utf-8")
    out = tmp_path / out_name
    result = run_fitting(module, pairs, "--documents", 20, "--out", out)
    assert result.returncode == 0, result.stderr
    before = out.read_bytes()
    (tmp_path / "bad.jsonl").write_text("not json\n", encoding="utf-8")
    result = run_fitting(module, tmp_path / "bad.jsonl", "--out", out)
    assert result.returncode == 2
    assert len(result.stderr.strip().splitlines()) == 1 and "not valid JSON" in result.stderr
    assert out.read_bytes() == before  # nothing already written is lost
    return out
