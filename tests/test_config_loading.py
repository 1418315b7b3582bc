"""Config loading: presets validate, precedence holds, every bad input names its key path."""

import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from reformer_cli.config.device import resolve_device
from reformer_cli.config.load import load_run_config, run_config_from_dict
from reformer_cli.config.run import PRECISIONS, TASKS, TOKENIZERS
from reformer_cli.errors import ConfigError, ResourceError

CONFIG_DIR = Path(__file__).resolve().parent.parent / "configs"
PRESETS = sorted(CONFIG_DIR.glob("*.yaml"))


def error_of(path=None, overrides=(), flags=None) -> str:
    with pytest.raises(ConfigError) as caught:
        load_run_config(path, overrides, flags)
    return caught.value.one_line()


def write(tmp_path, text: str) -> Path:
    file = tmp_path / "config.yaml"
    file.write_text(text)
    return file


def test_presets_exist():
    assert {p.stem for p in PRESETS} >= {"default", "enwik8-64k", "gpu-base", "summarize"}


@pytest.mark.parametrize("preset", PRESETS, ids=lambda p: p.stem)
def test_every_preset_loads_and_every_key_has_a_comment(preset):
    config = load_run_config(preset)
    assert config.name == preset.stem
    raw = yaml.safe_load(preset.read_text())
    # every key the file sets is the value we loaded (no silent renames or drops)
    for section in ("model", "data", "train"):
        for key, value in raw[section].items():
            assert getattr(getattr(config, section), key) == value, f"{section}.{key}"
    for number, line in enumerate(preset.read_text().splitlines(), 1):
        if ":" in line and not line.lstrip().startswith("#"):
            assert "#" in line, f"{preset.name} line {number} has no comment: {line!r}"


@pytest.mark.parametrize("preset", PRESETS, ids=lambda p: p.stem)
def test_a_comment_listing_the_choices_of_a_key_lists_every_accepted_one(preset):
    accepted = {"tokenizer": TOKENIZERS, "task": TASKS, "precision": PRECISIONS}
    for line in preset.read_text().splitlines():
        key, _, rest = line.strip().partition(":")
        comment = rest.partition("#")[2]
        if key in accepted and "|" in comment:  # "a (why) | b | c": the first word of each
            listed = [choice.split()[0] for choice in comment.split("|")]
            assert sorted(listed) == sorted(accepted[key]), f"{preset.name}: {line.strip()}"


def test_paper_preset_mirrors_the_paper():
    config = load_run_config(CONFIG_DIR / "enwik8-64k.yaml")
    assert config.data.tokenizer == "byte" and config.data.seq_len == 65536
    assert config.model.n_layers == 12 and config.model.d_model == 1024 and config.model.d_ff == 4096
    assert [config.model.layer_type(i) for i in range(12)] == ["local", "local", "lsh", "local"] * 3


def test_preset_by_bare_name():
    assert load_run_config("summarize").data.task == "summarize"


def test_precedence_defaults_yaml_set_flags(tmp_path):
    file = write(tmp_path, "train:\n  lr: 0.002\n  steps: 50\n  batch_size: 3\ndata:\n  seq_len: 512\n")
    config = load_run_config(file, ["train.steps=70", "train.batch_size=5"],
                             {"train.batch_size": 7, "data.seq_len": None})
    assert config.train.lr == 0.002  # YAML over default
    assert config.train.steps == 70  # --set over YAML
    assert config.train.batch_size == 7  # flag over --set
    assert config.data.seq_len == 512  # a None flag is ignored
    assert config.train.weight_decay == 0.01  # untouched default


def test_set_values_are_yaml_scalars_and_lists():
    config = load_run_config(None, ["train.lr=3e-4", "model.layer_types=[local, local, lsh]",
                                    "train.compile=true", "train.time_budget=null", "name=run-7",
                                    "data.seq_len=1e3"])
    assert config.train.lr == pytest.approx(3e-4)  # PyYAML reads 3e-4 as a string; still a number
    assert config.model.layer_types == ["local", "local", "lsh"]
    assert config.train.compile is True and config.train.time_budget is None
    assert config.name == "run-7" and config.data.seq_len == 1000
    assert load_run_config(None, ["model.layer_types=local,lsh"]).model.layer_types == ["local", "lsh"]


def test_round_trip_through_dict_and_yaml():
    config = load_run_config(CONFIG_DIR / "gpu-base.yaml", ["train.seed=3"])
    again = run_config_from_dict(yaml.safe_load(yaml.safe_dump(config.to_dict())), source="config.yaml")
    assert again == config
    # checkpoint metadata next to the config is accepted
    with_meta = dict(config.to_dict(), format_version=1, reformer_version="0.1.0")
    assert run_config_from_dict(with_meta) == config


def test_unknown_key_names_path_and_nearest(tmp_path):
    file = write(tmp_path, "train:\n  lerning_rate: 0.1\n")
    assert error_of(file) == "unknown key train.lerning_rate in config.yaml; did you mean train.lr?"
    assert "did you mean model.n_hashes?" in error_of(None, ["model.n_hahses=4"])
    assert "did you mean data.seq_len?" in error_of(None, ["train.seq_len=8"])
    assert "did you mean train.batch_size?" in error_of(None, ["trian.batch_size=8"])
    message = error_of(None, ["train.qqqq=1"])
    assert "unknown key train.qqqq" in message and "valid keys: train.steps" in message
    with pytest.raises(ConfigError, match="unknown key optimizer"):
        run_config_from_dict({"optimizer": {"lr": 1}}, source="config.yaml")


