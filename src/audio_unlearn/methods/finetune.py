"""Fine-tuning (FT) on the retain set."""

from __future__ import annotations

from typing import ClassVar

import torch

from .base import UnlearningModule
from .registry import register_method, register_preset


@register_method("ft")
class FineTune(UnlearningModule):
    """FT: continue training on the retain set only, relying on catastrophic forgetting.

    The standard baseline of the unlearning literature (e.g. Golatkar et al., "Eternal
    Sunshine of the Spotless Net", CVPR 2020); UnSLU-BENCH runs it for one epoch with
    AdamW. Loss: the task's loss on retain batches (``CE(model(x_r), y_r)`` for
    classification; the mean per-sample CTC / token loss for ASR, as run for ASR speaker
    forgetting by Dinis et al., 2026, "Evaluating Machine Unlearning in ASR"; the masked
    CFM loss of the remain speakers for zero-shot TTS, the fine-tuning baseline of Kim et
    al., ICML 2025).
    """

    uses = ("retain",)
    tasks = ("classification", "asr", "tts")
    shared_defaults: ClassVar[dict[str, object]] = {"lr": 1e-3}

    def unlearning_loss(self, batch) -> torch.Tensor:
        return self.task_loss(batch["retain"])


register_preset("asr_ft", "ft", task="asr", defaults={"lr": 3e-4})
# the TGU paper's fine-tuning baseline: the remain speakers only, masked CFM loss
register_preset("tts_ft", "ft", task="tts", defaults={"lr": 1e-4})
