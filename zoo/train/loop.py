"""`fit` and `evaluate`: a plain training loop over in-memory tensors, no DataLoader workers.

The whole dataset is a uint8 tensor; a batch is an index_select plus one normalisation, so an epoch
costs what the model costs. Progress goes to optional callbacks; the tuner uses `on_epoch` to report
and prune (an exception raised there stops training and propagates).
"""

import copy
import math
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

from zoo.core.errors import InternalError, TrainingDiverged, UsageError
from zoo.core.runtime import autotune_convolutions, cpu_vendor, flush_denormals, tune_allocator
from zoo.data import (
    AugmentConfig,
    DataSplits,
    Normalizer,
    Split,
    augment_batch,
    epoch_plan,
    iterate_batches,
    with_augmented_copies,
)
from zoo.models.layers import FlipAveraged
from zoo.train.config import TrainConfig
from zoo.train.resume import TrainingState, load_state, restore_model, save_state

EVAL_BATCH_SIZE = 1024


@dataclass
class EpochStats:
    epoch: int  # 1-based
    epochs: int
    train_loss: float
    train_acc: float
    val_loss: float | None
    val_acc: float | None
    lr: float  # the learning rate of the epoch's last optimizer step
    seconds: float

    def to_dict(self) -> dict:
        return asdict(self)


@dataclass
class FitResult:
    history: list[EpochStats]
    best_epoch: int  # the epoch whose weights the model holds
    stopped_early: bool
    seconds: float


EpochCallback = Callable[[EpochStats], None]
BatchCallback = Callable[[int, int, float], None]  # (batch index 1-based, batches per epoch, loss)


def select_device(name: str = "auto") -> torch.device:
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name.startswith("cuda") and not torch.cuda.is_available():
        raise UsageError(f"device {name!r} asked for but CUDA is not available here; use --device cpu")
    try:
        return torch.device(name)
    except RuntimeError:
        raise UsageError(f"unknown device {name!r}; use auto, cpu or cuda[:N]") from None


def bf16_pays_off(device: torch.device) -> bool:
    """Whether bf16 autocast trains faster than fp32 here: what `precision=auto` picks.

    CUDA: wherever the GPU has native bf16 units. CPU: as measured (benchmarks/RESULTS.md), not as the
    instruction set suggests: AMX tiles made a training step 1.27x faster (Xeon, cpu-2c), but AVX512-BF16
    without AMX made it 0.76-0.83x as fast on an Intel Xeon whose hypervisor hides AMX (cpu-2c-emr), while
    the AMD EPYC figures (cpu-2c-epyc) were all measured with bf16. So: AMX, or AVX512-BF16 on AMD."""
    if device.type == "cuda":
        return torch.cuda.is_bf16_supported(including_emulation=False)
    try:  # private probes; absent on non-x86 builds
        amx = torch.cpu._is_amx_tile_supported()
        avx512_bf16 = torch.cpu._is_avx512_bf16_supported()
    except AttributeError:
        return False
    return bool(amx or (avx512_bf16 and cpu_vendor() == "AuthenticAMD"))


def resolve_precision(precision: str, device: torch.device) -> str:
    if precision == "auto":
        return "bf16" if bf16_pays_off(device) else "fp32"
    if precision == "fp16" and device.type != "cuda":
        raise UsageError("precision fp16 needs a CUDA device; use bf16 or fp32 on the CPU")
    return precision


def make_optimizer(model: nn.Module, config: TrainConfig) -> torch.optim.Optimizer:
    params = list(model.parameters())
    # On CUDA one fused kernel updates every parameter; the default for-each path launches several
    # kernels per step, which dominates a small model's step on a fast GPU.
    fused = bool(params) and all(p.is_cuda for p in params)
    if config.optimizer == "adam":
        return torch.optim.Adam(params, lr=config.lr, weight_decay=config.weight_decay, fused=fused)
    if config.optimizer == "adamw":
        return torch.optim.AdamW(params, lr=config.lr, weight_decay=config.weight_decay, fused=fused)
    momentum = 0.0 if config.optimizer == "sgd" else config.momentum
    return torch.optim.SGD(
        params,
        lr=config.lr,
        momentum=momentum,
        weight_decay=config.weight_decay,
        nesterov=config.optimizer == "sgd-nesterov",
        fused=fused,
    )


