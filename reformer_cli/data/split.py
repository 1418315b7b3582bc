"""The validation split: the tail of the corpus (or of the pairs), or separate validation files."""

from __future__ import annotations

from typing import Sequence

from reformer_cli.errors import InputError
from reformer_cli.text.reading import DOCUMENT_SEPARATOR, Document


def split_validation(documents: Sequence[Document], val_fraction: float,
                     val_documents: Sequence[Document] | None = None) -> tuple[str, str]:
    """(train_text, val_text): the tail of the corpus (or the given validation documents).

    The cut moves forward to the next line start when one is near, so no word is split.
    """
    text = DOCUMENT_SEPARATOR.join(d.text for d in documents)
    if val_documents is not None:
        return text, DOCUMENT_SEPARATOR.join(d.text for d in val_documents)
    if not 0.0 <= val_fraction <= 0.5:
        raise InputError(f"val_fraction={val_fraction} is outside [0, 0.5]")
    if val_fraction == 0.0:
        return text, ""
    cut = int(len(text) * (1.0 - val_fraction))
    newline = text.find("\n", cut, cut + max(1, (len(text) - cut) // 4))
    if newline >= 0:
        cut = newline + 1
    return text[:cut], text[cut:]


def split_validation_pairs(pairs: list, val_fraction: float) -> tuple[list, list]:
    """(train_pairs, val_pairs): the last pairs are held out (at least one when val_fraction > 0)."""
    if val_fraction <= 0 or len(pairs) < 2:
        return list(pairs), []
    n_val = min(len(pairs) - 1, max(1, round(len(pairs) * val_fraction)))
    return list(pairs[:-n_val]), list(pairs[-n_val:])
