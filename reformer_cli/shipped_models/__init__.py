"""Models that ship with the tool, one checkpoint folder each (fp16 weights), made by `make
summarizer`. `reformer summarize` uses a language's sentence scorer by default; a language without
one gets the model-free extractive method."""

from __future__ import annotations

from pathlib import Path

SHIPPED_DIR = Path(__file__).resolve().parent
SUMMARIZERS = {"en": "summarizer-en"}  # document language -> folder of its sentence scorer


def shipped_summarizer(language: str) -> Path | None:
    """The folder of the sentence scorer shipped for `language` (en, zh), or None."""
    name = SUMMARIZERS.get(language)
    return SHIPPED_DIR / name if name and (SHIPPED_DIR / name).is_dir() else None
