# Two commands on a fresh machine with Python 3.11 and pip:
#   make demo   - run the NLP demo on the embedded Dask cluster
#   make test   - install test tools and run the whole suite
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin

.PHONY: demo test install install-test browser clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

install: $(BIN)/python
	$(BIN)/pip install --quiet -e '.[demo]'

install-test: $(BIN)/python
	$(BIN)/pip install --quiet -e '.[test]'

# Debian chromium for the browser tests (root on CI; skipped with a warning elsewhere).
browser:
	@command -v chromium >/dev/null 2>&1 || { \
	  if [ "$$(id -u)" = 0 ]; then apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null; \
	  else echo "chromium not found and not root: browser tests will be skipped (apt-get install chromium)"; fi; }

demo: install
	$(BIN)/dask-kubeflow demo

test: install-test browser
	$(BIN)/python -m pytest

clean:
	rm -rf $(VENV) build *.egg-info src/*.egg-info .pytest_cache
