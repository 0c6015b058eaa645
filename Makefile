PYTHON ?= python3
export NUMBA_CACHE_DIR ?= $(CURDIR)/.numba_cache

.PHONY: setup test test-all lint verify bench bench-quick clean

setup:
	$(PYTHON) -m pip install -q -e '.[dev]'

test:
	$(PYTHON) -m pytest -q

test-all:
	$(PYTHON) -m pytest -q -m ''

lint:
	$(PYTHON) -m ruff check emac_sim tests benchmarks

verify:
	$(PYTHON) -m pytest -q -m verification

bench:
	$(PYTHON) -m benchmarks.run --out reports/benchmarks.md

bench-quick:
	$(PYTHON) -m benchmarks.run --quick --out reports/benchmarks-quick.md

clean:
	rm -rf .numba_cache .pytest_cache build *.egg-info
