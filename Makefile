# Two commands: `make demo` and `make test`. Both create .venv and install the project from its own files.
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: demo test install bench fuzz clean

$(STAMP): pyproject.toml constraints.txt
	test -x $(BIN)/python || $(PY) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet -c constraints.txt -e '.[test,ray]'
	touch $(STAMP)

install: $(STAMP)

demo: $(STAMP)
	$(BIN)/python -m ncodec.demo

test: $(STAMP)
	$(BIN)/python -m pytest -x --durations=15

bench: $(STAMP)
	$(BIN)/ncodec bench classical

# Long fuzz run (100k+ cases, ~30 min on 2 cores): per-codec counts to benchmarks/results/fuzz.json.
# CASES=N for another size, e.g. make fuzz CASES=5000; the CI-sized run is tests/test_fuzz_payloads.py.
CASES ?= 100000
fuzz: $(STAMP)
	$(BIN)/python benchmarks/fuzz.py --cases $(CASES)

clean:
	rm -rf $(VENV) build *.egg-info .pytest_cache
