"""Cached decoding: prefill the prompt once, then one position at a time at a cost that does not
grow with the context.

Prefill runs the ordinary O(L log L) forward of every block on the prompt and keeps, per layer,
what later tokens need:
  lsh    the unit-length rotary keys and the values of every position (flat buffers), the hash
         rotations (drawn ONCE here and reused for every later token, so new tokens and cached
         keys are hashed alike), and per (head, round, bucket) a ring buffer holding the positions
         of the `2 * chunk_length` most recent keys of that bucket;
  local  the keys/values of the last 2 * chunk_length positions (a ring indexed by position);
  full   all keys/values (exact attention costs O(context) per token whatever we do).

A decode step runs each reversible block's equations for the new position t only,
    y1 = x1 + Attention(LayerNorm(x2)),   y2 = x2 + FeedForward(y1)   (eval: no dropout),
then final_norm((y1 + y2) / 2) and the head. Attention of the new token, per layer type:
  local  exactly the window the full forward gives position t: its own chunk and the previous
         one (keys at positions >= (t // c - 1) * c), soft self-mask;
  full   every earlier key (exact);
  lsh    per round: the new token is hashed with the cached rotations and attends to the keys of
         its bucket in that round, at most BUDGET = 2 * chunk_length of them (the most recent),
         plus itself under the soft self-mask; rounds are combined with weights softmax_r(lse_r)
         (with the optional duplicate correction -log(number of rounds in which a key is
         attended)). 2c is the most keys one round can show a query in the full forward (its
         chunk plus the previous one). While the sequence still fits in one chunk (t < c) the
         forward attends to every earlier key, so the step does the same: it then matches the
         forward exactly. Beyond that the step is the bucket-restricted pattern, an
         approximation of the forward's sorted-chunk neighbours (which also include keys of
         adjacent buckets).
Per-token attention cost: O(r * 2c * d) for LSH, O(2c * d) for local, independent of the context.
The number of buckets is fixed at prefill from the final length (prompt + new tokens).
"""

from __future__ import annotations

import copy

import torch
import torch.nn.functional as F

from reformer_cli.core.chunked_ops import HARD_MASK, SELF_MASK
from reformer_cli.core.lsh_attention import bucket_factors, draw_rotations, hash_vectors
from reformer_cli.errors import ConfigError, InputError


def lsh_budget(chunk_length: int) -> int:
    """Most recent same-bucket keys a new token attends to per round (see the module doc)."""
    return 2 * chunk_length


class FullCache:
    """All rotary keys and values, (B, H, capacity, d); exact attention over positions <= t."""

    def __init__(self, attention, normed: torch.Tensor, capacity: int):
        self.attention = attention
        batch, length, _ = normed.shape
        q, k, v = attention.project(normed)  # each (B, H, L, d), rotary applied
        shape = (batch, attention.n_heads, capacity, attention.d_head)
        self.keys = k.new_zeros(shape)
        self.values = v.new_zeros(shape)
        self.keys[:, :, :length] = k
        self.values[:, :, :length] = v

    def step(self, hidden: torch.Tensor, position: int) -> torch.Tensor:
        """hidden (B, 1, D) normed input of position `position` -> attention output (B, 1, D)."""
        attention = self.attention
        q = attention.rotary(attention.split_heads(attention.query(hidden)), offset=position)
        k = attention.rotary(attention.split_heads(attention.key(hidden)), offset=position)
        self.keys[:, :, position] = k[:, :, 0]
        self.values[:, :, position] = attention.split_heads(attention.value(hidden))[:, :, 0]
        end = position + 1
        out = F.scaled_dot_product_attention(q, self.keys[:, :, :end], self.values[:, :, :end])
        return attention.output(attention.merge_heads(out))  # (B, 1, D)


