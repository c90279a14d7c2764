"""Inference: predict, models zoo did not make (foreign.py), bench and its results, compare."""
