"""Distributed tuning on a real PostgreSQL server: concurrent workers and a worker killed mid-trial."""

import os
import signal
import subprocess
import sys
import time

import optuna
import pytest
from optuna.storages import RetryFailedTrialCallback
from optuna.trial import TrialState
from pgcluster import Cluster, server_bin

from zoo.tune.studies import open_storage

pytestmark = pytest.mark.skipif(
    server_bin() is None,
    reason="PostgreSQL server binaries are not installed (`make test` installs Debian's postgresql)",
)
FASHION = "/usr/share/datasets/fashion-mnist"


@pytest.fixture(scope="module")
def cluster():
    if not os.path.isdir(FASHION):
        pytest.skip("Fashion-MNIST is not installed")
    c = Cluster()
    yield c
    c.stop()


def _zoo(url, study, *extra, env=None, artifacts):
    args = [
        sys.executable,
        "-m",
        "cli",
        "--artifacts",
        str(artifacts),
        "tune",
        "fashion-mlp",
        "--storage",
        url,
        "--study",
        study,
        "--subset",
        "1000",
        "--no-retrain",
        "--json",
        *extra,
    ]
    return subprocess.Popen(
        args, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env={**os.environ, **(env or {})}
    )


def _trials(url, study):
    return optuna.load_study(study_name=study, storage=open_storage(url, heartbeat=False)).get_trials()


def test_two_workers_share_one_study(cluster, tmp_path):
    common = ["--trials", "2", "--epochs", "1"]
    workers = [
        _zoo(cluster.url, "shared", *common, artifacts=tmp_path / "a"),
        _zoo(cluster.url, "shared", *common, "--seed", "1", artifacts=tmp_path / "a"),
    ]
    for w in workers:
        _, stderr = w.communicate(timeout=300)
        assert w.returncode == 0, stderr[-2000:]
    trials = _trials(cluster.url, "shared")
    numbers = [t.number for t in trials]
    assert len(trials) == 4 and sorted(numbers) == list(range(4))
    assert all(t.state == TrialState.COMPLETE for t in trials)


def test_a_killed_worker_trial_fails_and_is_retried_by_the_survivor(cluster, tmp_path):
    # The shortest periods zoo takes (whole seconds, grace > heartbeat): only the survivor judges staleness,
    # and it starts after the victim is dead, so no live worker's trial can be judged stale too early.
    grace = 2
    fast_heartbeat = {"ZOO_HEARTBEAT_SECONDS": "1", "ZOO_GRACE_SECONDS": str(grace)}
    victim = _zoo(
        cluster.url,
        "crash",
        "--trials",
        "1",
        "--epochs",
        "50",
        "--pruner",
        "none",
        env=fast_heartbeat,
        artifacts=tmp_path / "a",
    )
    deadline = time.time() + 120
    while time.time() < deadline:
        time.sleep(0.5)
        try:
            trials = _trials(cluster.url, "crash")
            if any(t.state == TrialState.RUNNING and t.intermediate_values for t in trials):
                break
        except KeyError:  # the study does not exist yet
            continue
    else:
        victim.kill()
        pytest.fail("the first worker never started training")
    os.kill(victim.pid, signal.SIGKILL)
    victim.wait()
    # A dead process writes no heartbeat: its last one is older than the moment wait() returned, on the
    # server's clock as well (the same machine), so once the grace period and a margin have passed since
    # then, the trial is stale when the survivor looks. Not a guess at how long anything takes.
    time.sleep(grace + 1)

    survivor = _zoo(
        cluster.url, "crash", "--trials", "1", "--epochs", "1", env=fast_heartbeat, artifacts=tmp_path / "a"
    )
    _, stderr = survivor.communicate(timeout=300)
    assert survivor.returncode == 0, stderr[-2000:]
    trials = _trials(cluster.url, "crash")
    assert trials[0].state == TrialState.FAIL
    retry = trials[1]
    assert RetryFailedTrialCallback.retried_trial_number(retry) == 0
    assert retry.state == TrialState.COMPLETE
    assert retry.params == trials[0].params
