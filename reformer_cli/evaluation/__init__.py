"""Measuring models and summaries: ROUGE of summaries against references (rouge.py, pairs.py)
and bits per character of held-out text (perplexity.py)."""
