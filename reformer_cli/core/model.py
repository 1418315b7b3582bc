"""ReformerLM: token embedding -> reversible stack -> final norm -> (chunked) head and loss.

Positions are rotary and live inside the attention layers (queries and keys), so nothing is
added to the embedding here and any length works.

The embedding feeds both reversible streams. At the end we average the streams and apply a
LayerNorm: each stream already carries the whole residual sum of its sub-layers, the average keeps
the width at d_model so the head can be tied to the embedding, and it adds no parameters.
(Concatenating into 2*d_model, as trax and huggingface do, would make the head 2*d_model wide and
untieable.)
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from reformer_cli.config.model import ModelConfig
from reformer_cli.core.head_loss import IGNORE_INDEX, chunked_cross_entropy
from reformer_cli.core.reversible import ReversibleStack
from reformer_cli.errors import ConfigError, InputError

INIT_STD = 0.02  # GPT-2's initialisation scale for linear and embedding weights


class ReformerLM(nn.Module):
    def __init__(self, config: ModelConfig):
        super().__init__()
        self.config = config.validate()
        self.embedding = nn.Embedding(config.vocab_size, config.d_model)
        self.stack = ReversibleStack(config)
        self.final_norm = nn.LayerNorm(config.d_model)
        # Tied: no separate module, so the state dict holds the shared tensor once (safetensors
        # refuses tensors that share memory) and "head.weight" exists only when untied.
        self.head = None if config.tie_embeddings else nn.Linear(config.d_model, config.vocab_size,
                                                                 bias=False)
        self.apply(_init_weights)

    @property
    def head_weight(self) -> torch.Tensor:
        """(vocab, d_model): the output projection (the embedding itself when tied)."""
        return self.embedding.weight if self.head is None else self.head.weight

    def hidden_states(self, ids: torch.Tensor, padding_mask: torch.Tensor | None = None):
        """(B, L) token ids -> (B, L, d_model) final normalised hidden states."""
        self._check_inputs(ids, padding_mask)
        embedded = self.embedding(ids)  # (B, L, d_model)
        y1, y2 = self.stack(embedded, embedded, padding_mask)
        return self.final_norm((y1 + y2) * 0.5)

    def forward(self, ids, targets=None, padding_mask=None):
        """Logits (B, L, vocab) without targets; the mean cross-entropy over targets != IGNORE_INDEX
        with.

        With targets the logits are never materialised whole: the head and the loss run
        config.loss_chunk_size positions at a time (0 = all at once). Padded positions
        (padding_mask False) are never scored.
        """
        hidden = self.hidden_states(ids, padding_mask)
        if targets is None:
            return F.linear(hidden, self.head_weight)  # (B, L, vocab)
        if targets.shape != ids.shape:
            raise InputError(f"targets have shape {tuple(targets.shape)} but ids have "
                             f"{tuple(ids.shape)}", "pass one target per input position")
        if padding_mask is not None:
            targets = targets.masked_fill(~padding_mask, IGNORE_INDEX)
        return chunked_cross_entropy(hidden, self.head_weight, targets, self.config.loss_chunk_size)

    def num_parameters(self) -> int:
        return sum(p.numel() for p in self.parameters())  # a tied weight is counted once

    def set_n_hashes(self, n_hashes: int) -> None:
        """Hash rounds of every LSH layer (more rounds at evaluation approach full attention)."""
        if isinstance(n_hashes, bool) or not isinstance(n_hashes, int) or n_hashes < 1:
            raise ConfigError(f"n_hashes={n_hashes!r} is not a positive integer",
                              "use 1 or more hash rounds, e.g. 8 for evaluation")
        for index, block in enumerate(self.stack.blocks):
            if self.config.layer_type(index) == "lsh":
                block.attention.n_hashes = n_hashes
        self.config.n_hashes = n_hashes  # so a checkpoint saved now records what is in use

    def _check_inputs(self, ids, padding_mask) -> None:
        if ids.dim() != 2 or ids.dtype not in (torch.int64, torch.int32):
            raise InputError(f"token ids must be an integer tensor of shape (batch, length), got "
                             f"{ids.dtype} of shape {tuple(ids.shape)}")
        if ids.shape[1] == 0:
            raise InputError("the input sequence is empty", "give at least one token")
        if ids.shape[1] > self.config.max_seq_len:
            raise InputError(f"sequence of {ids.shape[1]} tokens is longer than "
                             f"model.max_seq_len={self.config.max_seq_len}",
                             "shorten the input or raise model.max_seq_len")
        if padding_mask is not None and (padding_mask.shape != ids.shape
                                         or padding_mask.dtype != torch.bool):
            raise InputError(f"padding_mask must be a bool tensor of shape {tuple(ids.shape)}, "
                             f"got {padding_mask.dtype} {tuple(padding_mask.shape)}",
                             "True marks real tokens, False padding")
        if torch.compiler.is_compiling():
            return  # the id range needs a device sync; compiled training reads tokenizer ids
        low, high = int(ids.min()), int(ids.max())
        if low < 0 or high >= self.config.vocab_size:
            bad = low if low < 0 else high
            raise InputError(f"token id {bad} is outside the vocabulary of size "
                             f"{self.config.vocab_size}",
                             "use the tokenizer the model was trained with")


def _init_weights(module: nn.Module) -> None:
    if isinstance(module, nn.Linear):
        nn.init.normal_(module.weight, mean=0.0, std=INIT_STD)
        if module.bias is not None:
            nn.init.zeros_(module.bias)
    elif isinstance(module, nn.Embedding):
        nn.init.normal_(module.weight, mean=0.0, std=INIT_STD)
    elif isinstance(module, nn.LayerNorm):
        nn.init.ones_(module.weight)
        nn.init.zeros_(module.bias)
