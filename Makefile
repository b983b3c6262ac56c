# The two set-up commands (each creates or reuses .venv itself):
#   make run    the local stack: Prefect server and UI, every deployment, the dev trading
#               session paper-trading on the simulated market, until Ctrl-C
#   make test   lint, format check and the whole test suite
# Also: make bot (just the trading loop, no Prefect), make bench.
PYTHON ?= python3

.PHONY: run bot test install bench

run:
	@$(PYTHON) scripts/bootstrap.py run $(ARGS)

bot:
	@$(PYTHON) scripts/bootstrap.py bot $(ARGS)

test:
	@$(PYTHON) scripts/bootstrap.py test $(ARGS)

install:
	@$(PYTHON) scripts/bootstrap.py install

bench: install
	@.venv/bin/python bench/cycle.py
