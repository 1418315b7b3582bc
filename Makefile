# `make demo` and `make test` each set everything up from a fresh clone.
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: setup demo test test-fast lint bench-peers summarizer clean

setup: $(STAMP)

# torch first, pinned to the CPU build on this machine, so the range in pyproject.toml is
# already satisfied and pip never pulls a multi-GB CUDA build.
$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q torch==2.13.0
	$(BIN)/pip install -q -e '.[dev]'
	touch $(STAMP)

DEMO := demo-out
DEMO_STEPS ?= 400
DEMO_BUDGET ?= 150

# The main job on built-in text (Python's own pydoc topics, ~65,000 words): train a small
# Reformer for a fixed time budget, continue a document with it, summarize a long topic,
# and measure what a long sequence costs.
demo: setup
	@mkdir -p $(DEMO)
	$(BIN)/python -c "from pydoc_data.topics import topics as t; open('$(DEMO)/corpus.txt', 'w').write('\n\n'.join(t[k] for k in sorted(t)))"
	$(BIN)/python -c "from pydoc_data.topics import topics as t; open('$(DEMO)/prompt.txt', 'w').write(t['with'][:1500])"
	$(BIN)/python -c "from pydoc_data.topics import topics as t; open('$(DEMO)/report.txt', 'w').write(t['typesseq'])"
	rm -rf $(DEMO)/model
	$(BIN)/reformer train $(DEMO)/corpus.txt --config default --out $(DEMO)/model --steps $(DEMO_STEPS) --time-budget $(DEMO_BUDGET) --seq-len 1024
	@echo "--- reformer continue (generated text) ---"
	$(BIN)/reformer continue $(DEMO)/prompt.txt --model $(DEMO)/model --max-new-tokens 120 --temperature 0.8 --top-k 40 --seed 0
	@echo
	@echo "--- reformer summarize (the shipped English sentence scorer, 3 sentences) ---"
	$(BIN)/reformer summarize $(DEMO)/report.txt --sentences 3
	@echo "--- reformer memprofile ---"
	$(BIN)/reformer memprofile --seq-len 4096 --set model.n_layers=4

# The sentence scorer that `reformer summarize` uses by default for English documents
# (SHIPPED, fp16 weights), from the train splits in ../shared/data/summarization (3,095 RFCs with
# their abstracts, 84 Chinese five-chapter documents with their 回目). First a small language
# model reads 800 of the RFCs and the Chinese documents (READER_STEPS steps), then it learns to
# score sentences from all the pairs (--config extract, SCORER_STEPS steps): the step counts the
# shipped model was trained for, so a faster machine does the same training (about 35 minutes on
# a 2-core CPU); the full-precision run stays in models/summarizer. Last, the English keyword
# weights are fitted on 1,000 of the RFCs (under a minute) and the phrase prior on all of them
# (under a minute). Dev-set ROUGE: bench/summarization.py.
SUMMARIZATION_DATA ?= ../shared/data/summarization
READER_STEPS ?= 948
SCORER_STEPS ?= 1733
SHIPPED := reformer_cli/shipped_models/summarizer-en
READER_SIZE := --set model.d_model=128 --set model.d_ff=512 --set model.n_heads=2 --set model.n_layers=2 --set data.vocab_size=8000 --seq-len 2048
summarizer: setup
	@test -d $(SUMMARIZATION_DATA) || { echo "error: no training pairs in $(SUMMARIZATION_DATA); pass SUMMARIZATION_DATA=DIR" >&2; exit 2; }
	@mkdir -p models/summarizer-data
	$(BIN)/python -c "import json, lzma, random; d = '$(SUMMARIZATION_DATA)'; read = lambda n: [json.loads(l)['document'] for l in lzma.open(f'{d}/{n}.train.jsonl.xz', 'rt')]; docs = random.Random(0).sample(read('rfc_abstract'), 800) + read('zh_classics_huimu'); random.Random(1).shuffle(docs); open('models/summarizer-data/documents.txt', 'w').write('\n\n'.join(docs))"
	rm -rf models/summarizer-reader models/summarizer
	$(BIN)/reformer train models/summarizer-data/documents.txt --out models/summarizer-reader $(READER_SIZE) --set train.batch_size=4 --set train.lr=2e-3 --set train.warmup_steps=50 --set train.eval_every=200 --set train.log_every=50 --set train.checkpoint_every=1000 --steps $(READER_STEPS)
	$(BIN)/reformer train $(SUMMARIZATION_DATA)/rfc_abstract.train.jsonl.xz $(SUMMARIZATION_DATA)/zh_classics_huimu.train.jsonl.xz --config extract --init-from models/summarizer-reader --set model.dropout=0.0 --set train.time_budget=null --out models/summarizer --steps $(SCORER_STEPS)
	$(BIN)/python -c "from reformer_cli.checkpoint import save_inference_copy; save_inference_copy('models/summarizer', '$(SHIPPED)')"
	$(BIN)/python -m reformer_cli.shipped_models.fit_keywords $(SUMMARIZATION_DATA)/rfc_abstract.train.jsonl.xz --documents 1000 --seed 0
	$(BIN)/python -m reformer_cli.shipped_models.fit_phrases $(SUMMARIZATION_DATA)/rfc_abstract.train.jsonl.xz

# The whole suite (what CI runs), one pytest-xdist worker per core; a test file stays on one
# worker, so a module's trained-model fixture is built once.
PARALLEL := -n auto --dist loadfile
test: setup
	$(BIN)/python -m pytest -q $(PARALLEL) tests

# The edit loop: everything but the tests marked slow (long sequences, trained models).
test-fast: setup
	$(BIN)/python -m pytest -q $(PARALLEL) -m "not slow" tests

# pyflakes, pycodestyle, bugbear and isort, configured in pyproject.toml.
lint: setup
	$(BIN)/ruff check .

# Our LSH layer beside reformer-pytorch and Hugging Face's in one run (the same environment runs
# tests/test_lsh_against_huggingface.py, which CI skips). The peers get their own
# environment (torch pinned as above), never the package's dependencies.
PEERS := .venv-peers
$(PEERS)/.installed: pyproject.toml
	$(PYTHON) -m venv $(PEERS)
	$(PEERS)/bin/pip install -q --upgrade pip
	$(PEERS)/bin/pip install -q torch==2.13.0
	$(PEERS)/bin/pip install -q -e . reformer-pytorch==1.4.4 transformers==5.25.0 pytest
	touch $@

bench-peers: $(PEERS)/.installed
	$(PEERS)/bin/python bench/peers.py

clean:
	rm -rf $(VENV) $(PEERS) demo-out .pytest_cache
