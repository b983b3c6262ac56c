"""GPT-Trader's shared library: everything a trading cycle needs, free of Prefect."""

__version__ = "0.1.0"