def make_scheduler(optimizer, config: TrainConfig, steps_per_epoch: int):
    """Stepped every batch, so one-cycle and cosine follow the exact step count.

    A one-cycle schedule needs a warm-up and an annealing phase of at least one step each: with fewer than
    3 steps in all there is no cycle and the learning rate stays constant; with few steps the warm-up is
    lengthened to one step (torch divides by each phase's length)."""
    total = config.epochs * steps_per_epoch
    if config.schedule in ("onecycle", "triangular"):
        if total < 3:
            return None
        share = 0.3 if config.schedule == "onecycle" else 0.2  # the share of steps spent warming up
        share = min(max(share, 2 / total), (total - 1.5) / total)
        return torch.optim.lr_scheduler.OneCycleLR(
            optimizer,
            max_lr=config.lr,
            total_steps=total,
            pct_start=share,
            # triangular: linear up to lr over the first 20% of steps, linear down to ~0
            anneal_strategy="cos" if config.schedule == "onecycle" else "linear",
        )
    if config.schedule == "cosine":
        return torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=total)
    return None


def augment_config(config: TrainConfig) -> AugmentConfig:
    return AugmentConfig(
        translate=config.augment_translate,
        hflip=config.augment_hflip,
        rotation=config.augment_rotation,
        erasing=config.augment_erasing,
        classes=config.augment_classes,
    )


def fit(
    model: nn.Module,
    data: DataSplits,
    config: TrainConfig,
    *,
    on_epoch: EpochCallback | None = None,
    on_batch: BatchCallback | None = None,
    state_path: Path | None = None,
) -> FitResult:
    """Train `model` on `data.train` as `config` says; with `state_path`, continue from the state saved
    there (if any) and save the state there, atomically, at the end of every epoch (zoo/train/resume.py)."""
    loop = _prepare(model, data, config)
    progress = _restore(loop, config, state_path)
    started = time.perf_counter()
    for epoch in range(progress.done + 1, config.epochs + 1):
        if progress.stopped_early:
            break
        stats = _epoch(loop, data, config, epoch, on_batch)
        progress.history.append(stats)
        _early_stop(progress, model, config, stats)
        if state_path is not None:
            seconds = progress.earlier_seconds + time.perf_counter() - started
            _snapshot(state_path, loop, progress, epoch, seconds)
        if on_epoch is not None:  # after the save: an interrupt in the callback keeps this epoch
            on_epoch(stats)
    _keep_best(model, progress)
    seconds = progress.earlier_seconds + time.perf_counter() - started
    return FitResult(progress.history, progress.best_epoch, progress.stopped_early, seconds)


@dataclass
class _Loop:
    """What `fit` sets up once and every epoch uses."""

    model: nn.Module
    # The compiled module shares its parameters with `model`, so saving and evaluation use `model`.
    forward: Callable[[torch.Tensor], torch.Tensor]
    device: torch.device
    autocast_dtype: torch.dtype | None
    scaler: torch.amp.GradScaler
    optimizer: torch.optim.Optimizer
    scheduler: torch.optim.lr_scheduler.LRScheduler | None
    normalize: Normalizer
    augment: AugmentConfig
    generator: torch.Generator
    train: Split
    copies: torch.Tensor | None  # which augmented copy each training image is (augment_classes)
    steps: int  # optimizer steps per epoch
    drop_last: bool


@dataclass
class _Progress:
    """What changes from epoch to epoch, and what a saved state restores."""

    best_epoch: int
    history: list[EpochStats] = field(default_factory=list)
    best_loss: float = math.inf
    best_state: dict[str, torch.Tensor] | None = None  # the best epoch's weights, with patience
    stale: int = 0  # epochs since the validation loss last improved
    stopped_early: bool = False
    done: int = 0  # epochs done before this call (resumed)
    earlier_seconds: float = 0.0  # training time before this call (resumed)


def _prepare(model: nn.Module, data: DataSplits, config: TrainConfig) -> _Loop:
    device = select_device(config.device)
    precision = resolve_precision(config.precision, device)
    tune_allocator()
    flush_denormals()
    if device.type == "cuda":
        autotune_convolutions()
    model.to(device)
    to_memory_format(model, config.channels_last)
    forward = torch.compile(model) if config.compile else model
    autocast_dtype = {"bf16": torch.bfloat16, "fp16": torch.float16}.get(precision)
    scaler = torch.amp.GradScaler(device.type, enabled=precision == "fp16")
    normalize = Normalizer(data.mean, data.std, device=device)
    augment = augment_config(config)
    generator = torch.Generator().manual_seed(config.seed)
    train, copies = _on_device(data.train, device), None
    if augment.enabled and augment.classes is not None:
        train, copies = with_augmented_copies(train, augment.classes, config.augment_copies)
    steps, drop_last = epoch_plan(len(train), config.batch_size)
    if steps == 0:
        raise UsageError("the training split is empty; use a larger subset or a smaller val_fraction")
    optimizer = make_optimizer(model, config)
    scheduler = make_scheduler(optimizer, config, steps)
    return _Loop(
        model=model,
        forward=forward,
        device=device,
        autocast_dtype=autocast_dtype,
        scaler=scaler,
        optimizer=optimizer,
        scheduler=scheduler,
        normalize=normalize,
        augment=augment,
        generator=generator,
        train=train,
        copies=copies,
        steps=steps,
        drop_last=drop_last,
    )


