# patchplan: `make demo` and `make test` do all set-up on a fresh machine.
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

.PHONY: demo test lint bench bench-matrix bench-rounds bench-large-day bench-patches bench-sweep bench-city-week clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

$(STAMP): pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $(STAMP)

demo: $(STAMP)
	$(BIN)/patchplan demo

test: $(STAMP)
	$(BIN)/python -m pytest -n 2 --dist loadfile

lint: $(STAMP)
	$(BIN)/ruff check patchplan tests benchmarks
	$(BIN)/mypy patchplan

# Each benchmark reports ratios against a named baseline measured in the same run (benchmarks/README.md).
bench: bench-matrix bench-rounds bench-large-day bench-patches bench-city-week

bench-matrix: $(STAMP)
	$(BIN)/python -m benchmarks.bench_matrix --nx-sample 50

bench-rounds: $(STAMP)
	$(BIN)/python -m benchmarks.bench_rounds --limits 10 60

bench-large-day: $(STAMP)
	$(BIN)/python -m benchmarks.bench_large_day

bench-patches: $(STAMP)
	$(BIN)/python -m benchmarks.bench_patches

# Hours on 2 cores (80 demo and Rutland tasks, three ways), so not part of `make bench`.
bench-sweep: $(STAMP)
	$(BIN)/python -m benchmarks.bench_sweep --out bench_sweep.json

bench-city-week: $(STAMP)
	$(BIN)/python -m benchmarks.bench_city_week --scenario sheffield --baseline-lots P01 P05

clean:
	rm -rf $(VENV) outputs/maps/*.html outputs/*/published outputs/*/INTERNAL .pytest_cache
