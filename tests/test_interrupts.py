"""An interrupt must end the command wherever it lands, also inside a finalizer (a weakref callback or a
__del__), where Python prints "Exception ignored" and drops the KeyboardInterrupt a handler raises."""

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
    from zoo.fileio import write_text_atomic
    from zoo.names import replace_folder

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
