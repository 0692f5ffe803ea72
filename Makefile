# Quick start: `make demo` then `make test`. Both create .venv on first use.
PYTHON ?= python3.11
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed

.PHONY: demo test lint bench clean

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
	@echo "==> the test suite (data under tests/data/; test servers on 127.0.0.1 only); about 2 minutes"
	$(PY) -m pytest -q

lint: $(STAMP)
	$(VENV)/bin/ruff check

bench: $(STAMP)
	$(PY) -m pip install --quiet -e ".[bench]"
	$(PY) bench/run.py

clean:
	rm -rf $(VENV) demo-output .pytest_cache
