"""zoo.data.augment_batch: whole-batch shift, rotation, flip and erasing, seeded."""

import pytest
import torch

from zoo.core.errors import InternalError, UsageError
from zoo.data import AugmentConfig, augment_batch

ALL = AugmentConfig(translate=3, hflip=True, rotation=15, erasing=0.5)


def gen(seed: int = 0) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


def batch(n: int = 64, c: int = 1, size: int = 16) -> tuple[torch.Tensor, torch.Tensor]:
    x = torch.randn(n, c, size, size, generator=gen(123))
    return x, torch.arange(n) % 10


def test_shape_dtype_and_input_kept():
    x, y = batch(c=3)
    before = x.clone()
    out = augment_batch(x, y, ALL, gen())
    assert out.shape == x.shape and out.dtype == x.dtype
    assert torch.equal(x, before)
    assert not torch.equal(out, x)


def test_disabled_is_identity():
    x, y = batch()
    assert not AugmentConfig().enabled
    assert augment_batch(x, y, AugmentConfig(), gen()) is x
    assert ALL.enabled and AugmentConfig(erasing=0.1).enabled


def test_same_seed_same_output():
    x, y = batch()
    assert torch.equal(augment_batch(x, y, ALL, gen(1)), augment_batch(x, y, ALL, gen(1)))
    assert not torch.equal(augment_batch(x, y, ALL, gen(1)), augment_batch(x, y, ALL, gen(2)))


def test_classes_leave_other_samples_bit_identical():
    x, y = batch()
    cfg = AugmentConfig(translate=3, hflip=True, rotation=15, erasing=1.0, classes=(2, 6))
    out = augment_batch(x, y, cfg, gen())
    chosen = (y == 2) | (y == 6)
    assert torch.equal(out[~chosen], x[~chosen])
    assert all(not torch.equal(out[i], x[i]) for i in torch.nonzero(chosen).flatten())
    assert cfg.classes == (2, 6)
    assert not AugmentConfig(hflip=True, classes=()).enabled


def test_flip_flips():
    x, y = batch()
    out = augment_batch(x, y, AugmentConfig(hflip=True), gen())
    flipped = torch.tensor([torch.equal(o, f) for o, f in zip(out, x.flip(3), strict=True)])
    kept = torch.tensor([torch.equal(o, i) for o, i in zip(out, x, strict=True)])
    assert torch.all(flipped ^ kept)
    assert 10 < flipped.sum() < 54


def test_translate_moves_whole_pixels():
    n, size, t = 64, 15, 3
    x = torch.zeros(n, 1, size, size)
    x[:, :, 7, 7] = 1.0
    out = augment_batch(x, torch.zeros(n, dtype=torch.long), AugmentConfig(translate=t), gen())
    peak = out.view(n, -1).argmax(dim=1)
    dy, dx = peak // size - 7, peak % size - 7
    assert torch.all(dy.abs() <= t) and torch.all(dx.abs() <= t)
    assert len(set(zip(dx.tolist(), dy.tolist(), strict=True))) > 10
    assert torch.allclose(out.view(n, -1).max(dim=1).values, torch.ones(n), atol=1e-5)
    assert torch.allclose(out.sum(dim=(1, 2, 3)), torch.ones(n), atol=1e-5)  # moved, not blurred


def test_translate_by_a_full_width_moves_content_out():
    n, size = 128, 8
    x = torch.ones(n, 1, size, size)
    out = augment_batch(x, torch.zeros(n, dtype=torch.long), AugmentConfig(translate=size), gen())
    totals = out.sum(dim=(1, 2, 3))
    assert (totals.abs() < 1e-4).sum() > 5  # shifted by the full width: nothing left
    assert torch.all(totals <= size * size + 1e-3)


def test_rotation_turns_about_the_centre():
    n, size = 32, 17
    x = torch.zeros(n, 1, size, size)
    x[:, :, 8, 8:] = 1.0  # a ray from the centre to the right edge
    out = augment_batch(x, torch.zeros(n, dtype=torch.long), AugmentConfig(rotation=45), gen())
    assert torch.allclose(out[:, 0, 8, 8], torch.ones(n), atol=1e-4)  # the centre stays put
    assert sum(not torch.allclose(o, i, atol=1e-3) for o, i in zip(out, x, strict=True)) > n // 2


