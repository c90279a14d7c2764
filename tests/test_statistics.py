"""Random primitives tested by the distributions they draw from, not by the shapes they return.

Each rate or mean is checked against its expected value within SIGMAS standard errors (a false alarm
about once in two million checks); each sampler is checked over every value it can draw.
"""

import math

import numpy as np
import torch
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from zoo.data.augment import _ERASE_AREA, AugmentConfig, augment_batch
from zoo.data.splits import stratified_split, stratified_subset

SIGMAS = 5.0
N = 4000
SIZE = 28


def _rate_ok(hits: int, n: int, p: float) -> bool:
    return abs(hits / n - p) <= SIGMAS * math.sqrt(p * (1 - p) / n)


def _delta(n: int, row: int, col: int) -> torch.Tensor:
    """n images, each black but for one bright pixel: where it lands tells what the augmentation did."""
    x = torch.zeros(n, 1, SIZE, SIZE)
    x[:, 0, row, col] = 1.0
    return x


def _labels(n: int) -> torch.Tensor:
    return torch.zeros(n, dtype=torch.long)


def test_shifts_are_uniform_over_every_whole_pixel_offset():
    t = 3
    out = augment_batch(
        _delta(N, 14, 14), _labels(N), AugmentConfig(translate=t), torch.Generator().manual_seed(0)
    )
    flat = out.view(N, -1).argmax(1)
    assert torch.allclose(out.view(N, -1).max(1).values, torch.ones(N))  # whole pixels: the delta stays 1
    dy, dx = flat // SIZE - 14, flat % SIZE - 14
    for offsets in (dx, dy):
        counts = torch.bincount(offsets + t, minlength=2 * t + 1)
        assert len(counts) == 2 * t + 1  # never beyond +-t
        assert all(_rate_ok(int(c), N, 1 / (2 * t + 1)) for c in counts), counts
    # x and y are drawn independently: the joint rate of one corner is the product of the margins
    corner = int(((dx == t) & (dy == -t)).sum())
    assert _rate_ok(corner, N, 1 / (2 * t + 1) ** 2)


def test_flips_happen_half_the_time_and_are_exact_mirrors():
    x = torch.rand(N, 1, SIZE, SIZE)
    out = augment_batch(x, _labels(N), AugmentConfig(hflip=True), torch.Generator().manual_seed(1))
    flipped = (out == x.flip(3)).flatten(1).all(1)
    kept = (out == x).flatten(1).all(1)
    assert bool((flipped | kept).all())  # nothing else happens to an image
    assert _rate_ok(int(flipped.sum()), N, 0.5)


def test_rotation_angles_are_uniform_within_the_limit():
    limit = 20.0
    radius = 8
    out = augment_batch(
        _delta(N, 14, 14 + radius),
        _labels(N),
        AugmentConfig(rotation=limit),
        torch.Generator().manual_seed(2),
    )
    # The centroid of the (bilinearly spread) pixel turns about the image centre, 13.5 in pixel units.
    coords = torch.arange(SIZE, dtype=torch.float32) - 13.5
    mass = out[:, 0].sum((1, 2))
    cy = (out[:, 0].sum(2) * coords).sum(1) / mass
    cx = (out[:, 0].sum(1) * coords).sum(1) / mass
    start = math.degrees(math.atan2(14 - 13.5, 14 + radius - 13.5))  # the pixel's angle before turning
    angles = torch.rad2deg(torch.atan2(cy, cx)) - start
    assert angles.abs().max() <= limit + 2  # bilinear spread blurs the centroid by about a degree
    # uniform on [-limit, limit]: a quarter of the draws in each quarter of the range, mean 0
    quarters = torch.bucketize(angles, torch.tensor([-limit / 2, 0.0, limit / 2]))
    assert all(_rate_ok(int((quarters == q).sum()), N, 0.25) for q in range(4))
    assert abs(angles.mean().item()) <= SIGMAS * (2 * limit / math.sqrt(12)) / math.sqrt(N)


def test_erasing_rate_and_area_follow_their_ranges():
    p = 0.4
    x = torch.ones(N, 1, SIZE, SIZE)
    out = augment_batch(x, _labels(N), AugmentConfig(erasing=p), torch.Generator().manual_seed(3))
    erased = out[:, 0] == 0
    area = erased.flatten(1).sum(1).float() / (SIZE * SIZE)
    hit = area > 0
    assert _rate_ok(int(hit.sum()), N, p)
    low, high = _ERASE_AREA
    # areas are drawn uniformly in [low, high] of the image, then rounded to whole rows and columns
    assert area[hit].min() >= low * 0.6 and area[hit].max() <= high * 1.25
    expected = (low + high) / 2
    assert abs(area[hit].mean().item() - expected) <= 0.04 * expected
    for mask in erased[hit][:200]:  # each erased region is one filled rectangle
        rows, cols = mask.any(1).nonzero().flatten(), mask.any(0).nonzero().flatten()
        box = mask[rows.min() : rows.max() + 1, cols.min() : cols.max() + 1]
        assert bool(box.all()) and int(box.sum()) == int(mask.sum())


def test_erasing_lands_anywhere_in_the_image():
    x = torch.ones(N, 1, SIZE, SIZE)
    out = augment_batch(x, _labels(N), AugmentConfig(erasing=1.0), torch.Generator().manual_seed(4))
    coverage = (out[:, 0] == 0).float().mean(0)
    assert coverage.min() > 0  # every pixel, corners included, is erased by some draw
    # left and right halves, top and bottom halves are erased equally often
    half = SIZE // 2
    for a, b in ((coverage[:, :half], coverage[:, half:]), (coverage[:half], coverage[half:])):
        assert abs(a.mean().item() - b.mean().item()) < 0.01


# ------------------------------------------------------------------ splits


@settings(max_examples=60, deadline=None)
@given(
    counts=st.lists(st.integers(3, 60), min_size=2, max_size=8),
    fraction=st.floats(0.1, 0.5),
    seed=st.integers(0, 2**31 - 1),
)
def test_a_stratified_split_partitions_the_set_with_each_class_share(counts, fraction, seed):
    labels = np.repeat(np.arange(len(counts)), counts)
    # sklearn needs at least one image per class on each side
    assume(min(len(labels) * fraction, len(labels) * (1 - fraction)) >= len(counts))
    np.random.default_rng(seed).shuffle(labels)
    train, val = stratified_split(labels, fraction, seed)
    assert len(np.intersect1d(train, val)) == 0
    assert np.array_equal(np.sort(np.concatenate([train, val])), np.arange(len(labels)))
    total_val = len(val)
    for c, n in enumerate(counts):
        share = np.sum(labels[val] == c)
        # each class contributes its share of the validation split, up to rounding
        assert abs(share - n * total_val / len(labels)) <= 1.0 + 1e-9, (c, share, n, total_val)
    assert np.array_equal(stratified_split(labels, fraction, seed)[1], val)  # the same seed, the same split


@settings(max_examples=40, deadline=None)
@given(counts=st.lists(st.integers(5, 80), min_size=2, max_size=6), seed=st.integers(0, 2**31 - 1))
def test_a_stratified_subset_keeps_the_class_proportions(counts, seed):
    labels = np.repeat(np.arange(len(counts)), counts)
    size = max(len(counts), len(labels) // 3)
    chosen = stratified_subset(labels, size, seed)
    assert len(chosen) == size and len(np.unique(chosen)) == size
    for c, n in enumerate(counts):
        assert abs(np.sum(labels[chosen] == c) - n * size / len(labels)) <= 1.0 + 1e-9
