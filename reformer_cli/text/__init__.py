"""Text handling: reading corpora, tokenizers, sentence segmentation."""
