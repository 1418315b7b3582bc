"""`reformer continue` end to end on a tiny checkpoint (random weights, byte tokenizer)."""

import io
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from cli_runs import run_cli
from tiny_models import save_tiny_model

PROMPT = "It was the best of times, it was the worst of times, it was the age of wisdom"


@pytest.fixture(scope="module")
def models_root(tmp_path_factory):
    """models/tiny/final: a 2-layer [local, lsh] model trained (so to say) on 256-token windows,
    max_seq_len 4096; models/attentive: the same with attention outputs 100 times larger, so its
    text depends on its LSH buckets; models/scorer: a sentence scorer (--task extract, causal:
    false), not a language model."""
    root = tmp_path_factory.mktemp("work")
    save_tiny_model(root, "tiny", seq_len=256)
    save_tiny_model(root, "attentive", seq_len=256, attention_gain=10.0)
    save_tiny_model(root, "scorer", task="extract", seq_len=256, causal=False)
    (root / "prompt.txt").write_text(PROMPT, encoding="utf-8")
    return root


@pytest.fixture
def in_root(models_root, monkeypatch):
    monkeypatch.chdir(models_root)
    return models_root


def invoke(capsys, *args):
    """`reformer continue ARGS` in-process; returns (exit code, stdout, stderr)."""
    return run_cli(capsys, "continue", *args)


def test_same_seed_same_text_and_stderr_reports(in_root, capsys):
    runs = [invoke(capsys, "prompt.txt", "--model", "tiny", "-n", "24", "--seed", "3")
            for _ in range(2)]
    assert runs[0][0] == 0 and runs[0][1] == runs[1][1]
    assert len(runs[0][1].strip()) > 0
    stderr = runs[0][2]
    assert f"prompt: {len(PROMPT)} tokens" in stderr and "tokens/s" in stderr and "peak memory" in stderr
    other = invoke(capsys, "prompt.txt", "--model", "tiny", "-n", "24", "--seed", "4")
    assert other[1] != runs[0][1]


def test_three_samples_are_separated_and_different(in_root, capsys):
    code, out, _ = invoke(capsys, "prompt.txt", "--model", "tiny", "-n", "20", "--seed", "1",
                          "--num-samples", "3", "--no-stream", "--top-k", "50")
    assert code == 0
    parts = out.split("===== sample ")
    assert [p[:6] for p in parts[1:]] == ["1 of 3", "2 of 3", "3 of 3"]
    bodies = [p.split("=====\n", 1)[1] for p in parts[1:]]
    assert len(set(bodies)) == 3


def test_stdin_output_file_greedy_and_n_hashes(in_root, capsys, monkeypatch):
    monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(io.BytesIO(PROMPT.encode())))
    code, out, _ = invoke(capsys, "-", "--model", "models/tiny", "-n", "16", "--temperature", "0",
                          "--output", "out.txt", "--n-hashes", "4")
    assert code == 0 and out == ""
    greedy = (in_root / "out.txt").read_text(encoding="utf-8")
    code, again, _ = invoke(capsys, "prompt.txt", "--model", "models/tiny/final", "-n", "16",
                            "--temperature", "0", "--n-hashes", "4")
    assert code == 0 and again == greedy and len(greedy) > 1


def test_greedy_text_repeats_without_a_seed(in_root, capsys):
    """Greedy decoding draws no token at random, but a model without hash_seed draws its LSH
    rotations: without --seed they come from a fixed seed, so the same prompt gives the same
    text every time and there is no seed to report. Sampling still draws one and reports it."""
    greedy = ("prompt.txt", "--model", "attentive", "-n", "24", "--temperature", "0")
    seeded = {invoke(capsys, *greedy, "--seed", seed)[1] for seed in ("1", "2", "3")}
    assert len(seeded) > 1  # this model's greedy text does depend on the rotations
    runs = [invoke(capsys, *greedy) for _ in range(3)]
    assert [code for code, _, _ in runs] == [0, 0, 0] and len(runs[0][1].strip()) > 0
    assert runs[0][1] == runs[1][1] == runs[2][1]
    assert all("seed" not in err for _, _, err in runs)
    code, _, err = invoke(capsys, "prompt.txt", "--model", "attentive", "-n", "4")
    assert code == 0 and "(pass --seed " in err


