"""Which language a document is written in, as far as summarizing needs to know.

"en": English, the language the shipped scorer, keyword weights and phrase prior were trained
on. "zh": Chinese; "ja": Japanese (Han characters with kana). "other": anything else: French,
Russian, Korean... These get the model-free method with terms that are the text's own words,
neither stemmed nor filtered with English stopwords.

English is told from other alphabetic languages by function words, the way the simplest
language identifiers do it: how many of the text's words are the commonest words of English
against the same count for French, German, Spanish, Italian, Portuguese, Dutch and Russian. An
English document made mostly of tables still has more "the"/"of"/"and" than "de"/"la"/"und".
Text in another alphabet (Korean, Greek...) is "other" too. A Latin-script language without a
profile here is summarized as English, which only costs it the English stemming and stopwords.

Pure functions: no files, no terminal.
"""

from __future__ import annotations

import re

from reformer_cli.text.sentences import CJK_RE

DOCUMENT_LANGUAGES = ("en", "zh", "ja", "other")
CHARACTER_LANGUAGES = ("zh", "ja")  # written without spaces: a character is a word
SAMPLE_CHARS = 20_000  # the opening read to decide; a language is a property of the whole text
CJK_SHARE = 0.3  # CJK characters at least this share of the letters: a CJK document
KANA_SHARE = 0.1  # kana at least this share of the CJK characters: Japanese
KANA_RE = re.compile("[\u3040-\u30ff]")
# Words of two letters or more with no digit or underscore joined on: "0x9bda" and "a" in a
# table of hex bytes or single-letter names say nothing about the language.
LETTER_WORD = re.compile(r"\b[^\W\d_]{2,}\b")
# The commonest words of two letters or more of each language, leaving out those that are
# common English words or parts of addresses ("as", "no", "is", "per", "com" in example.com).
FUNCTION_WORDS = {
    "en": "the of and to in is that for it with as was on be by this are or from at which an not",
    "fr": "le la les de des du et est une un que qui dans pour pas sur au aux ce il elle sont par",
    "de": "der die das und ist nicht ein eine zu den mit sich des auf für dem im von auch wird",
    "es": "el la los las de que en es una por con para del se al lo su como más pero",
    "it": "il la di che una non del della con sono gli le si nel alla anche più questo",
    "pt": "os de que em um uma para não da dos das na por mais foi ao pelo também",
    "nl": "de het een en van dat niet op te zijn voor met er aan ook als bij wordt",
    "ru": "не на что по это как он из но она то за от так же его для был все",
}
_PROFILES = {language: frozenset(words.split()) for language, words in FUNCTION_WORDS.items()}


def is_cjk_text(text: str) -> bool:
    """True when CJK characters make up at least CJK_SHARE of the letters of the opening."""
    sample = text[:SAMPLE_CHARS]
    n_cjk = len(CJK_RE.findall(sample))
    n_letters = sum(1 for char in sample if char.isalpha())
    return n_cjk > 0 and n_cjk >= CJK_SHARE * n_letters


def guess_language(text: str) -> str:
    """"en", "zh", "ja" or "other" (see the module's docstring). Text with no function word of
    any profile ("Hello world.", a list of names) is English unless most of its words are in
    another alphabet."""
    sample = text[:SAMPLE_CHARS]
    if is_cjk_text(sample):
        n_cjk = len(CJK_RE.findall(sample))
        return "ja" if len(KANA_RE.findall(sample)) >= KANA_SHARE * n_cjk else "zh"
    words = LETTER_WORD.findall(sample.lower())
    if not words:
        return "en"
    hits = {language: sum(word in profile for word in words) for language, profile in _PROFILES.items()}
    english, best_other = hits.pop("en"), max(hits.values())
    if best_other > english or sum(not word.isascii() for word in words) * 2 > len(words):
        return "other"
    return "en"
