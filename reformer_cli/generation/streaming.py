"""Generated ids to text, piece by piece, with spaces and multi-byte characters right."""

from __future__ import annotations

from typing import Callable, Iterable, Iterator

REPLACEMENT = "\ufffd"
# An unfinished UTF-8 character is at most 3 bytes, shown as at most 3 U+FFFD (SentencePiece's
# byte fallback shows one per byte, Python's decoder one per sequence). Any text before them is
# final; the U+FFFD themselves may still become a character.
MAX_HELD_CHARS = 3


class TextStream:
    """Turns generated ids into the new text of each step, with spaces and multi-byte
    characters right: the pieces joined equal decode(all ids), whatever the ids.

    Decoding ids one by one is wrong for SentencePiece (a piece's leading space may depend on
    what precedes it) and for byte-level ids (a character can span several ids). So we decode a
    short window of ids, starting with a few prompt ids (the first generated piece gets its
    space), and emit the part of its text not yet shown. Only the trailing U+FFFD (at most
    MAX_HELD_CHARS) are held back, since the next id may complete them into a character; a U+FFFD
    that is really an invalid byte comes out with the next character, or at `flush()`.
    """

    def __init__(self, decode: Callable[[list[int]], str], context_ids: Iterable[int] = (),
                 context_tokens: int = 8):
        self.decode = decode
        self.context_tokens = context_tokens
        self.ids = list(context_ids)[-context_tokens:] if context_tokens else []
        self.shown = len(decode(self.ids))  # characters of decode(self.ids) already out

    def push(self, token_id: int) -> str:
        """Add one generated id; return the text that is now certain (possibly '')."""
        self.ids.append(int(token_id))
        text = self.decode(self.ids)
        trailing = len(text) - len(text.rstrip(REPLACEMENT))
        piece = self._take(text, len(text) - min(trailing, MAX_HELD_CHARS))
        if len(self.ids) > 2 * self.context_tokens:
            self._drop_shown_ids(text)
        return piece

    def flush(self) -> str:
        """Whatever is still held back (call once at the end)."""
        return self._take(self.decode(self.ids), None)

    def _take(self, text: str, end: int | None) -> str:
        piece = text[self.shown:end]
        self.shown += len(piece)
        return piece

    def _drop_shown_ids(self, text: str) -> None:
        """Keep the last `context_tokens` ids, so each step decodes a short window. The cut must
        not change the text: everything before it is out, and it decodes the same on its own
        (no character, held or not, spans it)."""
        cut = len(self.ids) - self.context_tokens
        head = self.decode(self.ids[:cut])
        if len(head) <= self.shown and head + self.decode(self.ids[cut:]) == text:
            self.ids = self.ids[cut:]
            self.shown -= len(head)


def stream_text(ids: Iterable[int], decode: Callable[[list[int]], str],
                context_ids: Iterable[int] = ()) -> Iterator[str]:
    """Text pieces of a stream of generated ids (empty pieces are skipped); each piece is
    yielded before the next id is asked for."""
    stream = TextStream(decode, context_ids)
    for token_id in ids:
        piece = stream.push(token_id)
        if piece:
            yield piece
    rest = stream.flush()
    if rest:
        yield rest
