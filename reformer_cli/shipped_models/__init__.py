"""Models that ship with the tool, made by `make summarizer`: sentence scorers, one checkpoint
folder each (fp16 weights), keyword weights, one JSON file each (fit_keywords.py), and phrase
priors, one xz-compressed table each (fit_phrases.py). `reformer summarize` uses a language's
sentence scorer by default; a language without one gets the model-free extractive method. Keyword
weights and phrase priors serve both methods."""

from __future__ import annotations

from pathlib import Path

SHIPPED_DIR = Path(__file__).resolve().parent
SUMMARIZERS = {"en": "summarizer-en"}  # document language -> folder of its sentence scorer
KEYWORDS = {"en": "keywords-en.json"}  # document language -> its keyword weights
PHRASES = {"en": "phrases-en.tsv.xz"}  # document language -> its phrase prior


def shipped_summarizer(language: str) -> Path | None:
    """The folder of the sentence scorer shipped for `language` (en, zh), or None."""
    name = SUMMARIZERS.get(language)
    return SHIPPED_DIR / name if name and (SHIPPED_DIR / name).is_dir() else None


def shipped_keywords(language: str) -> Path | None:
    """The keyword weights shipped for `language`, or None."""
    name = KEYWORDS.get(language)
    return SHIPPED_DIR / name if name and (SHIPPED_DIR / name).is_file() else None


def shipped_phrases(language: str) -> Path | None:
    """The phrase prior shipped for `language`, or None."""
    name = PHRASES.get(language)
    return SHIPPED_DIR / name if name and (SHIPPED_DIR / name).is_file() else None


def is_shipped(model_dir: Path) -> bool:
    """Whether `model_dir` is one of the models that ship here."""
    return Path(model_dir).resolve().parent == SHIPPED_DIR
