"""Prefect tasks: thin wrappers over trading_core with the retries and timeouts that are safe."""
