"""Model configuration: one dataclass, validated, with key paths in every error.

The run's other sections are in `run.py`, loading YAML files and `--set a.b=value` overrides
in `load.py`; this module stays importable from the core without touching files.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field

from reformer_cli.config.checks import check_range
from reformer_cli.errors import ConfigError

ATTENTION_TYPES = ("lsh", "local", "full", "naive")


@dataclass
class ModelConfig:
    """Everything needed to rebuild a ReformerLM; saved whole into every checkpoint."""

    vocab_size: int = 256  # tokens in the vocabulary (256 for the byte tokenizer)
    d_model: int = 256  # width of each of the two reversible streams
    n_heads: int = 4  # attention heads; d_model must divide evenly
    d_ff: int = 1024  # hidden width of the feed-forward
    n_layers: int = 4  # number of (attention, feed-forward) blocks
    # Attention type of each layer, cycled over n_layers: lsh | local | full | naive.
    # full = exact attention through scaled_dot_product_attention; naive = the same with the
    # score matrix materialised (only as a baseline for memprofile).
    layer_types: list[str] = field(default_factory=lambda: ["local", "lsh"])
    chunk_length: int = 64  # LSH and local attention chunk (each chunk also sees the previous one)
    n_hashes: int = 2  # LSH hash rounds (may be raised at evaluation)
    n_buckets: int = 0  # LSH buckets per round; 0 = derive from the length (about 2*L/chunk)
    causal: bool = True  # language model: a position never sees a later one
    reversible: bool = True  # reversible residual blocks (False: plain residual, for comparison)
    dropout: float = 0.0  # dropout on sub-layer outputs and the feed-forward hidden layer
    ff_chunk_size: int = 1024  # positions per feed-forward chunk; 0 = unchunked
    loss_chunk_size: int = 1024  # positions per output-head/loss chunk; 0 = unchunked
    max_seq_len: int = 131072  # longest sequence the positional encoding is validated for
    rotary_base: float = 10000.0  # base of the rotary position frequencies
    tie_embeddings: bool = True  # share the input embedding with the output head
    hash_seed: int | None = None  # fixed hashing rotations (deterministic) when set
    duplicate_correction: bool = False  # subtract log(#rounds a pair met) when combining rounds

    @property
    def d_head(self) -> int:
        return self.d_model // self.n_heads

    def padded_length(self, length: int) -> int:
        """`length` rounded up to a multiple of chunk_length: local and LSH layers pad to it."""
        return -(-length // self.chunk_length) * self.chunk_length

    def layer_type(self, index: int) -> str:
        return self.layer_types[index % len(self.layer_types)]

    def validate(self, prefix: str = "model") -> "ModelConfig":
        """Raise ConfigError naming the key path and the allowed range; return self."""
        positive = ["vocab_size", "d_model", "n_heads", "d_ff", "n_layers", "chunk_length",
                    "n_hashes", "max_seq_len"]
        for key in positive:
            check_range(f"{prefix}.{key}", getattr(self, key), low=1)
        for key in ["ff_chunk_size", "loss_chunk_size", "n_buckets"]:
            check_range(f"{prefix}.{key}", getattr(self, key), low=0)
        if self.d_model % self.n_heads:
            raise ConfigError(f"{prefix}.d_model={self.d_model} is not divisible by "
                              f"{prefix}.n_heads={self.n_heads}",
                              "choose n_heads that divides d_model")
        if self.d_head % 2:
            raise ConfigError(f"{prefix}.d_model/{prefix}.n_heads={self.d_head} is odd",
                              "rotary positions need an even head size")
        if self.n_buckets and (self.n_buckets % 2):
            raise ConfigError(f"{prefix}.n_buckets={self.n_buckets} is odd",
                              "use an even number (or 0 to derive it from the length)")
        if not 0.0 <= self.dropout < 1.0:
            raise ConfigError(f"{prefix}.dropout={self.dropout} is outside [0, 1)")
        if not self.layer_types:
            raise ConfigError(f"{prefix}.layer_types is empty", "use e.g. [local, lsh]")
        for i, kind in enumerate(self.layer_types):
            if kind not in ATTENTION_TYPES:
                raise ConfigError(f"{prefix}.layer_types[{i}]={kind!r} is not an attention type",
                                  f"use one of {', '.join(ATTENTION_TYPES)}")
        if not (isinstance(self.rotary_base, (int, float)) and self.rotary_base > 1):
            raise ConfigError(f"{prefix}.rotary_base={self.rotary_base} must be > 1")
        return self

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)
