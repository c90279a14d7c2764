"""Export: ONNX export with parity checks (exporter.py), the exported-model contract (exported.py),
int8 recipes, model cards, and what `zoo export TARGET` resolves to (targets.py)."""
