# fwmigrate developer and user entry points. Everything installs into .venv in this directory.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
DEMO_SRC := fixtures/torch2tf/resnet_block/input.py
DEMO_OUT := out/resnet_tf.py

.PHONY: install demo test lint bench clean

install: $(STAMP)

# torch is pinned to the local CPU wheel through constraints.txt: an unpinned torch pulls
# several GB of CUDA packages.
$(STAMP): pyproject.toml constraints.txt
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --constraint constraints.txt --editable ".[frameworks,test]"
	touch $(STAMP)

demo: install
	@mkdir -p out
	$(BIN)/fwmigrate torch2tf $(DEMO_SRC) -o $(DEMO_OUT) --force
	@echo
	@echo "Migrated $(DEMO_SRC) -> $(DEMO_OUT)"
	@echo "Migration record (for 'fwmigrate verify'): out/resnet_tf.migration.json"

lint: install
	$(BIN)/ruff check migrator tests benchmarks
	$(BIN)/ruff format --check migrator tests benchmarks
	$(BIN)/mypy

test: install lint
	$(BIN)/python -m pytest -q

bench: install
	$(BIN)/python benchmarks/migrate_speed.py

clean:
	rm -rf $(VENV) out build dist *.egg-info .pytest_cache .mypy_cache .ruff_cache .hypothesis
