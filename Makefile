# Thin wrappers over `python -m ...`; every target installs what it needs into $(VENV) first.
VENV ?= .venv
PY := $(VENV)/bin/python
# CPU machines get the CPU wheel (torch==2.13.0 lies on disk here); with nvidia-smi present, a CUDA build.
HAS_GPU := $(shell command -v nvidia-smi >/dev/null 2>&1 && echo 1)
TORCH_SPEC ?= $(if $(HAS_GPU),torch,torch==2.13.0)
TORCH_INDEX ?=
PIP_TORCH_FLAGS := $(if $(TORCH_INDEX),--index-url $(TORCH_INDEX),)
ARGS ?=

.PHONY: install train test bench sweep notebooks lint format clean

$(VENV)/.installed: pyproject.toml
	python3 -m venv $(VENV)
	$(PY) -m pip install -q "$(TORCH_SPEC)" $(PIP_TORCH_FLAGS)
	$(PY) -m pip install -q -e ".[dev,sweeps,slurm]"
	touch $@

install: $(VENV)/.installed

train: install  ## the quick start: small VarNet on the embedded synthetic data, CPU, a few minutes
	$(PY) -m fastmri_pl.train experiment=quickstart $(ARGS)

test: install  ## the whole test suite (CPU)
	$(PY) -m pytest -q --durations=10 $(ARGS)

bench: install  ## measured memory and step time per model x profile
	$(PY) -m fastmri_pl.bench $(ARGS)

lint: install
	$(VENV)/bin/ruff check fastmri_pl tests benchmarks
	$(VENV)/bin/ruff format --check fastmri_pl tests benchmarks

format: install
	$(VENV)/bin/ruff format fastmri_pl tests benchmarks
	$(VENV)/bin/ruff check --fix fastmri_pl tests benchmarks

clean:
	rm -rf $(VENV) outputs multirun .pytest_cache
