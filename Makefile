# gan-eval developer entry points. `make demo` and `make test` are the README's two set-up commands.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

.PHONY: install demo test test-fast lint bench data-fashion browser clean

# Idempotent: reinstalls only when pyproject.toml or constraints.txt changed since the last install.
# --no-compile: Python compiles what it imports when first imported, instead of pip byte-compiling every
# installed file (torch's thousands) up front: a fresh install 78 s instead of ~130 s here.
install: $(STAMP)

$(STAMP): pyproject.toml constraints.txt
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --no-compile -c constraints.txt -e '.[dev,tensorboard]'
	touch $(STAMP)

demo: install
	$(BIN)/python -m gan_eval.demo

# The whole suite, slow tests included (CI runs this), after ruff and mypy; then the tests that compare floats
# across processes, threads or batch sizes once more with oneDNN and ATen held to AVX2 (another CPU's kernels).
test: install lint browser
	$(BIN)/python -m pytest -q
	ONEDNN_MAX_CPU_ISA=AVX2 ATEN_CPU_CAPABILITY=avx2 $(BIN)/python -m pytest -q -m determinism

test-fast: install
	$(BIN)/python -m pytest -q -m "not slow"

lint: install
	$(BIN)/ruff check src tests benchmarks examples docs
	$(BIN)/ruff format --check src tests benchmarks examples docs
	$(BIN)/mypy

bench: install
	$(BIN)/python -m benchmarks.run

# The rating page's browser tests (tests/human/test_human_browser.py) drive Debian's chromium with its
# chromium-driver: installed here when missing and running as root (CI); elsewhere those tests skip, saying why.
browser:
	@if [ -x /usr/bin/chromium ] && [ -x /usr/bin/chromedriver ]; then :; \
	elif [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
	  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
	    chromium chromium-driver; \
	else echo "browser tests will skip: chromium and chromium-driver are missing (apt-get install them as root)"; fi

# Optional: Fashion-MNIST from Debian (root, apt). Tests that need it skip when it is absent.
data-fashion:
	apt-get install -y dataset-fashion-mnist

clean:
	rm -rf $(VENV) build dist src/*.egg-info .pytest_cache .mypy_cache .ruff_cache
