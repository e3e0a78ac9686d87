# One-command set-up: every target creates/refreshes the local virtual environment itself.
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
TORCH := torch==2.13.0
export OMP_NUM_THREADS ?= 2
export TOKENIZERS_PARALLELISM := false
export HF_HUB_OFFLINE := 1
export TRANSFORMERS_OFFLINE := 1

.PHONY: demo test venv bench clean speech-tools

venv: $(STAMP)

# torch goes first and pinned: any unpinned torch requirement would pull several GB of CUDA wheels.
$(STAMP): pyproject.toml requirements-dev.txt
	test -x $(BIN)/python || $(PY) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q $(TORCH)
	$(BIN)/python -m pip install -q -r requirements-dev.txt
	$(BIN)/python -m pip install -q --no-deps -e .
	touch $(STAMP)

demo: $(STAMP)
	$(BIN)/python -m edgetool.demo

test: $(STAMP) speech-tools
	$(BIN)/python -m pytest -q -p no:cacheprovider tests

# Real synthesised speech for the ASR tests (Debian's espeak-ng); best effort: without root or apt the
# speech tests skip with the reason, everything else runs.
speech-tools:
	@command -v espeak-ng >/dev/null 2>&1 || { [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1 && \
	  { apt-get install -y -q espeak-ng >/dev/null 2>&1 || { apt-get update -q >/dev/null 2>&1 && apt-get install -y -q espeak-ng >/dev/null 2>&1; }; }; } || \
	  echo "espeak-ng could not be installed: the real-speech tests will skip (apt-get install espeak-ng)"

bench: $(STAMP)
	$(BIN)/python benchmarks/run_all.py

clean:
	rm -rf $(VENV) bundles .pytest_cache
