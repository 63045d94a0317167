# Two commands do all the set-up on a fresh clone: `make run` and `make test`.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.sharpflat-installed

.PHONY: install run test test-explore test-all bench readme clean

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q -e ".[test]"
	touch $(STAMP)

install: $(STAMP)

run: install
	$(BIN)/sharpflat run --profile quick --workers 2

test: install
	$(BIN)/python -m pytest -q

test-explore: install
	SHARPFLAT_EXPLORE=1 $(BIN)/python -m pytest -q

test-all: install
	$(BIN)/python -m pytest -q --run-slow

bench: install
	$(BIN)/python -m pip install -q -e ".[test,bench]"
	$(BIN)/python benchmarks/curvature.py --device cpu --quick

readme: install
	$(BIN)/python -c "import re, pathlib; from verify.cli import kinds_markdown; p = pathlib.Path('README.md'); s = p.read_text(); p.write_text(re.sub(r'(<!-- kinds:start -->\n).*?(<!-- kinds:end -->)', lambda m: m.group(1) + kinds_markdown() + m.group(2), s, flags=re.S))"
	$(BIN)/python -c "import re, pathlib; from verify.cli import obligations_markdown; p = pathlib.Path('docs/architecture.md'); s = p.read_text(); p.write_text(re.sub(r'(<!-- obligations:start -->\n).*?(<!-- obligations:end -->)', lambda m: m.group(1) + obligations_markdown() + m.group(2), s, flags=re.S))"

clean:
	rm -rf $(VENV) .sharpflat .pytest_cache .hypothesis
