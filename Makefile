# Two commands do all the set-up: `make run` and `make test`.
VENV ?= .venv
PY := $(VENV)/bin/python
PORT ?= 8501
export HF_HUB_OFFLINE := 1
export TRANSFORMERS_OFFLINE := 1
export HF_HUB_DISABLE_PROGRESS_BARS := 1

.PHONY: setup setup-dev run test lint format bench scale clean

setup: $(VENV)/.app  ## the app's environment

setup-dev: $(VENV)/.dev  ## the app's environment plus test tools

$(VENV)/.app: requirements.txt
	test -x $(PY) || python3 -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet torch==2.13.0
	$(PY) -m pip install --quiet -r requirements.txt
	touch $@

$(VENV)/.dev: $(VENV)/.app requirements-dev.txt
	$(PY) -m pip install --quiet -r requirements-dev.txt
	touch $@

run: setup  ## start the app on http://localhost:$(PORT) with "hi how are you" loaded
	$(PY) -m streamlit run app.py --server.headless true --server.port $(PORT) --browser.gatherUsageStats false

test: setup-dev  ## lint, then the whole suite (maths, figures, pages, CLI, browser)
	$(PY) -m ruff check .
	$(PY) -m ruff format --check .
	$(PY) -m pytest

format: setup-dev
	$(PY) -m ruff format .
	$(PY) -m ruff check --fix .

bench: setup-dev  ## every benchmark (about 15 minutes), then one table: benchmarks/out/bench.md and .json, and the README's
	rm -f benchmarks/out/results.jsonl
	-$(PY) benchmarks/bench_rerun.py
	-$(PY) benchmarks/bench_heads.py
	-$(PY) benchmarks/bench_train.py
	-$(PY) benchmarks/bench_vision.py
	-$(PY) benchmarks/bench_cost.py
	-$(PY) benchmarks/bench_browser.py
	-$(PY) benchmarks/bench_cli.py
	-$(PY) benchmarks/bench_launch.py
	-$(PY) benchmarks/bench_sessions.py
	-$(PY) benchmarks/bench_handout.py
	$(PY) benchmarks/report.py --readme

scale: setup-dev  ## 3 replicas behind HAProxy, 60 browser sessions, one replica stopped mid-run (minutes; not in `make test`)
	command -v haproxy >/dev/null || { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq haproxy >/dev/null; }
	$(PY) deploy/scale.py

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache screenshots benchmarks/out
