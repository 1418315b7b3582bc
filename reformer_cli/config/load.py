"""Loading the run configuration: YAML files, `--set` overrides and flags, merged and coerced.

Precedence: dataclass defaults < YAML file < `--set section.key=value` < explicit CLI flags.
Every value passes through one typed coercion step, so a wrong type, an unknown key or an
impossible value fails with its key path (and, for unknown keys, the nearest valid key).
"""

from __future__ import annotations

import difflib
import typing
from pathlib import Path

import yaml

from reformer_cli.config.model import ModelConfig
from reformer_cli.config.run import DataConfig, RunConfig, TrainConfig
from reformer_cli.errors import ConfigError

SECTIONS = ("model", "data", "train")
# Written into checkpoint config.yaml files next to the run config; accepted and ignored here.
METADATA_KEYS = ("format_version", "reformer_version")
PRESET_DIR = Path(__file__).resolve().parents[2] / "configs"
# The command-line flag that sets each key (`reformer train`'s; memprofile's --seq-len is the
# same): a bad value that came from a flag is named as it was typed, `--steps=0 is out of range`.
FLAG_NAMES = {"name": "--name", "data.seq_len": "--seq-len", "data.tokenizer": "--tokenizer",
              "data.vocab_size": "--vocab-size", "data.tokenizer_model": "--tokenizer-model",
              "data.val_path": "--val", "data.encoding": "--encoding", "data.task": "--task",
              "data.cache": "--data-cache", "train.steps": "--steps",
              "train.time_budget": "--time-budget", "train.batch_size": "--batch-size",
              "train.device": "--device", "train.seed": "--seed"}


# ---------------------------------------------------------------------------------------------
# Loading and merging


def load_run_config(path: str | Path | None, overrides: typing.Sequence[str] = (),
                    flags: dict | None = None) -> RunConfig:
    """Resolve defaults < YAML file < `--set` overrides < flags into a validated RunConfig.

    `path` may also be a preset name such as "enwik8-64k" (configs/enwik8-64k.yaml).
    `flags` maps key paths to values ({"data.seq_len": 4096}); None values are ignored.
    """
    values = _defaults()
    origins: dict[str, str] = {}  # key path -> where its value came from, for error hints
    if path is not None:
        file = _find_config_file(path)
        _merge_nested(values, _read_yaml(file), file.name, origins)
    for item in overrides:
        key_path, value = parse_override(item)
        _set_path(values, key_path, value, "--set", origins)
    for key_path, value in (flags or {}).items():
        if value is not None:
            _set_path(values, key_path, value, FLAG_NAMES.get(key_path, "the command-line flags"),
                      origins)
    try:
        return _build(values)
    except ConfigError as error:
        for key_path, origin in origins.items():
            if getattr(error, "key_path", None) == key_path:  # checks.keyed_error: worded as
                if origin != FLAG_NAMES.get(key_path):  # every command words it
                    error.hint = f"{error.hint} (set in {origin} as {key_path})"
                break
            if error.message.startswith((key_path + "=", key_path + " ")):
                if origin == FLAG_NAMES.get(key_path):  # the flag's own name says where it was set
                    error.message = origin + error.message[len(key_path):]
                else:
                    error.hint = f"{error.hint} (set in {origin})" if error.hint else f"check {origin}"
                break
        raise


def run_config_from_dict(raw: dict, source: str = "config") -> RunConfig:
    """Build and validate from a nested dict (e.g. a checkpoint's config.yaml)."""
    values = _defaults()
    _merge_nested(values, raw, source, origins={})
    return _build(values)


def config_file_model_keys(path: str | Path | None) -> set[str]:
    """The model settings a YAML config file (or preset) sets itself; none without a file."""
    if path is None:
        return set()
    model = _read_yaml(_find_config_file(path)).get("model") or {}
    return set(model) if isinstance(model, dict) else set()


def _find_config_file(path: str | Path) -> Path:
    file = Path(path)
    if file.is_file():
        return file
    preset = PRESET_DIR / f"{path}.yaml"
    if file.suffix == "" and len(file.parts) == 1 and preset.is_file():
        return preset
    presets = sorted(p.stem for p in PRESET_DIR.glob("*.yaml")) if PRESET_DIR.is_dir() else []
    hint = f"give a YAML file path or a preset: {', '.join(presets)}" if presets else "give a YAML file path"
    if file.is_dir():
        raise ConfigError(f"config {str(path)!r} is a folder, not a YAML file", hint)
    raise ConfigError(f"config file {str(path)!r} not found", hint)


class _StrictLoader(yaml.SafeLoader):
    """SafeLoader that rejects duplicate keys instead of silently keeping the last one."""


