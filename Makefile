# The two set-up commands (each creates or reuses .venv itself):
#   make run    paper-trade on the simulated market (dev profile) until Ctrl-C
#   make test   lint, format check and the whole test suite
PYTHON ?= python3

.PHONY: run test install bench

run:
	@$(PYTHON) scripts/bootstrap.py run $(ARGS)

test:
	@$(PYTHON) scripts/bootstrap.py test $(ARGS)

install:
	@$(PYTHON) scripts/bootstrap.py install

bench: install
	@.venv/bin/python bench/cycle.py
