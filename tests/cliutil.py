"""Shared assertion for the CLI's promise about expected errors."""


def assert_clean_error(result, code: int, message: str) -> None:
    """Exit `code`, `message` on stderr as its only line, and no traceback anywhere."""
    assert result.exit_code == code, result.output
    assert message in result.stderr, result.stderr
    assert len(result.stderr.strip().splitlines()) == 1, result.stderr
    assert "Traceback" not in result.output
