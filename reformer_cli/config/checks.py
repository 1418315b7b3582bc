"""Value checks shared by every config dataclass: each raises ConfigError naming the key path."""

from __future__ import annotations

import difflib
import math

from reformer_cli.errors import ConfigError, ReformerError


def shown_number(value: int | float) -> str:
    """A number as a user types it: an int plainly (131072, no thousands separators), a float
    shortest (0 for 0.0, 1e-05, 0.25), so `--ratio 0` is not echoed as `--ratio=0.0`."""
    return f"{value:g}" if isinstance(value, float) else str(value)


def check_range(key: str, value, low=None, high=None) -> None:
    """Raise ConfigError unless low <= value <= high (each bound optional)."""
    if isinstance(value, bool) or not isinstance(value, (int, float)) or math.isnan(value):
        raise ConfigError(f"{key}={value!r} is not a number")
    if (low is not None and value < low) or (high is not None and value > high):
        bounds = f">= {low}" if high is None else (f"<= {high}" if low is None else f"in [{low}, {high}]")
        raise ConfigError(f"{key}={shown_number(value)} is out of range", f"it must be {bounds}")


def keyed_error(key_path: str, error: ReformerError) -> ConfigError:
    """`error`, whose wording has its own home and names the value but not the key (an unknown
    encoding, a device that is not one), as a ConfigError about `key_path`: every command says
    it in the same words, and load.py adds where a config file or --set gave the value."""
    keyed = ConfigError(error.message, error.hint)
    keyed.key_path = key_path
    return keyed


def check_choice(key_path: str, value: str, choices: tuple[str, ...]) -> None:
    if value not in choices:
        close = difflib.get_close_matches(str(value), choices, n=1, cutoff=0.5)
        hint = f"use one of {', '.join(choices)}" + (f" (did you mean {close[0]}?)" if close else "")
        raise ConfigError(f"{key_path}={value!r} is not allowed", hint)


def check_positive(key_path: str, value: float, allowed: str) -> None:
    check_range(key_path, value)  # a number at all
    if value <= 0:
        raise ConfigError(f"{key_path}={shown_number(value)} is out of range", f"it must be {allowed}")
