"""Generated ids to text, piece by piece, with spaces and multi-byte characters right."""

from __future__ import annotations

from typing import Callable, Iterable, Iterator

# A UTF-8 character is at most 4 bytes (4 byte ids, or 4 byte-fallback pieces): text still ending
# in U+FFFD after that many held ids is really invalid and is shown as it is.
MAX_HELD_IDS = 4


class TextStream:
    """Turns generated ids into the new text of each step, with spaces and multi-byte
    characters right.

    Decoding ids one by one is wrong for SentencePiece (a piece's leading space may depend on
    what precedes it) and for byte-level ids (a character can span several ids). So we decode a
    short window: `prefix` = the ids already shown (starting with a few prompt ids, so the first
    generated piece gets its space), and emit decode(prefix + new) minus decode(prefix). Text that
    ends in U+FFFD (an incomplete UTF-8 sequence, byte fallback or byte tokenizer) is held back
    until the next id completes it, for at most MAX_HELD_IDS ids, or until `flush()`.
    """

    def __init__(self, decode: Callable[[list[int]], str], context_ids: Iterable[int] = (),
                 context_tokens: int = 8):
        self.decode = decode
        self.ids = list(context_ids)[-context_tokens:] if context_tokens else []
        self.prefix_offset = 0
        self.read_offset = len(self.ids)

    def push(self, token_id: int) -> str:
        """Add one generated id; return the text that is now certain (possibly '')."""
        self.ids.append(int(token_id))
        return self._emit(final=False)

    def flush(self) -> str:
        """Whatever is still held back (call once at the end)."""
        return self._emit(final=True)

    def _emit(self, final: bool) -> str:
        shown = self.decode(self.ids[self.prefix_offset:self.read_offset])
        text = self.decode(self.ids[self.prefix_offset:])
        held = len(self.ids) - self.read_offset
        incomplete = text.endswith("\ufffd") and held < MAX_HELD_IDS
        if len(text) <= len(shown) or (incomplete and not final):
            return ""
        self.prefix_offset, self.read_offset = self.read_offset, len(self.ids)
        return text[len(shown):]


def stream_text(ids: Iterable[int], decode: Callable[[list[int]], str],
                context_ids: Iterable[int] = ()) -> Iterator[str]:
    """Text pieces of a stream of generated ids (empty pieces are skipped)."""
    stream = TextStream(decode, context_ids)
    for token_id in ids:
        piece = stream.push(token_id)
        if piece:
            yield piece
    rest = stream.flush()
    if rest:
        yield rest
