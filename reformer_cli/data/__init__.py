"""Training data made from token ids: language-model windows, summarization examples and the
validation split."""
