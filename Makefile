# Two commands do all the set-up: `make demo` and `make test`. Each creates .venv when missing,
# installs the project, and makes sure Fashion-MNIST is on the machine.
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-stamp

.PHONY: install data postgres test demo lint clean-artifacts

install: $(STAMP)

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev,openvino]'
	touch $(STAMP)

data:
	./scripts/ensure-data.sh

postgres:
	./scripts/ensure-postgres.sh

# lint-imports: the layers contract in pyproject.toml (import-linter); an import that points up fails here
test: install data postgres
	$(BIN)/lint-imports
	$(BIN)/python -m pytest -q

lint: install
	$(BIN)/ruff check . && $(BIN)/ruff format --check .

# The whole journey: a small study (a few minutes on 2 cores), export its best model, benchmark it,
# then one HTML report of it all (its path is the last line printed).
demo: install data
	$(BIN)/zoo tune fashion-cnn-fast --study demo --trials 6 --epochs 2 --subset 10000 --set val_fraction=0.1 --retrain-epochs 3
	$(BIN)/zoo studies
	$(BIN)/zoo export best --study demo --int8 --force
	$(BIN)/zoo bench fashion-cnn-fast
	$(BIN)/zoo report best --study demo

clean-artifacts:
	find artifacts -mindepth 1 ! -name README.md -delete
