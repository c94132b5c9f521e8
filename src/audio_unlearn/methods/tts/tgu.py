"""Teacher-Guided Unlearning (TGU) for zero-shot TTS speaker-identity forgetting.

Kim, Kim, Kim, Ko, Park, "Do Not Mimic My Voice: Speaker Identity Unlearning for
Zero-Shot Text-to-Speech", ICML 2025 (arXiv 2507.20140).
"""

from __future__ import annotations

import torch

from ..base import frozen_copy
from ..registry import register_method
from .base import TTSUnlearningModule, concat_rows

__all__ = ["FORGET_CONTEXTS", "TeacherGuidedUnlearning"]

#: How the student sees the forget speaker in ``L_forget`` (see :class:`TeacherGuidedUnlearning`).
FORGET_CONTEXTS = ("span", "prompt")


@register_method("tts_tgu")
class TeacherGuidedUnlearning(TTSUnlearningModule):
    """TGU: teach the model to answer a forget speaker's prompt with a *random* voice.

    The teacher is the frozen original model. For a forget utterance (text y with its
    frame alignment) the teacher generates ``x_bar = theta(y)`` with **no audio context**
    (text only), so its voice depends only on the starting noise: a random speaker,
    frame-aligned with the forget utterance. The student then regresses the CFM velocity
    of the path from noise ``x0`` to ``x_bar`` on the masked frames while it still sees the
    forget speaker's real audio as context::

        L_forget = E || m * (u_t(x | x_bar) - v_t(w, y, ctx_f)) ||^2,
        w = (1 - (1 - sigma_min) t) x0 + t x_bar,
        L_remain = the standard masked CFM loss on remain (retain) data,
        L = remain_weight * L_remain + (1 - remain_weight) * L_forget.

    The paper writes ``lambda = 0.2``; readings differ on which term it weights, so it is
    ``remain_weight`` here (0.2 = the paper's formula read literally). Teacher targets are
    regenerated every step (``cache_size=0``, a fresh random voice each time, the paper's
    description) or drawn from a bank of up to ``cache_size`` targets per forget
    utterance that fills on first use (cost saving; the paper does not say which it did).
    The share of forget utterances per step is set by the data module's forget batch size
    (``forget_ratio`` is read by the experiment runner to size it).

    Where the forget speaker's context comes from (``forget_context``):

    * ``"span"`` (default, VoiceBox's training set-up): a random span of the forget
      utterance is infilled towards ``x_bar``; the rest of the same utterance is the
      context.
    * ``"prompt"``: the cross-sentence set-up zero-shot cloning is used (and evaluated)
      in: a whole real forget utterance is the prompt, followed by the text of another
      forget utterance of the batch, infilled wholly towards that utterance's ``x_bar``.
      The loss is the same ``L_forget``; only the context is a whole utterance instead of
      the unmasked rest of one (each forget row is then about twice as long).

    Args:
        model: the trained TTS model (the student, modified in place).
        lr: Adam learning rate (paper 1e-4).
        epochs: passes over the longest set.
        weight_decay: AdamW weight decay.
        warmup_steps: linear warm-up steps (paper 5k at its scale).
        remain_weight: weight of the remain loss (``lambda``).
        forget_ratio: share of forget utterances in each step's batch (runner setting).
        teacher_nfe: function evaluations of the teacher's sampler.
        teacher_solver: ``"euler"`` or ``"midpoint"``.
        teacher_guidance: classifier-free guidance of the teacher (text vs nothing).
        cache_size: teacher targets kept per forget utterance (0 = regenerate each step).
        forget_context: ``"span"`` or ``"prompt"`` (above).
        seed: seeds the teacher's noise.
    """

    uses = ("forget", "retain")

    def __init__(
        self,
        model,
        *,
        remain_weight: float = 0.2,
        forget_ratio: float = 0.5,
        teacher_nfe: int = 16,
        teacher_solver: str = "midpoint",
        teacher_guidance: float = 0.7,
        cache_size: int = 0,
        forget_context: str = "span",
        seed: int = 0,
        **shared,
    ):
        super().__init__(model, **shared)
        if not 0 <= remain_weight <= 1:
            raise ValueError(f"remain_weight must be in [0, 1], got {remain_weight}")
        if not 0 < forget_ratio < 1:
            raise ValueError(f"forget_ratio must be in (0, 1), got {forget_ratio}")
        if cache_size < 0:
            raise ValueError(f"cache_size must be >= 0, got {cache_size}")
        if forget_context not in FORGET_CONTEXTS:
            raise ValueError(
                f"forget_context must be one of {FORGET_CONTEXTS}, got {forget_context!r}"
            )
        self.remain_weight = remain_weight
        self.forget_context = forget_context
        self.forget_ratio = forget_ratio
        self.teacher_nfe = teacher_nfe
        self.teacher_solver = teacher_solver
        self.teacher_guidance = teacher_guidance
        self.cache_size = cache_size
        self.seed = seed
        self.teacher = frozen_copy(model)
        self._generator = torch.Generator().manual_seed(seed)
        self._bank: dict[int, list[torch.Tensor]] = {}
        #: teacher generations made so far (utterances), for cost accounting.
        self.teacher_generations = 0

    # ------------------------------------------------------------------ teacher
    @torch.no_grad()
    def teacher_targets(self, batch: tuple[torch.Tensor, ...]) -> torch.Tensor:
        """``x_bar`` for each row of a forget batch: the teacher's text-only generation
        (regenerated, or drawn from the per-utterance bank when ``cache_size > 0``)."""
        mels, phones, lengths, index = batch
        out = torch.zeros_like(mels)
        need = []
        choice: dict[int, torch.Tensor] = {}
        for row, key in enumerate(index.tolist()):
            bank = self._bank.get(key, [])
            if self.cache_size == 0 or len(bank) < self.cache_size:
                need.append(row)
            else:
                pick = int(torch.randint(len(bank), (), generator=self._generator))
                choice[row] = bank[pick]
        if need:
            rows = torch.tensor(need)
            fresh = self.generate_no_prompt(phones[rows], lengths[rows])
            self.teacher_generations += len(need)
            for k, row in enumerate(need):
                n = int(lengths[row])
                target = fresh[k, :n]
                choice[row] = target
                if self.cache_size:
                    self._bank.setdefault(int(index[row]), []).append(target.detach().cpu())
        for row, target in choice.items():
            out[row, : target.shape[0]] = target.to(out)
        return out

    @torch.no_grad()
    def generate_no_prompt(self, phones: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
        """The teacher's no-context generation for frame-aligned phones."""
        self.teacher.eval()
        noise = torch.randn(
            phones.shape[0], phones.shape[1], self.teacher.config.n_mels, generator=self._generator
        ).to(self.device)
        return self.teacher.generate(
            phones,
            lengths,
            prompt=None,
            nfe=self.teacher_nfe,
            solver=self.teacher_solver,
            guidance=self.teacher_guidance,
            noise=noise,
        )

    # ------------------------------------------------------------------ losses
    def forget_loss(self, batch: tuple[torch.Tensor, ...]) -> torch.Tensor:
        """``L_forget``: context = the forget speaker's real frames, path target = x_bar."""
        x_bar = self.teacher_targets(batch)
        if self.forget_context == "span":
            return self.cfm(batch, target=x_bar, drop_conditions=False)
        mels, phones, lengths, index = batch
        # row i: utterance i (real, the prompt), then utterance i+1's text -> its x_bar
        shift = torch.roll(torch.arange(mels.shape[0]), -1)
        second = (mels[shift], phones[shift], lengths[shift], index[shift])
        ctx, cat_phones, cat_lengths, span = concat_rows(batch, second)
        target, *_ = concat_rows(batch, (x_bar[shift], *second[1:]))
        return self.model.flow_loss(
            ctx, cat_phones, cat_lengths, infill=span, target=target, drop_conditions=False
        )

    def unlearning_loss(self, batch) -> torch.Tensor:
        lf = self.forget_loss(batch["forget"])
        lr = self.cfm(batch["retain"])
        self.log("unlearn/forget_cfm", lf.detach(), batch_size=int(batch["forget"][2].numel()))
        self.log("unlearn/remain_cfm", lr.detach(), batch_size=int(batch["retain"][2].numel()))
        return self.remain_weight * lr + (1 - self.remain_weight) * lf
