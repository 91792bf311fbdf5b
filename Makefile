# The few commands a person types. `make demo` and `make test` are the quick start.
PY := .venv/bin/python
DATA ?= ../shared/data
DB ?= sqlite:///parcelflow.db

.PHONY: demo test setup lint bench clean

## Set up, then inventory the sample data into parcelflow.db (SQLite, no server).
demo:
	@scripts/setup.sh
	@if [ -d "$(DATA)" ]; then src="$(DATA)"; else echo "no $(DATA): inventorying this repository instead"; src=.; fi; \
	.venv/bin/parcelflow run inventory "$$src" --db "$(DB)"; code=$$?; \
	.venv/bin/parcelflow audit verify --db "$(DB)"; exit $$code

## Set up (packages, Tesseract, PostgreSQL, Redis), then run lint, types and the whole test suite.
test:
	@scripts/setup.sh --services
	$(PY) -m ruff check src tests bench
	$(PY) -m mypy
	$(PY) -m pytest -p no:cacheprovider tests

setup:
	@scripts/setup.sh

lint:
	$(PY) -m ruff check src tests bench
	$(PY) -m ruff format --check src tests bench
	$(PY) -m mypy

## Benchmarks (not pass/fail tests): see "Benchmarks" in README.md for each one and its figures.
bench:
	$(PY) bench/engine_overhead.py
	$(PY) bench/memory.py
	$(PY) bench/crash_resume.py

clean:
	rm -rf .venv parcelflow.db parcelflow.db-wal parcelflow.db-shm
