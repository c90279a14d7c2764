"""Shipped weights: the registry's table of their digests and figures (shipped.py), the store that
finds and downloads them (store.py), and what uses them with the package alone (use.py). The weight
files themselves are package data in the folders beside these modules."""
