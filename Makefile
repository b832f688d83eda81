# Two commands do all the set-up: `make run` and `make test`.
VENV ?= .venv
PY := $(VENV)/bin/python
PORT ?= 8501
# `make run` listens on every network interface, so a class on the room's network can open it;
# ADDRESS=127.0.0.1 keeps it on this machine only.
ADDRESS ?=
export HF_HUB_OFFLINE := 1
export TRANSFORMERS_OFFLINE := 1
export HF_HUB_DISABLE_PROGRESS_BARS := 1
export NO_MKDOCS_2_WARNING := 1

.PHONY: setup setup-dev run test docs lint format bench scale plotlyjs axe clean

setup: $(VENV)/.app  ## the app's environment

setup-dev: $(VENV)/.dev  ## the app's environment plus test tools

$(VENV)/.app: requirements.txt pyproject.toml
	test -x $(PY) || python3 -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet torch==2.13.0
	$(PY) -m pip install --quiet -r requirements.txt
	$(PY) -m pip install --quiet --no-deps -e .  # attnviz itself, editable: the pins above are its dependencies
	touch $@

$(VENV)/.dev: $(VENV)/.app requirements-dev.txt harness/pyproject.toml
	$(PY) -m pip install --quiet -r requirements-dev.txt
	$(PY) -m pip install --quiet --no-deps -e harness  # the browser harness (attnviz_harness), not in the product
	touch $@

run: setup  ## start the app on http://localhost:$(PORT) with "hi how are you" loaded (every interface unless ADDRESS=…)
	@echo "attnviz: $(if $(ADDRESS),listening on $(ADDRESS) only,listening on every network interface: anyone on this network can open the Network URL below (make run ADDRESS=127.0.0.1 keeps it on this machine))"
	$(VENV)/bin/attnviz serve --port $(PORT)$(if $(ADDRESS), --address $(ADDRESS))

test: setup-dev  ## lint, types, the docs, then the whole suite (maths, figures, pages, CLI, browser)
	$(PY) -m ruff check .
	$(PY) -m ruff format --check .
	$(PY) -m mypy
	$(MAKE) --no-print-directory docs
	$(PY) -m pytest

docs: setup-dev  ## the documentation site, offline, into site/ (warnings are errors)
	$(VENV)/bin/mkdocs build --strict --quiet --site-dir site

format: setup-dev
	$(PY) -m ruff format .
	$(PY) -m ruff check --fix .

bench: setup-dev  ## every benchmark (about 15 minutes), then one table: benchmarks/out/bench.md and .json, and docs/benchmarks.md's
	rm -f benchmarks/out/results.jsonl
	-$(PY) benchmarks/bench_rerun.py
	-$(PY) benchmarks/bench_heads.py
	-$(PY) benchmarks/bench_census.py
	-$(PY) benchmarks/bench_train.py
	-$(PY) benchmarks/bench_induction.py
	-$(PY) benchmarks/bench_vision.py
	-$(PY) benchmarks/bench_cost.py
	-$(PY) benchmarks/bench_browser.py
	-$(PY) benchmarks/bench_cli.py
	-$(PY) benchmarks/bench_launch.py
	-$(PY) benchmarks/bench_sessions.py
	-$(PY) benchmarks/bench_handout.py
	$(PY) benchmarks/report.py --docs

scale: setup-dev  ## 3 replicas behind HAProxy, 60 browser sessions, one replica stopped mid-run (minutes; not in `make test`)
	command -v haproxy >/dev/null || { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq haproxy >/dev/null; }
	$(PY) deploy/scale.py

plotlyjs: setup  ## refresh the handout's vendored plotly.js (cartesian bundle) to the plotly package's version; needs npm
	v=$$($(PY) -c "from plotly.offline import get_plotlyjs_version as v; print(v())") && tmp=$$(mktemp -d) && \
	(cd $$tmp && npm pack --silent plotly.js-cartesian-dist-min@$$v >/dev/null && tar xzf *.tgz) && \
	cp $$tmp/package/plotly-cartesian.min.js attnviz/data/plotly-cartesian.min.js && \
	cp $$tmp/package/LICENSE attnviz/data/plotly.js-LICENSE && rm -rf $$tmp && echo "plotly.js $$v vendored"

AXE_VERSION ?= 4.14.1
axe:  ## refresh the browser tests' vendored axe-core (npm axe-core@$(AXE_VERSION)); needs npm
	tmp=$$(mktemp -d) && (cd $$tmp && npm pack --silent axe-core@$(AXE_VERSION) >/dev/null && tar xzf *.tgz) && \
	cp $$tmp/package/axe.min.js $$tmp/package/LICENSE $$tmp/package/LICENSE-3RD-PARTY.txt tests/browser/axe/ && \
	rm -rf $$tmp && echo "axe-core $(AXE_VERSION) vendored"

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache screenshots benchmarks/out
