"""Speaker identification: SpeechBrain's ECAPA-TDNN lobe with a classification head.

The ECAPA-TDNN embedding network (Desplanques et al., "ECAPA-TDNN: Emphasized Channel
Attention, Propagation and Aggregation in TDNN Based Speaker Verification", Interspeech
2020) from ``speechbrain.lobes.models.ECAPA_TDNN`` on SpeechBrain's ``Fbank`` features with
per-utterance mean normalisation; the head is a cosine classifier (normalised embeddings
and class weights, scaled) so that, trained with cross-entropy, it behaves like the
additive-margin softmax used for speaker recognition when ``margin`` > 0.

Forgetting an enrolled speaker is class removal on this model.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import torch
import torch.nn.functional as F
from torch import nn

__all__ = ["EcapaSpeakerID", "EcapaSpeakerIDConfig"]


@dataclass(frozen=True)
class EcapaSpeakerIDConfig:
    """Hyper-parameters of :class:`EcapaSpeakerID` (saved with every checkpoint).

    Defaults give a ~0.25M-parameter network that trains on a CPU; the published
    VoxCeleb model uses channels (1024, 1024, 1024, 1024, 3072) and 192-d embeddings.
    """

    num_classes: int
    sample_rate: int = 16_000
    n_mels: int = 40
    channels: tuple[int, ...] = field(default=(64, 64, 64, 64, 192))
    embedding_dim: int = 64
    scale: float = 30.0
    margin: float = 0.0

    def __post_init__(self):
        object.__setattr__(self, "channels", tuple(self.channels))


class EcapaSpeakerID(nn.Module):
    """ECAPA-TDNN speaker classifier.

    Input: waveforms ``(batch, samples)``. Output: logits ``(batch, num_classes)`` =
    ``scale * cos(embedding, class weight)``, minus ``scale * margin`` on the target class
    while training when :meth:`forward` gets ``targets`` (additive margin).
    """

    def __init__(self, config: EcapaSpeakerIDConfig):
        super().__init__()
        from speechbrain.lobes.features import Fbank
        from speechbrain.lobes.models.ECAPA_TDNN import ECAPA_TDNN

        self.config = config
        self.frontend = Fbank(sample_rate=config.sample_rate, n_mels=config.n_mels)
        self.encoder = ECAPA_TDNN(
            config.n_mels, channels=list(config.channels), lin_neurons=config.embedding_dim
        )
        self.head = nn.Linear(config.embedding_dim, config.num_classes, bias=False)

    def embed(self, wav: torch.Tensor) -> torch.Tensor:
        """Speaker embeddings ``(batch, embedding_dim)``."""
        feats = self.frontend(wav)
        feats = feats - feats.mean(dim=1, keepdim=True)
        return self.encoder(feats).squeeze(1)

    def forward(self, wav: torch.Tensor, targets: torch.Tensor | None = None) -> torch.Tensor:
        cos = F.linear(F.normalize(self.embed(wav)), F.normalize(self.head.weight))
        if targets is not None and self.training and self.config.margin > 0:
            cos = cos - self.config.margin * F.one_hot(targets, cos.shape[-1])
        return self.config.scale * cos

    def layer_groups(self) -> list[nn.Module]:
        """Trainable layers from input to output (CF-k unfreezes the last k)."""
        enc = self.encoder
        return [*enc.blocks, enc.mfa, enc.asp, enc.asp_bn, enc.fc, self.head]
