# The README's commands. Needs only Python 3.11+ and make: uv is installed into .tools/ when it is missing.

SHELL := /bin/bash
export UV_PYTHON_DOWNLOADS := never
export UV_PROJECT_ENVIRONMENT := .venv
UV_VERSION := 0.13.9
UV := $(or $(shell command -v uv 2>/dev/null),.tools/bin/uv)
VENV_BIN := .venv/bin

.PHONY: run test lint format typecheck pytest bench migrate clean images workers test-workers

run: .venv/.synced ## Start the gateway on the embedded default (SQLite in ./data, port 3000)
	$(VENV_BIN)/wagw run

test: lint typecheck test-workers pytest ## The whole suite: lint, types, workers' unit tests, then every test on SQLite and PostgreSQL

pytest: .venv/.synced
	$(VENV_BIN)/pytest

lint: .venv/.synced
	$(VENV_BIN)/ruff check .
	$(VENV_BIN)/ruff format --check .

format: .venv/.synced
	$(VENV_BIN)/ruff format .
	$(VENV_BIN)/ruff check --fix .

typecheck: .venv/.synced
	$(VENV_BIN)/mypy

migrate: .venv/.synced ## Apply database migrations (DATABASE_URL, or SQLite in ./data)
	$(VENV_BIN)/wagw migrate

bench: .venv/.synced ## Every benchmark; results in bench/results and docs/benchmarks.md (docker: after make images)
	$(VENV_BIN)/python -m bench.bench_api
	$(VENV_BIN)/python -m bench.bench_workers
	$(VENV_BIN)/python -m bench.bench_webhooks
	$(VENV_BIN)/python -m bench.bench_waba
	$(VENV_BIN)/python -m bench.bench_providers
	$(VENV_BIN)/python -m bench.bench_docker

workers: ## Build the workers of other languages that this host has the toolchain for (Go, Node.js)
	providers/workers.sh build

test-workers: workers ## Their own unit tests (go vet and go test -race; node:test)
	providers/workers.sh test

images: ## Build the container images (gateway, sandbox worker, built providers); EXTRA_ENGINES loads them elsewhere
	deploy/images/build.sh

.tools/bin/uv:
	@echo "uv not found: installing uv $(UV_VERSION) into .tools/"
	python3 -m venv .tools
	.tools/bin/pip install --quiet "uv==$(UV_VERSION)"

.venv/.synced: pyproject.toml uv.lock | $(UV)
	$(UV) sync --frozen
	@touch $@

clean:
	rm -rf .venv .tools .pytest_cache .mypy_cache .ruff_cache
