"""Analytic memory (and rough time) model of one training step or forward pass of ReformerLM.

Built by reading the model code and listing, per sub-layer, the tensors autograd saves for the
backward pass and the largest short-lived tensors each step allocates. Nothing here is fitted to
measurements: the coefficients are tensor counts (e.g. "LSH keeps its queries and values, one
hidden state each, and its output in sorted order: r copies of the hidden state"). The report
checks the model against the measured peak wherever a row could be measured and prints the error.

Notation (all sizes in bytes unless said otherwise):
    N = batch * L positions; A = N * d_model * e, one hidden-state tensor; F = N * d_ff * e;
    e = bytes per element of the dtype; X = rounds * A, one tensor over an LSH layer's sorted
    stream (X = A for local attention); S_naive = batch * heads * L^2 * 4, one fp32 score matrix.

Peak of a training step = parameters + gradients + AdamW state (exp_avg, exp_avg_sq) + rotary
cos/sin tables + inputs + the largest of these phases:
  non-reversible: everything every layer saved (LayerNorm outputs, y1, y2, the FF hidden and
      GELU output, attention's own tensors) is alive at the end of the forward pass, plus the
      largest transient: the head's logits, or the last layer's backward temporaries;
  reversible: only the last (y1, y2) are saved; the peak is one layer recomputed with grad inside
      the backward pass, plus the streams and their gradients held by the backward loop.
The chunked attention walks its scores in fixed-size blocks, so LSH/local attention costs a few
X per layer and never L * 2c; naive attention costs S_naive per layer (+2 S_naive in its
backward). Gradients are counted whole (they appear during the backward: a small, conservative
simplification). Calibrated for fp32; bf16/fp16 halve e but the scores stay fp32.
"""

from __future__ import annotations

from dataclasses import dataclass

from reformer_cli.config.model import ModelConfig

BYTES = {"fp32": 4, "bf16": 2, "fp16": 2}
SCORE_BYTES = 4  # every attention variant computes its logits and softmax in fp32
INDEX_BYTES = 8  # int64 positions, buckets, permutations


@dataclass(frozen=True)
class Shapes:
    """The sizes the model needs, from a config, a length, a batch size and a dtype."""

    batch: int
    length: int  # padded to the chunk length for local/LSH layers (see `padded`)
    d_model: int
    d_ff: int
    heads: int
    d_head: int
    vocab: int
    rounds: int
    chunk: int
    element: int  # bytes per element

    @property
    def positions(self) -> int:
        return self.batch * self.length

    @property
    def hidden(self) -> float:  # A
        return self.positions * self.d_model * self.element

    def ff_hidden(self, positions: int) -> float:  # F for `positions` positions
        return positions * self.d_ff * self.element

    @property
    def naive_scores(self) -> float:
        return self.batch * self.heads * self.length ** 2 * SCORE_BYTES

    def index(self, rounds: int) -> float:  # one int64 tensor over the sorted stream
        return self.batch * self.heads * rounds * self.length * INDEX_BYTES

    @property
    def per_position_stat(self) -> float:  # e.g. LayerNorm mean or a log-sum-exp, fp32
        return self.positions * 4


def shapes_for(config: ModelConfig, seq_len: int, batch: int, dtype: str) -> Shapes:
    chunk = config.chunk_length
    uses_chunks = any(config.layer_type(i) in ("lsh", "local") for i in range(config.n_layers))
    length = config.padded_length(seq_len) if uses_chunks else seq_len
    return Shapes(batch=batch, length=length, d_model=config.d_model, d_ff=config.d_ff,
                  heads=config.n_heads, d_head=config.d_head, vocab=config.vocab_size,
                  rounds=config.n_hashes, chunk=chunk, element=BYTES[dtype])


def parameter_count(config: ModelConfig) -> int:
    """Exactly the parameters ReformerLM creates (checked against model.num_parameters())."""
    d, f = config.d_model, config.d_ff
    total = config.vocab_size * d + 2 * d  # embedding + final LayerNorm
    if not config.tie_embeddings:
        total += config.vocab_size * d
    for index in range(config.n_layers):
        projections = 4 if config.layer_type(index) in ("full", "naive") else 3  # shared QK: 3
        total += projections * d * d + 2 * d  # attention + its pre-LayerNorm
        total += d * f + f + f * d + d + 2 * d  # feed-forward + its pre-LayerNorm
    return total


