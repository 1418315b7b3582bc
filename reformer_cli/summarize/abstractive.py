"""Abstractive summaries from a model trained with `reformer train pairs.jsonl --task summarize`.

The prompt is built like a training example (data/summarization.py, SummarizationExamples): the
document's tokens, cut from the END so that the prompt and the summary fit the context the model
was trained on (data.seq_len), then <sep>. The model continues with the summary and </s>, found
by greedy or beam search with the cached decoder (generation/search.py). The LSH hash rotations
are drawn from a fixed seed (unless the model has its own hash_seed): the same document gives
the same summary every time.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from reformer_cli.core.rng import seeded
from reformer_cli.errors import InputError
from reformer_cli.generation.search import CachedDecoder, DecodingOptions, beam_search, greedy_search
from reformer_cli.summarize.selection import cut_sentence, first_words
from reformer_cli.summarize.summary import (
    NOT_A_SUMMARIZER,
    SummarizeOptions,
    Summary,
    SummarySentence,
    detect_language,
)
from reformer_cli.summarize.trained_models import load_trained
from reformer_cli.text.markup import readable_text
from reformer_cli.text.sentences import split_sentences
from reformer_cli.text.words import count_words

# Seed of the LSH hash rotations while summarizing (for a model without its own hash_seed):
# the same document and settings always give the same summary.
SUMMARY_HASH_SEED = 0


@dataclass
class Prompt:
    ids: list[int]  # document tokens kept + <sep>
    document_tokens: int  # tokens in the whole document
    capacity: int  # positions the decode cache holds (prompt + generated tokens fed back)


def build_prompt(document_ids: list[int], sep_id: int, context: int, max_new_tokens: int) -> Prompt:
    """The document cut from its end so that document + <sep> + summary fit `context`; the
    document always keeps at least half the context, whatever --max-new-tokens asks for."""
    if not document_ids:
        raise InputError("the document has no tokens", "give a file with text in it")
    keep = min(len(document_ids), max(context - 1 - max_new_tokens, context // 2))
    ids = list(document_ids[:keep]) + [sep_id]
    return Prompt(ids, len(document_ids), min(context, len(ids) + max_new_tokens))


def generate_summary(model, tokenizer, text: str, context: int,
                     decoding: DecodingOptions, max_words: int | None = None) -> tuple[str, dict]:
    """The generated summary text and what happened (tokens kept, stop reason, score)."""
    from reformer_cli.generation.generator import decode_threads

    decoding = decoding.validate()
    max_new = decoding.max_new_tokens or max(16, context // 8)
    no_repeat = decoding.no_repeat_ngram_size
    if no_repeat is None:
        no_repeat = 0 if tokenizer.kind == "byte" else 4
    # Training documents (JSONL strings) rarely end in whitespace; a file's final newline would
    # put a token before <sep> that the model has never seen there.
    prompt = build_prompt(tokenizer.encode(text.strip()), tokenizer.sep_id, context, max_new)
    stop_early = None
    if max_words is not None:  # once a word past the budget has begun, the budget is full
        stop_early = lambda tokens: count_words(tokenizer.decode(tokens)) > max_words  # noqa: E731
    # the rotations are drawn at prefill: from a fixed seed, leaving the global RNG as it was
    with seeded(SUMMARY_HASH_SEED, next(model.parameters()).device):
        decoder = CachedDecoder(model, prompt.ids, prompt.capacity)
    with decode_threads(decoder.device):
        if decoding.num_beams == 1:
            result = greedy_search(decoder, tokenizer.eos_id, max_new, decoding, no_repeat,
                                   stop_early)
        else:
            result = beam_search(decoder, tokenizer.eos_id, max_new, decoding, no_repeat)
    info = {"document_tokens": prompt.document_tokens, "kept_tokens": len(prompt.ids) - 1,
            "generated_tokens": len(result.tokens), "stop_reason": result.stop_reason,
            "n_hashes": model.config.n_hashes,
            "log_prob": round(result.score, 4), "num_beams": decoding.num_beams,
            "max_new_tokens": max_new, "no_repeat_ngram_size": no_repeat,
            "repetition_penalty": decoding.repetition_penalty}
    return tokenizer.decode(result.tokens), info


def apply_budget(generated: str, options: SummarizeOptions, n_document_sentences: int
                 ) -> list[SummarySentence]:
    """The generated sentences within the user's budget: --max-words keeps whole sentences and
    cuts the one that does not fit as the extractive method does (selection.cut_sentence; a
    fragment is dropped), --sentences / --ratio keep the first ones; no budget keeps the model's
    whole summary."""
    budget = options.budget.validate()
    sentences = split_sentences(generated) if generated.strip() else []
    limit = None
    if budget.sentences is not None or budget.ratio is not None:
        limit = budget.sentence_limit(n_document_sentences)
    kept, words_left = [], budget.max_words
    for sentence in sentences[:limit]:
        text, truncated = sentence.text, False
        if words_left is not None:
            if count_words(text) > words_left:
                cut = cut_sentence(text, words_left)
                if cut is None and kept:
                    break
                text, truncated = cut or first_words(text, words_left), True
            words_left -= count_words(text)
        # Generated text has no place in the input: offsets 0, as for any abstractive sentence.
        kept.append(SummarySentence(text=text, index=len(kept), start=0, end=0, score=0.0,
                                    rank=len(kept), truncated=truncated))
        if truncated or words_left == 0:
            break
    return kept


def load_summarizer(model_dir, device="cpu"):
    """(LoadedModel on `device`, its trained hash rounds), after checking it was trained to
    summarize."""
    return load_trained(model_dir, device, "summarize", NOT_A_SUMMARIZER)


def summarize_abstractive(text: str, model_dir: str | Path, options: SummarizeOptions,
                          decoding: DecodingOptions | dict | None = None, device="cpu") -> Summary:
    """Summarize `text` with the summarization model at `model_dir`, run on `device` (a
    torch.device or its name; see the module doc)."""
    if not text.strip():
        raise InputError("the document is empty or only whitespace", "give a file with text in it")
    options.budget.validate()
    text = readable_text(text)  # the model reads a web page's words, not its markup
    language = detect_language(text, options.language)
    decoding = DecodingOptions.from_any(decoding).validate()
    loaded, trained_hashes = load_summarizer(model_dir, device)
    loaded.model.set_n_hashes(decoding.n_hashes or trained_hashes)
    context = min(loaded.config.data.seq_len, loaded.model.config.max_seq_len)
    generated, info = generate_summary(loaded.model, loaded.tokenizer, text, context, decoding,
                                       options.budget.max_words)
    n_sentences = len(split_sentences(text))
    sentences = apply_budget(generated, options, n_sentences)
    info["model"] = str(loaded.path)
    info["device"] = str(next(loaded.model.parameters()).device)
    return Summary(sentences=sentences, method="abstractive", language=language,
                   n_sentences=n_sentences, n_words=count_words(text), config=info)
