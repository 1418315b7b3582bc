"""The five model variants memprofile compares, all of the same width, depth, heads and vocabulary.

Each row adds one Reformer technique to the one before, so the saving of each technique can be
read off the table:

    1. plain Transformer, score matrix materialised ("naive" attention), residual, unchunked
    2. the same with memory-efficient exact attention (PyTorch SDPA, "full") — the modern baseline
    3. + LSH attention (the config's lsh/local layer pattern)
    4. + reversible residual layers
    5. + chunked feed-forward and loss = the Reformer as configured

Pure data: no torch here, so the CLI can build the plan before importing anything heavy.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

from reformer_cli.config.model import ModelConfig

# Used for rows 4-5 when the base config has chunking switched off: without a chunk size the
# "chunked" row would be identical to row 4 and say nothing.
FALLBACK_CHUNK_SIZE = 1024


@dataclass(frozen=True)
class Variant:
    """One row of the comparison: a short key, a label for the table and the model config."""

    index: int  # 1-based row number, as in the table
    key: str  # stable machine name used in JSON/CSV
    label: str  # human description for the table
    config: ModelConfig


def efficient_layer_types(config: ModelConfig) -> list[str]:
    """The config's own LSH/local pattern; ["lsh"] when it has none (e.g. an all-"full" config)."""
    if any(kind in ("lsh", "local") for kind in config.layer_types):
        return [kind if kind in ("lsh", "local") else "lsh" for kind in config.layer_types]
    return ["lsh"]


def build_variants(config: ModelConfig) -> list[Variant]:
    """The five rows for `config` (the last row is `config` itself, made reversible and chunked)."""
    plain = dataclasses.replace(config, layer_types=["naive"], reversible=False,
                                ff_chunk_size=0, loss_chunk_size=0)
    sdpa = dataclasses.replace(plain, layer_types=["full"])
    lsh = dataclasses.replace(plain, layer_types=efficient_layer_types(config))
    reversible = dataclasses.replace(lsh, reversible=True)
    chunked = dataclasses.replace(
        reversible,
        ff_chunk_size=config.ff_chunk_size or FALLBACK_CHUNK_SIZE,
        loss_chunk_size=config.loss_chunk_size or FALLBACK_CHUNK_SIZE)
    pattern = "/".join(lsh.layer_types)
    return [
        Variant(1, "transformer_naive", "Transformer, naive attention (L×L)", plain),
        Variant(2, "transformer_sdpa", "Transformer, SDPA attention", sdpa),
        Variant(3, "lsh", f"+ LSH attention ({pattern})", lsh),
        Variant(4, "lsh_reversible", "+ reversible layers", reversible),
        Variant(5, "reformer", "+ chunked FF & loss (Reformer)", chunked),
    ]
