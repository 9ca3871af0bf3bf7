# The README's commands. `make install` is implied by the others and re-runs only when the
# package metadata or the pins change.
VENV   ?= .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed-stamp
EXTRAS ?= dev,serve,onnx

.PHONY: install test test-slow lint demo bench clean

install: $(STAMP)

$(STAMP): pyproject.toml constraints.txt
	python3 -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -c constraints.txt -e '.[$(EXTRAS)]'
	# build the compiled LSTM and GRU loops now rather than in the first run that needs it
	$(PY) -c 'from rnnkit.nn.compiled_loop import extension; extension()'
	touch $@

test: install
	$(PY) -m pytest -q

test-slow: install
	$(PY) -m pytest -q -m slow

lint: install
	$(VENV)/bin/ruff check src tests benchmarks
	$(VENV)/bin/ruff format --check src tests benchmarks
	$(VENV)/bin/mypy

demo: install
	$(VENV)/bin/rnnkit demo

bench: install
	$(PY) benchmarks/layers.py

clean:
	rm -rf $(VENV) build dist src/*.egg-info .pytest_cache .mypy_cache .ruff_cache
