# gigafactory: the two commands a newcomer needs are `make plan` and `make test`.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
SITE   ?= sites/narvik.yaml
STACK  ?= kind

.PHONY: help install plan check check-stacks render test lint typecheck pytest bench bench-sim bench-engine up down sim sim-down clean toolchain

help:  ## list targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  %-10s %s\n", $$1, $$2}'

$(BIN)/.installed: pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip==25.3
	$(BIN)/python -m pip install --quiet -e '.[pulumi,ansible,dev]'
	touch $@

install: $(BIN)/.installed  ## create .venv and install the suite with every pinned dependency

plan: install  ## the main job: capacity plan and policy report of SITE (default: Narvik)
	$(BIN)/gigafactory plan $(SITE)

check: install  ## policy gate for SITE: exit 1 on any mandatory violation
	$(BIN)/gigafactory check $(SITE)

check-stacks: install  ## the pull-request gate: every stack's policies over its offline render
	$(BIN)/gigafactory check --all-stacks

render: install  ## offline plan of STACK (default: kind) into out/STACK
	$(BIN)/gigafactory render --stack $(STACK) --out out/$(STACK)

up:  ## kind cluster from the model, then pulumi up on a local file backend (needs Docker, kind, Pulumi CLI)
	scripts/kind-up.sh

down:  ## delete the kind cluster and its local stack
	scripts/kind-down.sh

sim: install  ## offline: the simulator for the sim stack, then gigafactory up --stack sim (needs `make toolchain`)
	$(BIN)/gigafactory sim up --stack sim
	$(BIN)/gigafactory up --stack sim --yes

sim-down: install  ## destroy the sim stack, then stop the simulator (no process or file left)
	$(BIN)/gigafactory destroy --stack sim --yes
	$(BIN)/gigafactory sim down --stack sim

lint: install  ## ruff lint and format check
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

typecheck: install  ## mypy, strict
	$(BIN)/mypy
	$(BIN)/mypy __main__.py
	$(BIN)/mypy policy/__main__.py

pytest: install  ## the pytest suite only
	$(BIN)/pytest

test: lint typecheck pytest  ## everything CI runs: lint, types, all tests

bench: install  ## benchmarks (numbers go in the closing notes, not in tests)
	$(BIN)/python benchmarks/bench_plan.py
	$(BIN)/python benchmarks/bench_render.py
	$(BIN)/python benchmarks/bench_check.py
	$(BIN)/python benchmarks/bench_inventory.py
	$(BIN)/python benchmarks/bench_report.py

bench-sim: install  ## the simulator: laptop sim up/down, then the full-size narvik-c1 rehearsal (needs `make toolchain`)
	$(BIN)/python benchmarks/bench_sim.py
	flock /tmp/gf-fullsize.lock $(BIN)/python benchmarks/bench_scale.py

bench-engine: install  ## the real engine on the simulator: up from empty, no-op up, preview --policy-pack (needs `make toolchain`)
	$(BIN)/python benchmarks/bench_engine.py

toolchain:  ## build the pinned Go toolchain (etcd, Kubernetes, KWOK, Kueue, containerd, CNI, Pulumi, provider) into /var/cache/gigafactory
	bash scripts/toolchain.sh build

clean:  ## remove the virtualenv and caches
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache .hypothesis
