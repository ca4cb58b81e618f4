# Two commands: `make demo` and `make test`. Both create .venv and install the project from its own files.
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: demo test install bench clean

$(STAMP): pyproject.toml constraints.txt
	test -x $(BIN)/python || $(PY) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet -c constraints.txt -e '.[test]'
	touch $(STAMP)

install: $(STAMP)

demo: $(STAMP)
	$(BIN)/python -m ncodec.demo

test: $(STAMP)
	$(BIN)/python -m pytest -x --durations=15

bench: $(STAMP)
	$(BIN)/ncodec bench classical

clean:
	rm -rf $(VENV) build *.egg-info .pytest_cache
