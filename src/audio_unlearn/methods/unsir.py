"""UNSIR: error-maximising noise to impair the forget classes, then repair on retain."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from .base import UnlearningModule
from .registry import register_method

__all__ = ["UNSIR", "error_maximising_noise"]


def error_maximising_noise(
    model: nn.Module,
    wav: torch.Tensor,
    targets: torch.Tensor,
    *,
    steps: int = 5,
    lr: float = 0.01,
    reg: float = 0.1,
) -> torch.Tensor:
    """Additive waveform noise that maximises ``model``'s cross-entropy on ``targets``.

    Tarun et al., "Fast Yet Effective Machine Unlearning" (IEEE TNNLS 2023), eq. 1: the
    noise ``N`` minimises ``-CE(model(wav + N), targets) + reg * mean_i ||N_i||_2^2``,
    by ``steps`` Adam steps at learning rate ``lr`` from ``N = 0``. The model is put in
    eval mode for the search (its normalisation statistics do not move; its parameters
    receive no gradient) and its mode is restored afterwards.

    Args:
        model: classifier ``(batch, samples) -> (batch, classes)``.
        wav: waveforms ``(batch, samples)``.
        targets: the class ids whose loss the noise maximises, ``(batch,)``; for UNSIR
            these are the *forget* samples' labels.
        steps: Adam steps.
        lr: Adam learning rate.
        reg: weight of the L2 regulariser on the noise.

    Returns:
        The noise ``(batch, samples)``, detached.
    """
    was_training = model.training
    model.eval()
    noise = torch.zeros_like(wav, requires_grad=True)
    opt = torch.optim.Adam([noise], lr=lr)
    try:
        for _ in range(steps):
            loss = (
                -F.cross_entropy(model(wav + noise), targets)
                + reg * noise.pow(2).sum(dim=-1).mean()
            )
            (grad,) = torch.autograd.grad(loss, noise)
            opt.zero_grad()
            noise.grad = grad
            opt.step()
    finally:
        model.train(was_training)
    return noise.detach()


@register_method("unsir")
class UNSIR(UnlearningModule):
    """UNSIR: per batch pair, learn error-maximising noise, impair, then repair.

    Tarun et al., "Fast Yet Effective Machine Unlearning" (IEEE TNNLS 2023), in the
    per-batch form of UnSLU-BENCH (Koudounas et al., Interspeech 2025). For each
    (forget, retain) batch pair:

    1. noise: :func:`error_maximising_noise` on the forget waveforms, maximising the loss
       on the *forget* labels (``noise_steps`` Adam steps at ``noise_lr``, L2 weight
       ``noise_reg``). The UnSLU-BENCH reference code optimises it against the retain
       labels, a bug not reproduced here;
    2. impair: ``impair_steps`` AdamW steps (``lr``) on
       ``CE(model([x_f + N; x_r]), [y_f; y_r])``;
    3. repair: ``repair_steps`` SGD steps (``repair_lr``, ``repair_momentum``) on
       ``CE(model(x_r), y_r)``.

    Manual optimisation; the epoch goes over the retain set, cycling the forget set.

    Args:
        model: the trained model (modified in place).
        lr: AdamW learning rate of the impair step.
        epochs: passes over the retain set.
        weight_decay: AdamW weight decay.
        noise_steps: Adam steps of the noise search.
        noise_lr: Adam learning rate of the noise search.
        noise_reg: weight of the noise's L2 regulariser.
        impair_steps: impair steps per batch pair.
        repair_steps: repair steps per batch pair (0: no repair).
        repair_lr: SGD learning rate of the repair step.
        repair_momentum: SGD momentum of the repair step.

    Raises:
        ValueError: negative step counts or non-positive learning rates.
    """

    uses = ("forget", "retain")

    def __init__(
        self,
        model,
        *,
        noise_steps: int = 5,
        noise_lr: float = 0.01,
        noise_reg: float = 0.1,
        impair_steps: int = 1,
        repair_steps: int = 1,
        repair_lr: float = 1e-4,
        repair_momentum: float = 0.9,
        **shared,
    ):
        for name, value in (
            ("noise_steps", noise_steps),
            ("impair_steps", impair_steps),
            ("repair_steps", repair_steps),
            ("noise_reg", noise_reg),
            ("repair_momentum", repair_momentum),
        ):
            if value < 0:
                raise ValueError(f"unsir: {name} must be >= 0, got {value}")
        super().__init__(model, **shared)
        for name, value in (("lr", self.lr), ("noise_lr", noise_lr), ("repair_lr", repair_lr)):
            if value <= 0:
                raise ValueError(f"unsir: {name} must be > 0, got {value}")
        self.noise_steps = int(noise_steps)
        self.noise_lr = float(noise_lr)
        self.noise_reg = float(noise_reg)
        self.impair_steps = int(impair_steps)
        self.repair_steps = int(repair_steps)
        self.repair_lr = float(repair_lr)
        self.repair_momentum = float(repair_momentum)
        self.automatic_optimization = False

    def configure_optimizers(self):
        params = [p for p in self.model.parameters() if p.requires_grad]
        impair = torch.optim.AdamW(params, lr=self.lr, weight_decay=self.weight_decay)
        repair = torch.optim.SGD(params, lr=self.repair_lr, momentum=self.repair_momentum)
        return [impair, repair]

    def learn_noise(self, wav_f: torch.Tensor, y_f: torch.Tensor) -> torch.Tensor:
        """The error-maximising noise for a forget batch (see :func:`error_maximising_noise`)."""
        return error_maximising_noise(
            self.model,
            wav_f,
            y_f,
            steps=self.noise_steps,
            lr=self.noise_lr,
            reg=self.noise_reg,
        )

    def _step(self, opt, wav: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        return self.manual_step(F.cross_entropy(self.model(wav), y), opt)

    def training_step(self, batch, batch_idx):
        impair_opt, repair_opt = self.optimizers()
        wav_f, y_f = batch["forget"]
        wav_r, y_r = batch["retain"]
        noise = self.learn_noise(wav_f, y_f)
        wav_impair = torch.cat([wav_f + noise, wav_r])
        y_impair = torch.cat([y_f, y_r])
        n = y_impair.numel()
        for _ in range(self.impair_steps):
            loss = self._step(impair_opt, wav_impair, y_impair)
            self.log("unlearn/impair_loss", loss, batch_size=n)
        for _ in range(self.repair_steps):
            loss = self._step(repair_opt, wav_r, y_r)
            self.log("unlearn/repair_loss", loss, batch_size=y_r.numel())