def _restore(loop: _Loop, config: TrainConfig, state_path: Path | None) -> _Progress:
    """The progress saved at `state_path`, with the model, optimizer, schedule and both random streams put
    back as they were then; a fresh start where nothing was saved."""
    resumed = load_state(state_path) if state_path is not None else None
    if resumed is None:
        return _Progress(best_epoch=config.epochs)
    restore_model(loop.model, resumed.model, state_path)
    loop.optimizer.load_state_dict(resumed.optimizer)
    if loop.scheduler is not None and resumed.scheduler is not None:
        loop.scheduler.load_state_dict(resumed.scheduler)
    if resumed.scaler:
        loop.scaler.load_state_dict(resumed.scaler)
    torch.set_rng_state(resumed.torch_rng)
    loop.generator.set_state(resumed.generator_rng)
    return _Progress(
        history=[EpochStats(**h) for h in resumed.history],
        best_loss=resumed.best_loss,
        best_epoch=resumed.best_epoch,
        stale=resumed.stale,
        best_state=resumed.best_model,
        stopped_early=resumed.stopped_early,
        done=resumed.epoch,
        earlier_seconds=resumed.seconds,
    )


def _epoch(
    loop: _Loop, data: DataSplits, config: TrainConfig, epoch: int, on_batch: BatchCallback | None
) -> EpochStats:
    t0 = time.perf_counter()
    train_loss, train_acc, lr = _train_epoch(loop, config, epoch, on_batch)
    val_loss, val_acc = _validate(loop, data, config)
    return EpochStats(
        epoch=epoch,
        epochs=config.epochs,
        train_loss=train_loss,
        train_acc=train_acc,
        val_loss=val_loss,
        val_acc=val_acc,
        lr=lr,
        seconds=time.perf_counter() - t0,
    )


def _train_epoch(
    loop: _Loop, config: TrainConfig, epoch: int, on_batch: BatchCallback | None
) -> tuple[float, float, float]:
    """One pass over the training split: its mean loss, its accuracy and the last step's learning rate."""
    loop.model.train()
    loss_sum = torch.zeros((), device=loop.device)
    correct = torch.zeros((), device=loop.device, dtype=torch.long)
    seen = 0
    batches = iterate_batches(
        loop.train,
        config.batch_size,
        shuffle=True,
        generator=loop.generator,
        drop_last=loop.drop_last,
        with_index=True,
    )
    for step, (images, labels, index) in enumerate(batches, start=1):
        logits, y, loss, lr = _train_step(loop, config, images, labels, index)
        loss_sum += loss.detach() * len(y)
        correct += (logits.detach().argmax(1) == y).sum()
        seen += len(y)
        if on_batch is not None:
            on_batch(step, loop.steps, loss.item())
    if step != loop.steps:
        raise InternalError(f"epoch {epoch} took {step} optimizer steps; the schedule planned {loop.steps}")
    train_loss = loss_sum.item() / seen
    if not math.isfinite(train_loss):
        raise TrainingDiverged(
            f"training diverged at epoch {epoch} (loss is {train_loss}); lower lr (now {config.lr:g})"
        )
    return train_loss, correct.item() / seen, lr


def _train_step(
    loop: _Loop, config: TrainConfig, images: torch.Tensor, labels: torch.Tensor, index: torch.Tensor
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, float]:
    """One optimizer step on a batch: its logits, labels (on the device), loss and learning rate."""
    x = loop.normalize(images)
    y = labels.to(loop.device, non_blocking=True)
    if loop.augment.enabled:
        select = None if loop.copies is None else loop.copies[index]
        x = augment_batch(
            x, y, loop.augment, loop.generator, background=loop.normalize.background, select=select
        )
    dtype = loop.autocast_dtype
    with torch.autocast(loop.device.type, dtype=dtype, enabled=dtype is not None):
        logits = loop.forward(x)
        loss = F.cross_entropy(logits, y, label_smoothing=config.label_smoothing)
    loop.optimizer.zero_grad(set_to_none=True)
    loop.scaler.scale(loss).backward()
    lr = loop.optimizer.param_groups[0]["lr"]  # what this step uses; the history records the last one
    loop.scaler.step(loop.optimizer)
    loop.scaler.update()
    if loop.scheduler is not None and not _schedule_done(loop.scheduler):
        loop.scheduler.step()
    return logits, y, loss, lr


