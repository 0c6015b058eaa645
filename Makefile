PYTHON ?= python3
# Kernels are cached where the `emac` command caches them (~/.cache/emac-sim, or $EMAC_CACHE_DIR):
# tests, benchmarks and the CLI compile them once, together.

.PHONY: setup test test-all lint verify bench bench-quick clean

setup:
	$(PYTHON) -m pip install -q -e '.[dev]'

test:
	$(PYTHON) -m pytest -q

test-all:
	$(PYTHON) -m pytest -q -m ''

lint:
	$(PYTHON) -m ruff check emac_sim tests benchmarks tools
	$(PYTHON) tools/import_cycles.py --rules

verify:
	$(PYTHON) -m pytest -q -m verification

bench:
	$(PYTHON) -m benchmarks.run --out reports/benchmarks.md

bench-quick:
	$(PYTHON) -m benchmarks.run --quick --out build/bench-quick/benchmarks-quick.md

clean:
	rm -rf .pytest_cache build *.egg-info