def _construct_mapping(loader: _StrictLoader, node: yaml.MappingNode, deep: bool = False) -> dict:
    seen = set()
    for key_node, _ in node.value:
        key = loader.construct_object(key_node, deep=deep)
        if key in seen:
            raise yaml.constructor.ConstructorError(
                None, None, f"duplicate key {key!r}", key_node.start_mark)
        seen.add(key)
    return loader.construct_mapping(node, deep=deep)


_StrictLoader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _construct_mapping)


def _read_yaml(file: Path) -> dict:
    try:
        text = file.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as error:
        raise ConfigError(f"cannot read config file {file}: {error}") from None
    try:
        data = yaml.load(text, Loader=_StrictLoader)
    except yaml.YAMLError as error:
        mark = getattr(error, "problem_mark", None) or getattr(error, "context_mark", None)
        where = f" line {mark.line + 1} column {mark.column + 1}" if mark is not None else ""
        problem = getattr(error, "problem", None) or str(error).splitlines()[0]
        raise ConfigError(f"could not parse {file}{where}: {problem}",
                          "fix the YAML syntax there (indentation, ':' after keys, quotes)") from None
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise ConfigError(f"{file} must hold a mapping of sections (model:, data:, train:), "
                          f"not a {type(data).__name__}")
    return data


def parse_override(item: str) -> tuple[str, object]:
    form = "--set section.key=value (e.g. --set train.lr=3e-4)"
    if "=" not in item:
        raise ConfigError(f"--set {item!r} has no '='", f"expected the form {form}")
    key_path, text = item.split("=", 1)
    key_path = key_path.strip()
    if not key_path or any(not part for part in key_path.split(".")):
        raise ConfigError(f"--set {item!r} has no key before '='", f"expected the form {form}")
    try:
        value = yaml.safe_load(text) if text.strip() else None
    except yaml.YAMLError:
        value = text  # not YAML (e.g. an unbalanced bracket): keep the string; types are checked later
    return key_path, value


def _defaults() -> dict:
    return RunConfig().to_dict()


def _section_classes() -> dict[str, type]:
    return {"model": ModelConfig, "data": DataConfig, "train": TrainConfig}


def _merge_nested(values: dict, raw: dict, source: str, origins: dict) -> None:
    if not isinstance(raw, dict):
        raise ConfigError(f"the config in {source} must be a mapping of sections, not {type(raw).__name__}")
    for top, content in raw.items():
        if top in METADATA_KEYS:
            continue
        if top in SECTIONS:
            if content is None:
                continue  # an empty section ("train:") keeps the defaults
            if not isinstance(content, dict):
                raise ConfigError(f"{top} in {source} must be a mapping of keys, not {content!r}",
                                  f"write e.g. '{top}:' followed by indented 'key: value' lines")
            for key, value in content.items():
                _set_path(values, f"{top}.{key}", value, source, origins)
        else:
            _set_path(values, str(top), content, source, origins)


def _set_path(values: dict, key_path: str, value, source: str, origins: dict) -> None:
    """Coerce `value` to the type of `key_path` and store it; unknown paths get a suggestion."""
    parts = key_path.split(".")
    if parts == ["name"]:
        values["name"] = _coerce("name", value, str)
        origins["name"] = source
        return
    if len(parts) != 2 or parts[0] not in SECTIONS or parts[1] not in values[parts[0]]:
        raise _unknown_key(key_path, source)
    section, key = parts
    hints = typing.get_type_hints(_section_classes()[section])
    try:
        values[section][key] = _coerce(key_path, value, hints[key])
    except ConfigError as error:
        error.hint = f"{error.hint} (in {source})" if error.hint else f"check {source}"
        raise
    origins[key_path] = source


# Common names people type for our keys.
SYNONYMS = {
    "learning_rate": "lr", "max_steps": "steps", "num_steps": "steps", "train_steps": "steps",
    "batch": "batch_size", "gradient_accumulation": "grad_accum", "accumulate": "grad_accum",
    "gradient_accumulation_steps": "grad_accum", "clip": "grad_clip", "max_grad_norm": "grad_clip",
    "warmup": "warmup_steps", "sequence_length": "seq_len", "seq_length": "seq_len",
    "context_length": "seq_len", "block_size": "seq_len", "max_len": "seq_len",
    "num_layers": "n_layers", "n_layer": "n_layers", "layers": "n_layers", "num_heads": "n_heads",
    "n_head": "n_heads", "heads": "n_heads", "hidden_size": "d_model", "n_embd": "d_model",
    "dim": "d_model", "ff_dim": "d_ff", "bucket_size": "chunk_length", "num_hashes": "n_hashes",
    "num_buckets": "n_buckets", "attention_types": "layer_types", "attn_layers": "layer_types",
    "vocab": "vocab_size", "validation_fraction": "val_fraction", "val_split": "val_fraction",
}


