"""The base every layer stands on: errors, names and paths, file I/O, the printable-text schema and
limits, images, downloads, metrics, runtime settings. It imports nothing else of zoo."""
