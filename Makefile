# fwmigrate developer and user entry points. Everything installs into .venv in this directory.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
DEMO_SRC := fixtures/torch2tf/resnet_block/input.py
DEMO_OUT := out/resnet_tf.py

.PHONY: install demo test lint bench docs clean

install: $(STAMP)

# torch is pinned to the local CPU wheel through constraints.txt: an unpinned torch pulls
# several GB of CUDA packages.
$(STAMP): pyproject.toml constraints.txt
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --constraint constraints.txt --editable ".[frameworks,test]"
	touch $(STAMP)

demo: install
	@mkdir -p out
	cp $(DEMO_SRC) out/resnet.py
	$(BIN)/fwmigrate torch2tf out/resnet.py -o $(DEMO_OUT) --force --verify --model ResNetTiny --input 2,3,32,32 \
		--json out/resnet_report.json --markdown out/resnet_report.md --html out/resnet_report.html
	@echo
	@echo "Migrated out/resnet.py -> $(DEMO_OUT) (migration record: out/resnet_tf.migration.json)"
	@echo "Equivalence report: out/resnet_report.html (also .md and .json)"

lint: install
	$(BIN)/ruff check migrator tests benchmarks
	$(BIN)/ruff format --check migrator tests benchmarks
	$(BIN)/mypy

test: install lint
	$(BIN)/python -m pytest -q

# The rule reference pages (docs/rules/*.md) are generated from the rule files; a test checks them.
docs: install
	$(BIN)/python -m migrator.report.rules_doc docs

bench: install
	$(BIN)/python benchmarks/migrate_speed.py
	$(BIN)/python benchmarks/verify_speed.py

clean:
	rm -rf $(VENV) out build dist *.egg-info .pytest_cache .mypy_cache .ruff_cache .hypothesis
