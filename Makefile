# Quick start: `make demo` then `make test`. Both create .venv on first use.
PYTHON ?= python3.11
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed

.PHONY: demo test test-floors lint bench clean

$(STAMP): setup.py
	@echo "==> creating $(VENV) with $(PYTHON) (first run only)"
	$(PYTHON) -m venv $(VENV)
	@echo "==> installing crucible-datasets and its test tools into $(VENV): Apache Beam and pyarrow are large,"
	@echo "    so this takes a few minutes on a fresh machine"
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --progress-bar off -e ".[test]"
	touch $(STAMP)

demo: $(STAMP)
	@echo "==> running the openthoughts job on the embedded 300-row sample, on Beam's local runner (2 workers)"
	$(VENV)/bin/crucible run openthoughts --sample --output demo-output --min-difficulty 3 --num-shards 2 \
		--runner direct --direct_num_workers=2 --direct_running_mode=multi_processing
	@echo
	@echo "==> done. Try next:"
	@echo "    $(VENV)/bin/crucible head demo-output -n 2       # the first rows of the output"
	@echo "    $(VENV)/bin/crucible info demo-output            # splits, shards, bytes and row counts"
	@echo "    $(PY) -c 'import crucible_datasets as cd; print(cd.load(\"demo-output\", split=\"train\"))'"
	@echo "    python -c 'import datasets; print(datasets.load_dataset(\"demo-output\"))'  # where HF datasets is installed"

test: $(STAMP)
	@echo "==> ruff (lint) over the repository"
	$(VENV)/bin/ruff check
	@echo "==> the test suite (data under tests/data/; test servers on 127.0.0.1 only); about 8 minutes on 2 cores"
	$(PY) -m pytest -q

# The suite again, with every runtime dependency at the floor setup.py declares (.ci/floors.py
# turns each `name>=X` into a `name==X` constraint); the test extras at their normal versions.
FLOORS_VENV := .venv-floors
FLOORS_PY := $(FLOORS_VENV)/bin/python
FLOORS_STAMP := $(FLOORS_VENV)/.installed

$(FLOORS_STAMP): setup.py .ci/floors.py
	@echo "==> creating $(FLOORS_VENV): the package with each runtime dependency at its declared floor; this takes minutes"
	rm -rf $(FLOORS_VENV)
	$(PYTHON) -m venv $(FLOORS_VENV)
	$(FLOORS_PY) -m pip install --quiet --upgrade pip
	$(PYTHON) .ci/floors.py > $(FLOORS_VENV)/constraints.txt
	$(FLOORS_PY) -m pip install --quiet -c $(FLOORS_VENV)/constraints.txt -e ".[test]" 2>$(FLOORS_VENV)/pip.err \
		|| { cat $(FLOORS_VENV)/pip.err; exit 1; }
	@# pip installs a yanked release when it is pinned exactly; no user gets it from `>=`.
	@if grep -A1 "is a yanked version" $(FLOORS_VENV)/pip.err; then \
		echo "==> a floor in setup.py is a yanked release: raise it"; exit 1; fi
	touch $(FLOORS_STAMP)

test-floors: $(FLOORS_STAMP)
	@echo "==> the test suite against the floors: $$(grep -v '^#' $(FLOORS_VENV)/constraints.txt | tr '\n' ' ')"
	$(FLOORS_PY) -m pytest -q

lint: $(STAMP)
	$(VENV)/bin/ruff check

bench: $(STAMP)
	$(PY) -m pip install --quiet -e ".[bench]"
	$(PY) bench/run.py

clean:
	rm -rf $(VENV) demo-output .pytest_cache