# ---------------------------------------------------------------- attention, per layer
#
# X = rounds * A: one tensor over the sorted stream of an LSH layer (rounds = 1 for local).
# The chunked shared-QK attention (chunked_ops.py) saves its queries, its values and its output
# (3X for local; LSH reads q and v unsorted through its sort index and sums every round into
# the token's row, so 3A) plus per-position statistics, builds the keys block by block, and
# walks the scores in fixed-size blocks, so no tensor of size L * 2c is ever held: scores do
# not appear below.

def _stream(kind: str, s: Shapes) -> float:
    return (s.rounds if kind == "lsh" else 1) * s.hidden


def attention_saved(kind: str, s: Shapes) -> float:
    """Bytes one attention layer keeps for its backward (beyond its LayerNorm input/output)."""
    a, x = s.hidden, _stream(kind, s)
    if kind == "naive":
        # q, k (after rotary), v, the softmax probabilities, the bool causal mask, merged output
        return 4 * a + s.naive_scores + s.length ** 2
    if kind == "full":
        # SDPA saves q, k, v and its output (already in merged-head order) + log-sum-exp
        return 4 * a + s.per_position_stat * s.heads
    if kind == "local":
        # chunked attention: q, values, output (3X); the merged output (A); float32 positions
        # (three per position and head), key scales, log-sum-exps and softmax denominators
        return 3 * x + a + 6 * s.per_position_stat * s.heads
    if kind == "lsh":
        # chunked attention keeps the unsorted q and v (2A) and its output, already merged over
        # the rounds in token order (A); int64 stream tensors (gather index, order, original
        # positions, buckets) and float32 positions and per-row statistics
        return 3 * a + 4 * s.index(s.rounds) + 7 * s.per_position_stat * s.heads * s.rounds
    raise ValueError(kind)


def attention_forward_extra(kind: str, s: Shapes) -> float:
    """Short-lived bytes on top of the saved ones at the peak inside the layer's forward."""
    a = s.hidden
    if kind == "naive":
        return s.naive_scores + 2 * a  # the masked scores next to the probabilities
    if kind == "full":
        return a  # SDPA's temporaries
    # the projections held as locals (q/k rotated in place, v) and the output being built (3A);
    # for LSH also int64 stream indices
    if kind == "local":
        return 3 * a
    return 3 * a + 2 * s.index(s.rounds)


def attention_backward_extra(kind: str, s: Shapes) -> float:
    """Short-lived bytes on top of the saved ones at the peak inside the layer's backward."""
    a = s.hidden
    if kind == "naive":
        return 2 * s.naive_scores  # grads of the probabilities and of the scores
    if kind == "full":
        return 3 * a  # grads of q, k, v
    if kind == "lsh":  # grads of the merged output, of q and v, of the rotation's input (4A)
        return 4 * a
    # grads of q and of the padded keys and values (3X), the output grad pieces (2A)
    return 3 * _stream(kind, s) + 2 * a


def attention_nograd_peak(kind: str, s: Shapes) -> float:
    """Bytes alive inside one attention layer run without autograd (reversible forward, eval)."""
    a = s.hidden
    if kind == "naive":
        return 2 * s.naive_scores + 2 * s.length ** 2 + 4 * a
    if kind == "full":
        return 5 * a
    # projections (3A), the stream's q and v and the output (3X); LSH rotates its q/k projection
    # in place, reads q and v through its sort index and sums the rounds into the merged output
    # (A) next to its int64 stream tensors, then projects it (A): 4A
    if kind == "local":
        return 3 * a + 3 * _stream(kind, s)
    return 4 * a + 6 * s.index(s.rounds)


# ---------------------------------------------------------------- the whole step

@dataclass
class Estimate:
    peak_bytes: float
    parameter_bytes: float
    state_bytes: float  # gradients + optimizer state
    activation_bytes: float  # peak minus parameters, gradients and optimizer state
    phase: str  # which phase sets the peak (for the report's notes)


