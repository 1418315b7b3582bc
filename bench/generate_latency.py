"""Per-token generation latency after long contexts: cached decoding against full recompute.

For each context length (default 1K, 16K and 65,536 tokens) the default ModelConfig (random
weights; the cost does not depend on them) is prefilled once, then 256 new tokens are generated
greedily through the real generation loop (reformer_cli.generation.generator.Generator, cached decode
steps). "Recompute" is what a model without a cache does: one full forward over context + the
tokens so far for every new token. It is slow, so only a few tokens are measured per context and
the 256-token figure is EXTRAPOLATED from their mean (marked "~" in the table).

Targets (issue 4): cached latency at 65,536 within 1.5x of 1K; at 16K at least 20x faster than
recompute.

    .venv/bin/python bench/generate_latency.py [--contexts 1024 16384 65536] [--new-tokens 256]
        [--recompute-tokens 2] [--threads N]
"""

from __future__ import annotations

import argparse
import statistics
import time

import torch

from reformer_cli.config.model import ModelConfig
from reformer_cli.core.model import ReformerLM
from reformer_cli.generation.generator import GenerationConfig, Generator
from reformer_cli.generation.sampling import SamplingConfig


def context_ids(length: int) -> list[int]:
    """Real English bytes (Python's built-in docs), repeated if needed; vocab 256."""
    from pydoc_data.topics import topics

    data = "\n".join(topics.values()).encode("utf-8")
    while len(data) < length:
        data += data
    return list(data[:length])


def cached_latencies(model, prompt: list[int], new_tokens: int) -> tuple[float, list[float]]:
    """(prefill seconds, seconds per generated token)."""
    config = GenerationConfig(new_tokens, SamplingConfig(temperature=0.0), stop_at_eos=False)
    started = time.perf_counter()
    generation = Generator(model, prompt, config)
    prefill_s = time.perf_counter() - started
    latencies, last = [], time.perf_counter()
    for _ in generation.sample(last=True):
        now = time.perf_counter()
        latencies.append(now - last)
        last = now
    return prefill_s, latencies


@torch.no_grad()
def recompute_latencies(model, prompt: list[int], tokens: int) -> list[float]:
    """Seconds per token when every token needs a full forward over everything so far."""
    ids = torch.tensor([prompt])
    latencies = []
    for _ in range(tokens):
        started = time.perf_counter()
        next_id = model(ids)[:, -1].argmax(-1, keepdim=True)  # the whole (1, L, vocab) forward
        ids = torch.cat([ids, next_id], dim=1)
        latencies.append(time.perf_counter() - started)
    return latencies


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--contexts", type=int, nargs="+", default=[1024, 16384, 65536])
    parser.add_argument("--new-tokens", type=int, default=256)
    parser.add_argument("--recompute-tokens", type=int, default=2)
    parser.add_argument("--threads", type=int, default=None, help="torch threads (prefill, "
                        "recompute); decode steps always use one")
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    config = ModelConfig(hash_seed=0)
    model = ReformerLM(config).eval()
    print(f"default ModelConfig: d_model={config.d_model} heads={config.n_heads} "
          f"layers={config.n_layers} {config.layer_types} chunk={config.chunk_length} "
          f"n_hashes={config.n_hashes}; {model.num_parameters():,} parameters; "
          f"{torch.get_num_threads()} torch threads; {args.new_tokens} new tokens")

    rows = []
    for length in args.contexts:
        prompt = context_ids(length)
        prefill_s, cached = cached_latencies(model, prompt, args.new_tokens)
        steps = cached[1:]  # the first token comes from the prefill logits (sampling only)
        recompute = recompute_latencies(model, prompt, args.recompute_tokens)
        rows.append(dict(context=length, prefill=prefill_s, mean=statistics.mean(steps),
                         median=statistics.median(steps), p95=sorted(steps)[int(0.95 * len(steps))],
                         total=sum(cached), recompute=statistics.mean(recompute)))
        print(f"  context {length:,}: done", flush=True)

    base = rows[0]["median"]
    header = (f"{'context':>8} | {'prefill s':>9} | {'cached ms/tok (median / mean / p95)':>36} | "
              f"{'tok/s':>7} | {'vs first':>8} | {'recompute ms/tok':>16} | "
              f"{'recompute 256 tok':>17} | {'speed-up':>8}")
    print(header)
    print("-" * len(header))
    for row in rows:
        per_token = f"{row['median'] * 1e3:.2f} / {row['mean'] * 1e3:.2f} / {row['p95'] * 1e3:.2f}"
        print(f"{row['context']:>8,} | {row['prefill']:>9.2f} | {per_token:>36} | "
              f"{args.new_tokens / row['total']:>7.1f} | {row['median'] / base:>7.2f}x | "
              f"{row['recompute'] * 1e3:>16.1f} | "
              f"{'~' + format(row['recompute'] * args.new_tokens, '.0f') + ' s':>17} | "
              f"{row['recompute'] / row['mean']:>7.0f}x")
    print(f"recompute: mean of {args.recompute_tokens} measured tokens per context; the 256-token "
          "column is extrapolated (~). speed-up = recompute ms/tok / cached mean ms/tok.")


if __name__ == "__main__":
    main()