def _schedule_done(scheduler) -> bool:
    """Whether the step just taken was a one-cycle schedule's last: stepping it again would set the
    learning rate of a step that never comes, extrapolated past the schedule's end (triangular's linear
    annealing goes below zero there, which the resume state rightly refuses)."""
    total = getattr(scheduler, "total_steps", None)
    return total is not None and scheduler.last_epoch + 1 >= total


def _validate(loop: _Loop, data: DataSplits, config: TrainConfig) -> tuple[float | None, float | None]:
    """Validation loss and accuracy; None for both without a validation split."""
    if len(data.val) == 0:
        return None, None
    val = evaluate(loop.model, data.val, loop.normalize, flip=config.test_time_flip)
    return val.loss, val.accuracy


def _early_stop(progress: _Progress, model: nn.Module, config: TrainConfig, stats: EpochStats) -> None:
    """With patience, keep the weights of the epoch with the lowest validation loss, and stop once it has
    not improved for `patience` epochs."""
    if not config.patience or stats.val_loss is None:
        return
    if stats.val_loss < progress.best_loss:
        progress.best_loss, progress.best_epoch, progress.stale = stats.val_loss, stats.epoch, 0
        progress.best_state = copy.deepcopy(model.state_dict())
    else:
        progress.stale += 1
        progress.stopped_early = progress.stale >= config.patience


def _snapshot(state_path: Path, loop: _Loop, progress: _Progress, epoch: int, seconds: float) -> None:
    """Everything `_restore` needs to continue after the epoch just ended, written atomically."""
    state = TrainingState(
        epoch=epoch,
        history=[h.to_dict() for h in progress.history],
        best_loss=progress.best_loss,
        best_epoch=progress.best_epoch,
        stale=progress.stale,
        stopped_early=progress.stopped_early,
        seconds=seconds,
        model=loop.model.state_dict(),
        best_model=progress.best_state,
        optimizer=loop.optimizer.state_dict(),
        scheduler=loop.scheduler.state_dict() if loop.scheduler is not None else None,
        scaler=loop.scaler.state_dict(),
        torch_rng=torch.get_rng_state(),
        generator_rng=loop.generator.get_state(),
    )
    save_state(state_path, state)


def _keep_best(model: nn.Module, progress: _Progress) -> None:
    """The model ends with the best epoch's weights; without patience that is the last epoch."""
    if progress.best_state is not None:
        model.load_state_dict(progress.best_state)
    else:
        progress.best_epoch = len(progress.history)


def _on_device(split: Split, device: torch.device) -> Split:
    """The whole training split on the accelerator once (uint8: 47 MB for Fashion-MNIST), so a batch
    is an index_select there instead of a host-to-device copy per step."""
    if device.type == "cpu":
        return split
    return Split(split.images.to(device), split.labels.to(device))


def to_memory_format(model: nn.Module, channels_last: bool) -> nn.Module:
    """The layout `channels_last` asks for, in place: NHWC where the model has convolutions (oneDNN runs
    them about a quarter faster on the CPU, for evaluation as for training)."""
    if channels_last and any(isinstance(m, nn.Conv2d) for m in model.modules()):
        model.to(memory_format=torch.channels_last)
    return model


@dataclass
class Evaluation:
    loss: float
    accuracy: float
    logits: torch.Tensor  # (N, classes), float32 on CPU
    labels: torch.Tensor

    @property
    def predictions(self) -> torch.Tensor:
        return self.logits.argmax(1)


@torch.inference_mode()
def predict_logits(model: nn.Module, images: torch.Tensor, normalize: Normalizer) -> torch.Tensor:
    # As fit does: an evaluation on its own (zoo weights verify, report, compare) otherwise pays page
    # faults for every chunk's activations, half its time for a ResNet (zoo/core/runtime.py)
    tune_allocator()
    model.eval()
    chunks = [
        model(normalize(images[i : i + EVAL_BATCH_SIZE])).float().cpu()
        for i in range(0, len(images), EVAL_BATCH_SIZE)
    ]
    return torch.cat(chunks) if chunks else torch.empty(0)


def evaluate(model: nn.Module, split: Split, normalize: Normalizer, *, flip: bool = False) -> Evaluation:
    """Loss and accuracy on `split`; `flip` averages the logits over each image and its mirror."""
    logits = predict_logits(FlipAveraged(model) if flip else model, split.images, normalize)
    loss = F.cross_entropy(logits, split.labels).item()
    accuracy = (logits.argmax(1) == split.labels).float().mean().item()
    return Evaluation(loss, accuracy, logits, split.labels)
