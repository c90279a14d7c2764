"""An interrupt must end the command wherever it lands, also inside a finalizer (a weakref callback or a
__del__), where Python prints "Exception ignored" and drops the KeyboardInterrupt a handler raises."""

import os
import signal
import subprocess
import sys
import textwrap

import pytest

CHILD = textwrap.dedent(
    """
    import signal, sys, time, weakref
    from cli.console import interrupted_exit_code, stop_on_sigterm

    # a terminal's Ctrl-C: a child of a background job (the suite run with `&`) inherits SIGINT ignored
    signal.signal(signal.SIGINT, signal.default_int_handler)
    stop_on_sigterm()

    class Thing:
        pass

    def busy_finalizer(ref):
        print("in finalizer", flush=True)  # the parent signals now, while this callback runs
        end = time.monotonic() + 1.5
        while time.monotonic() < end:
            pass

    try:
        thing = Thing()
        ref = weakref.ref(thing, busy_finalizer)
        del thing  # the callback runs here, and the signal lands inside it
        for _ in range(300):  # ordinary code after it: where the interrupt must arrive
            time.sleep(0.01)
        print("finished as if never interrupted", flush=True)
    except KeyboardInterrupt:
        print("interrupted", flush=True)
        sys.exit(interrupted_exit_code())
    """
)


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT], ids=["SIGTERM", "SIGINT"])
def test_an_interrupt_that_lands_in_a_finalizer_still_ends_the_command(sig):
    proc = subprocess.Popen(
        [sys.executable, "-c", CHILD], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    assert proc.stdout.readline() == "in finalizer\n"
    proc.send_signal(sig)
    out, err = proc.communicate(timeout=30)
    assert out == "interrupted\n", err
    assert proc.returncode == 128 + sig


SWALLOWING_CHILD = textwrap.dedent(
    """
    import signal, sys, time
    from pathlib import Path
    from cli.console import interrupted_exit_code, stop_on_sigterm
    from zoo.core.fileio import write_text_atomic
    from zoo.core.names import replace_folder

    signal.signal(signal.SIGINT, signal.default_int_handler)  # as in a terminal (see CHILD)
    stop_on_sigterm()
    target, built, final = Path(sys.argv[1]), Path(sys.argv[2]), Path(sys.argv[3])
    try:
        print("working", flush=True)
        try:  # a library that swallows every exception (or C code that clears it): the signal lands here
            end = time.monotonic() + 3
            while time.monotonic() < end:
                pass
        except BaseException:
            pass
        %s
        print("saved", flush=True)
    except KeyboardInterrupt:
        print("interrupted", flush=True)
        sys.exit(interrupted_exit_code())
    """
)


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT], ids=["SIGTERM", "SIGINT"])
@pytest.mark.parametrize(
    "commit", ["write_text_atomic(target, 'result')", "replace_folder(built, final)"], ids=["file", "folder"]
)
def test_a_swallowed_interrupt_still_stops_every_commit_point(sig, commit, tmp_path):
    """Nothing becomes visible once the user asked to stop, even when the KeyboardInterrupt was lost."""
    target, built, final = tmp_path / "result.txt", tmp_path / "built", tmp_path / "final"
    built.mkdir()
    (built / "new").write_text("new")
    final.mkdir()
    (final / "old").write_text("old")
    proc = subprocess.Popen(
        [sys.executable, "-c", SWALLOWING_CHILD % commit, str(target), str(built), str(final)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    assert proc.stdout.readline() == "working\n"
    proc.send_signal(sig)
    out, err = proc.communicate(timeout=30)
    assert out == "interrupted\n", err
    assert proc.returncode == 128 + sig
    assert not target.exists() and [p.name for p in final.iterdir()] == ["old"]


BROKEN_BY_THE_STOP = textwrap.dedent(
    """
    import os, signal, sys
    import cli.main

    def command():
        try:  # a library swallows the interrupt and is left broken: its next call raises something else
            print("working", flush=True)
            signal.pause()
        except BaseException:
            if sys.argv[1] == "escapes":  # or no one catches it: it leaves the command as it came
                raise
        raise RuntimeError("Should not reach")

    cli.main.app = command
    signal.signal(signal.SIGINT, signal.default_int_handler)  # as in a terminal (see CHILD)
    cli.main.run()
    """
)


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT], ids=["SIGTERM", "SIGINT"])
@pytest.mark.parametrize("how", ["swallowed", "escapes"])
def test_an_error_raised_on_the_way_out_of_a_stop_ends_as_interrupted_not_as_a_crash(how, sig, tmp_path):
    """Seen under load: SIGTERM during `zoo tune`, Optuna swallowed the interrupt and raised "Should not
    reach"; the crash report then refused to save (a stop was asked) and the command died of SIGINT. The
    same death when the interrupt leaves the command untouched (outside a command's own handling)."""
    env = {**os.environ, "ZOO_ARTIFACTS": str(tmp_path / "artifacts")}
    proc = subprocess.Popen(
        [sys.executable, "-c", BROKEN_BY_THE_STOP, how],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )
    assert proc.stdout.readline() == "working\n"
    proc.send_signal(sig)
    _, err = proc.communicate(timeout=30)
    assert proc.returncode == 128 + sig, err
    assert err.strip() == "interrupted" and "Traceback" not in err
    assert not (tmp_path / "artifacts" / "logs").exists()  # no crash file: nothing crashed


def test_a_thread_that_fails_while_a_stop_unwinds_is_quiet_and_any_other_is_not(monkeypatch, capfd):
    """Optuna's heartbeat thread met the lock of the interrupted transaction and printed its traceback."""
    import threading

    from cli.console import _quiet_after_a_stop
    from zoo.core import stop

    def fail():
        raise RuntimeError("database is locked")

    monkeypatch.setattr(threading, "excepthook", _quiet_after_a_stop)
    for asked in (True, False):
        stop.clear()
        if asked:
            stop.request(signal.SIGTERM)
        thread = threading.Thread(target=fail)
        thread.start()
        thread.join()
        printed = capfd.readouterr().err
        assert ("database is locked" in printed) is not asked, printed
    stop.clear()


LEFT_A_THREAD = textwrap.dedent(
    """
    import signal, threading
    import cli.main

    def command():
        # a library starts a worker thread and is interrupted before it arranges the thread's end (Optuna's
        # heartbeat thread: started in __enter__, stopped in __exit__): the thread waits for ever
        threading.Thread(target=threading.Event().wait).start()
        print("working", flush=True)
        signal.pause()

    cli.main.app = command
    signal.signal(signal.SIGINT, signal.default_int_handler)  # as in a terminal (see CHILD)
    cli.main.run()
    """
)


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT], ids=["SIGTERM", "SIGINT"])
def test_a_stopped_command_exits_although_a_library_left_a_thread_running(sig):
    """Seen in a CI run: `zoo tune` printed "interrupted" on SIGTERM, then never exited, its interpreter
    waiting at shutdown for Optuna's heartbeat thread, whose stop the interrupt had skipped."""
    proc = subprocess.Popen(
        [sys.executable, "-c", LEFT_A_THREAD], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    try:
        assert proc.stdout.readline() == "working\n"
        proc.send_signal(sig)
        _, err = proc.communicate(timeout=20)
    finally:
        proc.kill()
    assert proc.returncode == 128 + sig, err
    assert err.strip() == "interrupted" and "Traceback" not in err
