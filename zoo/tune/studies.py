"""Optuna storages and studies: URL handling, opening a model's study, summaries for `zoo studies`.

The storage is plain Optuna, so `optuna-dashboard sqlite:///artifacts/zoo.db` and the `optuna` CLI
work on it. SQLite is the default (one file, nothing to start); PostgreSQL serves workers on several
machines; `journal:FILE` serves several processes on one machine.
"""

import logging
import os
import re
import time
import warnings
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import optuna
from optuna.storages import RDBStorage, RetryHeartbeatStaleTrialCallback
from optuna.trial import TrialState

from zoo.core import paths, stop
from zoo.core.errors import UsageError, ZooError, first_line
from zoo.tune.journal import check_journal

# Workers send a heartbeat this often; a RUNNING trial silent for the grace period belongs to a dead
# worker: the next worker to start a trial marks it FAIL and re-queues its parameters (up to MAX_RETRY).
HEARTBEAT_SECONDS, GRACE_SECONDS = 10, 60  # defaults; ZOO_HEARTBEAT_SECONDS / ZOO_GRACE_SECONDS change them
MAX_RETRY = 2

_HELP = "use sqlite:///FILE, postgresql://USER[:PASSWORD]@HOST[:PORT]/DB or journal:FILE"


def heartbeat_periods() -> tuple[int, int]:
    """(heartbeat, grace) seconds from the environment, checked: whole seconds, grace > heartbeat."""
    periods = []
    for name, default in (("ZOO_HEARTBEAT_SECONDS", HEARTBEAT_SECONDS), ("ZOO_GRACE_SECONDS", GRACE_SECONDS)):
        text = os.environ.get(name, str(default)).strip()
        if not text.isdigit() or int(text) < 1:
            raise UsageError(f"{name}={text!r} is not allowed: give a whole number of seconds ≥ 1")
        periods.append(int(text))
    heartbeat, grace = periods
    if grace <= heartbeat:
        raise UsageError(
            f"ZOO_GRACE_SECONDS={grace} must be longer than ZOO_HEARTBEAT_SECONDS={heartbeat}, "
            "or live workers' trials would be failed as dead"
        )
    return heartbeat, grace


class StorageError(ZooError):
    """The storage cannot be opened or reached."""


def default_storage_url() -> str:
    return f"sqlite:///{paths.artifacts_dir() / 'zoo.db'}"


class _QuietInterruptedTrials(logging.Filter):
    """Optuna logs a trial that a KeyboardInterrupt ended (Ctrl-C, or `kill` through the CLI's handler) as
    failed: a warning with the traceback, then `Trial N failed with value None.`. The stop is the front
    end's to report, in its own one line, so both go; so does any trial failure logged once a stop was asked
    (an interrupt a library turned into another exception on its way)."""

    def __init__(self) -> None:
        super().__init__()
        self._interrupted: int | None = None  # the trial whose second line is still to come

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        follows, self._interrupted = self._interrupted, None
        if follows is not None and message.startswith(f"Trial {follows} failed with value"):
            return False
        if (record.exc_info and isinstance(record.exc_info[1], KeyboardInterrupt)) or (
            "error: KeyboardInterrupt(" in message  # the same, its traceback taken off by another filter
        ):
            number = _FAILED_TRIAL.match(message)
            self._interrupted = int(number.group(1)) if number else None
            return False
        return not (stop.requested() is not None and _FAILED_TRIAL.match(message))


_FAILED_TRIAL = re.compile(r"Trial (\d+) failed")


def quiet_optuna() -> None:
    """Optuna's warnings, SQLAlchemy's errors, and no word from Optuna about an interrupted trial."""
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    logging.getLogger("sqlalchemy").setLevel(logging.ERROR)
    trials = logging.getLogger("optuna.study._optimize")
    if not any(isinstance(f, _QuietInterruptedTrials) for f in trials.filters):
        trials.addFilter(_QuietInterruptedTrials())


def redact(url: str) -> str:
    """The URL without its password, for messages."""
    from sqlalchemy.engine import make_url

    try:
        return make_url(url).render_as_string(hide_password=True)
    except Exception:  # a malformed URL has no password we could parse out
        return url


