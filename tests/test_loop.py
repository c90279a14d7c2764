"""The training loop's counting: steps planned = batches taken = scheduler steps, for every split size.

Property-based (hypothesis): a rule that holds for the sizes someone thought of and breaks for one residue
of n modulo the batch size (batch_size <= n < 2 * batch_size crashed one-cycle and ran cosine past T_max)
is what these tests exist to find.
"""

import math

import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from torch import nn

from zoo.data import Split, epoch_plan, iterate_batches
from zoo.data.lookup import get_dataset_info
from zoo.data.splits import DataSplits
from zoo.train.config import TrainConfig
from zoo.train.loop import fit


def _split(n: int, seed: int = 0) -> Split:
    g = torch.Generator().manual_seed(seed)
    return Split(torch.randint(0, 256, (n, 1, 4, 4), dtype=torch.uint8, generator=g), torch.arange(n) % 3)


def _data(n: int) -> DataSplits:
    return DataSplits(
        info=get_dataset_info("fashion-mnist"),
        train=_split(n),
        val=_split(0),
        test=_split(6, seed=1),
        mean=(0.5,),
        std=(0.25,),
        source="generated",
        fingerprint={},
    )


def _tiny_model() -> nn.Module:
    return nn.Sequential(nn.Flatten(), nn.Linear(16, 3))


@given(n=st.integers(0, 600), batch_size=st.integers(1, 130), shuffle=st.booleans())
def test_the_plan_is_the_batches_taken(n, batch_size, shuffle):
    steps, drop_last = epoch_plan(n, batch_size)
    batches = list(iterate_batches(_split(n), batch_size, shuffle=shuffle, drop_last=drop_last))
    assert len(batches) == steps
    sizes = [len(b[1]) for b in batches]
    if n >= batch_size:  # full batches only: a ragged batch is dropped, never more than one batch's worth
        assert set(sizes) == {batch_size} and 0 <= n - sum(sizes) < batch_size
    else:
        assert sizes == ([n] if n else [])


@given(
    n=st.integers(1, 200),
    batch_size=st.integers(1, 64),
    epochs=st.integers(1, 3),
    schedule=st.sampled_from(["none", "cosine", "onecycle", "triangular"]),
)
@settings(max_examples=60, deadline=None)
def test_every_planned_step_runs_once_and_the_schedule_ends_where_it_should(n, batch_size, epochs, schedule):
    config = TrainConfig(
        batch_size=batch_size, epochs=epochs, schedule=schedule, lr=0.01, val_fraction=0.0, precision="fp32"
    )
    taken: list[tuple[int, int]] = []
    record = lambda step, steps, loss: taken.append((step, steps))  # noqa: E731
    result = fit(_tiny_model(), _data(n), config, on_batch=record)
    steps, _ = epoch_plan(n, batch_size)
    assert len(taken) == steps * epochs
    assert all(planned == steps for _, planned in taken)
    assert [step for step, _ in taken] == list(range(1, steps + 1)) * epochs
    # The last optimizer step's learning rate is the schedule's value at its last planned step.
    total = steps * epochs
    last = result.history[-1].lr
    if schedule == "none" or (schedule in ("onecycle", "triangular") and total < 3):  # no cycle fits
        expected = 0.01
    elif schedule == "cosine":
        expected = 0.01 * (1 + math.cos(math.pi * (total - 1) / total)) / 2
    else:  # one-cycle ends at max_lr / (div_factor * final_div_factor) (torch's defaults: 25, 1e4)
        expected = 0.01 / 25 / 1e4
    assert math.isclose(last, expected, rel_tol=1e-6, abs_tol=1e-12), (last, expected)


def test_a_split_between_one_and_two_batches_trains(fashion_small):
    """The reported case: 250 images at batch 128 with one-cycle crashed after the first epoch."""
    from zoo.train.runs import train_run

    result = train_run("fashion-mlp", {"subset": 250, "epochs": 2, "batch_size": 128, "schedule": "onecycle"})
    assert [h["epoch"] for h in result.record.history] == [1, 2]