def test_erasing_zeroes_one_rectangle():
    n, size = 64, 32
    x = torch.ones(n, 1, size, size)
    out = augment_batch(x, torch.zeros(n, dtype=torch.long), AugmentConfig(erasing=1.0), gen())
    for image in out[:, 0]:
        zero = image == 0
        rows, cols = zero.any(dim=1).nonzero().flatten(), zero.any(dim=0).nonzero().flatten()
        height, width = rows.max() - rows.min() + 1, cols.max() - cols.min() + 1
        assert zero.sum() == height * width  # a solid rectangle
        assert 0.01 <= zero.sum() / (size * size) <= 0.3
        assert torch.all(image[~zero] == 1)
    none = augment_batch(x, torch.zeros(n, dtype=torch.long), AugmentConfig(erasing=0.0, hflip=True), gen())
    assert torch.all(none == 1)


def test_bad_config():
    with pytest.raises(UsageError):
        AugmentConfig(translate=-1)
    with pytest.raises(UsageError):
        AugmentConfig(erasing=1.5)
    with pytest.raises(UsageError):
        AugmentConfig(rotation=-5)
    with pytest.raises(InternalError):  # zoo passes normalised floats; uint8 here is a bug
        augment_batch(torch.zeros(2, 1, 4, 4, dtype=torch.uint8), torch.zeros(2), AugmentConfig(hflip=True))


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_cpu_generator_drives_cuda_batches():
    x, y = batch(c=3)
    cpu = augment_batch(x, y, ALL, gen(5))
    cuda = augment_batch(x.cuda(), y.cuda(), ALL, gen(5))
    assert cuda.device.type == "cuda"
    assert torch.allclose(cuda.cpu(), cpu, atol=1e-5)


def test_shifted_and_rotated_borders_take_the_background_not_the_mean():
    """A grey frame only augmented images have would be a label cue under class-targeted augmentation."""
    from zoo.data import Normalizer

    normalize = Normalizer([0.286], [0.353])
    blank = normalize(torch.zeros(32, 1, 12, 12, dtype=torch.uint8))  # all black = -mean/std everywhere
    cfg = AugmentConfig(translate=3, rotation=30)
    out = augment_batch(blank, torch.zeros(32, dtype=torch.long), cfg, gen(), background=normalize.background)
    torch.testing.assert_close(out, blank)
    grey = augment_batch(blank, torch.zeros(32, dtype=torch.long), cfg, gen())  # the old zero fill
    assert (grey > blank + 0.5).any()


def test_augmented_copies_join_the_split_and_only_they_are_selected():
    from zoo.data import Split, iterate_batches, with_augmented_copies

    labels = torch.tensor([0, 2, 1, 6, 2, 3])
    images = torch.arange(6, dtype=torch.uint8).view(6, 1, 1, 1).expand(6, 1, 4, 4).contiguous()
    split, is_copy = with_augmented_copies(Split(images, labels), (2, 6), copies=2)
    assert len(split) == 6 + 2 * 3 and is_copy.tolist() == [False] * 6 + [True] * 6
    assert torch.equal(split.images[:6], images)  # originals untouched and first
    assert sorted(split.labels[6:].tolist()) == [2, 2, 2, 2, 6, 6]
    seen = torch.cat(
        [i for _, _, i in iterate_batches(split, 5, shuffle=True, generator=gen(), with_index=True)]
    )
    assert sorted(seen.tolist()) == list(range(12))
    # within a batch, `select` (not the labels) decides: an original shirt stays as it is
    x, y = split.images[[1, 6]].float(), split.labels[[1, 6]]
    out = augment_batch(
        x, y, AugmentConfig(hflip=True, erasing=1.0, classes=(2, 6)), gen(), select=is_copy[[1, 6]]
    )
    assert torch.equal(out[0], x[0]) and not torch.equal(out[1], x[1])


def test_fit_with_class_targeted_copies_trains_on_more_images(fashion_small):
    from zoo.models.registry import create_model
    from zoo.train.config import TrainConfig
    from zoo.train.loop import fit

    seen = []
    config = TrainConfig(
        epochs=1, batch_size=100, augment_classes=(2, 6), augment_hflip=True, augment_copies=2
    )
    fit(
        create_model("fashion-mlp"),
        fashion_small,
        config,
        on_batch=lambda step, steps, loss: seen.append(steps),
    )
    per_class = int((fashion_small.train.labels == 2).sum() + (fashion_small.train.labels == 6).sum())
    assert seen[0] == (len(fashion_small.train) + 2 * per_class) // 100
