# Thin wrappers over `python -m ...`; every target installs what it needs into $(VENV) first. `make help` lists them.
VENV ?= .venv
PY := $(VENV)/bin/python
# torch: chosen by fastmri_pl/runtime/torch_install.py for the GPU nvidia-smi reports (CPU build without one);
# TORCH_SPEC (a pip requirement) and TORCH_INDEX (an index URL) override its choice.
TORCH_SPEC ?=
TORCH_INDEX ?=
TORCH_OVERRIDES := $(if $(TORCH_SPEC),--spec "$(TORCH_SPEC)",) $(if $(TORCH_INDEX),--index-url "$(TORCH_INDEX)",)
ARGS ?=
# test processes (pytest-xdist): the suite's end-to-end runs are mostly one-core subprocesses, so 2 on 2 cores
# take ~0.6x the time of 1 (the number measured is in docs/development.md); 0 runs it in this process
TEST_WORKERS ?= 2

.PHONY: help install torch-choice train test test-fast bench gpu-check sweep notebooks lint format clean clean-outputs

help:  ## this list
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F ':.*## ' '{printf "  make %-14s %s\n", $$1, $$2}'
	@echo "  (ARGS='key=value ...' passes Hydra overrides to train, test, bench, sweep)"

$(VENV)/.installed: pyproject.toml
	python3 -m venv $(VENV)
	$(PY) fastmri_pl/runtime/torch_install.py $(TORCH_OVERRIDES)
	$(PY) -m pip install -q -e ".[dev,sweeps,slurm]"
	touch $@

install: $(VENV)/.installed  ## .venv with the torch build for this machine's GPU (or CPU), then the project

torch-choice:  ## print the torch build `make install` would pick here, install nothing
	python3 fastmri_pl/runtime/torch_install.py --dry-run $(TORCH_OVERRIDES)

train: install  ## the quick start: small VarNet on the embedded synthetic data, CPU, a few minutes
	$(PY) -m fastmri_pl.train experiment=quickstart $(ARGS)

test: install  ## the whole test suite (CPU; what CI runs), in TEST_WORKERS processes (pytest-xdist)
	$(PY) -m pytest -q -n $(TEST_WORKERS) --durations=10 $(ARGS)

test-fast: install  ## the suite without the tests marked slow (end-to-end runs): under two minutes here
	$(PY) -m pytest -q -n $(TEST_WORKERS) -m "not slow" $(ARGS)

bench: install  ## measured memory and step time per model x profile
	$(PY) -m fastmri_pl.bench $(ARGS)

gpu-check: install  ## on a GPU: bench, determinism, reconstruct ms/slice -> outputs/gpu-check/report.md (DRY_RUN=1: no CUDA)
	$(PY) -m benchmarks.gpu_check $(if $(DRY_RUN),--dry-run,)

sweep: install  ## small CPU sweep: the quick start's 6 epochs for varnet_small and promptmr_small, summary table
	$(PY) -m fastmri_pl.train -m experiment=quickstart model=varnet_small,promptmr_small $(ARGS)

notebooks: install  ## execute the notebooks into outputs/notebooks/ (the sources keep no outputs)
	mkdir -p outputs/notebooks
	cp notebooks/*.ipynb outputs/notebooks/
	$(VENV)/bin/jupyter-execute --inplace --timeout=600 outputs/notebooks/*.ipynb

lint: install  ## ruff check + ruff format --check
	$(VENV)/bin/ruff check fastmri_pl tests benchmarks
	$(VENV)/bin/ruff format --check fastmri_pl tests benchmarks

format: install  ## ruff format + ruff check --fix
	$(VENV)/bin/ruff format fastmri_pl tests benchmarks
	$(VENV)/bin/ruff check --fix fastmri_pl tests benchmarks

clean:  ## remove .venv and caches (keeps outputs/ and data/)
	rm -rf $(VENV) .pytest_cache .ruff_cache build *.egg-info
	find . -name __pycache__ -type d -prune -exec rm -rf {} +

clean-outputs:  ## delete outputs/: every run folder, checkpoint and log
	rm -rf outputs