def test_a_long_prompt_is_read_to_the_training_length_unless_context_says_more(in_root, capsys):
    """The default context is data.seq_len (256 here), not model.max_seq_len (4096); --context
    reads more, up to max_seq_len less the new tokens; the note names the limit that applied,
    with numbers that add up."""
    text = "".join(chr(ord("a") + (i * 7 + i // 26) % 26) for i in range(4100))  # 4100 > 4096 tokens
    (in_root / "long.txt").write_text(text, encoding="utf-8")
    (in_root / "tail.txt").write_text(text[-256:], encoding="utf-8")
    greedy = ("-n", "12", "--temperature", "0")
    code, out, err = invoke(capsys, "long.txt", "--model", "attentive", *greedy)
    assert code == 0
    assert ("note: the prompt has 4,100 tokens; keeping its last 256, the length the model was "
            "trained on (data.seq_len); --context N reads more, up to 4,084 "
            "(model.max_seq_len=4096 less --max-new-tokens=12)") in err
    assert "prompt: 256 tokens" in err
    assert invoke(capsys, "tail.txt", "--model", "attentive", *greedy)[1] == out  # read just those

    code, out, err = invoke(capsys, "long.txt", "--model", "attentive", "--context", "1000", *greedy)
    assert code == 0 and "keeping its last 1,000 (--context 1,000)" in err
    assert "prompt: 1,000 tokens" in err
    for context in ("4096", "100000"):
        code, _, err = invoke(capsys, "long.txt", "-m", "tiny", "--context", context, *greedy)
        assert code == 0 and "prompt: 4,084 tokens" in err
        assert "keeping its last 4,084 (model.max_seq_len=4096 less --max-new-tokens=12)" in err
    # a prompt within the context is read whole, without a note
    code, _, err = invoke(capsys, "tail.txt", "--model", "tiny", "--context", "1000", *greedy)
    assert code == 0 and "note:" not in err and "prompt: 256 tokens" in err


def test_a_huge_max_new_tokens_keeps_the_prompt_it_has_room_for(in_root, capsys):
    """-n no longer silently halves the context: the prompt read is --context, or what
    model.max_seq_len leaves after the new tokens (said), and -n beyond max_seq_len - 1 leaves
    no room for any prompt, an error before the seed line or the model's weights load."""
    (in_root / "long.txt").write_text("abcdefghij" * 410, encoding="utf-8")
    code, _, err = invoke(capsys, "long.txt", "--model", "tiny", "-n", "4000", "--context", "2000",
                          "--seed", "1", "--no-stream")
    assert code == 0
    assert "keeping its last 96 (model.max_seq_len=4096 less --max-new-tokens=4000)" in err
    code, out, err = invoke(capsys, "long.txt", "--model", "tiny", "-n", "4096")
    assert code == 2 and out == ""
    assert err.strip().splitlines() == [
        "error: --max-new-tokens=4096 leaves no room for a prompt in the model's 4,096 positions "
        "(model.max_seq_len); pass --max-new-tokens 4095 or less"]


def test_a_model_that_is_not_a_language_model_is_refused_before_any_seed(in_root, capsys):
    """Checked from its config: one line, eval's message for the same model (one home), and no
    `seed N` line before it, though sampling without --seed would draw one."""
    code, out, err = invoke(capsys, "prompt.txt", "--model", "scorer", "-n", "4")
    assert code == 2 and out == ""
    lines = err.strip().splitlines()
    assert len(lines) == 1 and "seed" not in err, lines
    assert lines[0] == ("error: continuing a text needs a causal language model; the model at "
                        f"{Path('models/scorer/final')} was trained with --task extract "
                        "(causal: false); pass a language model (--task lm)")
    _, _, eval_err = run_cli(capsys, "eval", "prompt.txt", "--model", "scorer")
    shared = lines[0].split("needs", 1)[1].removesuffix(")")
    assert shared in eval_err and eval_err.startswith("error: scoring held-out text needs")


@pytest.mark.parametrize("args, expected", [
    (["empty.txt", "--model", "tiny"], "empty"),
    (["prompt.txt", "--model", "no-such-model"], "no model found"),
    (["prompt.txt", "--model", "broken"], "tokenizer"),
    (["prompt.txt", "--model", "tiny", "--top-p", "0"], "--top-p"),
    (["prompt.txt", "--model", "tiny", "--temperature", "-1"], "--temperature"),
    (["prompt.txt", "--model", "tiny", "--num-samples", "0"], "--num-samples"),
    (["prompt.txt", "--model", "tiny", "--max-new-tokens", "0"], "--max-new-tokens"),
    (["prompt.txt", "--model", "tiny", "--context", "0"], "--context=0 is out of range"),
    (["missing.txt", "--model", "tiny"], "no such file"),
])
def test_bad_inputs_give_one_line_and_a_non_zero_exit(in_root, capsys, args, expected):
    (in_root / "empty.txt").write_text("", encoding="utf-8")
    broken = in_root / "models" / "broken" / "final"
    if not broken.exists():
        shutil.copytree(in_root / "models" / "tiny" / "final", broken)
        (broken / "tokenizer.json").unlink()
    code, out, err = invoke(capsys, *args)
    assert code != 0 and out == ""
    lines = err.strip().splitlines()
    assert len(lines) == 1 and expected in lines[0] and "Traceback" not in err


def test_ctrl_c_stops_cleanly_and_keeps_the_text(models_root):
    """A real process: SIGINT after the first streamed bytes -> exit 130, text kept."""
    process = subprocess.Popen(
        [sys.executable, "-m", "reformer_cli", "continue", "prompt.txt", "--model", "tiny",
         "-n", "3000", "--seed", "0", "--temperature", "0"],
        cwd=models_root, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
        # A shell's background jobs inherit SIGINT ignored, and Python then never raises
        # KeyboardInterrupt: give the child the default disposition, as a terminal would.
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    try:
        first = process.stdout.read(1)  # blocks until generation has started streaming
        process.send_signal(signal.SIGINT)
        rest, err = process.communicate(timeout=60)
    finally:
        process.kill()
    assert first
    assert process.returncode == 130
    lines = err.decode().strip().splitlines()  # one line says it, not two
    assert [line for line in lines if "interrupted" in line] == lines[-1:], lines
    assert lines[-1].startswith("error: interrupted after ") and "Traceback" not in err.decode()
    assert lines[-1].endswith(" new tokens; the text generated so far was printed"), lines
    assert len(first + rest) > 0


def test_output_never_overwrites_the_prompt_and_survives_a_failed_run(in_root, capsys):
    code, out, err = invoke(capsys, "prompt.txt", "--model", "tiny", "-n", "4", "-o", "prompt.txt")
    assert code != 0 and "is the input file" in err and len(err.strip().splitlines()) == 1
    assert (in_root / "prompt.txt").read_text(encoding="utf-8") == PROMPT

    kept = in_root / "earlier.txt"
    kept.write_text("an earlier continuation\n", encoding="utf-8")
    code, _, err = invoke(capsys, "prompt.txt", "--model", "no-such-model", "-o", "earlier.txt")
    assert code != 0 and "no model found" in err
    assert kept.read_text(encoding="utf-8") == "an earlier continuation\n"
    assert [p.name for p in in_root.iterdir() if p.name.endswith(".tmp")] == []


def test_ctrl_c_with_output_keeps_the_text_in_the_file(models_root, tmp_path):
    target = tmp_path / "out.txt"
    target.write_text("old\n", encoding="utf-8")
    process = subprocess.Popen(
        [sys.executable, "-m", "reformer_cli", "continue", "prompt.txt", "--model", "tiny",
         "-n", "3000", "--seed", "0", "--temperature", "0", "-o", str(target)],
        cwd=models_root, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    try:
        for line in process.stderr:  # the prompt line is printed just before generation starts
            if line.startswith(b"prompt:"):
                break
        time.sleep(0.5)  # some tokens: a Ctrl-C before the first one leaves the file as it was
        process.send_signal(signal.SIGINT)
        _, err = process.communicate(timeout=60)
    finally:
        process.kill()
    assert process.returncode == 130, err
    assert target.read_text(encoding="utf-8") != "old\n"  # what was generated replaced it
    assert [p.name for p in tmp_path.iterdir()] == ["out.txt"]
    lines = err.decode().strip().splitlines()  # one line, saying where the text is
    assert [line for line in lines if "interrupted" in line] == lines[-1:], lines
    assert lines[-1].startswith("error: interrupted after ")
    assert lines[-1].endswith(f" new tokens; the text generated so far is kept in {target}"), lines


def test_a_utf16_or_windows_prompt_continues_as_its_utf8_twin(in_root, capsys):
    lines = PROMPT.replace(", ", ",\n")
    (in_root / "plain.txt").write_text(lines, encoding="utf-8")
    (in_root / "notepad.txt").write_bytes(lines.replace("\n", "\r\n").encode("utf-16"))
    runs = [invoke(capsys, name, "--model", "tiny", "-n", "16", "--seed", "5")
            for name in ("plain.txt", "notepad.txt")]
    assert runs[0][0] == runs[1][0] == 0 and runs[0][1] == runs[1][1]
    assert f"prompt: {len(lines)} tokens" in runs[1][2]  # CR LF read as LF, the mark dropped


def test_a_latin1_prompt_continues_as_its_utf8_twin_with_its_encoding_named(in_root, capsys):
    text = "Le café était fermé, les élèves sont partis à midi.\r\nÇa arrive en été."
    (in_root / "twin.txt").write_text(text.replace("\r\n", "\n"), encoding="utf-8")
    (in_root / "latin.txt").write_bytes(text.encode("latin-1"))
    code, out, err = invoke(capsys, "latin.txt", "--model", "tiny", "-n", "8")
    assert code != 0 and out == "" and "Traceback" not in err
    assert err.strip().splitlines() == [
        "error: latin.txt is not valid UTF-8: byte 0xe9 at offset 6 cannot be decoded; pass "
        "--encoding (e.g. latin-1, cp1252, gb18030), or convert it, e.g. `iconv -f latin1 -t utf-8`"]
    runs = [invoke(capsys, name, "--model", "tiny", "-n", "16", "--seed", "5", *args)
            for name, args in (("twin.txt", []), ("latin.txt", ["--encoding", "latin-1"]))]
    assert runs[0][0] == runs[1][0] == 0 and runs[0][1] == runs[1][1]
    assert f"prompt: {len(text.encode()) - 1} tokens" in runs[1][2]  # bytes of the UTF-8, LF


def test_an_unknown_encoding_fails_before_stdin_is_read_or_the_model_loaded(in_root, capsys,
                                                                            monkeypatch):
    monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(io.BytesIO(b"")))  # empty: would fail
    for name, model in (("-", "tiny"), ("prompt.txt", "no-such-model")):
        code, out, err = invoke(capsys, name, "--model", model, "--encoding", "klingon")
        assert code != 0 and out == ""
        assert err.strip().splitlines() == ["error: unknown encoding 'klingon'; use e.g. utf-8, "
                                            "latin-1, gb18030"]


def test_a_codec_of_domain_names_is_an_unknown_encoding(in_root, capsys):
    (in_root / "ascii.txt").write_text("plain ascii words and spaces\n", encoding="utf-8")
    code, out, err = invoke(capsys, "ascii.txt", "--model", "tiny", "--encoding", "punycode")
    assert code == 2 and out == ""
    assert err.strip().splitlines() == ["error: unknown encoding 'punycode'; use e.g. utf-8, "
                                        "latin-1, gb18030"]


def test_help_names_each_value_readably(in_root, capsys, monkeypatch):
    """Every option's value has a name or its choices (not typer's <str>, <int>, <float>,
    <path>), as in `reformer train --help`."""
    monkeypatch.setenv("COLUMNS", "200")
    code, out, _ = invoke(capsys, "--help")
    assert code == 0
    options = out.split("Options")[1]
    for placeholder in ("<str>", "<int>", "<float>", "<path>"):
        assert placeholder not in options, options
    for flag, name in (("--model", "NAME_OR_DIR"), ("--max-new-tokens", "N"), ("--context", "N"),
                       ("--temperature", "T"), ("--top-k", "K"), ("--top-p", "P"), ("--seed", "N"),
                       ("--num-samples", "N"), ("--output", "FILE"), ("--n-hashes", "N"),
                       ("--device", "auto|cpu|cuda|cuda:N|mps"), ("--encoding", "ENC")):
        row = [line for line in options.splitlines() if f" {flag} " in line][0]
        assert f" {name} " in row, row


def test_ctrl_c_before_the_first_new_token_leaves_the_output_file_as_it_was(in_root, capsys,
                                                                           monkeypatch):
    from reformer_cli.commands import continue_

    def interrupted(*args, **kwargs):
        raise KeyboardInterrupt  # Ctrl-C as the first sample starts, before any token

    target = in_root / "out.txt"
    target.write_text("old\n", encoding="utf-8")
    monkeypatch.setattr(continue_, "write_samples", interrupted)
    code, _, err = invoke(capsys, "prompt.txt", "--model", "tiny", "-n", "8", "-o", "out.txt")
    assert code == 130
    assert target.read_text(encoding="utf-8") == "old\n"
    assert err.strip().splitlines()[-1] == "error: interrupted before any new token; out.txt is as it was"
    assert [p.name for p in in_root.iterdir() if p.name.endswith(".tmp")] == []


def test_a_reader_that_stops_early_ends_the_run_quietly_and_successfully(models_root):
    """`reformer continue ... | head -c 20`: the closed pipe is no error (exit 0) and says
    nothing."""
    command = (f"'{sys.executable}' -m reformer_cli continue prompt.txt --model tiny -n 3000 "
               "--seed 0 2>err.txt | head -c 20 > head.txt; echo \"${PIPESTATUS[@]}\"; cat err.txt")
    result = subprocess.run(["bash", "-c", command], capture_output=True, cwd=models_root,
                            timeout=120)
    codes, *stderr = result.stdout.decode().splitlines()
    assert codes == "0 0", stderr
    assert not [line for line in stderr if "error" in line], stderr
    assert len((models_root / "head.txt").read_bytes()) == 20


def test_dash_output_is_stdout_and_creates_no_file(in_root, capsys):
    code, out, _ = invoke(capsys, "prompt.txt", "--model", "tiny", "-n", "8", "--seed", "1",
                          "-o", "-")
    assert code == 0 and not (in_root / "-").exists()
    assert out == invoke(capsys, "prompt.txt", "--model", "tiny", "-n", "8", "--seed", "1")[1]


def run_on_a_terminal(cwd, *args) -> bytes:
    """What `reformer ARGS` shows on a pseudo-terminal that is both its stdout and stderr."""
    import os
    import pty

    primary, secondary = pty.openpty()
    process = subprocess.Popen([sys.executable, "-m", "reformer_cli", *args], cwd=cwd,
                               stdout=secondary, stderr=secondary)
    os.close(secondary)
    shown = []
    while True:
        try:
            data = os.read(primary, 4096)
        except OSError:  # EIO: the process has closed its side
            break
        if not data:
            break
        shown.append(data)
    os.close(primary)
    assert process.wait(timeout=300) == 0
    return b"".join(shown)


def test_on_a_terminal_the_stats_line_starts_its_own_line_and_piped_text_is_unchanged(models_root):
    args = ("continue", "prompt.txt", "--model", "tiny", "-n", "6", "--seed", "0")
    piped = subprocess.run([sys.executable, "-m", "reformer_cli", *args], capture_output=True,
                           cwd=models_root, timeout=300)
    text = piped.stdout.decode()
    assert text.endswith("\n") and not text[:-1].endswith("\n")  # the case: a line left open
    assert text.count("\n") == 1  # piped: byte for byte what was generated, and the last "\n"
    shown = run_on_a_terminal(models_root, *args).decode()
    before, _, _ = shown.partition("sample 1: ")
    assert before.endswith("\n"), shown  # not glued to the generated text


def test_a_line_is_left_open_only_when_text_and_stats_share_a_terminal(tmp_path):
    from reformer_cli.commands.continue_ import line_left_open

    class Terminal(io.StringIO):
        def __init__(self, descriptor):
            super().__init__()
            self.descriptor = descriptor

        def isatty(self):
            return True

        def fileno(self):
            return self.descriptor

    import os
    import pty

    primary, secondary = pty.openpty()
    other_primary, other_secondary = pty.openpty()
    try:
        terminal, other = Terminal(secondary), Terminal(other_secondary)
        assert line_left_open(terminal, "no newline", stderr=terminal)
        assert not line_left_open(terminal, "ends a line\n", stderr=terminal)
        assert not line_left_open(terminal, "", stderr=terminal)
        assert not line_left_open(terminal, "no newline", stderr=other)  # another terminal
        assert not line_left_open(io.StringIO(), "no newline", stderr=terminal)  # piped
    finally:
        for descriptor in (primary, secondary, other_primary, other_secondary):
            os.close(descriptor)
