# Set-up: `make demo` and `make test` each create .venv and install what they need.
PYTHON ?= python3.11
VENV := .venv
BIN := $(VENV)/bin
# Real data: POLYMODAL_DATA if set, else ../shared/data when it exists.
export POLYMODAL_DATA ?= $(if $(wildcard ../shared/data/MANIFEST.sha256),$(abspath ../shared/data),)
DEMO_DIR ?= runs/demo

.PHONY: install demo test lint bench-peers bench clean clean-cache

$(BIN)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q -e ".[test,bench,serve,torch]"
	touch $@

install: $(BIN)/.installed

demo: $(BIN)/.installed
	$(BIN)/python -m polymodal.demo --out $(DEMO_DIR)

test: $(BIN)/.installed
	$(BIN)/ruff check src tests benchmarks
	$(BIN)/python -m pytest -q

# Peers for benchmarks live in their own environment: libpecos pins numpy<2 and drags in a CUDA torch,
# so it is installed without its dependencies (its XR-Linear path needs only numpy/scipy/scikit-learn).
.venv-peers/.installed:
	$(PYTHON) -m venv .venv-peers
	.venv-peers/bin/python -m pip install -q --upgrade pip
	.venv-peers/bin/python -m pip install -q "numpy<2" "scipy<1.13" scikit-learn psutil omikuji napkinxc
	.venv-peers/bin/python -m pip install -q --no-deps libpecos
	touch $@

bench-peers: .venv-peers/.installed

bench: $(BIN)/.installed bench-peers
	$(BIN)/python benchmarks/xmr_vs_peers.py

# numba caches compiled kernels per source file and checks only that file's time stamp: after editing a kernel
# that a kernel in another file calls (solver.py <- trainer.py), drop the caches or the caller keeps the old code.
clean-cache:
	find src benchmarks -name '*.nbi' -delete -o -name '*.nbc' -delete

clean: clean-cache
	rm -rf $(VENV) .venv-peers runs build *.egg-info
