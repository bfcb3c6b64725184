# The two set-up commands of the README's quick start:
#   make demo   archive the bundled example threads into db/threadvault.db and serve them
#   make test   run the whole test suite (what .ci/run runs)
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
DB := db/threadvault.db

.PHONY: demo test bench docs clean

$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e ".[test]"
	touch $@

demo: $(VENV)/.installed
	$(BIN)/threadvault import --db $(DB) examples/example-threads-constructed.warc.gz
	$(BIN)/threadvault serve --db $(DB) --metadata metadata.yml

test: $(VENV)/.installed
	PYTHON=$(BIN)/python bash .ci/install-browser
	$(BIN)/ruff check --no-cache src tests benchmarks examples
	$(BIN)/cog --check README.md
	$(BIN)/python -m pytest

bench: $(VENV)/.installed
	$(BIN)/python -m benchmarks.run $(ARGS)

docs: $(VENV)/.installed
	$(BIN)/cog -r README.md

clean:
	rm -rf $(VENV) build *.egg-info
