"""A small LSH model learns, on the CPU, to fetch a token more than 1,000 positions back.

Task (needle retrieval): a sequence of filler tokens holds one key token (one of 8) somewhere in
its first 48 positions; the last position is a query marker, and the target there is the key.
Nothing but attention at distance >= 1,039 can answer, so chance is 1/8 (loss ln 8 = 2.08).
The model is one reversible LSH layer, so the query must learn to hash into the key's bucket.
"""

import math

import pytest
import torch

from reformer_cli.config.model import ModelConfig
from reformer_cli.core.model import ReformerLM

N_FILLERS, N_KEYS = 2, 8
FIRST_KEY = N_FILLERS
QUERY = N_FILLERS + N_KEYS
LENGTH = 1088  # 17 chunks of 64
KEY_WINDOW = 48  # the key sits in positions 0..47: at least 1,039 positions before the query


def make_batch(generator: torch.Generator, batch: int):
    ids = torch.randint(0, N_FILLERS, (batch, LENGTH), generator=generator)
    keys = torch.randint(0, N_KEYS, (batch,), generator=generator) + FIRST_KEY
    positions = torch.randint(0, KEY_WINDOW, (batch,), generator=generator)
    ids[torch.arange(batch), positions] = keys
    ids[:, -1] = QUERY
    targets = torch.full((batch, LENGTH), -100)
    targets[:, -1] = keys  # only the query position is scored
    return ids, targets


# About 200 x 0.3 s on two idle cores (~70 s); it is the one learning test in the suite.
@pytest.mark.slow
def test_lsh_model_retrieves_a_token_a_thousand_positions_back():
    torch.manual_seed(0)
    config = ModelConfig(vocab_size=QUERY + 1, d_model=64, n_heads=2, d_ff=128, n_layers=1,
                         layer_types=["lsh"], chunk_length=64, n_hashes=4, n_buckets=8,
                         dropout=0.0, reversible=True, max_seq_len=LENGTH)
    model = ReformerLM(config)
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-2)
    generator = torch.Generator().manual_seed(1)
    for _ in range(200):
        ids, targets = make_batch(generator, 16)
        loss = model(ids, targets)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()

    model.eval()
    ids, targets = make_batch(torch.Generator().manual_seed(99), 64)
    with torch.no_grad():
        model.set_n_hashes(8)  # more rounds at evaluation
        eval_loss = model(ids, targets).item()
        predicted = model(ids)[:, -1].argmax(dim=-1)
    accuracy = (predicted == targets[:, -1]).float().mean().item()
    assert eval_loss < 0.5 * math.log(N_KEYS), eval_loss
    assert accuracy > 0.5, accuracy  # chance is 0.125
