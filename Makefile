# One-command set-up: every target creates/refreshes the local virtual environment itself.
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
TORCH := torch==2.13.0
export OMP_NUM_THREADS ?= 2
# NumPy's OpenBLAS pool beside torch's OpenMP pool once spun forever in a small matmul (a whisper log-mel
# during a test export); the runtime's NumPy work is small, one BLAS thread is enough.
export OPENBLAS_NUM_THREADS ?= 1
export TOKENIZERS_PARALLELISM := false
export HF_HUB_OFFLINE := 1
export TRANSFORMERS_OFFLINE := 1

.PHONY: demo test test-slow lint venv bench clean speech-tools serve-env test-transformers5 bench-llm bench-llm-envs \
	bench-llm-paired

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

# The suite runs on TEST_WORKERS processes (pytest-xdist), a test file per worker at a time (--dist loadfile:
# module fixtures are made once); the exported bundles are shared between workers (tests/conftest.py). Each
# worker gets one OpenMP thread: two workers of two threads on two cores would spin against each other.
# --durations: the slowest tests and fixtures, listed in the log (the suite's time budget is watched there)
TEST_WORKERS ?= 2
test: $(STAMP) speech-tools serve-env lint
	OMP_NUM_THREADS=1 $(BIN)/python -m pytest -q -p no:cacheprovider -n $(TEST_WORKERS) --dist loadfile \
	  --durations=40 tests

# The slow tests make test leaves out (tests marked slow: the rest of the dynamo export matrix).
test-slow: $(STAMP)
	$(BIN)/python -m pytest -q -p no:cacheprovider --slow -m slow tests

# ruff on the whole tree; mypy on the device runtime (what runs on devices gets the type checks).
lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/mypy

