"""Prefect flows: the runbook's procedures as observable runs around trading_core."""
