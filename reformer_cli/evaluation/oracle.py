"""The greedy extractive oracle: the sentences whose concatenation scores best against a reference
(ROUGE-1 + ROUGE-2 F1, as in Nallapati et al. 2017 and Liu & Lapata 2019). It labels training
examples for `reformer train --task extract`.

Greedy: add the sentence that raises R1 + R2 F1 of the selection (concatenated in the order
chosen) the most; stop when no sentence raises it or the selection is as long as the reference.
The gain of each candidate is computed incrementally from clipped n-gram counts, which equals
recomputing ROUGE on the concatenation (tests/test_extraction.py checks that).
"""

from __future__ import annotations

from collections import Counter

from reformer_cli.evaluation.rouge import f1


def _bigrams(tokens: list[str]) -> Counter:
    return Counter(zip(tokens, tokens[1:]))


def _added_overlap(reference: Counter, selected: Counter, added: Counter) -> int:
    """How much the clipped overlap with `reference` grows when `added` joins `selected`."""
    gain = 0
    for gram, count in added.items():
        wanted = reference.get(gram, 0)
        if wanted:
            have = selected.get(gram, 0)
            gain += min(wanted, have + count) - min(wanted, have)
    return gain


def greedy_oracle(sentences: list[list[str]], reference: list[str]) -> list[int]:
    """Indexes of the oracle's sentences (token lists), in the order they were chosen."""
    reference_unigrams, reference_bigrams = Counter(reference), _bigrams(reference)
    n_unigrams, n_bigrams = len(reference), max(0, len(reference) - 1)
    # Only a sentence that shares a word with the reference can raise the score.
    open_ = [i for i, words in enumerate(sentences) if any(w in reference_unigrams for w in words)]
    chosen: list[int] = []
    selection: list[str] = []
    selected_unigrams, selected_bigrams = Counter(), Counter()
    overlap_1 = overlap_2 = 0
    best_score = 0.0
    while open_ and len(selection) < len(reference):
        best, best_index = best_score, None
        for i in open_:
            words = sentences[i]
            joined = _bigrams(words)
            if selection:
                joined[(selection[-1], words[0])] += 1  # the bigram across the junction
            length = len(selection) + len(words)
            score = (f1(overlap_1 + _added_overlap(reference_unigrams, selected_unigrams,
                                                   Counter(words)), length, n_unigrams)
                     + f1(overlap_2 + _added_overlap(reference_bigrams, selected_bigrams, joined),
                          max(0, length - 1), n_bigrams))
            if score > best + 1e-12:
                best, best_index = score, i
        if best_index is None:
            break
        words = sentences[best_index]
        joined = _bigrams(words)
        if selection:
            joined[(selection[-1], words[0])] += 1
        overlap_1 += _added_overlap(reference_unigrams, selected_unigrams, Counter(words))
        overlap_2 += _added_overlap(reference_bigrams, selected_bigrams, joined)
        selected_unigrams.update(words)
        selected_bigrams.update(joined)
        selection.extend(words)
        chosen.append(best_index)
        open_.remove(best_index)
        best_score = best
    return chosen
