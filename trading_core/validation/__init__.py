"""Quick sweep of core surfaces, offline against the simulated market (verify_core.py)."""