def open_storage(url: str | None = None, *, heartbeat: bool = True) -> optuna.storages.BaseStorage:
    """Open (creating when needed) the storage at `url`; default: SQLite in the artifacts folder.

    Every storage zoo uses is opened here, and every way opening one fails (a file that is no database, a
    schema of another Optuna, a journal of other records, a folder that cannot be created or written, a
    server that does not answer) is one line naming the redacted URL and the fix, never a library's
    traceback. `heartbeat=True` is for workers, which write to the storage."""
    quiet_optuna()
    url = url or default_storage_url()
    if url.startswith("journal:"):
        return _journal(url.removeprefix("journal:"))
    if url.startswith("sqlite:///"):
        path = url.removeprefix("sqlite:///")
        if not path or path == ":memory:":
            raise UsageError(f"storage {url!r} names no file; {_HELP}")
        _check_sqlite_file(Path(path), writes=heartbeat)
        return _rdb(url, heartbeat, {})
    if url.startswith(("postgresql://", "postgresql+psycopg://", "postgres://")):
        url = "postgresql+psycopg://" + url.split("://", 1)[1]  # psycopg 3, whatever SQLAlchemy's default
        return _rdb(url, heartbeat, {"connect_args": {"connect_timeout": 10}, "pool_pre_ping": True})
    raise UsageError(f"unsupported storage URL {redact(url)!r}; {_HELP}")


def _make_folder(path: Path, url: str) -> None:
    """The storage file's folder, created if needed (a path under a file, a read-only mount: one line)."""
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        existing = next(p for p in path.parents if p.exists())  # "File exists" means a file is in the way
        reason = f"{existing} is a file" if not existing.is_dir() else exc.strerror or str(exc)
        raise StorageError(
            f"cannot create the folder {path.parent} of storage {redact(url)} ({reason}); "
            "pick a writable place with --storage"
        ) from None


def _check_sqlite_file(path: Path, writes: bool) -> None:
    """SQLite creates the file, and writes a journal beside it: the folder must take both. Checked here
    because SQLite says only "unable to open database file" or fails at the first write, mid-study."""
    url = f"sqlite:///{path}"
    _make_folder(path, url)
    if path.exists() and not writes:
        return  # reading a database on a read-only disk is fine
    blocked = next((p for p in (path.parent, path) if p.exists() and not os.access(p, os.W_OK)), None)
    if blocked is not None:
        raise StorageError(
            f"the study database {url} cannot be written here ({blocked} is read-only); "
            "pick a writable place with --storage"
        )


def _journal(path: str) -> optuna.storages.BaseStorage:
    from optuna.storages.journal import JournalFileBackend, JournalStorage

    if not path:
        raise UsageError(f"journal storage needs a file: journal:PATH; {_HELP}")
    _make_folder(Path(path), f"journal:{path}")
    try:
        check_journal(Path(path))  # torn or foreign records: one line each, naming the line
        return JournalStorage(JournalFileBackend(path))
    except OSError as exc:
        raise StorageError(
            f"cannot open the journal file {path} ({exc.strerror or exc}); "
            "pick a writable place with --storage"
        ) from None
    except (KeyError, ValueError, TypeError, AttributeError, IndexError, AssertionError) as exc:
        # records that are JSON objects with an op_code, yet not operations Optuna can replay
        raise StorageError(
            f"journal file {path} holds records Optuna cannot replay ({type(exc).__name__}: "
            f"{first_line(exc)}); it is not an Optuna journal of this version: pass another file"
        ) from None


