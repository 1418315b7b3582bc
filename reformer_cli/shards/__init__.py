"""Token shards on disk: the corpus tokenized once, in parallel, and memory-mapped by every run,
resume and rank that uses the same files and tokenizer.

format (file names, the JSON index, atomic writes), tokens (memory-mapped reading), pieces (byte
ranges of files cut at line ends), encode (the worker and the process pool), sample (the bounded
SentencePiece training sample), entries (a subfolder per corpus and tokenizer), prepare (reuse
or re-encode, the lock, the validation split).
"""