# Real synthesised speech for the ASR tests (Debian's espeak-ng); best effort: without root or apt the
# speech tests skip with the reason, everything else runs.
speech-tools:
	@command -v espeak-ng >/dev/null 2>&1 || { [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1 && \
	  { apt-get install -y -q espeak-ng >/dev/null 2>&1 || { apt-get update -q >/dev/null 2>&1 && apt-get install -y -q espeak-ng >/dev/null 2>&1; }; }; } || \
	  echo "espeak-ng could not be installed: the real-speech tests will skip (apt-get install espeak-ng)"

# Triton's Python-backend stub embeds the system libpython3.11, so the serving venv is made from that exact
# interpreter (a venv from another 3.11.x fails inside the stub). Best effort: without it the serve tests skip.
SERVE_PY ?= /usr/bin/python3.11
SERVE_VENV := .venv-serve
SERVE_STAMP := $(SERVE_VENV)/.installed

serve-env:
	@$(MAKE) -s $(SERVE_STAMP) || echo "the serving environment could not be built: the Triton server tests will skip (make serve-env)"

$(SERVE_STAMP): pyproject.toml requirements-serve.txt
	test -x $(SERVE_VENV)/bin/python || $(SERVE_PY) -m venv $(SERVE_VENV)
	$(SERVE_VENV)/bin/python -m pip install -q --upgrade pip
	$(SERVE_VENV)/bin/python -m pip install -q -r requirements-serve.txt
	$(SERVE_VENV)/bin/python -m pip install -q --no-deps -e .
	touch $(SERVE_STAMP)

# transformers 5 for export (not part of `make test`): a second environment, made from the interpreter .venv was made
# from, with the newest transformers 5 tested (requirements-transformers5.txt, torch first and pinned). The main
# environment (transformers 4.57) exports every built-in reference model first, which also builds the reference
# checkpoints; the transformers 5 environment exports the same checkpoints and each bundle must give the answers
# recorded with 4.57 (tests/transformers5). EDGETOOL_REFERENCE_BUNDLES=DIR keeps and reuses the 4.57 bundles.
TF5_VENV := .venv-tf5
TF5_STAMP := $(TF5_VENV)/.installed

test-transformers5: $(STAMP) $(TF5_STAMP)
	EDGETOOL_REFERENCE_PYTHON=$(BIN)/python $(TF5_VENV)/bin/python -m pytest -q -p no:cacheprovider tests/transformers5 tests/export/test_compat.py

$(TF5_STAMP): $(STAMP) pyproject.toml requirements-transformers5.txt
	test -x $(TF5_VENV)/bin/python || "$$($(BIN)/python -c 'import sys; print(sys._base_executable)')" -m venv $(TF5_VENV)
	$(TF5_VENV)/bin/python -m pip install -q --upgrade pip
	$(TF5_VENV)/bin/python -m pip install -q $(TORCH)
	$(TF5_VENV)/bin/python -m pip install -q -r requirements-transformers5.txt
	$(TF5_VENV)/bin/python -m pip install -q --no-deps -e .
	touch $(TF5_STAMP)

bench: $(STAMP)
	$(BIN)/python benchmarks/run_all.py

# The LLM decode-speed benchmark (benchmarks/llm_speed.py) compares edgetool with engines that cannot share the
# main environment: onnxruntime-genai's model builder needs transformers 5, optimum-onnx its own transformers
# range. Each gets a venv made from the interpreter .venv was made from, torch first and pinned (an unpinned
# torch would pull several GB of CUDA wheels). Best effort: an engine whose venv is missing is skipped with
# the reason. BENCH_LLM_ARGS passes options, e.g. BENCH_LLM_ARGS="--quick --threads 2".
BASE_PY = "$$($(BIN)/python -c 'import sys; print(sys._base_executable)')"
GENAI_VENV := .venv-genai
GENAI_STAMP := $(GENAI_VENV)/.installed
GENAI_REQS := "transformers>=5,<6" onnxruntime-genai==0.18.0 onnxruntime==1.31.1 onnx==1.23.2 onnx-ir tqdm "numpy>=1.26,<2.5" safetensors
OPTIMUM_VENV := .venv-optimum
OPTIMUM_STAMP := $(OPTIMUM_VENV)/.installed
OPTIMUM_REQS := "optimum-onnx[onnxruntime]==0.1.0" onnxruntime==1.31.1 accelerate "numpy>=1.26,<2.5"

bench-llm-envs: $(STAMP)
	@$(MAKE) -s $(GENAI_STAMP) || echo "the onnxruntime-genai environment could not be built: genai-* engines will skip"
	@$(MAKE) -s $(OPTIMUM_STAMP) || echo "the optimum environment could not be built: optimum-ort will skip"

# One benchmark venv: $(1) is its prefix (GENAI or OPTIMUM: $(1)_VENV, $(1)_REQS). The pin is installed again
# with the rest: pip then fails rather than replace torch.
define bench_venv
	test -x $($(1)_VENV)/bin/python || $(BASE_PY) -m venv $($(1)_VENV)
	$($(1)_VENV)/bin/python -m pip install -q --upgrade pip
	$($(1)_VENV)/bin/python -m pip install -q $(TORCH)
	$($(1)_VENV)/bin/python -m pip install -q $(TORCH) $($(1)_REQS)
	touch $($(1)_STAMP)
endef

$(GENAI_STAMP): Makefile | $(STAMP)
	$(call bench_venv,GENAI)

$(OPTIMUM_STAMP): Makefile | $(STAMP)
	$(call bench_venv,OPTIMUM)

bench-llm: $(STAMP) bench-llm-envs
	$(BIN)/python benchmarks/llm_speed.py $(BENCH_LLM_ARGS)

# The same engines decoding in turns, two live processes at a time (benchmarks/llm_paired.py): the ratios the
# targets name (edgetool against GenAI, ms/token at 512 against 16) with the machine's load falling on both sides.
bench-llm-paired: $(STAMP) bench-llm-envs
	$(BIN)/python benchmarks/llm_paired.py $(BENCH_LLM_ARGS)

clean:
	rm -rf $(VENV) $(SERVE_VENV) $(TF5_VENV) $(GENAI_VENV) $(OPTIMUM_VENV) bundles .pytest_cache