def _rdb(url: str, heartbeat: bool, engine_kwargs: dict) -> RDBStorage:
    import sqlalchemy.exc

    try:
        with warnings.catch_warnings(action="ignore", category=optuna.exceptions.ExperimentalWarning):
            kwargs: dict[str, Any] = {}
            if heartbeat:
                interval, grace = heartbeat_periods()
                kwargs = dict(
                    heartbeat_interval=interval,
                    grace_period=grace,
                    heartbeat_stale_trial_callback=RetryHeartbeatStaleTrialCallback(max_retry=MAX_RETRY),
                )
            storage = _create_tables_once(url, engine_kwargs, kwargs)
            storage.get_all_studies()  # tables Optuna cannot read fail here, not in the middle of a study
            return storage
    except sqlalchemy.exc.ArgumentError as exc:
        raise UsageError(f"malformed storage URL {redact(url)!r} ({exc}); {_HELP}") from None
    except (ImportError, sqlalchemy.exc.NoSuchModuleError) as exc:
        raise UsageError(f"no driver for storage URL {redact(url)!r} ({exc}); {_HELP}") from None
    except sqlalchemy.exc.OperationalError as exc:
        if url.startswith("sqlite:"):
            raise StorageError(
                f"cannot open the study database {redact(url)} ({_reason(exc)}); check that the file and "
                "its folder can be read and written"
            ) from None
        raise StorageError(
            f"cannot reach the study database {redact(url)} ({_reason(exc)}); check that it runs and the URL"
        ) from None
    except (sqlalchemy.exc.SQLAlchemyError, optuna.exceptions.StorageInternalError) as exc:
        raise StorageError(
            f"{redact(url)} is not an Optuna study database ({_reason(exc)}); point --storage at a database "
            "Optuna made, or at a new file"
        ) from None
    except RuntimeError:  # Optuna's schema check: tables of another Optuna version
        raise StorageError(
            f"the study database {redact(url)} holds a table schema this Optuna ({optuna.__version__}) "
            "cannot use; if an older Optuna made it, run `optuna storage upgrade --storage URL`, "
            "else use another storage"
        ) from None


def _reason(exc: BaseException) -> str:
    """The driver's own first line (SQLAlchemy wraps it in SQL and links; Optuna in its own words)."""
    while (inner := getattr(exc, "orig", None) or exc.__cause__) is not None:
        exc = inner
    return first_line(exc)


def _create_tables_once(url: str, engine_kwargs: dict, kwargs: dict) -> RDBStorage:
    """Workers started together on an empty database race to create Optuna's tables; the loser of
    that race sees a duplicate-key error (PostgreSQL) or "table ... already exists" (SQLite) and simply
    connects again to the tables the winner made."""
    import sqlalchemy.exc

    for attempt in range(4):
        try:
            return RDBStorage(url, engine_kwargs=engine_kwargs, **kwargs)
        except (
            sqlalchemy.exc.IntegrityError,
            sqlalchemy.exc.ProgrammingError,
            sqlalchemy.exc.OperationalError,
        ) as exc:
            if isinstance(exc, sqlalchemy.exc.OperationalError) and "already exists" not in str(exc):
                raise  # unreachable server, bad credentials: reported by the caller
            time.sleep(0.5 * (attempt + 1))
    return RDBStorage(url, engine_kwargs=engine_kwargs, **kwargs)


def load_study(name: str, storage: optuna.storages.BaseStorage) -> optuna.Study:
    try:
        return optuna.load_study(study_name=name, storage=storage)
    except KeyError:
        names = [s.study_name for s in optuna.get_all_study_summaries(storage, include_best_trial=False)]
        known = f"studies here: {', '.join(sorted(names))}" if names else "this storage has no studies yet"
        raise UsageError(f"no study named {name!r}; {known} (run `zoo tune MODEL` to create one)") from None


def find_study(name: str, url: str | None = None) -> tuple[optuna.Study | None, str]:
    """(the study, "") or (None, why not), never creating a storage file to find out."""
    url = url or default_storage_url()
    for prefix in ("sqlite:///", "journal:"):
        if url.startswith(prefix) and not Path(url.removeprefix(prefix)).is_file():
            return None, f"the study storage {url.removeprefix(prefix)} does not exist here"
    storage = open_storage(url, heartbeat=False)
    names = {s.study_name for s in optuna.get_all_study_summaries(storage, include_best_trial=False)}
    if name not in names:
        return None, f"study {name!r} is not in {redact(url)}"
    return optuna.load_study(study_name=name, storage=storage), ""


