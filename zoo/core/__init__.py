"""The base every layer stands on: errors, names and paths, file I/O, the printable-text schema and
limits, one-line validation errors, images, downloads, metrics, plots, runtime settings. It imports
nothing else of zoo."""
