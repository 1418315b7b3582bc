"""Pure PyTorch Reformer: knows nothing of files, terminals or tokenizers."""
