"""CUDA's autocast rules, imitated on the CPU (a test helper, not a fake of the code under test).

CPU and CUDA autocast agree on what runs in bf16 (matmuls, linear, bmm, ...) but not on what
runs in fp32: CUDA's autocast sends the ops on its fp32 list (norms, sums, softmax, exp, pow,
layer_norm, the losses, ...) to fp32 and returns fp32 results, while the CPU's leaves most of
them in bf16. Code that only ever ran on the CPU can therefore meet a bf16/fp32 mismatch on
the first CUDA step that no CPU test sees.

`cuda_like_autocast()` runs CPU autocast AND, while it is active, wraps the Python entry points
of the ops on CUDA's fp32 list (torch.X, Tensor.X, torch.linalg.X, F.X, operators such as `**`):
when autocast is enabled at the moment of the call (not inside an `autocast(enabled=False)`
region), their floating inputs of lower precision are cast to fp32, so the op computes and
returns fp32, exactly as CUDA does. The wrappers are installed on entry and the originals put
back on exit. (A TorchFunctionMode would be tidier, but the mode is not active in an autograd
backward, where the reversible recompute runs under autocast again.)
"""

from __future__ import annotations

import contextlib
import functools

import torch
import torch.nn.functional as F

# The ops CUDA's autocast runs in fp32 (torch's autocast documentation, "CUDA Ops that can
# autocast to float32"; `linalg_vector_norm`, `sum`, `softmax`, ... are registered with an fp32
# output dtype in aten/src/ATen/autocast_mode.cpp), by their Python names.
CUDA_FP32_OPS = (
    "acos", "asin", "cosh", "erfinv", "exp", "expm1", "log", "log10", "log2", "log1p",
    "reciprocal", "rsqrt", "sinh", "tan", "pow", "__pow__", "__rpow__", "__rtruediv__",
    "__rdiv__", "softplus", "layer_norm", "group_norm", "norm", "vector_norm", "matrix_norm",
    "normalize", "cosine_similarity", "poisson_nll_loss", "cosine_embedding_loss", "nll_loss",
    "hinge_embedding_loss", "kl_div", "l1_loss", "smooth_l1_loss", "huber_loss", "mse_loss",
    "margin_ranking_loss", "multilabel_margin_loss", "soft_margin_loss", "triplet_margin_loss",
    "multi_margin_loss", "binary_cross_entropy_with_logits", "dist", "pdist", "cdist", "renorm",
    "logsumexp", "prod", "cumprod", "cumsum", "sum", "softmax", "log_softmax", "softmin",
    "cross_entropy",
)
LOWER_PRECISION = (torch.bfloat16, torch.float16)


# ops of the "fp32 unless a dtype is given" kind: CUDA keeps an explicit `dtype=`
EXPLICIT_DTYPE_OPS = ("sum", "prod", "cumsum", "cumprod", "softmax", "log_softmax", "softmin",
                      "vector_norm", "matrix_norm")
NAMESPACES = (torch, torch.Tensor, torch.linalg, F)


def _upcast(value):
    if isinstance(value, torch.Tensor) and value.dtype in LOWER_PRECISION:
        return value.float()
    if isinstance(value, (list, tuple)):
        return type(value)(_upcast(item) for item in value)
    return value


def _fp32_policy(original, name):
    """`original` with CUDA's fp32 policy applied while autocast is enabled."""

    @functools.wraps(original)
    def fp32_when_autocast(*args, **kwargs):
        explicit_dtype = name in EXPLICIT_DTYPE_OPS and kwargs.get("dtype") is not None
        if torch.is_autocast_enabled("cpu") and not explicit_dtype:
            args = _upcast(args)
            kwargs = {key: _upcast(value) for key, value in kwargs.items()}
        return original(*args, **kwargs)

    return fp32_when_autocast


@contextlib.contextmanager
def cuda_like_autocast(dtype: torch.dtype = torch.bfloat16):
    """CPU autocast in `dtype` with CUDA's fp32 list applied on top (see the module docstring)."""
    saved = []  # (namespace, name, the attribute in its own __dict__ or None when inherited)
    try:
        for namespace in NAMESPACES:
            for name in CUDA_FP32_OPS:
                original = getattr(namespace, name, None)
                if original is None:
                    continue
                saved.append((namespace, name, vars(namespace).get(name)))
                setattr(namespace, name, _fp32_policy(original, name))
        with torch.autocast("cpu", dtype=dtype):
            yield
    finally:
        for namespace, name, own in reversed(saved):
            if own is None:
                delattr(namespace, name)
            else:
                setattr(namespace, name, own)