@pytest.mark.parametrize("override, expected", [
    ("train.lr=abc", "train.lr='abc' must be a number"),
    ("train.steps=1.5", "train.steps=1.5 must be an integer"),
    ("train.compile=maybe", "train.compile='maybe' must be true or false"),
    ("model.layer_types=[1, 2]", "model.layer_types=[1, 2] must be a list of strings"),
    ("train.device=5", "train.device=5 must be a string"),
])
def test_wrong_types(override, expected):
    assert expected in error_of(None, [override])


@pytest.mark.parametrize("override, expected", [
    ("train.lr=-0.001", "train.lr=-0.001 is out of range; it must be > 0"),
    ("train.batch_size=0", "train.batch_size=0 is out of range; it must be >= 1"),
    ("data.val_fraction=0.6", "data.val_fraction=0.6 is out of range; it must be in [0.0, 0.5]"),
    ("data.val_fraction=-0.1", "data.val_fraction=-0.1 is out of range"),
    ("model.n_buckets=33", "model.n_buckets=33 is odd"),
    ("data.seq_len=0", "data.seq_len=0 is out of range"),
    ("train.min_lr_ratio=2", "train.min_lr_ratio=2 is out of range; it must be in [0.0, 1.0]"),
    ("data.tokenizer=bytes", "did you mean byte?"),
    ("data.task=translate", "use one of lm, summarize"),
    ("data.encoding=utf-99", "unknown encoding 'utf-99'; use e.g. utf-8, latin-1, gb18030 "
     "(set in --set as data.encoding)"),
    ("data.encoding=rot13", "unknown encoding 'rot13'"),  # a codec, but not of text
    ("train.device=tpu", "device 'tpu' is not a device; use auto, cpu, cuda, cuda:N or mps "
     "(set in --set as train.device)"),
    ("train.device=cuda:x", "device 'cuda:x' is not a device"),
    ("name=a/b", "is not a usable run name"),
    ("name=..", "is not a usable run name"),  # models/.. would be the working folder
    ("name=.", "is not a usable run name"),
])
def test_impossible_values_name_key_and_range(override, expected):
    message = error_of(None, [override])
    assert expected in message and "(set in --set" in message


def test_cross_section_checks():
    message = error_of(None, ["data.seq_len=128", "model.chunk_length=256", "model.layer_types=[lsh]"])
    assert "model.chunk_length=256 is longer than data.seq_len=128" in message and "[1, 128]" in message
    # local and full attention with a chunk longer than the window are fine (one chunk)
    load_run_config(None, ["data.seq_len=128", "model.chunk_length=256", "model.layer_types=[local, full]"])
    assert "model.max_seq_len=1024 is shorter than data.seq_len=4096" in error_of(
        None, ["model.max_seq_len=1024", "data.seq_len=4096"])
    assert "model.n_buckets=64 is more than data.seq_len=32" in error_of(
        None, ["data.seq_len=32", "model.chunk_length=8", "model.n_buckets=64"])
    assert "fp32" in error_of(None, ["train.device=cpu", "train.precision=bf16"])


def test_flag_values_are_checked_too_and_named_as_typed():
    assert error_of(None, flags={"data.seq_len": -5}) == "--seq-len=-5 is out of range; it must be >= 2"
    assert error_of(None, ["data.seq_len=-5"]) == (
        "data.seq_len=-5 is out of range; it must be >= 2 (set in --set)")


@pytest.mark.parametrize("item", ["foo", "train.lr", "=3", "train..lr=1"])
def test_set_syntax_errors_name_the_expected_form(item):
    assert "expected the form --set section.key=value" in error_of(None, [item])


def test_yaml_syntax_error_names_file_and_line(tmp_path):
    file = write(tmp_path, "train:\n  lr: 0.1\n  steps: [1, 2\n")
    message = error_of(file)
    assert "could not parse" in message and "config.yaml line 4" in message
    file = write(tmp_path, "train:\n  lr: 0.1\n bad: 2\n")
    assert "config.yaml line 3" in error_of(file)


def test_duplicate_key_and_bad_shapes(tmp_path):
    assert "duplicate key 'lr'" in error_of(write(tmp_path, "train:\n  lr: 0.1\n  lr: 0.2\n"))
    assert "must hold a mapping" in error_of(write(tmp_path, "- 1\n- 2\n"))
    assert "train in config.yaml must be a mapping" in error_of(write(tmp_path, "train: 5\n"))
    assert load_run_config(write(tmp_path, "")) == load_run_config(None)  # empty file = defaults
    assert "not found" in error_of(tmp_path / "missing.yaml")


def test_resolve_device():
    assert resolve_device("cpu").type == "cpu"
    assert resolve_device("auto").type in ("cpu", "cuda", "mps")
    import torch
    if not torch.cuda.is_available():
        with pytest.raises(ResourceError, match="CUDA is not available"):
            resolve_device("cuda")
    with pytest.raises(ConfigError):
        resolve_device("tpu")


def test_importing_does_not_load_torch():
    code = "import sys, reformer_cli.config.load; print('torch' in sys.modules)"
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert result.stdout.strip() == "False"


def test_no_config_file_means_the_default_preset():
    """`reformer train corpus.txt` without --config trains what configs/default.yaml describes."""
    without_file = load_run_config(None).to_dict()
    with_preset = load_run_config("default").to_dict()
    assert without_file == with_preset
