"""The stages every task's data module serves to Lightning: ``original`` (train = forget +
retain), ``gold`` (retain only) and ``unlearn`` (a ``CombinedLoader`` of the sets the
method names, in its combine mode); evaluation loaders over any named set."""

from __future__ import annotations

import lightning as L
from lightning.pytorch.utilities import CombinedLoader
from torch.utils.data import DataLoader

__all__ = ["StagedDataModule"]


class StagedDataModule(L.LightningDataModule):
    """Base of the classification, ASR and TTS data modules.

    Subclasses implement ``loader(name, *, shuffle, batch_size=None)`` over their sets
    ("train", "forget", "retain", "test", ...). ``stage``, ``unlearn_sets`` and
    ``unlearn_mode`` are set by the runner and by
    :func:`~audio_unlearn.methods.fit_unlearning`.
    """

    stage: str = "original"
    unlearn_sets: tuple[str, ...] = ("forget", "retain")
    unlearn_mode: str = "max_size_cycle"
    #: ``(set name, batch size)`` that ``val_dataloader`` serves, for a training recipe that
    #: validates as it goes (UnSLU-BENCH's plateau scheduler and early stopping); None:
    #: nothing (modules without a ``validation_step`` never ask)
    validation: tuple[str, int | None] | None = None

    def loader(self, name: str, *, shuffle: bool, batch_size: int | None = None) -> DataLoader:
        raise NotImplementedError

    def unlearn_batch_size(self, name: str) -> int | None:
        """The batch size of set ``name`` in the unlearning stage (``None``: the module's)."""
        return None

    def val_dataloader(self):
        if self.validation is None:
            return []
        name, batch_size = self.validation
        return self.loader(name, shuffle=False, batch_size=batch_size)

    def train_dataloader(self):
        if self.stage == "original":
            return self.loader("train", shuffle=True)
        if self.stage == "gold":
            return self.loader("retain", shuffle=True)
        if self.stage == "unlearn":
            loaders = {
                name: self.loader(name, shuffle=True, batch_size=self.unlearn_batch_size(name))
                for name in self.unlearn_sets
            }
            return CombinedLoader(loaders, mode=self.unlearn_mode)
        raise ValueError(f"unknown stage {self.stage!r}")

    def add_set(self, name: str, utterances) -> None:
        """Add (or replace) set ``name`` (e.g. an attacker's utterances, already loaded
        with the forget set); a cached dataset of that name is dropped."""
        self.sets[name] = list(utterances)
        cache = getattr(self, "_datasets", {})
        for key in [k for k in cache if k == name or (isinstance(k, tuple) and k[0] == name)]:
            del cache[key]

    def eval_dataloader(self, name: str) -> DataLoader:
        return self.loader(name, shuffle=False)
