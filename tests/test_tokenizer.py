"""Tokenizers: exact round trips, byte fallback, small corpora, long lines, save/load."""

import random
import re
import warnings
from pathlib import Path
from pydoc_data.topics import topics

import numpy as np
import pytest

from reformer_cli.errors import ConfigError, InputError
from reformer_cli.text import tokenizer as tokenizer_module
from reformer_cli.text.tokenizer import (
    ByteTokenizer,
    SentencePieceTokenizer,
    cjk_share,
    load_tokenizer,
    split_long_line,
    train_sentencepiece,
)

ENGLISH = "\n".join(topics[key] for key in sorted(topics))
SHARED_DATA = Path(__file__).resolve().parent.parent.parent / "shared" / "data"
SHARED_CHINESE = SHARED_DATA / "lm" / "hongloumeng.zh.txt"

ROUND_TRIP_SAMPLES = [
    "The quick brown fox jumps over the lazy dog.",
    "  leading spaces, two  inner  spaces and trailing   ",
    "tabs\tand\nnewlines\n\n\nand\r\nwindows line ends",
    "def f(x):\n        return x  # indented code\n",
    "中文文本的往返测试，包括标点符号。“引号”（括号）",
    "mixed 中文 and English, 日本語のテキスト, 한국어",
    "emoji 🎉🚀 and rare characters: ∮ ℵ 𝔘𝔫𝔦𝔠𝔬𝔡𝔢 \u0301e\u0301 \x00\x07 \U0010FFFD",
    "",
]


def synthetic_chinese(n_chars: int, seed: int = 0) -> str:
    """Zipf-distributed common CJK characters in sentences, as a stand-in Chinese corpus."""
    rng = random.Random(seed)
    alphabet = [chr(0x4E00 + i * 7) for i in range(800)]
    weights = [1.0 / (rank + 1) for rank in range(len(alphabet))]
    out = []
    while sum(map(len, out)) < n_chars:
        sentence = "".join(rng.choices(alphabet, weights, k=rng.randint(5, 30)))
        out.append(sentence + rng.choice("，。！？") + ("\n" if rng.random() < 0.2 else ""))
    return "".join(out)


@pytest.fixture(scope="module")
def english_tokenizer():
    return train_sentencepiece([ENGLISH], 1000)


@pytest.mark.parametrize("text", ROUND_TRIP_SAMPLES)
def test_sentencepiece_round_trip_is_exact(english_tokenizer, text):
    ids = english_tokenizer.encode(text)
    assert all(0 <= i < english_tokenizer.vocab_size for i in ids)
    assert english_tokenizer.decode(ids) == text


def test_sentencepiece_learns_subwords_and_specials(english_tokenizer):
    tok = english_tokenizer
    assert tok.vocab_size == 1000 and tok.describe()["character_coverage"] == 1.0
    sample = ENGLISH[:20000]
    assert len(tok.encode(sample)) < len(sample) / 2.5  # real compression, not characters or bytes
    # <sep> and </s> are only inserted by id: the literal text never maps to them
    assert tok.sep_id not in tok.encode("a <sep> b </s>") and tok.eos_id not in tok.encode("</s>")
    assert tok.decode(tok.encode("doc") + [tok.sep_id] + tok.encode("sum") + [tok.eos_id]) == "docsum"
    assert len({tok.eos_id, tok.sep_id}) == 2


def test_rare_characters_use_byte_fallback_not_unk(english_tokenizer):
    ids = english_tokenizer.encode("🎉")
    assert 0 not in ids and len(ids) == 4  # four UTF-8 bytes, no <unk>


def test_chunked_encoding_equals_whole_text(english_tokenizer, monkeypatch):
    text = ENGLISH[:50000]
    whole = english_tokenizer.processor.encode(text)
    monkeypatch.setattr(tokenizer_module, "ENCODE_CHUNK_CHARS", 997)
    chunked = english_tokenizer.encode_to_array(text)
    assert chunked.dtype == np.int32 and chunked.tolist() == whole


def test_chinese_corpus_gets_cjk_coverage_and_round_trips():
    text = synthetic_chinese(60000)
    assert cjk_share([text]) > 0.99 and cjk_share([ENGLISH]) < 0.01
    tok = train_sentencepiece([text, "some English too."], 1200)
    assert tok.describe()["character_coverage"] == 0.9995
    for sample in (text[:3000], "中文 and English 🎉", ROUND_TRIP_SAMPLES[4]):
        assert tok.decode(tok.encode(sample)) == sample


