"""Learned extractive summaries: a model trained with `reformer train pairs.jsonl --task extract`
reads the document and gives every candidate sentence a probability of belonging in the summary.
That probability, relative to the document's mean, scales the model-free score (raised to
ScoringConfig.model_exponent, chosen on the dev sets): the model adds what it learned from the
pairs to the lead prior and centrality it cannot see across windows (and, for the shipped
scorer, to the keyword density and phrase prior it was measured with). The model-free
method's selection then fills the budget (redundancy and coverage penalties, whole sentences,
document order).

The document is laid out as in training (data/extraction.py): sentences with a <sep> after each
candidate, in windows of the trained length cut between sentences and padded with </s>. A
sentence's probability is that of "keep" against "skip" at its marker. The LSH rotations come
from a fixed seed, so the same document always gives the same summary.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np
import torch

from reformer_cli.core.rng import seeded
from reformer_cli.data.extraction import label_ids, marked_windows
from reformer_cli.shipped_models import is_shipped
from reformer_cli.summarize.extractive import read_sentences, select_sentences, sentence_scores
from reformer_cli.summarize.scoring import ScoringConfig
from reformer_cli.summarize.summary import NOT_A_SCORER, Progress, SummarizeOptions, Summary
from reformer_cli.summarize.trained_models import load_trained
from reformer_cli.text.markup import readable_text
from reformer_cli.text.words import count_words

SCORE_HASH_SEED = 0  # LSH rotations while scoring (for a model without its own hash_seed)
WINDOWS_PER_BATCH = 8  # windows read in one forward pass


def load_scorer(model_dir, device="cpu"):
    """The checkpoint's LoadedModel on `device`, after checking it was trained with --task
    extract."""
    return load_trained(model_dir, device, "extract", NOT_A_SCORER)[0]


@torch.no_grad()
def score_sentences(model, tokenizer, sentences, candidates: list[int], context: int,
                    progress: Progress | None = None) -> np.ndarray:
    """(len(candidates),) probability that each candidate belongs in the summary. `progress`
    hears (windows read, windows in all) after each batch: a long book takes a minute."""
    keep, skip = label_ids(tokenizer)
    weight = model.head_weight
    direction = weight[keep] - weight[skip]  # (d_model,): logit(keep) - logit(skip)
    device = weight.device
    by_sentence: dict[int, float] = {}
    windows = marked_windows(sentences, candidates, tokenizer, context)
    with seeded(SCORE_HASH_SEED, device):
        for first in range(0, len(windows), WINDOWS_PER_BATCH):
            batch = windows[first:first + WINDOWS_PER_BATCH]
            # Padded with </s> to the trained length, as the training examples are.
            ids = torch.full((len(batch), context), tokenizer.eos_id, dtype=torch.long)  # (B, L)
            for row, window in enumerate(batch):
                ids[row, :len(window.ids)] = torch.tensor(window.ids)
            hidden = model.hidden_states(ids.to(device))  # (B, L, d_model)
            for row, window in enumerate(batch):
                margins = hidden[row, window.markers].float() @ direction.float()  # (n_markers,)
                by_sentence.update(zip(window.marked, margins.cpu().tolist()))
            if progress is not None:
                progress(first + len(batch), len(windows))
    margins = np.array([by_sentence[index] for index in candidates], dtype=np.float64)
    return 1.0 / (1.0 + np.exp(-margins))


def summarize_learned(text: str, model_dir: str | Path, options: SummarizeOptions,
                      device="cpu", scoring: ScoringConfig | None = None,
                      progress: Progress | None = None) -> Summary:
    """Summarize `text` with the sentence scorer at `model_dir`, run on `device`; `progress`
    as for score_sentences."""
    budget = options.budget.validate()
    scoring = scoring or ScoringConfig()
    language, sentences, features = read_sentences(text, options.language, scoring)
    loaded = load_scorer(model_dir, device)
    context = min(loaded.config.data.seq_len, loaded.model.config.max_seq_len)
    keep = score_sentences(loaded.model, loaded.tokenizer, sentences, features.candidates, context,
                           progress)
    if not is_shipped(loaded.path):
        # The keyword weights and the phrase prior were chosen with the shipped scorer; a model
        # of the user's own learned its own notion of what matters (on their documents), which
        # they could blur.
        scoring = dataclasses.replace(scoring, keyword_exponent=0.0, phrase_weight=0.0)
    scores = sentence_scores(language, sentences, features, scoring) \
        * (keep / keep.mean()) ** scoring.model_exponent
    chosen = select_sentences(sentences, features, scores, budget, scoring)
    info = {"model": str(loaded.path), "device": str(next(loaded.model.parameters()).device)}
    return Summary(sentences=chosen, method="learned", language=language,
                   n_sentences=len(sentences), n_words=count_words(readable_text(text)), config=info)
