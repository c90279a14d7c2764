"""Reports: plots of a run (curves, confusion, filters, feature maps, examples, weights), its study and its
benchmark, in one self-contained HTML page. `build_report` does one run; `report_targets` resolves
`best` / a study / a model / a run directory like `zoo export` and reports each."""

from zoo.report.build import build_report, report_targets

__all__ = ["build_report", "report_targets"]