def test_real_chinese_novel_round_trips():
    if not SHARED_CHINESE.is_file():
        pytest.skip("../shared/data (the shared Chinese novel) is not present")
    text = SHARED_CHINESE.read_text(encoding="utf-8")[:200_000]
    tok = train_sentencepiece([text], 4000)
    assert tok.describe()["character_coverage"] == 0.9995
    tail = SHARED_CHINESE.read_text(encoding="utf-8")[-20000:]  # unseen text, rare characters
    assert tok.decode(tok.encode(tail)) == tail
    assert len(tok.encode(tail)) < len(tail)


def test_vocabulary_too_large_for_a_tiny_corpus_is_lowered_with_a_warning():
    with pytest.warns(UserWarning, match=r"too small for a 8000-token vocabulary; using (\d+) tokens"):
        tok = train_sentencepiece(["hello world. a tiny corpus.\nanother short line"], 8000)
    assert 258 < tok.vocab_size < 8000
    assert "using" in tok.describe()["notes"][0]
    assert tok.decode(tok.encode("hello world ✓")) == "hello world ✓"


def test_a_single_huge_line_is_split_not_dropped():
    one_line = " ".join(ENGLISH.split())  # ~460k characters, no newline
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # a dropped line would leave too little text for 800 pieces
        tok = train_sentencepiece([one_line], 800)
    assert tok.vocab_size == 800
    assert len(tok.encode(one_line[:10000])) < 10000 / 2.5


def test_split_long_line_prefers_sentence_ends_and_joins_back():
    line = ("A sentence that ends here. " * 200) + "x" * 5000 + "。".join(["中文句子"] * 600)
    pieces = split_long_line(line, 2000)
    assert "".join(pieces) == line and all(len(p) <= 2000 for p in pieces)
    assert pieces[0].endswith("here.")  # cut after a sentence end, not mid-word
    assert split_long_line("short", 2000) == ["short"]


def test_empty_text_and_a_too_small_vocabulary_are_clear_errors():
    with pytest.raises(InputError, match="empty text"):
        train_sentencepiece(["", "   \n"], 1000)
    with pytest.raises(ConfigError) as caught:
        train_sentencepiece([synthetic_chinese(20000)], 300)
    assert re.fullmatch(r"data.vocab_size=300 is too small for this corpus: SentencePiece needs "
                        r"(\d+) pieces .*; pass --vocab-size \1 or more", caught.value.one_line())


def test_sentencepiece_save_and_load(english_tokenizer, tmp_path):
    path = english_tokenizer.save(tmp_path)
    assert path.name == "tokenizer.model"
    for source in (tmp_path, path):
        loaded = load_tokenizer(source)
        assert isinstance(loaded, SentencePieceTokenizer)
        assert (loaded.vocab_size, loaded.eos_id, loaded.sep_id) == (1000, english_tokenizer.eos_id,
                                                                     english_tokenizer.sep_id)
        assert loaded.encode(ENGLISH[:5000]) == english_tokenizer.encode(ENGLISH[:5000])


def test_corrupt_or_missing_tokenizer_files(tmp_path, english_tokenizer):
    english_tokenizer.save(tmp_path)
    model = tmp_path / "tokenizer.model"
    model.write_bytes(model.read_bytes()[:1000])  # truncated
    with pytest.raises(InputError, match="not a valid SentencePiece model"):
        load_tokenizer(tmp_path)
    with pytest.raises(InputError, match="no tokenizer.model or tokenizer.json"):
        load_tokenizer(tmp_path / "..")
    with pytest.raises(InputError, match="not found"):
        load_tokenizer(tmp_path / "nope.model")
    bad = tmp_path / "tokenizer.json"
    bad.write_text('{"kind": "wordpiece"}')
    with pytest.raises(InputError, match="unsupported tokenizer"):
        load_tokenizer(bad)


def test_byte_tokenizer_round_trip_and_specials(tmp_path):
    tok = ByteTokenizer()
    assert (tok.vocab_size, tok.eos_id, tok.sep_id) == (258, 256, 257)
    for text in ROUND_TRIP_SAMPLES:
        ids = tok.encode(text)
        assert ids == list(text.encode("utf-8"))
        assert tok.encode_to_array(text).tolist() == ids
        assert tok.decode(ids + [tok.eos_id]) == text
    # invalid UTF-8 from a model: replaced, never an exception; specials ignored anywhere
    assert tok.decode([0xFF, 65, 257, 0xE4, 0xB8]) == "\ufffdA\ufffd"
    assert tok.decode(np.array([104, 105, 256], dtype=np.int64)) == "hi"
    path = tok.save(tmp_path)
    assert path.name == "tokenizer.json"
    assert isinstance(load_tokenizer(tmp_path), ByteTokenizer)
