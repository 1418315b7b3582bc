"""The attention module of a layer, by its type name in `model.layer_types`."""

from __future__ import annotations

from torch import nn

from reformer_cli.config.model import ModelConfig
from reformer_cli.core.attention import FullAttention, LocalAttention, NaiveAttention
from reformer_cli.core.lsh_attention import LSHSelfAttention
from reformer_cli.errors import ConfigError

ATTENTION_CLASSES = {"lsh": LSHSelfAttention, "local": LocalAttention, "full": FullAttention,
                     "naive": NaiveAttention}


def build_attention(layer_type: str, config: ModelConfig, layer_index: int) -> nn.Module:
    """The attention module of one layer: "lsh" | "local" | "full" | "naive"."""
    if layer_type not in ATTENTION_CLASSES:
        raise ConfigError(f"unknown attention type {layer_type!r}",
                          f"use one of {', '.join(ATTENTION_CLASSES)}")
    return ATTENTION_CLASSES[layer_type](config, layer_index)
