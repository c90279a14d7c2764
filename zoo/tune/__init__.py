"""Tuning: Optuna studies (tuning.py), their storages (studies.py, journal.py), the time budget, ablations."""
