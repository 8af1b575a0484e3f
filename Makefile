# nlp_lstm: `make run` trains the sample pipelines on the shipped sample data; `make test` runs the tests;
# `make docs` builds the documentation site (site/), `make docs-serve` serves it at http://127.0.0.1:8000.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
PIPELINES ?= pipelines/sentiment.yaml pipelines/ner_bilstm_crf.yaml pipelines/translator_seq2seq.yaml pipelines/language_model.yaml
PYTEST_ARGS ?=
# Two test processes (one per core of the CI machine); a file's tests stay in one process, so the trained
# models a module shares are trained once.
PYTEST_WORKERS ?= -n 2 --dist loadfile
PORT ?= 5000

# MkDocs Material prints a notice about MkDocs 2 at every build.
export NO_MKDOCS_2_WARNING := 1

.PHONY: install run test lint format docs docs-serve reference dist serve mlflow-ui clean

$(STAMP): setup.cfg pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[test]'
	touch $(STAMP)

install: $(STAMP)

run: install
	@for pipeline in $(PIPELINES); do \
		echo "== nlp-lstm run $$pipeline"; \
		$(BIN)/nlp-lstm run $$pipeline || exit $$?; \
	done
	@echo "Browse the runs with: $(BIN)/mlflow ui   (then open http://127.0.0.1:5000)"

# Lint and format checks (ruff), the docs built strictly (a broken link or reference fails), the whole suite on
# TensorFlow, then the model, layer and CRF tests again on JAX so that no backend-specific code creeps in.
test: install lint docs
	$(BIN)/python -m pytest $(PYTEST_WORKERS) $(PYTEST_ARGS)
	KERAS_BACKEND=jax $(BIN)/python -m pytest -m backends $(PYTEST_WORKERS) $(PYTEST_ARGS)

lint: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

# The site: its reference pages are generated from the code (`make reference` rewrites them; a test fails when
# they are out of date), the notebooks are shown as stored, executed.
docs: install
	$(BIN)/mkdocs build --strict --quiet

docs-serve: install
	$(BIN)/mkdocs serve

reference: install
	$(BIN)/python scripts/docs_reference.py

# A wheel and an sdist in dist/, checked with twine.
dist: install
	rm -rf dist
	$(BIN)/python -m build --outdir dist .
	$(BIN)/twine check --strict dist/*

format: install
	$(BIN)/ruff check --fix .
	$(BIN)/ruff format .

# MODEL: a pipeline folder, runs:/RUN_ID/pipeline or models:/NAME/VERSION (store: MLFLOW_TRACKING_URI)
serve: install
	@test -n "$(MODEL)" || { echo "usage: make serve MODEL=outputs/sentiment/<run> [PORT=5000]"; exit 2; }
	$(BIN)/nlp-lstm serve $(MODEL) --port $(PORT)

# MLflow 3.18 opens experiments in its GenAI view: open the printed link (or choose "Model training" once).
mlflow-ui: install
	@echo "open http://127.0.0.1:5000/#/experiments?workflowType=machine_learning"
	$(BIN)/mlflow ui

clean:
	rm -rf outputs build dist site *.egg-info .pytest_cache
