"""The `zoo` command line: thin Typer commands over the `zoo` library."""