@dataclass
class StudySummary:
    name: str
    model: str | None
    kind: str  # "tune" (trials scored on validation) or "ablation" (fixed runs scored on the test set)
    states: dict[str, int]
    best_value: float | None
    best_trial: int | None
    test_accuracy: float | None
    last_update: datetime | None
    dataset: str | None = None  # what its trials trained on (a dataset-agnostic variant's differs by study)

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "model": self.model,
            "dataset": self.dataset,
            "kind": self.kind,
            "trials": self.states,
            "best_val_acc": self.best_value,
            "best_trial": self.best_trial,
            "test_acc": self.test_accuracy,
            "last_update": self.last_update.isoformat(timespec="seconds") if self.last_update else None,
        }


def summarize(study: optuna.Study) -> StudySummary:
    trials = study.get_trials(deepcopy=False)
    states = {
        state.name.lower(): 0
        for state in (
            TrialState.COMPLETE,
            TrialState.PRUNED,
            TrialState.FAIL,
            TrialState.RUNNING,
            TrialState.WAITING,
        )
    }
    for t in trials:
        states[t.state.name.lower()] = states.get(t.state.name.lower(), 0) + 1
    plan = study.user_attrs.get("ablation")
    # An ablation's trial value is a run's test accuracy, reported per row, never a "best" to select.
    best = None if plan else best_trial(study)
    stamps = [
        t.datetime_complete or t.datetime_start for t in trials if t.datetime_complete or t.datetime_start
    ]
    final = _attribute(study, "final", dict) or {}
    return StudySummary(
        name=study.study_name,
        model=_attribute(study, "model", str) or (plan if isinstance(plan, dict) else {}).get("model"),
        kind="ablation" if plan else "tune",
        states=states,
        best_value=best.value if best else None,
        best_trial=best.number if best else None,
        test_accuracy=final.get("test_accuracy") if isinstance(final.get("test_accuracy"), float) else None,
        last_update=max(stamps) if stamps else None,
        dataset=_attribute(study, "dataset", str),
    )


def _attribute(study: optuna.Study, key: str, kind: type) -> Any:
    """A study attribute when it has the type zoo writes, else None: any writer of a shared storage can
    set one, and a listing shows what it can rather than failing on it."""
    value = study.user_attrs.get(key)
    return value if isinstance(value, kind) else None


def study_details(study: optuna.Study) -> dict[str, Any]:
    """What `zoo studies show` prints, as plain JSON data: summary, final run, importances, trials."""
    return {
        "study": summarize(study).to_dict(),
        "final": study.user_attrs.get("final"),
        "importances": param_importances(study),
        "trials": [
            {
                "number": t.number,
                "state": t.state.name.lower(),
                "value": t.value,
                "epochs": max(t.intermediate_values) if t.intermediate_values else None,
                "params": t.params,
                "user_attrs": t.user_attrs,
            }
            for t in study.get_trials(deepcopy=False)
        ],
    }


def list_studies(storage: optuna.storages.BaseStorage) -> list[StudySummary]:
    names = [s.study_name for s in optuna.get_all_study_summaries(storage, include_best_trial=False)]
    return [summarize(optuna.load_study(study_name=n, storage=storage)) for n in sorted(names)]


def param_importances(study: optuna.Study) -> dict[str, float]:
    """Optuna's fANOVA importances; empty when there are too few completed trials to judge."""
    complete = study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,))
    if len(complete) < 2:
        return {}
    try:
        # small studies warn that some regimes have < 2 trials; the figures are still what we show
        with warnings.catch_warnings(action="ignore", category=UserWarning):
            return dict(optuna.importance.get_param_importances(study))
    except (RuntimeError, ValueError):
        return {}


def best_trial(study: optuna.Study) -> optuna.trial.FrozenTrial | None:
    """Optuna's own `Study.best_trial`, or None while no trial has completed."""
    try:
        return study.best_trial
    except ValueError:
        return None


def completed_trials(study: optuna.Study) -> list:
    """Trials that finished with an objective value (a COMPLETE trial may lack one after a crash)."""
    return [t for t in study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,)) if t.value is not None]
