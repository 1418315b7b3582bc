"""Generating tokens with the cached decoder: sampling, the continue loop, streaming text, and
the summary searches."""
