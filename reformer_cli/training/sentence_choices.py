"""A sentence scorer's validation in its own terms (`reformer train --task extract`): how often it
tells keep from skip, and how many of the oracle's picks it ranks highest. A perplexity over two
labels, or bits per sentence, would mean nothing for that choice."""

from __future__ import annotations

import torch

from reformer_cli.core.head_loss import IGNORE_INDEX


class SentenceChoices:
    """What a sentence scorer chooses at its markers, scored as summarize/learned.py scores a
    sentence (the margin logit(keep) - logit(skip)):
    - val_accuracy: the share of markers whose margin has the sign of their label; its baseline
      is the majority label's share (most sentences are skipped), from val_keep_share, the
      share the oracle keeps;
    - val_picks_in_top_k: per window, of the k sentences the oracle keeps, the share among the
      k highest margins (a summary takes the best-ranked sentences, whatever their probability);
      val_picks_in_top_k_chance is what a random ranking gets (k/n of a window's k picks).
    """

    def __init__(self, keep: int, skip: int):
        self.keep, self.skip = keep, skip
        self.sentences = self.kept = self.correct = self.picks = self.hits = 0
        self.chance = 0.0

    def add(self, hidden: torch.Tensor, weight: torch.Tensor, targets: torch.Tensor) -> None:
        """hidden (B, L, d_model), weight (vocab, d_model), targets (B, L)."""
        direction = (weight[self.keep] - weight[self.skip]).float()  # (d_model,)
        for row in range(targets.shape[0]):
            marked = targets[row] != IGNORE_INDEX  # (L,)
            margins = hidden[row, marked].float() @ direction  # (n,)
            kept = targets[row, marked] == self.keep  # (n,)
            n, k = int(kept.numel()), int(kept.sum())
            self.sentences += n
            self.kept += k
            self.correct += int(((margins > 0) == kept).sum())
            if k:
                self.hits += int(kept[margins.topk(k).indices].sum())
                self.picks += k
                self.chance += k * k / n

    def scores(self) -> dict:
        scores = {"val_accuracy": self.correct / max(self.sentences, 1),
                  "val_keep_share": self.kept / max(self.sentences, 1)}
        if self.picks:  # no window of the validation pairs has a pick: nothing to rank
            scores.update(val_picks_in_top_k=self.hits / self.picks,
                          val_picks_in_top_k_chance=self.chance / self.picks)
        return scores
