"""Sampling filters, the generation loop and streaming detokenisation (reformer_cli/generation/)."""

import math

import pytest
import torch

from reformer_cli.config.model import ModelConfig
from reformer_cli.core.model import ReformerLM
from reformer_cli.errors import ConfigError, InputError
from reformer_cli.generation.generator import (
    BOUND_CONTEXT,
    BOUND_POSITIONS,
    GenerationConfig,
    Generator,
    PromptLimit,
    prompt_limit,
)
from reformer_cli.generation.sampling import SamplingConfig, choose_token, sampling_probabilities
from reformer_cli.generation.stop_reasons import STOP_CONTEXT, STOP_EOS, STOP_LENGTH
from reformer_cli.generation.streaming import TextStream, stream_text
from reformer_cli.text.tokenizer import ByteTokenizer, train_sentencepiece

pytestmark = pytest.mark.usefixtures("one_thread")


# --------------------------------------------------------------------------- sampling

def reference_probabilities(logits, temperature, top_k, top_p):
    """Plain-Python version of the documented order: temperature, top-k, top-p, softmax."""
    scaled = [x / temperature for x in logits]
    order = sorted(range(len(scaled)), key=lambda i: -scaled[i])
    kept = order[:top_k] if top_k else order
    z = sum(math.exp(scaled[i]) for i in kept)
    nucleus, mass = [], 0.0
    for i in kept:  # most likely first
        if mass >= top_p:
            break
        nucleus.append(i)
        mass += math.exp(scaled[i]) / z
    z = sum(math.exp(scaled[i]) for i in nucleus)
    return [math.exp(scaled[i]) / z if i in nucleus else 0.0 for i in range(len(logits))]


@pytest.mark.parametrize("temperature, top_k, top_p", [
    (1.0, 0, 1.0), (0.7, 5, 1.0), (1.3, 0, 0.6), (0.5, 6, 0.8), (2.0, 3, 0.95), (1.0, 0, 1e-6)])
def test_sampling_distribution_follows_the_documented_filter_order(temperature, top_k, top_p):
    logits = torch.randn(1, 12, generator=torch.Generator().manual_seed(3)) * 2
    probs = sampling_probabilities(logits, SamplingConfig(temperature, top_k, top_p))
    expected = torch.tensor([reference_probabilities(logits[0].tolist(), temperature, top_k,
                                                     top_p)])
    assert torch.allclose(probs, expected, atol=1e-6)


def test_temperature_changes_what_top_p_keeps():
    """Top-p acts on the temperature-scaled distribution (temperature comes first)."""
    logits = torch.tensor([[2.0, 1.0, 0.0, -1.0]])
    sharp = sampling_probabilities(logits, SamplingConfig(0.25, 0, 0.9))
    flat = sampling_probabilities(logits, SamplingConfig(4.0, 0, 0.9))
    assert int((sharp > 0).sum()) == 1 and int((flat > 0).sum()) == 4


def test_temperature_zero_is_greedy_whatever_the_filters():
    logits = torch.randn(4, 50, generator=torch.Generator().manual_seed(0))
    for config in (SamplingConfig(0.0), SamplingConfig(0.0, 3, 0.2)):
        assert torch.equal(choose_token(logits, config), logits.argmax(-1))


def test_seeded_sampling_draws_only_allowed_tokens_with_the_right_frequencies():
    logits = torch.tensor([[3.0, 2.5, 2.0, 0.0, -1.0]])
    config = SamplingConfig(1.0, 3, 1.0)
    generator = torch.Generator().manual_seed(0)
    draws = torch.stack([choose_token(logits, config, generator) for _ in range(3000)])
    counts = torch.bincount(draws[:, 0], minlength=5).float() / 3000
    expected = sampling_probabilities(logits, config)[0]
    assert counts[3:].sum() == 0
    assert torch.allclose(counts, expected, atol=0.03)


@pytest.mark.parametrize("field, value", [("temperature", -0.1), ("temperature", math.inf),
                                          ("temperature", math.nan), ("top_k", -1),
                                          ("top_p", 0.0), ("top_p", 1.5)])
def test_bad_sampling_values_are_config_errors(field, value):
    config = SamplingConfig(**{field: value})
    with pytest.raises(ConfigError, match=field.replace("_", "-")):
        config.validate()
    with pytest.raises(ConfigError, match="max-new-tokens"):
        GenerationConfig(max_new_tokens=0).validate()


# --------------------------------------------------------------------------- generation loop

def tiny_model(layer_types, **overrides):
    """Untied head and unit-scale weights: greedy decoding of a random model then wanders over
    many tokens instead of copying its input forever (what small tied weights do)."""
    torch.manual_seed(0)
    settings = dict(vocab_size=40, d_model=32, n_heads=2, d_ff=48, n_layers=2,
                    layer_types=layer_types, chunk_length=4, n_hashes=2, hash_seed=5,
                    max_seq_len=256, ff_chunk_size=0, tie_embeddings=False)
    settings.update(overrides)
    model = ReformerLM(ModelConfig(**settings)).eval()
    with torch.no_grad():
        for weight in model.parameters():
            if weight.dim() == 2:
                weight.normal_(0.0, weight.shape[1] ** -0.5)
    return model


