# Two commands do all set-up on a fresh machine: `make run` and `make test`.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP_RUN  := $(VENV)/.installed-run
STAMP_DEV  := $(VENV)/.installed-dev
STAMP_PKG  := $(VENV)/.installed-package

.PHONY: run test lint check pytest clean package package-test starter-models

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --upgrade pip

$(STAMP_RUN): pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install -e .
	touch $@

$(STAMP_DEV): pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install -e '.[dev]'
	touch $@ $(STAMP_RUN)

run: $(STAMP_RUN)
	$(BIN)/studio

lint: $(STAMP_DEV)
	$(BIN)/ruff check studio tests recipes packaging benchmarks

# The shape of the code, configured in pyproject.toml: the import contracts (layers, no cycles),
# then the engine's types (mypy on studio/core). Both caches live in the venv, out of the tree.
check: $(STAMP_DEV)
	$(BIN)/lint-imports --cache-dir $(VENV)/.import_linter_cache
	$(BIN)/mypy

pytest: $(STAMP_DEV)
	QT_QPA_PLATFORM=offscreen $(BIN)/python -m pytest -m "not slow" $(PYTEST_ARGS)

test: lint check pytest

$(STAMP_PKG): pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install -e '.[package]'
	touch $@ $(STAMP_RUN)

# The standalone app, one folder: dist/studio/studio (see build.spec and README.md).
package: $(STAMP_PKG)
	@start=$$(date +%s); \
	$(BIN)/pyinstaller --noconfirm build.spec || exit $$?; \
	echo "built dist/studio in $$(( $$(date +%s) - start )) s"; \
	du -sh dist/studio

# Builds the app, then runs its self-test in a clean environment (tests/test_package.py).
package-test: package $(STAMP_DEV)
	STUDIO_BUNDLE=dist/studio $(BIN)/python -m pytest -m slow tests/test_package.py $(PYTEST_ARGS)

# Rebuilds the starter models in models/ from scikit-image's photos (see recipes/starter_models.py).
starter-models: $(STAMP_DEV)
	$(BIN)/python recipes/starter_models.py $(RECIPE_ARGS)

clean:
	rm -rf $(VENV) build dist .pytest_cache
