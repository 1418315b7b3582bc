"""Nested training state <-> (JSON structure, safetensors tensors), without pickle.

Optimizer state dicts, RNG states and sampler positions are nests of dicts (some with integer
keys), tuples, lists, tensors, numpy arrays and plain values. Tensors and arrays go into one
safetensors file under their path in the nest; everything else into JSON, with small markers
({"__tensor__": path}, {"__tuple__": [...]}, ...) so the exact types come back.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any


def save_nested(state: dict, json_path: Path, tensor_path: Path) -> None:
    from safetensors.torch import save_file

    tensors: dict = {}
    structure = _flatten(state, "state", tensors)
    save_file(tensors, str(tensor_path))
    json_path.write_text(json.dumps(structure), encoding="utf-8")


def _flatten(value: Any, path: str, tensors: dict) -> Any:
    """Nested value -> JSON-able structure; tensors and arrays go to `tensors` by path."""
    import numpy as np
    import torch

    if path in tensors:
        raise ValueError(f"two entries of the training state are both named {path}")
    if isinstance(value, torch.Tensor):
        tensors[path] = value.detach().to("cpu").contiguous()
        return {"__tensor__": path}
    if isinstance(value, np.ndarray):
        # Stored as raw bytes so every numpy dtype (e.g. uint32 RNG keys) round-trips exactly.
        raw = np.ascontiguousarray(value)
        tensors[path] = torch.from_numpy(raw.reshape(-1).view(np.uint8).copy())
        return {"__ndarray__": path, "dtype": raw.dtype.str, "shape": list(raw.shape)}
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, dict):
        if all(isinstance(k, str) and not k.startswith("__") for k in value):
            return {k: _flatten(v, f"{path}/{k}", tensors) for k, v in value.items()}
        # Non-string keys (optimizer state is keyed by parameter index) keep their type.
        return {"__items__": [[k, _flatten(v, f"{path}/{k}", tensors)] for k, v in value.items()]}
    if isinstance(value, tuple):
        return {"__tuple__": [_flatten(v, f"{path}/{i}", tensors) for i, v in enumerate(value)]}
    if isinstance(value, list):
        return [_flatten(v, f"{path}/{i}", tensors) for i, v in enumerate(value)]
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    raise TypeError(f"cannot store a {type(value).__name__} at {path} in a checkpoint")


def _unflatten(value: Any, tensors: dict) -> Any:
    import numpy as np

    if isinstance(value, list):
        return [_unflatten(v, tensors) for v in value]
    if not isinstance(value, dict):
        return value
    if "__tensor__" in value:
        return tensors[value["__tensor__"]]
    if "__ndarray__" in value:
        raw = tensors[value["__ndarray__"]].numpy().tobytes()
        return np.frombuffer(raw, dtype=np.dtype(value["dtype"])).reshape(value["shape"]).copy()
    if "__items__" in value:
        return {k: _unflatten(v, tensors) for k, v in value["__items__"]}
    if "__tuple__" in value:
        return tuple(_unflatten(v, tensors) for v in value["__tuple__"])
    return {k: _unflatten(v, tensors) for k, v in value.items()}


def load_nested(json_path: Path, tensor_path: Path) -> Any:
    from safetensors.torch import load_file

    tensors = load_file(str(tensor_path), device="cpu")
    return _unflatten(json.loads(json_path.read_text(encoding="utf-8")), tensors)