def estimate_peak(config: ModelConfig, seq_len: int, batch: int = 1, mode: str = "train",
                  dtype: str = "fp32") -> Estimate:
    s = shapes_for(config, seq_len, batch, dtype)
    a = s.hidden
    kinds = sorted({config.layer_type(i) for i in range(config.n_layers)})
    parameter_bytes = parameter_count(config) * s.element
    rotary_tables = max(s.length, 1024) * s.d_head * 4  # one shared complex64 table
    inputs = 2 * s.positions * INDEX_BYTES  # ids and targets
    ff_chunk = min(config.ff_chunk_size or s.length, s.length) * s.batch
    loss_chunk = min(config.loss_chunk_size or s.positions, s.positions)
    # Head: logits and the log-sum-exp temporary (fp32), a (chunk, d) and a (vocab, d) matmul out.
    head_extra = 2 * loss_chunk * s.vocab * 4 + loss_chunk * s.d_model * 4 + s.vocab * s.d_model * 4

    if mode == "forward":
        streams = 4 * a  # x1, x2 and the block's y1, y2 (no autograd: nothing else survives)
        layer = max(max(attention_nograd_peak(k, s) for k in kinds) + a,  # + LayerNorm out
                    a + 2 * s.ff_hidden(ff_chunk))  # LayerNorm out + FF hidden and GELU out
        head = 3 * a + head_extra  # final-norm input, hidden states, logits
        phases = {"layer": streams + layer, "head": head}
        state = 0.0
    else:
        state = 3 * parameter_bytes  # gradients + AdamW exp_avg, exp_avg_sq
        stats = 2 * 2 * s.per_position_stat  # two LayerNorms: mean and rstd
        if not config.reversible:
            # every layer: LayerNorm outputs (2A), y1, y2, FF hidden + GELU out (2F, chunked or
            # not: each chunk's own tensors are saved), attention's own saved tensors
            saved = a + sum(4 * a + stats + 2 * s.ff_hidden(s.positions)
                            + attention_saved(config.layer_type(i), s)
                            for i in range(config.n_layers))
            phases = {
                "forward": saved + max(attention_forward_extra(k, s) for k in kinds),
                "head": saved + 3 * a + head_extra,
                "backward": saved + 2 * a + max(
                    max(attention_backward_extra(k, s) for k in kinds),
                    s.ff_hidden(s.positions) + 2 * a),
            }
        else:
            buckets = sum(s.index(s.rounds) for i in range(config.n_layers)
                          if config.layer_type(i) == "lsh")
            kept = 2 * a + buckets  # the last (y1, y2), saved by the reversible function
            ff_grad = a + 3 * s.ff_hidden(ff_chunk) + 2 * s.d_model * ff_chunk * s.element
            phases = {
                # streams x1, x2, y1 live, one layer without grad
                "forward": kept + 3 * a + max(max(attention_nograd_peak(k, s) for k in kinds) + a,
                                              a + 2 * s.ff_hidden(ff_chunk)),
                "head": kept + 3 * a + head_extra,
                # inside the stack backward: the block's (y1, y2) and their gradients held by
                # the loop, the rebuilt x2 and the new dL/dy1 (6A); then one attention layer
                # recomputed with grad: LayerNorm out, its saved tensors, its output (A), and
                # its backward's temporaries
                "backward": kept + 6 * a + max(
                    max(2 * a + stats + attention_saved(k, s) + attention_backward_extra(k, s)
                        for k in kinds),
                    ff_grad),
            }
    phase = max(phases, key=phases.get)
    peak = parameter_bytes + state + rotary_tables + inputs + phases[phase]
    return Estimate(peak_bytes=peak, parameter_bytes=parameter_bytes, state_bytes=state,
                    activation_bytes=peak - parameter_bytes - state, phase=phase)


# ---------------------------------------------------------------- time (for skipping rows)

def step_flops(config: ModelConfig, seq_len: int, batch: int = 1, mode: str = "train") -> float:
    """Floating-point operations of one step: 2 per multiply-add; the backward costs twice the
    forward, reversible layers add one forward, chunked attention recomputes its scores."""
    s = shapes_for(config, seq_len, batch, "fp32")
    n, d, f = s.positions, s.d_model, s.d_ff
    forward = 2 * n * d * s.vocab  # head
    attention_cores = 0.0
    for index in range(config.n_layers):
        kind = config.layer_type(index)
        forward += 2 * n * d * d * (4 if kind in ("full", "naive") else 3) + 4 * n * d * f
        if kind == "naive":
            core = 4 * s.batch * s.heads * s.length ** 2 * s.d_head
        elif kind == "full":  # SDPA skips the blocks above the causal diagonal
            core = 4 * s.batch * s.heads * s.length ** 2 * s.d_head * (0.5 if config.causal else 1)
        else:
            rounds = s.rounds if kind == "lsh" else 1
            core = 4 * s.batch * s.heads * rounds * s.length * 2 * s.chunk * s.d_head
        forward += core
        attention_cores += core if kind in ("local", "lsh") else 0.0
    if mode == "forward":
        return forward
    return 3 * forward + attention_cores + (forward if config.reversible else 0.0)