class LocalCache:
    """Keys/values of the last 2c positions in a ring (slot = position % 2c)."""

    def __init__(self, attention, normed: torch.Tensor, capacity: int):
        self.attention = attention
        self.chunk = attention.config.chunk_length
        ring = 2 * self.chunk
        batch, length, _ = normed.shape
        start = max(0, length - ring)
        tail = normed[:, start:]
        q = attention.rotary(attention.split_heads(attention.query_key(tail)), offset=start)
        k = attention.unit_keys(q)  # (B, H, n, d)
        v = attention.split_heads(attention.value(tail))
        shape = (batch, attention.n_heads, ring, attention.d_head)
        self.keys, self.values = k.new_zeros(shape), v.new_zeros(shape)
        self.positions = torch.full((ring,), -1, dtype=torch.long, device=normed.device)
        slots = torch.arange(start, length, device=normed.device) % ring
        self.keys[:, :, slots], self.values[:, :, slots] = k, v
        self.positions[slots] = torch.arange(start, length, device=normed.device)

    def step(self, hidden: torch.Tensor, position: int) -> torch.Tensor:
        attention = self.attention
        qk = attention.split_heads(attention.query_key(hidden))  # (B, H, 1, d)
        q = attention.rotary(qk, offset=position)
        slot = position % (2 * self.chunk)
        self.keys[:, :, slot] = attention.unit_keys(q)[:, :, 0]
        self.values[:, :, slot] = attention.split_heads(attention.value(hidden))[:, :, 0]
        self.positions[slot] = position
        window_start = max(0, (position // self.chunk - 1) * self.chunk)
        bias = torch.where((self.positions < window_start), HARD_MASK, 0.0)  # empty slots are -1
        bias = torch.where(self.positions == position, SELF_MASK, bias)  # (2c,)
        scores = torch.einsum("bhqd,bhkd->bhqk", q.float(), self.keys.float())
        probs = torch.softmax(scores * attention.scale + bias, dim=-1)  # (B, H, 1, 2c)
        out = torch.matmul(probs.to(self.values.dtype), self.values)  # (B, H, 1, d)
        return attention.output(attention.merge_heads(out))


class LSHCache:
    """Flat key/value buffers, fixed rotations, and per (head, round, bucket) position rings."""

    def __init__(self, attention, normed: torch.Tensor, capacity: int):
        self.attention = attention
        config = attention.config
        self.chunk = config.chunk_length
        self.budget = lsh_budget(self.chunk)
        self.n_hashes = attention.n_hashes
        self.duplicate_correction = config.duplicate_correction
        batch, length, _ = normed.shape
        heads, d = attention.n_heads, attention.d_head
        device = normed.device

        # Buckets sized for the final length, as the forward would at that length.
        self.n_buckets = attention.bucket_count(config.padded_length(capacity))
        self.factors = bucket_factors(self.n_buckets)
        self.rotations = draw_rotations(heads, d, self.n_hashes, self.factors, device,
                                        attention.rotation_seed())  # (H, d, r, sum(f)/2)

        qk = attention.split_heads(attention.query_key(normed))  # (B, H, L, d)
        keys = attention.unit_keys(attention.rotary(qk))
        values = attention.split_heads(attention.value(normed))
        shape = (batch, heads, capacity, d)
        self.keys, self.values = keys.new_zeros(shape), values.new_zeros(shape)
        self.keys[:, :, :length], self.values[:, :, :length] = keys, values
        buckets = hash_vectors(qk, self.rotations, self.factors)  # (B, H, r, L)
        self.rings, self.counts = self._build_rings(buckets)

    def _build_rings(self, buckets: torch.Tensor):
        """Rings (B, H, r, b, budget) of positions (-1 = empty) holding each bucket's most recent
        `budget` positions at slot rank % budget (rank = order within the bucket), so later
        writes at slot count % budget overwrite the oldest; counts (B, H, r, b)."""
        batch, heads, rounds, length = buckets.shape
        device = buckets.device
        rows = batch * heads * rounds
        flat = buckets.reshape(rows, length)
        positions = torch.arange(length, device=device)
        order = (flat * length + positions).argsort(dim=-1)  # grouped by bucket, then position
        sorted_buckets = flat.gather(1, order)
        counts = torch.zeros(rows, self.n_buckets, dtype=torch.long, device=device)
        counts.scatter_add_(1, flat, torch.ones_like(flat))
        starts = counts.cumsum(dim=1) - counts  # first sorted index of every bucket
        rank = positions - starts.gather(1, sorted_buckets)  # (rows, L) rank inside the bucket
        keep = rank >= counts.gather(1, sorted_buckets) - self.budget
        rings = torch.full((rows, self.n_buckets, self.budget), -1, dtype=torch.long,
                           device=device)
        row_index = torch.arange(rows, device=device)[:, None].expand(rows, length)
        rings[row_index[keep], sorted_buckets[keep], (rank % self.budget)[keep]] = order[keep]
        shape = (batch, heads, rounds, self.n_buckets)
        return rings.view(*shape, self.budget), counts.view(shape)

    def candidates(self, buckets: torch.Tensor, position: int) -> torch.Tensor:
        """Key positions (B, H, r, n) the new token attends to per round besides itself
        (-1 = empty slot): its bucket's ring, or every earlier position while t < chunk."""
        batch, heads, rounds = buckets.shape
        if position < self.chunk:
            earlier = torch.arange(position, device=buckets.device)
            return earlier.expand(batch, heads, rounds, position)
        index = buckets[..., None, None].expand(batch, heads, rounds, 1, self.budget)
        return self.rings.gather(3, index)[:, :, :, 0]  # (B, H, r, budget)

    def step(self, hidden: torch.Tensor, position: int) -> torch.Tensor:
        attention = self.attention
        batch = hidden.shape[0]
        heads, d = attention.n_heads, attention.d_head
        qk = attention.split_heads(attention.query_key(hidden))  # (B, H, 1, d)
        buckets = hash_vectors(qk, self.rotations, self.factors)[..., 0]  # (B, H, r)
        q = attention.rotary(qk, offset=position)
        key = attention.unit_keys(q)[:, :, 0]  # (B, H, d)
        value = attention.split_heads(attention.value(hidden))[:, :, 0]
        self.keys[:, :, position], self.values[:, :, position] = key, value

        cand = self.candidates(buckets, position)  # (B, H, r, n)
        n = cand.shape[-1]
        flat_index = cand.clamp_min(0).reshape(batch * heads, -1)  # (B*H, r*n)
        base = torch.arange(batch * heads, device=hidden.device)[:, None] * self.keys.shape[2]
        flat_index = (flat_index + base).reshape(-1)
        cand_keys = self.keys.reshape(-1, d).index_select(0, flat_index)
        cand_values = self.values.reshape(-1, d).index_select(0, flat_index)
        cand_keys = cand_keys.view(batch, heads, self.n_hashes, n, d)
        cand_values = cand_values.view(batch, heads, self.n_hashes, n, d)

        query = q[:, :, 0].float()  # (B, H, d)
        scores = torch.einsum("bhd,bhrnd->bhrn", query, cand_keys.float()) * attention.scale
        scores = scores + torch.where(cand < 0, HARD_MASK, 0.0)
        self_score = (query * key.float()).sum(-1) * attention.scale + SELF_MASK  # (B, H)
        scores = torch.cat([scores, self_score[:, :, None, None].expand(-1, -1, self.n_hashes, 1)],
                           dim=-1)  # (B, H, r, n + 1): the last column is the token itself
        if self.duplicate_correction and self.n_hashes > 1:
            scores = scores - torch.log(self._rounds_met(cand).float())
        lse = torch.logsumexp(scores, dim=-1)  # (B, H, r)
        probs = torch.exp(scores - lse[..., None])
        out = torch.einsum("bhrn,bhrnd->bhrd", probs[..., :n], cand_values.float())
        out = out + probs[..., n:] * value.float()[:, :, None]  # (B, H, r, d)
        weights = torch.softmax(lse, dim=-1)  # softmax over rounds
        out = (out * weights[..., None]).sum(dim=2).to(value.dtype)  # (B, H, d)

        self._append(buckets, position)
        return attention.output(out.reshape(batch, 1, heads * d))

    def _rounds_met(self, cand: torch.Tensor) -> torch.Tensor:
        """(B, H, r, n + 1): in how many rounds each candidate (and, last, the token itself) is
        attended. O(r^2 n^2) compares, independent of the context length."""
        same = cand[:, :, :, :, None, None] == cand[:, :, None, None, :, :]  # (B,H,r,n,r,n)
        met = (same & (cand >= 0)[:, :, :, :, None, None]).any(dim=-1).sum(dim=-1)
        itself = torch.full_like(met[..., :1], self.n_hashes)
        return torch.cat([met.clamp_min(1), itself], dim=-1)

    def _append(self, buckets: torch.Tensor, position: int) -> None:
        """Write `position` into its bucket's ring of every (batch, head, round)."""
        counts = self.counts.view(-1, self.n_buckets)
        rows = torch.arange(counts.shape[0], device=buckets.device)
        bucket = buckets.reshape(-1)
        slot = counts[rows, bucket] % self.budget
        self.rings.view(-1, self.n_buckets, self.budget)[rows, bucket, slot] = position
        counts[rows, bucket] += 1


CACHE_TYPES = {"lsh": LSHCache, "local": LocalCache, "full": FullCache, "naive": FullCache}


class DecodeState:
    """Per-layer caches of one prompt (batch B); `step` appends one position at a time."""

    def __init__(self, model, caches: list, length: int, capacity: int):
        self.model = model
        self.caches = caches
        self.length = length  # positions already in the caches
        self.capacity = capacity  # most positions the caches can hold

    def clone(self) -> "DecodeState":
        """An independent copy (the model is shared), e.g. one per sample."""
        caches = []
        for cache in self.caches:
            duplicate = copy.copy(cache)
            for name, value in vars(cache).items():
                if isinstance(value, torch.Tensor) and name != "rotations":
                    setattr(duplicate, name, value.clone())
            caches.append(duplicate)
        return DecodeState(self.model, caches, self.length, self.capacity)

    @torch.no_grad()
    def step(self, token_ids: torch.Tensor) -> torch.Tensor:
        """token_ids (B,) at position `length` -> next-token logits (B, vocab); appends it."""
        if self.length >= self.capacity:
            raise InputError(f"the decoding cache is full ({self.capacity} positions)",
                             "prefill with a larger capacity")
        model, position = self.model, self.length
        x1 = x2 = model.embedding(token_ids.view(-1, 1))  # (B, 1, D)
        for block, cache in zip(model.stack.blocks, self.caches):
            x1 = x1 + cache.step(block.attention_norm(x2), position)
            x2 = x2 + block.feedforward.forward_chunk(x1)
        self.length += 1
        hidden = model.final_norm((x1 + x2) * 0.5)[:, 0]  # (B, D)
        return F.linear(hidden, model.head_weight)


@torch.no_grad()
def prefill(model, ids: torch.Tensor, capacity: int) -> tuple[DecodeState, torch.Tensor]:
    """Run the prompt ids (B, L) once through the model's ordinary forward, block by block,
    building every layer's cache. Returns the state and the logits of the last position
    (B, vocab). `capacity` (>= L, <= max_seq_len) is the longest sequence the state will hold."""
    config = model.config
    if model.training:
        raise ConfigError("cached decoding needs the model in evaluation mode",
                          "call model.eval() first")
    if not config.causal:
        raise ConfigError("cached decoding needs a causal model (model.causal=false)",
                          "use a model trained with model.causal=true")
    batch, length = ids.shape
    if length < 1 or not length <= capacity <= config.max_seq_len:
        raise InputError(f"prefill of {length} tokens with capacity {capacity} does not fit "
                         f"1 <= length <= capacity <= model.max_seq_len={config.max_seq_len}")
    model._check_inputs(ids, None)
    x1 = x2 = model.embedding(ids)  # (B, L, D)
    caches = []
    for index, block in enumerate(model.stack.blocks):
        # The rotary tables are cached for the longest length seen; build them for the whole
        # capacity now, or every step (one position longer) would rebuild an O(L) table.
        block.attention.rotary.rotations(capacity, 0, ids.device)
        normed = block.attention_norm(x2)
        caches.append(CACHE_TYPES[config.layer_type(index)](block.attention, normed, capacity))
        x1 = x1 + block.attention(normed)[0]  # the ordinary O(L log L) forward of the layer
        x2 = x2 + block.feedforward(x1)
    hidden = model.final_norm((x1[:, -1] + x2[:, -1]) * 0.5)  # (B, D): only the last position
    return DecodeState(model, caches, length, capacity), F.linear(hidden, model.head_weight)

