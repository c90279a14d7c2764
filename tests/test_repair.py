"""`zoo studies repair FILE` rewrites a file, so it repairs an Optuna journal and nothing else: an SQLite
study database, a binary, empty or other text file, a folder or a missing path is refused with one line
saying what it is, and left byte for byte as it was (it emptied a live zoo.db, issue 37)."""

import json
import os
from pathlib import Path

import optuna
import pytest
from cliutil import assert_clean_error
from optuna.storages.journal import JournalFileBackend, JournalStorage
from typer.testing import CliRunner

from cli.main import app
from zoo.core.fileio import sha256_file

runner = CliRunner()


def _trials(storage, name: str = "s", n: int = 3) -> None:
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    study = optuna.create_study(study_name=name, storage=storage, direction="maximize")
    study.optimize(lambda t: t.suggest_float("x", 0, 1), n_trials=n)


def _sqlite_study(folder: Path) -> Path:
    path = folder / "zoo.db"
    _trials(f"sqlite:///{path}")
    return path


def _journal(folder: Path) -> Path:
    path = folder / "j.log"
    _trials(JournalStorage(JournalFileBackend(str(path))))
    return path


@pytest.fixture
def files(tmp_path) -> Path:
    """A folder of its own for the files under test: nothing else is written there."""
    (tmp_path / "files").mkdir()
    return tmp_path / "files"


def _zoo(tmp_path: Path, *args: str):
    return runner.invoke(app, ["--artifacts", str(tmp_path / "a"), *args])


def _repair(tmp_path: Path, path: Path):
    return _zoo(tmp_path, "studies", "repair", str(path))


def _binary(t: Path) -> Path:
    (t / "weights.bin").write_bytes(bytes(range(256)) * 8)
    return t / "weights.bin"


def _write(folder: Path, name: str, text: str) -> Path:
    (folder / name).write_text(text)
    return folder / name


def _journal_and(t: Path, text: bytes) -> Path:
    path = _journal(t)
    path.write_bytes(path.read_bytes() + text)
    return path


def _fifo(t: Path) -> Path:
    os.mkfifo(t / "pipe")  # reading it would wait forever: refused before it is opened
    return t / "pipe"


NOT_JOURNALS = {
    "an SQLite study database": (
        _sqlite_study,
        "is an SQLite database, not a journal; SQLite studies need no repair",
    ),
    "a binary file": (_binary, "is a binary file, not an Optuna journal"),
    "an empty file": (lambda t: _write(t, "j.log", ""), "is empty"),
    "a text file": (
        lambda t: _write(t, "notes.txt", "# notes\nop_code: 1\n"),
        "is not an Optuna journal: its first line is not a journal record",
    ),
    "a JSON document": (
        lambda t: _write(t, "run.json", json.dumps({"op_code": 1, "x": 2}, indent=2)),
        "is not an Optuna journal: its first line is not a journal record",
    ),
    "JSON lines of other records": (
        lambda t: _write(t, "log.jsonl", '{"event": 1}\n{"event": 2}\n{"eve'),
        "line 1 is a JSON record without an op_code",
    ),
    "a journal with other text in it": (
        lambda t: _journal_and(t, b"hello\n"),
        "is neither a journal record nor the torn start of one",
    ),
    "a directory": (lambda t: (t / "runs").mkdir() or t / "runs", "is a directory, not a journal"),
    "a FIFO": (_fifo, "is not a regular file"),
    "a missing path": (lambda t: t / "nope.log", "does not exist"),
}


@pytest.mark.parametrize("case", NOT_JOURNALS)
def test_repair_refuses_what_is_not_a_journal_and_changes_nothing(case, tmp_path, files):
    make, message = NOT_JOURNALS[case]
    folder = files
    path = make(folder)
    before = sha256_file(path) if path.is_file() else None
    listing = sorted(p.name for p in folder.iterdir())
    result = _repair(tmp_path, path)
    assert_clean_error(result, 1, message)
    assert str(path) in result.stderr
    assert (sha256_file(path) if path.is_file() else None) == before  # byte for byte as it was
    assert sorted(p.name for p in folder.iterdir()) == listing  # no backup, no lock or temporary left


def test_a_live_sqlite_study_survives_repair_and_is_still_listed(tmp_path, files):
    db = _sqlite_study(files)
    before = sha256_file(db)
    result = _repair(tmp_path, db)
    assert_clean_error(result, 1, f"{db} is an SQLite database, not a journal; SQLite studies need no repair")
    assert sha256_file(db) == before and db.stat().st_size > 0
    assert sorted(p.name for p in files.iterdir()) == ["zoo.db"]  # no backup, no lock, no temporary file
    listing = _zoo(tmp_path, "studies", "--storage", f"sqlite:///{db}", "--json")
    assert listing.exit_code == 0, listing.output
    (study,) = json.loads(listing.stdout)
    assert study["name"] == "s" and study["trials"]["complete"] == 3


def test_an_sqlite_database_given_as_a_journal_is_never_called_torn(tmp_path, files):
    """The way to the data loss: `--storage journal:zoo.db` said "torn record ... run zoo studies repair"."""
    db = _sqlite_study(files)
    before = sha256_file(db)
    result = _zoo(tmp_path, "studies", "--storage", f"journal:{db}")
    assert_clean_error(result, 1, "is an SQLite database, not a journal")
    assert "repair" not in result.stderr.replace("need no repair", "") and sha256_file(db) == before


def test_a_torn_journal_is_repaired_atomically_with_a_backup(tmp_path, files):
    journal = _journal(files)
    whole = journal.read_bytes()
    journal.chmod(0o640)
    torn = whole + b'{"op_code":4,"worker_id":"w","study_id":0,"datetime_st'
    journal.write_bytes(torn)
    inode = journal.stat().st_ino
    result = _repair(tmp_path, journal)
    assert result.exit_code == 0, result.output
    assert "dropped 1 torn record" in result.stdout
    assert journal.read_bytes() == whole and journal.stat().st_ino != inode  # a new file, renamed into place
    assert journal.stat().st_mode & 0o777 == 0o640
    (backup,) = files.glob("j.log.bak-*")
    assert backup.read_bytes() == torn
    assert sorted(p.name for p in files.iterdir()) == sorted(["j.log", backup.name])  # no lock or temporary
    study = optuna.load_study(study_name="s", storage=JournalStorage(JournalFileBackend(str(journal))))
    assert len(study.trials) == 3


def test_a_journal_with_a_crash_zero_filled_tail_is_repaired(tmp_path, files):
    journal = _journal(files)
    whole = journal.read_bytes()
    journal.write_bytes(whole + b"\0" * 300)  # a file extended by a crash before its data landed
    result = _repair(tmp_path, journal)
    assert result.exit_code == 0 and "dropped 1 torn record" in result.stdout, result.output
    assert journal.read_bytes() == whole


def test_a_whole_journal_is_left_alone(tmp_path, files):
    journal = _journal(files)
    before, inode = sha256_file(journal), journal.stat().st_ino
    result = _repair(tmp_path, journal)
    assert result.exit_code == 0 and "has no torn record" in result.stdout, result.output
    assert sha256_file(journal) == before and journal.stat().st_ino == inode
    assert sorted(p.name for p in files.iterdir()) == ["j.log"]