def _unknown_key(key_path: str, source: str) -> ConfigError:
    valid = ["name"] + [f"{s}.{k}" for s in SECTIONS for k in _defaults()[s]]
    suggestion = _nearest_key(key_path, valid)
    message = f"unknown key {key_path} in {source}"
    if suggestion:
        return ConfigError(message, f"did you mean {suggestion}?")
    section = key_path.split(".")[0]
    keys = [k for k in valid if k.startswith(section + ".")]
    return ConfigError(message, f"valid keys: {', '.join(keys) if keys else 'name, ' + ', '.join(SECTIONS)}")


def _nearest_key(key_path: str, valid: list[str]) -> str | None:
    parts = key_path.split(".")
    section, key = (parts[0], parts[-1]) if len(parts) > 1 else ("", parts[0])
    if len(parts) > 1 and section not in SECTIONS:  # misspelt section: fix it, then the key
        close = difflib.get_close_matches(section, SECTIONS, n=1, cutoff=0.5)
        if close and f"{close[0]}.{key}" in valid:
            return f"{close[0]}.{key}"
    same_section = [k for k in valid if k.startswith(section + ".")] if section in SECTIONS else []
    names = {k.split(".")[-1]: k for k in same_section}
    normal = key.lower().replace("-", "_")
    if normal in names:
        return names[normal]
    if SYNONYMS.get(normal) in names:
        return names[SYNONYMS[normal]]
    initials = "".join(word[0] for word in normal.split("_") if word)
    if len(initials) > 1 and initials in names:  # lerning_rate -> lr
        return names[initials]
    close = difflib.get_close_matches(normal, list(names), n=1, cutoff=0.6)
    if close:
        return names[close[0]]
    # The right key in another section (train.seq_len -> data.seq_len)?
    elsewhere = [k for k in valid if k.split(".")[-1] in (normal, SYNONYMS.get(normal))]
    if elsewhere:
        return elsewhere[0]
    if section in SECTIONS:
        return None
    close = difflib.get_close_matches(key_path, valid, n=1, cutoff=0.6)
    return close[0] if close else None


# ---------------------------------------------------------------------------------------------
# Types


def _coerce(key_path: str, value, annotation):
    """Return `value` converted to `annotation` or raise ConfigError naming the expected type."""
    args = typing.get_args(annotation)
    if type(None) in args:  # Optional[X]
        if value is None or (isinstance(value, str) and value.strip().lower() in ("none", "null", "")):
            return None
        inner = [a for a in args if a is not type(None)]
        return _coerce(key_path, value, inner[0])
    if annotation is bool:
        if isinstance(value, bool):
            return value
        raise ConfigError(f"{key_path}={value!r} must be true or false")
    if annotation is int:
        number = _as_number(value)
        if number is not None and float(number).is_integer():
            return int(number)
        raise ConfigError(f"{key_path}={value!r} must be an integer")
    if annotation is float:
        number = _as_number(value)
        if number is not None:
            return float(number)
        raise ConfigError(f"{key_path}={value!r} must be a number", "e.g. 0.001 or 1e-3")
    if annotation is str:
        if isinstance(value, str):
            return value
        if key_path == "name" and isinstance(value, (int, float)) and not isinstance(value, bool):
            return str(value)
        raise ConfigError(f"{key_path}={value!r} must be a string")
    if typing.get_origin(annotation) is list:
        if isinstance(value, str):  # "local,lsh" from the command line
            value = [part.strip() for part in value.split(",") if part.strip()]
        if isinstance(value, list) and all(isinstance(item, str) for item in value):
            return list(value)
        raise ConfigError(f"{key_path}={value!r} must be a list of strings", "e.g. [local, lsh]")
    raise ConfigError(f"{key_path} has an unsupported type {annotation}")


def _as_number(value) -> int | float | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, (int, float)):
        return value if value == value and abs(value) != float("inf") else None
    if isinstance(value, str):  # PyYAML reads 1e-3 (no dot) as a string
        try:
            number = float(value.replace("_", ""))
        except ValueError:
            return None
        return number if number == number and abs(number) != float("inf") else None
    return None


def _build(values: dict) -> RunConfig:
    config = RunConfig(name=values["name"], model=ModelConfig(**values["model"]),
                       data=DataConfig(**values["data"]), train=TrainConfig(**values["train"]))
    return config.validate()
