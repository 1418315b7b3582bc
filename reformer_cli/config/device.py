"""Device names (auto, cpu, cuda, cuda:N, mps) resolved to a torch.device.

torch is imported inside, so the config layer stays fast to import.
"""

from __future__ import annotations

from reformer_cli.errors import ConfigError, ResourceError

DEVICE_NAMES = "auto|cpu|cuda|cuda:N|mps"  # what --device takes, as its help shows it


def unknown_device(name: str) -> ConfigError:
    """The one wording, in every command, of a --device that names no device."""
    *most, last = DEVICE_NAMES.split("|")
    return ConfigError(f"device {name!r} is not a device", f"use {', '.join(most)} or {last}")


def check_device_name(name: str) -> None:
    """`unknown_device` unless `name` is one of DEVICE_NAMES (cuda:N with N a number); whether
    that device is there is `resolve_device`'s to tell (which reads `name` as this does)."""
    base, colon, index = name.strip().lower().partition(":")
    if base not in ("auto", "cpu", "cuda", "mps") or (colon and (base != "cuda" or not index.isdigit())):
        raise unknown_device(name)


def resolve_device(name: str):
    """'auto' -> cuda > mps > cpu; an unavailable explicit device -> ResourceError."""
    import torch

    name = (name or "auto").strip().lower()
    mps_ok = getattr(torch.backends, "mps", None) is not None and torch.backends.mps.is_available()
    if name == "auto":
        if torch.cuda.is_available():
            return torch.device("cuda")
        return torch.device("mps") if mps_ok else torch.device("cpu")
    if name == "cpu":
        return torch.device("cpu")
    if name.startswith("cuda"):
        if not torch.cuda.is_available():
            raise ResourceError(f"device {name!r} requested but CUDA is not available",
                                "use --device cpu or --device auto")
        device = torch.device(name)
        if device.index is not None and device.index >= torch.cuda.device_count():
            raise ResourceError(f"device {name!r} does not exist ({torch.cuda.device_count()} GPU(s) found)",
                                "use cuda:0 or --device auto")
        return device
    if name == "mps":
        if not mps_ok:
            raise ResourceError("device 'mps' requested but MPS is not available",
                                "use --device cpu or --device auto")
        return torch.device("mps")
    raise unknown_device(name)
