# One entry for set-up, the demo and the tests. Every target creates/refreshes .venv itself.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed-stamp
# torch's OpenMP threads spin-wait by default, which made 2-core runs ~5x slower.
export OMP_WAIT_POLICY := PASSIVE
LINT_PATHS := src tests benchmarks recipes

.PHONY: venv demo test test-fast test-portable lint format clean

$(STAMP): pyproject.toml constraints.txt
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -c constraints.txt -e '.[synth,hf,speaker,vocos,dev]'
	$(PY) -m pip install --quiet -c constraints.txt --no-deps resemblyzer
	touch $(STAMP)

venv: $(STAMP)

## demo: the main job: synthetic corpus -> original + gold -> FT, NG -> report (runs/demo)
demo: $(STAMP)
	$(VENV)/bin/audio-unlearn run recipes/demo/config.yaml --out runs/demo

## test: lint, format check and the whole test suite (what CI runs)
test: $(STAMP) lint
	$(PY) -m pytest -q

## test-fast: the suite without end-to-end runs marked slow
test-fast: $(STAMP) lint
	$(PY) -m pytest -q -m "not slow"

## test-portable: the tests that assert bounds on trained results (and cross-path
## tolerances) under another CPU kernel set than this machine's and one thread, as another
## machine would run them; PORTABLE_CAPS="default avx2" picks the kernel sets
PORTABLE_CAPS ?= $(shell test -x $(PY) && $(PY) -c "import torch; print('avx2' if torch.backends.cpu.get_cpu_capability() == 'AVX512' else 'default')")
test-portable: $(STAMP)
	@for cap in $(PORTABLE_CAPS); do \
		echo "== ATEN_CPU_CAPABILITY=$$cap, 1 thread: pytest -m bounds"; \
		ATEN_CPU_CAPABILITY=$$cap OMP_NUM_THREADS=1 MKL_NUM_THREADS=1 \
			$(PY) -m pytest -q -p no:cacheprovider -m bounds || exit 1; \
	done

lint: $(STAMP)
	$(VENV)/bin/ruff check $(LINT_PATHS)
	$(VENV)/bin/ruff format --check $(LINT_PATHS)

format: $(STAMP)
	$(VENV)/bin/ruff check --fix $(LINT_PATHS)
	$(VENV)/bin/ruff format $(LINT_PATHS)

clean:
	rm -rf runs .pytest_cache .ruff_cache