def greedy_by_full_recompute(model, prompt, steps):
    ids = list(prompt)
    with torch.no_grad():
        for _ in range(steps):
            ids.append(int(model(torch.tensor([ids]))[0, -1].argmax()))
    return ids[len(prompt):]


@pytest.mark.parametrize("layer_types, chunk", [(["full"], 4), (["local"], 4),
                                                (["local", "full"], 4), (["lsh", "local"], 64)])
def test_cached_greedy_equals_greedy_by_full_recompute(layer_types, chunk):
    """Models whose attention is exact at these lengths: full, local (the cached window is the
    forward's window), and LSH while everything fits in one chunk."""
    model = tiny_model(layer_types, chunk_length=chunk, n_layers=3)
    prompt = [5, 9, 1, 33, 7, 2, 2, 18]
    config = GenerationConfig(40, SamplingConfig(temperature=0.0), stop_at_eos=False)
    cached = list(Generator(model, prompt, config).sample())
    assert cached == greedy_by_full_recompute(model, prompt, 40)
    assert len(set(cached)) >= 3  # not a degenerate constant sequence


def test_same_seed_same_ids_and_successive_samples_differ():
    model = tiny_model(["local", "lsh"])
    config = GenerationConfig(30, SamplingConfig(1.0, 0, 1.0), stop_at_eos=False)
    generation = Generator(model, [1, 2, 3, 4, 5], config)
    first = [list(generation.sample(torch.Generator().manual_seed(7))) for _ in range(2)]
    assert first[0] == first[1]
    generator = torch.Generator().manual_seed(7)
    samples = [list(generation.sample(generator)) for _ in range(3)]
    assert samples[0] == first[0]
    assert len({tuple(s) for s in samples}) == 3


def test_stop_conditions():
    model = tiny_model(["local"], max_seq_len=20)
    greedy = SamplingConfig(temperature=0.0)
    generation = Generator(model, [1, 2, 3], GenerationConfig(5, greedy, stop_at_eos=False))
    assert len(list(generation.sample())) == 5 and generation.stop_reason == STOP_LENGTH

    first = list(generation.sample())[0]  # make the first greedy token the end-of-text token
    generation = Generator(model, [1, 2, 3], GenerationConfig(5, greedy), eos_id=first)
    assert list(generation.sample()) == [] and generation.stop_reason == STOP_EOS

    # 15 prompt tokens + 10 new > max_seq_len 20: the state holds 20 positions, so the sample
    # ends with the token predicted at position 20 (6 tokens), never running past the context.
    generation = Generator(model, list(range(15)), GenerationConfig(10, greedy, stop_at_eos=False))
    assert len(list(generation.sample())) == 6 and generation.stop_reason == STOP_CONTEXT


def test_prompt_limit_is_the_context_unless_the_new_tokens_need_the_room():
    """The prompt read is its last `context` tokens, whatever --max-new-tokens is, as long as
    prompt + new tokens fit in max_seq_len; then exactly what leaves the new tokens room (no
    other rule, such as keeping half the positions: the note can say which bound applied)."""
    assert prompt_limit(256, 131_072, 5) == PromptLimit(256, BOUND_CONTEXT)
    assert prompt_limit(256, 131_072, 100_000) == PromptLimit(256, BOUND_CONTEXT)
    assert prompt_limit(131_072, 131_072, 5) == PromptLimit(131_067, BOUND_POSITIONS)
    assert prompt_limit(65_536, 131_072, 100_000) == PromptLimit(31_072, BOUND_POSITIONS)
    assert prompt_limit(10, 20, 10) == PromptLimit(10, BOUND_CONTEXT)
    assert prompt_limit(11, 20, 10) == PromptLimit(10, BOUND_POSITIONS)
    assert prompt_limit(50, 20, 19) == PromptLimit(1, BOUND_POSITIONS)
    with pytest.raises(InputError, match="--max-new-tokens=20 leaves no room") as raised:
        prompt_limit(5, 20, 20)
    assert "pass --max-new-tokens 19 or less" in raised.value.one_line()


# --------------------------------------------------------------------------- streaming text

def test_byte_stream_never_splits_a_character_and_reassembles_exactly():
    tokenizer = ByteTokenizer()
    prompt = tokenizer.encode("Prompt: ")
    text = "naïve café — 中文字符 and emoji 🙂 end"
    ids = tokenizer.encode(text)
    pieces = list(stream_text(ids, tokenizer.decode, prompt))
    assert "".join(pieces) == text
    assert all("\ufffd" not in piece for piece in pieces)
    assert len(pieces) > 10  # streamed, not emitted at the end


