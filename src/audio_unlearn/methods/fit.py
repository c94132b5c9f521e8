"""Running an unlearning method: Lightning's Trainer for trained methods, a timed call for
training-free ones."""

from __future__ import annotations

import logging
import time
import warnings

import lightning as L
from lightning.pytorch.callbacks import Timer

from .base import UnlearningModule

__all__ = ["fit_unlearning", "make_trainer", "quiet_lightning"]


def quiet_lightning() -> None:
    """Silence Lightning's per-fit banners (accelerator info, tips); warnings still show."""
    for name in ("lightning.pytorch", "lightning.fabric"):
        logging.getLogger(name).setLevel(logging.WARNING)
    warnings.filterwarnings("ignore", message=".*treespec.*LeafSpec.*")
    warnings.filterwarnings("ignore", message=".*does not have many workers.*")
    # data modules serve validation only when a recipe asks (StagedDataModule.validation)
    warnings.filterwarnings("ignore", message=r".*val_dataloader.*but have no .validation_step.*")
    # frozen teachers are submodules in eval mode on purpose
    warnings.filterwarnings(
        "ignore", message=r".*module\(s\) in eval mode at the start of training.*"
    )


def make_trainer(
    epochs: int,
    *,
    progress: bool = False,
    callbacks: list | None = None,
    gradient_clip_val: float | None = None,
    **trainer_kwargs,
) -> L.Trainer:
    """A Lightning Trainer for CPU runs by default; ``trainer_kwargs`` override anything."""
    quiet_lightning()
    kwargs = dict(
        accelerator="cpu",
        devices=1,
        max_epochs=epochs,
        logger=False,
        enable_checkpointing=False,
        enable_model_summary=False,
        enable_progress_bar=progress,
        gradient_clip_val=gradient_clip_val,
        callbacks=callbacks or [],
        num_sanity_val_steps=0,
        deterministic=True,
    )
    kwargs.update(trainer_kwargs)
    return L.Trainer(**kwargs)


def fit_unlearning(
    module: UnlearningModule,
    datamodule,
    *,
    progress: bool = False,
    callbacks: list | None = None,
    **trainer_kwargs,
) -> float:
    """Run ``module`` on ``datamodule``; return the wall time of the unlearning loop (s).

    Sets the datamodule's unlearning stage to the sets and combine mode the method asks
    for. Evaluation is not part of the timed span. ``callbacks`` are added to the
    trainer's (after its timer).
    """
    datamodule.stage = "unlearn"
    datamodule.unlearn_sets = module.uses
    datamodule.unlearn_mode = module.combine_mode
    if module.training_free:
        start = time.perf_counter()
        module.apply(datamodule)
        return time.perf_counter() - start
    timer = Timer()
    clip = module.gradient_clip_val
    if clip is None:  # the task's convention (flow-matching TTS: 1.0)
        clip = module.task.gradient_clip_val
    trainer = make_trainer(
        module.epochs,
        progress=progress,
        callbacks=[timer, *(callbacks or [])],
        gradient_clip_val=clip if module.automatic_optimization else None,
        **trainer_kwargs,
    )
    trainer.fit(module, datamodule=datamodule)
    return timer.time_elapsed("train")
