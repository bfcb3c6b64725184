# The two set-up commands of the README's quick start:
#   make demo   archive the bundled example threads into db/threadvault.db and serve them
#   make test   run the whole test suite (what .ci/run runs)
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
DB := db/threadvault.db

.PHONY: demo test test-lowest bench docs clean

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

# The suite again with every dependency at its declared lower bound (.ci/lowest.txt).
test-lowest:
	$(PYTHON) -m venv .venv-lowest
	.venv-lowest/bin/python -m pip install --quiet -r .ci/lowest.txt
	.venv-lowest/bin/python -m pip install --quiet --no-deps -e .
	PYTHON=.venv-lowest/bin/python bash .ci/install-browser
	.venv-lowest/bin/python -m pytest

docs: $(VENV)/.installed
	$(BIN)/cog -r README.md

clean:
	rm -rf $(VENV) .venv-lowest build *.egg-info