def test_stream_flushes_a_truly_invalid_tail():
    tokenizer = ByteTokenizer()
    stream = TextStream(tokenizer.decode)
    assert stream.push(ord("a")) == "a"
    assert stream.push(0xE4) == ""  # first byte of a 3-byte character: held back
    assert stream.flush() == "\ufffd"


@pytest.fixture(scope="module")
def sentencepiece_tokenizer():
    from pydoc_data.topics import topics

    text = "\n".join(list(topics.values())[:60])
    return train_sentencepiece([text], vocab_size=400)


def test_sentencepiece_stream_gets_spaces_right(sentencepiece_tokenizer):
    tokenizer = sentencepiece_tokenizer
    prompt_text = "The return statement"
    generated_text = " leaves the current function call with the expression list. 语 ok"
    prompt = tokenizer.encode(prompt_text)
    generated = tokenizer.encode(generated_text)
    assert prompt + generated == tokenizer.encode(prompt_text + generated_text)  # a clean cut
    pieces = list(stream_text(generated, tokenizer.decode, prompt))
    assert "".join(pieces) == generated_text
    assert pieces[0].startswith(" ")  # the first word keeps its space
    assert all("\ufffd" not in piece for piece in pieces)  # byte-fallback CJK held until whole
    assert len(pieces) > 5


# Random generations: valid text (ASCII, accented, CJK, emoji) with stray bytes a model may emit
# (never valid, a lead byte with no continuation, a lone continuation) and the separator.
STREAM_TEXTS = ("a", "the ", " ", "\n", "é", "naïve", "中", "文字", "😀", "👍🏽")
STRAY_BYTES = (0xFF, 0xC0, 0x80, 0xBF, 0xC3, 0xE4, 0xED, 0xF0, 0xF4)


def random_generation(rng, encode, byte_id, sep_id) -> list[int]:
    ids = []
    for _ in range(rng.randrange(1, 16)):
        roll = rng.random()
        if roll < 0.15:
            ids.append(byte_id(rng.choice(STRAY_BYTES)))
        elif roll < 0.2:  # the start of a character that never ends
            start = rng.choice("é中😀").encode()
            ids.extend(byte_id(b) for b in start[:rng.randrange(1, len(start))])
        elif roll < 0.23:
            ids.append(sep_id)
        else:
            ids.extend(encode(rng.choice(STREAM_TEXTS)))
    return ids


def assert_streams_like_decoding_all(tokenizer, byte_id, n_generations):
    """The pieces joined equal decode(all ids), and each piece is out before the next id is
    read: only trailing U+FFFD (at most 3, an unfinished character) may still be held."""
    import random

    rng = random.Random(0)
    prompt = tokenizer.encode("Prompt: 你好 ")
    for _ in range(n_generations):
        ids = random_generation(rng, tokenizer.encode, byte_id, tokenizer.sep_id)
        out: list[str] = []
        out.extend(stream_text(ids_checking_what_is_out(ids, out, tokenizer.decode),
                               tokenizer.decode, prompt))
        assert "".join(out) == tokenizer.decode(ids), ids


def ids_checking_what_is_out(ids, out, decode):
    """Yields `ids`; each time the next one is asked for, checks the text in `out` so far."""
    for count, token_id in enumerate(ids, 1):
        yield token_id
        text, shown = decode(ids[:count]), "".join(out)
        held = text[len(shown):]
        assert text.startswith(shown) and held == "\ufffd" * len(held) and len(held) <= 3, (
            ids[:count], shown, text)


def test_byte_stream_equals_decoding_all_ids_with_invalid_bytes():
    # ff c3 a9 f0 9f 98 80 c3 | f0 9f 98 80: the stray c3 once turned the emoji after it into U+FFFD
    tokenizer = ByteTokenizer()
    ids = list(bytes.fromhex("ffc3a9f09f9880c3f09f9880") + "中".encode())
    assert "".join(stream_text(ids, tokenizer.decode)) == "\ufffdé😀\ufffd😀中"
    assert_streams_like_decoding_all(tokenizer, lambda byte: byte, 3000)


def test_sentencepiece_byte_fallback_stream_equals_decoding_all_ids(sentencepiece_tokenizer):
    tokenizer = sentencepiece_tokenizer
    assert_streams_like_decoding_all(
        tokenizer, lambda byte: tokenizer.processor.piece_to_id(f"<0x{byte:02X}>"), 1500)


def test_the_last_sample_uses_up_the_prefilled_state_without_changing_results():
    model = tiny_model(["local", "lsh"])
    config = GenerationConfig(12, SamplingConfig(temperature=0.0), stop_at_eos=False)
    generation = Generator(model, [3, 1, 4, 1, 5], config)
    copied = list(generation.sample())
    assert list(generation.sample(last=True)) == copied
    with pytest.raises(RuntimeError, match="used up"):
        list(generation.sample())
