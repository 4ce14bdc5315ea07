# midex — every target creates/uses .venv by itself.
#   make demo    the whole pipeline on the bundled sample submissions (embedded default)
#   make test    the test suite
#   make install .venv with midex and all it needs; the CLI at .venv/bin/midex
#   make check   ruff lint + format check, mypy type check of src/midex
#   make up      the single-node service: Airflow + Spark standalone + PostgreSQL catalog (infra/)
#   make down    stop it (docs/operations.md)
#   make bench   midex vs pandas, DuckDB and the pyarrow I/O floor (SCALE=100k|1m|10m; docs/performance.md)

PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

.PHONY: install demo test check java clean up down bench

java:
	@command -v java >/dev/null 2>&1 || { \
	  echo "midex needs Java 17 for Spark, and none was found on PATH."; \
	  echo "Install it, e.g. on Debian/Ubuntu: sudo apt-get install -y openjdk-17-jre-headless"; \
	  echo "(or set JAVA_HOME and put \$$JAVA_HOME/bin on PATH), then run make again."; \
	  exit 1; }

$(STAMP): pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	@$(BIN)/midex spark-archive || echo "no JVM class archive: Spark drivers start without it"
	@touch $(STAMP)

install: $(STAMP)

demo: java install
	$(BIN)/midex demo

test: java install
	$(BIN)/python -m pytest

check: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy
	$(BIN)/vulture

up: java install
	infra/service.sh up

down:
	infra/service.sh down

SCALE ?= 100k
BENCH_STAMP := $(VENV)/.installed-bench

$(BENCH_STAMP): $(STAMP)
	$(BIN)/python -m pip install --quiet -e '.[dev,bench]'
	@touch $(BENCH_STAMP)

bench: java $(BENCH_STAMP)
	$(BIN)/python bench/run.py --scale $(SCALE)

clean:
	rm -rf .midex .pytest_cache .ruff_cache .mypy_cache
