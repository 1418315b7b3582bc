"""Sentence vectors: terms (stemmed English words, other languages' words, CJK character bigrams)
weighted by TF-IDF.

Only terms shared by two or more sentences can make two sentences similar, so the dense matrix
keeps just those columns; each row is still normalised with all of its terms, which keeps
cosine similarities exact while the matrix stays small even for 30,000-word documents.
"""

from __future__ import annotations

import math
import re
from collections import Counter

import numpy as np

from reformer_cli.text.language import FUNCTION_WORDS
from reformer_cli.text.words import CJK_CHAR

STOPWORDS = frozenset("""
a about above after again against all also am an and any are as at be because been before being
below between both but by can could did do does doing done down during each either else etc
even ever every few for from further had has have having he her here hers herself him himself
his how however i if in into is it its itself just may me might more most much must my myself
no nor not now of off on once one only or other others our ours ourselves out over own per
rather same shall she should since so some still such than that the their theirs them
themselves then there these they this those though through thus to too under until up upon us
use used uses using very via was we well were what when where whether which while who whom
whose why will with within without would yet you your yours yourself yourselves e g i.e eg ie
""".split())

WORD = re.compile(f"[A-Za-z][A-Za-z0-9_']*|[0-9]+(?:\\.[0-9]+)*|[{CJK_CHAR}]+")
CJK_RUN = re.compile(f"[{CJK_CHAR}]+")
# Another language's words: runs of letters in any script, CJK runs apart.
ANY_WORD = re.compile(f"[{CJK_CHAR}]+|(?:(?![{CJK_CHAR}])[^\\W\\d_])+")
OTHER_STOPWORDS = frozenset(word for words in FUNCTION_WORDS.values() for word in words.split())


def stem(word: str) -> str:
    """A light suffix stripper: enough to match "hashes"/"hash", "defined"/"defines"."""
    for suffix, keep in (("ies", 3), ("sses", 4), ("ness", 5), ("ments", 5), ("ment", 5),
                         ("ings", 5), ("ing", 5), ("ations", 6), ("ation", 6), ("edly", 5),
                         ("ed", 4), ("ly", 5), ("es", 5), ("s", 4)):
        if word.endswith(suffix) and len(word) >= keep + len(suffix) - 1:
            if suffix == "s" and word.endswith(("ss", "us", "is")):
                return word
            return word[: -len(suffix)]
    return word


def terms(text: str, language: str = "en") -> list[str]:
    """Content terms of one sentence: CJK character bigrams, and stemmed English words without
    stopwords (the Latin words of Chinese and Japanese text are English too); in a document of
    another language ("other"), its lower-cased words without the commonest ones."""
    found: list[str] = []
    english = language != "other"
    for token in (WORD if english else ANY_WORD).findall(text):
        if CJK_RUN.fullmatch(token):
            if len(token) == 1:
                found.append(token)
            found.extend(token[i:i + 2] for i in range(len(token) - 1))
        elif english:
            lower = token.lower().strip("'")
            if len(lower) > 1 and lower not in STOPWORDS and not lower.isdigit():
                found.append(stem(lower))
        else:
            lower = token.lower()
            if len(lower) > 1 and lower not in OTHER_STOPWORDS:
                found.append(lower)
    return found


# Cap on the dense matrix (entries); very long inputs keep only their most frequent terms.
MAX_MATRIX_ENTRIES = 30_000_000


def tfidf_matrix(term_lists: list[list[str]]) -> np.ndarray:
    """Row-normalised TF-IDF vectors over the shared vocabulary: (n_sentences, n_shared_terms)."""
    n = len(term_lists)
    counts = [Counter(term_list) for term_list in term_lists]
    document_frequency = Counter(term for count in counts for term in count)
    shared_terms = sorted((t for t, df in document_frequency.items() if df >= 2),
                          key=lambda t: (-document_frequency[t], t))
    shared_terms = shared_terms[: max(1024, MAX_MATRIX_ENTRIES // max(1, n))]
    shared = {term: column for column, term in enumerate(sorted(shared_terms))}
    matrix = np.zeros((n, len(shared)), dtype=np.float32)  # (n_sentences, n_shared_terms)
    for row, count in enumerate(counts):
        squared_norm = 0.0
        for term, frequency in count.items():
            weight = (1.0 + math.log(frequency)) * math.log((n + 1) / document_frequency[term])
            squared_norm += weight * weight
            column = shared.get(term)
            if column is not None:
                matrix[row, column] = weight
        if squared_norm > 0:
            matrix[row] /= math.sqrt(squared_norm)
    return matrix
