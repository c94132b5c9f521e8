"""Zero-shot TTS cloning evaluation: SIM-o / SIM-r, WER, the cross-speaker level, spk-ZRF.

The protocol of the speaker-forgetting paper (Kim et al., "Do Not Mimic My Voice: Speaker
Identity Unlearning for Zero-Shot Text-to-Speech", ICML 2025, arXiv 2507.20140), itself
VoiceBox's cross-sentence zero-shot TTS evaluation (Le et al., "Voicebox", NeurIPS 2023):

1. :func:`build_cloning_trials`: per speaker of each group (``forget`` / ``remain`` /
   ``unseen``), pairs of two *different* utterances of that speaker, a prompt and a target,
   with different texts where the speaker has them (cross-sentence prompting).
2. :func:`generate_for_trials`: the model infills the target's frames after the real
   prompt's mel (at most ``prompt_s`` seconds of it, 3 s in the paper), conditioned on the
   target's frame-aligned phones. The phone durations are the target utterance's *aligner*
   durations: VoiceBox's "ground-truth duration" setting, so scores measure the audio
   model and not a duration predictor (which this library's built-in model does not
   have; :class:`~audio_unlearn.models.tts.phones.DurationTable` is a text-only fallback).
   ``prompted=False`` generates the same target with no prompt (text only: a voice drawn
   from the noise), the spk-ZRF reference and TGU's teacher setting.
3. :func:`score_cloning`: vocode, embed, and score each trial: SIM-o (against the real
   prompt audio), SIM-r (against the prompt's mel resynthesised by the same vocoder),
   WER/CER through a transcriber with a named normaliser, and the *cross-speaker level*
   (the mean SIM of each generation to the prompts of the other speakers of the trial
   set: what a random voice reaches with this encoder and vocoder; the paper measures
   about 0.09 with WavLM-large + ECAPA). TGU's goal is SIM-F near that level.
4. :func:`speaker_zrf_for_trials`: spk-ZRF (higher = more random): ``a`` = the unlearned
   model's prompted generation, ``b`` = the *original* model's text-only generation of
   the same target text; embeddings go to :func:`audio_unlearn.evaluation.scores.spk_zrf`
   with the log base recorded.
5. :func:`plot_sim_distributions`: SIM distributions per group, one panel per model, with
   the cross-speaker level drawn as a line.

Pure functions first (:func:`cross_speaker_similarity`, :func:`summarise`); the
model-backed layer sits on top. Generation is batched by padding (trials sorted by
length) and seeded *per trial*: the start noise of a trial comes from a generator seeded
by ``(seed, group, prompt id, target id)``, so the output of a trial does not depend on
the batch size or on the other trials, and the same seed gives the same speech.
"""

from __future__ import annotations

import hashlib
import math
import os
import random
import time
from collections import defaultdict
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import lightning as L
import numpy as np
import torch
import torch.nn.functional as F
from tqdm.auto import tqdm

from ..data.audio import load_audio
from ..data.manifest import Utterance
from ..data.tts_data import utterance_features
from ..models.tts.mel import MelFrontEnd
from ..models.tts.phones import PhoneVocabulary
from ..models.tts.vocoder import Vocoder
from ..models.tts.voicebox import FlowMatchingTTS
from .asr import Transcriber
from .identity import Gallery, identity_summary, reidentification
from .scores import spk_zrf
from .speaker import SpeakerEncoder, speaker_similarity
from .text import get_normaliser
from .wer import wer_scores

__all__ = [
    "CloningProbe",
    "CloningScores",
    "CloningTrial",
    "TrialGenerations",
    "build_cloning_trials",
    "cross_speaker_similarity",
    "generate_for_trials",
    "plot_sim_distributions",
    "prompt_segment",
    "score_cloning",
    "speaker_zrf_for_trials",
    "summarise",
    "vocode_batch",
]

#: Per-trial numeric fields that :func:`score_cloning` summarises per group.
SCORE_FIELDS = ("sim_o", "sim_r", "cross_sim_o", "cross_sim_r", "wer", "cer")


# --------------------------------------------------------------------------- trials


@dataclass(frozen=True)
class CloningTrial:
    """One cross-sentence zero-shot cloning trial.

    Attributes:
        group: the speaker group (``"forget"``, ``"remain"``, ``"unseen"``, ...).
        speaker: the speaker of both utterances.
        prompt: the utterance whose audio is the prompt (audio context).
        target: the utterance whose text (and aligner durations) is generated.
        origin: see below.
    """

    group: str
    speaker: str
    prompt: Utterance
    target: Utterance
    #: the group the trial was drawn in, when it is reused under another name (an earlier
    #: forget request's trials measured again): its noise stays that of the draw
    origin: str | None = None

    @property
    def key(self) -> str:
        """``group/prompt_id->target_id``: unique within a trial set."""
        return f"{self.group}/{self.prompt.id}->{self.target.id}"


def _same_text(a: Utterance, b: Utterance) -> bool:
    return " ".join(a.text.lower().split()) == " ".join(b.text.lower().split())


def build_cloning_trials(
    groups: Mapping[str, Sequence[Utterance]], *, per_speaker: int, seed: int
) -> list[CloningTrial]:
    """Cross-sentence cloning trials: per speaker, ``per_speaker`` (prompt, target) pairs.

    For each speaker (sorted by id) of each group (in the mapping's order), the speaker's
    utterances are shuffled with a generator seeded by ``(seed, group, speaker)``; targets
    are taken in that order (cycling when ``per_speaker`` exceeds the utterances), and
    each target gets the prompt that (1) is another utterance, (2) has a different text if
    any does, (3) has served as a prompt least often so far, (4) comes first in the
    shuffled order, without repeating a (prompt, target) pair. A speaker with fewer than
    ``per_speaker`` distinct ordered pairs gets all of them.

    Args:
        groups: group name -> utterances of that group's speakers (with phone alignments).
        per_speaker: trials per speaker.
        seed: the draw's seed (the same seed gives the same trials).

    Returns:
        Trials, grouped by group then speaker.

    Raises:
        ValueError: empty groups, a speaker in two groups, a speaker with fewer than two
            utterances, an utterance without a phone alignment, or ``per_speaker < 1``.
    """
    if isinstance(per_speaker, bool) or not isinstance(per_speaker, int) or per_speaker < 1:
        raise ValueError(f"per_speaker must be a positive int, got {per_speaker!r}")
    if isinstance(seed, bool) or not isinstance(seed, int):
        raise ValueError(f"seed must be an int, got {seed!r}")
    if not groups:
        raise ValueError("groups is empty; pass e.g. {'forget': [...], 'remain': [...]}")
    owner: dict[str, str] = {}
    trials: list[CloningTrial] = []
    for group, utterances in groups.items():
        if not isinstance(group, str) or not group:
            raise ValueError(f"group names must be non-empty strings, got {group!r}")
        if not utterances:
            raise ValueError(f"group {group!r} has no utterances")
        by_speaker: dict[str, list[Utterance]] = defaultdict(list)
        for utt in utterances:
            if not utt.alignment:
                raise ValueError(
                    f"utterance {utt.id!r} (group {group!r}) has no phone alignment; cloning "
                    "trials use the target's aligner durations: drop it or align it"
                )
            by_speaker[utt.speaker].append(utt)
        for speaker in sorted(by_speaker):
            if owner.setdefault(speaker, group) != group:
                raise ValueError(
                    f"speaker {speaker!r} is in groups {owner[speaker]!r} and {group!r}; "
                    "a speaker must belong to one group (check the forget split)"
                )
            utts = sorted(by_speaker[speaker], key=lambda u: u.id)
            if len(utts) < 2:
                raise ValueError(
                    f"speaker {speaker!r} (group {group!r}) has {len(utts)} utterance; "
                    "cross-sentence trials need two: drop the speaker or add utterances"
                )
            rng = random.Random(f"{seed}|{group}|{speaker}")
            rng.shuffle(utts)
            rank = {u.id: i for i, u in enumerate(utts)}
            used_as_prompt: dict[str, int] = defaultdict(int)
            pairs: set[tuple[str, str]] = set()
            n_pairs = len(utts) * (len(utts) - 1)
            k = 0
            while len(pairs) < min(per_speaker, n_pairs):
                target = utts[k % len(utts)]
                k += 1
                options = [u for u in utts if u.id != target.id and (u.id, target.id) not in pairs]
                if not options:
                    continue
                prompt = min(
                    options,
                    key=lambda u: (_same_text(u, target), used_as_prompt[u.id], rank[u.id]),
                )
                pairs.add((prompt.id, target.id))
                used_as_prompt[prompt.id] += 1
                trials.append(CloningTrial(group, speaker, prompt, target))
    return trials


# --------------------------------------------------------------------------- generation


@dataclass(frozen=True)
class TrialGenerations:
    """Generated target-part log-mels of a list of trials (a sequence of mels).

    Attributes:
        trials: the trials, in input order.
        mels: per trial, the generated log-mel of the target part,
            ``(target_frames, n_mels)`` (``target_frames`` = the target utterance's frames).
        prompted: whether the model saw the prompt (``False``: text only).
        settings: nfe, solver, guidance, seed, prompt_s, margin_s.
    """

    trials: tuple[CloningTrial, ...]
    mels: tuple[torch.Tensor, ...]
    prompted: bool
    settings: Mapping[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if len(self.trials) != len(self.mels):
            raise ValueError(f"{len(self.trials)} trials but {len(self.mels)} mels")

    def __len__(self) -> int:
        return len(self.mels)

    def __getitem__(self, i: int) -> torch.Tensor:
        return self.mels[i]

    def __iter__(self) -> Iterator[torch.Tensor]:
        return iter(self.mels)


def prompt_segment(
    utt: Utterance,
    vocab: PhoneVocabulary,
    front_end: MelFrontEnd,
    *,
    prompt_s: float | None,
    margin_s: float,
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """The prompt as the model sees it: ``(wav (samples,), mel (frames, n_mels), phone ids
    (frames,))``, cropped ``margin_s`` after the last phone and then to ``prompt_s``
    seconds (``None``: no second crop). SIM-o compares against exactly this ``wav``.
    """
    rate = front_end.config.sample_rate
    wav = load_audio(utt.audio, sample_rate=rate)
    end = min(wav.numel(), round((utt.alignment[-1].end + margin_s) * rate))
    if prompt_s is not None:
        end = min(end, round(prompt_s * rate))
    wav = wav[:end]
    mel, ids = utterance_features(utt, vocab, front_end, margin_s=margin_s, wav=wav)
    return wav, mel, ids


def _trial_generator(seed: int, trial: CloningTrial) -> torch.Generator:
    group = trial.group if trial.origin is None else trial.origin
    key = f"{seed}|{group}|{trial.prompt.id}|{trial.target.id}".encode()
    return torch.Generator().manual_seed(int.from_bytes(hashlib.sha256(key).digest()[:7], "big"))


def _check_generation_args(nfe: int, batch_size: int, prompt_s: float | None) -> None:
    if isinstance(nfe, bool) or not isinstance(nfe, int) or nfe < 1:
        raise ValueError(f"nfe must be a positive int, got {nfe!r}")
    if isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 1:
        raise ValueError(f"batch_size must be a positive int, got {batch_size!r}")
    if prompt_s is not None and not prompt_s > 0:
        raise ValueError(f"prompt_s must be > 0 seconds or None, got {prompt_s!r}")


def generate_for_trials(
    model: FlowMatchingTTS,
    vocab: PhoneVocabulary,
    front_end: MelFrontEnd,
    trials: Sequence[CloningTrial],
    *,
    prompted: bool = True,
    nfe: int = 32,
    solver: str = "midpoint",
    guidance: float = 0.7,
    seed: int = 0,
    batch_size: int = 8,
    prompt_s: float | None = 3.0,
    margin_s: float = 0.15,
    progress: bool = False,
    batch_context: Callable[[Sequence[CloningTrial]], AbstractContextManager] | None = None,
) -> TrialGenerations:
    """Generate each trial's target: prompt mel + target phones, target frames infilled.

    The sequence given to the model is ``[prompt frames | target frames]``: the prompt's
    real log-mel and phones (:func:`prompt_segment`), then the target's frame-aligned
    phones from its aligner durations (VoiceBox's ground-truth-duration setting); only the
    target frames are generated. With ``prompted=False`` the sequence is the target alone,
    generated from text only (a random voice).

    Trials are sorted by length and padded into batches of ``batch_size``; each trial's
    start noise comes from its own generator (seeded by ``seed`` and the trial), so the
    result does not depend on ``batch_size`` (up to float rounding of padded batches).
    The model runs in eval mode on its own device; its train/eval state is restored.

    Args:
        model: the flow-matching TTS.
        vocab: its phone vocabulary.
        front_end: its mel front end.
        trials: from :func:`build_cloning_trials`.
        prompted: condition on the prompt (``False``: text only).
        nfe: function evaluations of the ODE solver (32 in the paper).
        solver: ``"euler"`` or ``"midpoint"`` (the paper's).
        guidance: classifier-free guidance weight (0.7 in the paper).
        seed: noise seed.
        batch_size: trials per model call.
        prompt_s: longest prompt, seconds (3 in the paper; ``None`` = whole utterance).
        margin_s: seconds kept after each utterance's last phone.
        progress: show a progress bar.
        batch_context: called with each batch's trials (in the batch's row order); the
            batch is generated inside the context manager it returns (e.g. a
            :class:`~audio_unlearn.models.tts.steering.Steerer` that a gate set up for
            those prompts).

    Returns:
        :class:`TrialGenerations`: the target-part log-mels, ``(target_frames, n_mels)``.
    """
    _check_generation_args(nfe, batch_size, prompt_s)
    if isinstance(seed, bool) or not isinstance(seed, int) or seed < 0:
        raise ValueError(f"seed must be a non-negative int, got {seed!r}")
    trials = tuple(trials)
    settings = {
        "prompted": bool(prompted),
        "nfe": nfe,
        "solver": solver,
        "guidance": float(guidance),
        "seed": seed,
        "prompt_s": prompt_s,
        "margin_s": margin_s,
        "durations": "target aligner (ground truth)",
    }
    if not trials:
        return TrialGenerations((), (), bool(prompted), settings)
    device = next(model.parameters()).device
    n_mels = model.config.n_mels
    targets: dict[str, tuple[torch.Tensor, torch.Tensor]] = {}
    prompts: dict[str, tuple[torch.Tensor, torch.Tensor]] = {}
    items = []  # (context mel or None, phones, target frames)
    for trial in trials:
        if trial.target.id not in targets:
            targets[trial.target.id] = utterance_features(
                trial.target, vocab, front_end, margin_s=margin_s
            )
        _, t_ids = targets[trial.target.id]
        if prompted:
            if trial.prompt.id not in prompts:
                _, p_mel, p_ids = prompt_segment(
                    trial.prompt, vocab, front_end, prompt_s=prompt_s, margin_s=margin_s
                )
                prompts[trial.prompt.id] = (p_mel, p_ids)
            p_mel, p_ids = prompts[trial.prompt.id]
            ctx = torch.cat([p_mel, torch.zeros(t_ids.numel(), n_mels)])
            items.append((ctx, torch.cat([p_ids, t_ids]), t_ids.numel()))
        else:
            items.append((None, t_ids, t_ids.numel()))

    order = sorted(range(len(items)), key=lambda i: items[i][1].numel())
    out: list[torch.Tensor | None] = [None] * len(items)
    batches = [order[i : i + batch_size] for i in range(0, len(order), batch_size)]
    was_training = model.training
    model.eval()
    try:
        for batch in tqdm(batches, desc="generating", disable=not progress, unit="batch"):
            lengths = torch.tensor([items[i][1].numel() for i in batch])
            frames = int(lengths.max())
            phones = torch.zeros(len(batch), frames, dtype=torch.long)
            noise = torch.zeros(len(batch), frames, n_mels)
            infill = torch.zeros(len(batch), frames, dtype=torch.bool)
            context = torch.zeros(len(batch), frames, n_mels) if prompted else None
            for row, i in enumerate(batch):
                ctx, ids, n_target = items[i]
                n = ids.numel()
                phones[row, :n] = ids
                noise[row, :n] = torch.randn(n, n_mels, generator=_trial_generator(seed, trials[i]))
                infill[row, n - n_target : n] = True
                if context is not None:
                    context[row, :n] = ctx
            around = (
                nullcontext()
                if batch_context is None
                else batch_context([trials[i] for i in batch])
            )
            with around:
                mel = model.generate(
                    phones.to(device),
                    lengths.to(device),
                    prompt=None if context is None else context.to(device),
                    infill=infill.to(device),
                    nfe=nfe,
                    solver=solver,
                    guidance=guidance,
                    noise=noise.to(device),
                ).cpu()
            for row, i in enumerate(batch):
                n, n_target = items[i][1].numel(), items[i][2]
                out[i] = mel[row, n - n_target : n].clone()
    finally:
        model.train(was_training)
    return TrialGenerations(trials, tuple(out), bool(prompted), settings)


# --------------------------------------------------------------------------- pure scores


def cross_speaker_similarity(
    generated: torch.Tensor,
    generated_speakers: Sequence[str],
    references: torch.Tensor,
    reference_speakers: Sequence[str],
) -> torch.Tensor:
    """Per generation, the mean cosine similarity to the references of *other* speakers.

    The cross-speaker level of a trial set: how similar a voice that is nobody's in
    particular scores against a prompt with this encoder (and vocoder). Averaged over
    generations it is the level TGU aims SIM-F at.

    Args:
        generated: embeddings of the generations, ``(N, D)``.
        generated_speakers: the speaker each generation was prompted with, length N.
        references: embeddings of the references (e.g. each distinct prompt), ``(M, D)``.
        reference_speakers: the speaker of each reference, length M.

    Returns:
        ``(N,)`` float64: row ``i`` = mean over references ``j`` with
        ``reference_speakers[j] != generated_speakers[i]`` of ``cos(generated_i, ref_j)``.

    Raises:
        ValueError: shapes or lengths disagree, NaN/inf or zero-norm embeddings, or a
            generation has no reference of another speaker.
    """
    g = torch.as_tensor(generated).detach().cpu().to(torch.float64)
    r = torch.as_tensor(references).detach().cpu().to(torch.float64)
    if g.ndim != 2 or r.ndim != 2 or g.shape[1] != r.shape[1]:
        raise ValueError(
            f"need (N, D) generated and (M, D) references, got {tuple(g.shape)} and "
            f"{tuple(r.shape)}"
        )
    if len(generated_speakers) != g.shape[0] or len(reference_speakers) != r.shape[0]:
        raise ValueError(
            f"{g.shape[0]} generations / {r.shape[0]} references but {len(generated_speakers)} "
            f"/ {len(reference_speakers)} speaker ids"
        )
    for name, e in (("generated", g), ("references", r)):
        if not torch.isfinite(e).all():
            raise ValueError(f"{name} holds NaN or inf")
        if (e.norm(dim=1) == 0).any():
            raise ValueError(f"{name} has a zero-norm embedding; cosine undefined")
    sims = F.normalize(g, dim=1) @ F.normalize(r, dim=1).T  # (N, M)
    gs = list(generated_speakers)
    codes = {s: i for i, s in enumerate(dict.fromkeys([*gs, *reference_speakers]))}
    g_code = torch.tensor([codes[s] for s in gs], dtype=torch.long)
    r_code = torch.tensor([codes[s] for s in reference_speakers], dtype=torch.long)
    other = g_code[:, None] != r_code[None, :]  # (N, M)
    counts = other.sum(dim=1)
    if (counts == 0).any():
        i = int(torch.nonzero(counts == 0)[0])
        raise ValueError(
            f"generation {i} (speaker {gs[i]!r}) has no reference of another speaker; the "
            "cross-speaker level needs trials of at least two speakers"
        )
    return (sims * other).sum(dim=1) / counts


def summarise(values: Sequence[float | None]) -> dict[str, float | int | None]:
    """``{"mean", "std", "n"}`` of the non-``None`` values (sample std, ``ddof=1``; 0 for
    one value; mean and std ``None`` for none)."""
    kept = [float(v) for v in values if v is not None]
    n = len(kept)
    if n == 0:
        return {"mean": None, "std": None, "n": 0}
    mean = sum(kept) / n
    std = math.sqrt(sum((v - mean) ** 2 for v in kept) / (n - 1)) if n > 1 else 0.0
    return {"mean": mean, "std": std, "n": n}


# --------------------------------------------------------------------------- scoring


@dataclass(frozen=True)
class CloningScores:
    """Per-trial cloning scores, their per-group summaries and what produced them.

    Attributes:
        rows: one dict per trial: ``group, speaker, prompt_id, target_id, text, prompted,
            sim_o, sim_r, cross_sim_o, cross_sim_r`` and, with a transcriber,
            ``hypothesis, wer, cer``.
        summary: group (and ``"all"``) -> field -> ``{"mean", "std", "n"}``; with a
            transcriber also ``wer_corpus`` / ``cer_corpus`` (total edits / total units).
        cross_speaker_level: ``{"sim_o", "sim_r"}``: mean over all trials of the
            cross-speaker similarity (``None`` with fewer than two speakers).
        settings: encoder, vocoder, transcriber and normaliser descriptions, and the
            generation settings (nfe, solver, guidance, seed, ...).
    """

    rows: tuple[dict[str, Any], ...]
    summary: dict[str, dict[str, Any]]
    cross_speaker_level: dict[str, float | None]
    settings: dict[str, Any]

    def to_dict(self, *, include_rows: bool = True) -> dict[str, Any]:
        """JSON-ready dictionary."""
        out = {
            "summary": self.summary,
            "cross_speaker_level": self.cross_speaker_level,
            "settings": self.settings,
        }
        if include_rows:
            out["rows"] = [dict(r) for r in self.rows]
        return out


def _check_vocoder(vocoder: Vocoder, front_end: MelFrontEnd) -> None:
    v, m = vocoder.mel, front_end.config
    for name in ("sample_rate", "n_mels", "hop_length"):
        if getattr(v, name) != getattr(m, name):
            raise ValueError(
                f"vocoder {name}={getattr(v, name)} but the front end has {getattr(m, name)}; "
                "use a vocoder built for the TTS model's mel settings"
            )


@torch.no_grad()
def vocode_batch(
    vocoder: Vocoder, mels: Sequence[torch.Tensor], *, floor: float, batch_size: int
) -> list[torch.Tensor]:
    """Vocode mels in length-sorted padded batches (padding = silence at ``floor``).

    Each mel renders ``vocoder.lengths(frames)`` samples. Every item is followed by at
    least ``ceil(n_fft / hop)`` silent frames (more in a batch with longer items), so its
    last analysis windows see silence whatever else is in the batch, and a centred inverse
    STFT (Griffin-Lim: ``(frames - 1) * hop`` samples) reaches the full length.
    """
    tail = math.ceil(vocoder.mel.n_fft / vocoder.mel.hop_length)
    device = next(iter(vocoder.buffers()), torch.empty(0)).device
    order = sorted(range(len(mels)), key=lambda i: mels[i].shape[0])
    out: list[torch.Tensor | None] = [None] * len(mels)
    for start in range(0, len(order), batch_size):
        batch = order[start : start + batch_size]
        frames = max(mels[i].shape[0] for i in batch) + tail
        x = torch.full((len(batch), frames, mels[batch[0]].shape[1]), floor)
        for row, i in enumerate(batch):
            x[row, : mels[i].shape[0]] = mels[i]
        wav = vocoder(x.to(device)).cpu()
        for row, i in enumerate(batch):
            n = int(vocoder.lengths(torch.tensor(mels[i].shape[0])))
            out[i] = wav[row, : min(n, wav.shape[1])].clone()
    return out


def score_cloning(
    generations: TrialGenerations,
    *,
    vocab: PhoneVocabulary,
    front_end: MelFrontEnd,
    vocoder: Vocoder,
    encoder: SpeakerEncoder,
    transcriber: Transcriber | None = None,
    normaliser: str = "punct_keep_apostrophe",
    batch_size: int = 16,
    gallery: Gallery | None = None,
) -> CloningScores:
    """Score generated targets: SIM-o, SIM-r, cross-speaker level and (optionally) WER/CER.

    Each generated mel is vocoded with ``vocoder`` and embedded with ``encoder``;
    SIM-o is its cosine with the real prompt audio (:func:`prompt_segment`, cropped as the
    model saw it), SIM-r with the prompt's mel passed through the same vocoder
    (VoiceBox's two variants). The cross-speaker SIM of a trial is the mean over the
    distinct prompts of *other* speakers in the set (:func:`cross_speaker_similarity`).
    With a ``transcriber``, WER and CER of the vocoded audio against the target's text
    after the named ``normaliser`` (per utterance, as seed-tts-eval / F5-TTS average
    them, plus corpus-level totals).

    Args:
        generations: from :func:`generate_for_trials`.
        vocab, front_end: the model's phone vocabulary and mel front end.
        vocoder: log-mel -> audio (the same for generations and SIM-r references).
        encoder: speaker encoder for SIM.
        transcriber: ASR judge for WER/CER (``None``: no WER fields).
        normaliser: text normaliser name (:data:`audio_unlearn.evaluation.text.NORMALISERS`).
        batch_size: mels per vocoder call.
        gallery: enrolled speakers (made with the same ``encoder``) for identity leakage:
            each row gets ``fssim`` (cosine with its speaker's enrolment) and
            ``reid_rank``; each group's summary an ``identity`` entry
            (:func:`~audio_unlearn.evaluation.identity.identity_summary`: top-1/top-5
            re-identification with chance, Avg-/Max-FSSIM, impostor AUROC). Every trial
            speaker must be enrolled.

    Returns:
        :class:`CloningScores`.

    Raises:
        ValueError: no trials, a vocoder for other mel settings, an unknown normaliser,
            or (with a transcriber) a target without text.
    """
    if not isinstance(generations, TrialGenerations):
        raise ValueError(
            f"generations must be the TrialGenerations of generate_for_trials, got "
            f"{type(generations).__name__}"
        )
    if len(generations) == 0:
        raise ValueError("no trials to score; build them with build_cloning_trials")
    _check_vocoder(vocoder, front_end)
    speakers = [t.speaker for t in generations.trials]
    gallery_rows = None if gallery is None else gallery.index(speakers)
    if transcriber is not None:
        get_normaliser(normaliser)
        empty = [t.target.id for t in generations.trials if not t.target.text.strip()]
        if empty:
            raise ValueError(
                f"target utterance(s) {empty[:3]} have no text; WER needs it: drop them or "
                "pass transcriber=None"
            )
    trials = generations.trials
    prompt_s = generations.settings.get("prompt_s", 3.0)
    margin_s = generations.settings.get("margin_s", 0.15)
    rate = vocoder.sample_rate
    floor = front_end.log_floor

    prompt_ids = list(dict.fromkeys(t.prompt.id for t in trials))
    prompt_utts = {t.prompt.id: t.prompt for t in trials}
    real, mels = [], []
    for pid in prompt_ids:
        wav, mel, _ = prompt_segment(
            prompt_utts[pid], vocab, front_end, prompt_s=prompt_s, margin_s=margin_s
        )
        real.append(wav)
        mels.append(mel)
    resynth = vocode_batch(vocoder, mels, floor=floor, batch_size=batch_size)
    generated = vocode_batch(vocoder, list(generations.mels), floor=floor, batch_size=batch_size)

    e_gen = encoder.embed(generated, sample_rate=rate)
    e_real = encoder.embed(real, sample_rate=front_end.config.sample_rate)
    e_resynth = encoder.embed(resynth, sample_rate=rate)
    index = {pid: i for i, pid in enumerate(prompt_ids)}
    rows_idx = torch.tensor([index[t.prompt.id] for t in trials])
    sim_o = speaker_similarity(e_gen, e_real[rows_idx])
    sim_r = speaker_similarity(e_gen, e_resynth[rows_idx])

    speakers = [t.speaker for t in trials]
    prompt_speakers = [prompt_utts[pid].speaker for pid in prompt_ids]
    cross_o: list[float | None] = [None] * len(trials)
    cross_r: list[float | None] = [None] * len(trials)
    if len(set(prompt_speakers)) >= 2:
        cross_o = cross_speaker_similarity(e_gen, speakers, e_real, prompt_speakers).tolist()
        cross_r = cross_speaker_similarity(e_gen, speakers, e_resynth, prompt_speakers).tolist()

    rows = []
    for i, t in enumerate(trials):
        rows.append(
            {
                "group": t.group,
                "speaker": t.speaker,
                "prompt_id": t.prompt.id,
                "target_id": t.target.id,
                "text": t.target.text,
                "prompted": generations.prompted,
                "sim_o": float(sim_o[i]),
                "sim_r": float(sim_r[i]),
                "cross_sim_o": cross_o[i],
                "cross_sim_r": cross_r[i],
            }
        )
    group_names = list(dict.fromkeys(t.group for t in trials))
    members = {g: [i for i, t in enumerate(trials) if t.group == g] for g in group_names}
    members["all"] = list(range(len(trials)))
    corpus: dict[str, dict[str, float]] = {g: {} for g in members}
    if transcriber is not None:
        hyps = transcriber.transcribe(generated, rate)
        if len(hyps) != len(trials):
            raise ValueError(f"the transcriber returned {len(hyps)} texts for {len(trials)} wavs")
        refs = [t.target.text for t in trials]
        for unit, name in (("word", "wer"), ("char", "cer")):
            per = wer_scores(refs, hyps, normaliser=normaliser, unit=unit).per_utterance
            for row, value in zip(rows, per, strict=True):
                row[name] = value
            for g, idx in members.items():
                result = wer_scores(
                    [refs[i] for i in idx], [hyps[i] for i in idx], normaliser=normaliser, unit=unit
                )
                corpus[g][f"{name}_corpus"] = result.corpus_wer
        for row, hyp in zip(rows, hyps, strict=True):
            row["hypothesis"] = hyp

    summary: dict[str, dict[str, Any]] = {}
    for g, idx in members.items():
        summary[g] = {
            name: summarise([rows[i][name] for i in idx])
            for name in SCORE_FIELDS
            if name in rows[0]
        }
        summary[g].update(corpus[g])
    if gallery is not None:
        sim = gallery.similarity(e_gen.detach().cpu().numpy())
        for g, idx in members.items():
            summary[g]["identity"] = identity_summary(
                sim[idx], gallery_rows[idx], gallery.impostor_scores
            )
        own = sim[np.arange(len(trials)), gallery_rows]
        ranks = reidentification(sim, gallery_rows, ks=(1,))["ranks"]
        for row, f, r in zip(rows, own, ranks, strict=True):
            row["fssim"], row["reid_rank"] = float(f), int(r)
    level = {
        "sim_o": summary["all"]["cross_sim_o"]["mean"],
        "sim_r": summary["all"]["cross_sim_r"]["mean"],
    }
    settings = {
        "encoder": encoder.describe(),
        "vocoder": vocoder.describe(),
        "transcriber": None if transcriber is None else transcriber.describe(),
        "normaliser": None if transcriber is None else normaliser,
        "generation": dict(generations.settings),
        "std": "sample (ddof=1)",
    }
    if gallery is not None:
        settings["gallery"] = {"n_speakers": len(gallery.speakers), **gallery.settings}
    return CloningScores(tuple(rows), summary, level, settings)


def speaker_zrf_for_trials(
    unlearned: TrialGenerations,
    original_text_only: TrialGenerations,
    *,
    vocoder: Vocoder,
    encoder: SpeakerEncoder,
    log_base: Any = "e",
    batch_size: int = 16,
) -> dict[str, Any]:
    """spk-ZRF of the TGU paper per group (higher = more random = better forgetting).

    Per trial ``i``: ``a`` = the unlearned model's generation given the (forget) prompt
    and the target text; ``b`` = the *original* model's generation of the same target
    text with no prompt. Both are vocoded with ``vocoder`` and embedded with ``encoder``;
    ``spk-ZRF = 1 - mean_i JSD(softmax(z(e_a)), softmax(z(e_b)))``
    (:func:`audio_unlearn.evaluation.scores.spk_zrf`). The paper reports it on the forget
    group; every group in the trials is scored.

    Args:
        unlearned: prompted generations of the unlearned model.
        original_text_only: text-only generations of the original model, same trials.
        vocoder: log-mel -> audio.
        encoder: speaker encoder.
        log_base: ``"e"`` (the paper's, JSD in [0, ln 2]) or ``2``.
        batch_size: mels per vocoder call.

    Returns:
        ``{"groups": {group: {"value", "mean_js", "log_base", "n"}}, "per_trial": [...],
        "log_base", "encoder", "vocoder", "generation": {"unlearned", "original"}}``.

    Raises:
        ValueError: the two sets hold different trials, ``unlearned`` is not prompted or
            ``original_text_only`` is.
    """
    for name, gens in (("unlearned", unlearned), ("original_text_only", original_text_only)):
        if not isinstance(gens, TrialGenerations):
            raise ValueError(f"{name} must be TrialGenerations, got {type(gens).__name__}")
    if not unlearned.prompted:
        raise ValueError("unlearned must be prompted generations (generate_for_trials(...))")
    if original_text_only.prompted:
        raise ValueError(
            "original_text_only must be text-only generations: "
            "generate_for_trials(original, ..., prompted=False)"
        )
    if [t.key for t in unlearned.trials] != [t.key for t in original_text_only.trials]:
        raise ValueError(
            "the two generation sets hold different trials; generate both from the same list"
        )
    if len(unlearned) == 0:
        raise ValueError("no trials to score")
    floor = math.log(vocoder.mel.log_floor)
    wav_a = vocode_batch(vocoder, list(unlearned.mels), floor=floor, batch_size=batch_size)
    wav_b = vocode_batch(vocoder, list(original_text_only.mels), floor=floor, batch_size=batch_size)
    e_a = encoder.embed(wav_a, sample_rate=vocoder.sample_rate)
    e_b = encoder.embed(wav_b, sample_rate=vocoder.sample_rate)
    trials = unlearned.trials
    groups: dict[str, Any] = {}
    per_trial: list[dict[str, Any]] = []
    base = None
    for g in dict.fromkeys(t.group for t in trials):
        idx = torch.tensor([i for i, t in enumerate(trials) if t.group == g])
        result = spk_zrf(e_a[idx], e_b[idx], log_base=log_base)
        base = result.log_base
        groups[g] = result.to_dict()
        for i, js in zip(idx.tolist(), result.per_item_js.tolist(), strict=True):
            per_trial.append({"group": g, "key": trials[i].key, "js": js})
    return {
        "groups": groups,
        "per_trial": per_trial,
        "log_base": base,
        "encoder": encoder.describe(),
        "vocoder": vocoder.describe(),
        "generation": {
            "unlearned": dict(unlearned.settings),
            "original": dict(original_text_only.settings),
        },
    }


class CloningProbe(L.Callback):
    """The forgetting curve: cloning measured every ``every_n_steps`` steps of a fit.

    At the start of training, every ``every_n_steps`` optimiser steps and at the end, the
    module's ``model`` generates the ``trials`` with the evaluation's sampler and
    :func:`score_cloning` scores them, exactly as the final evaluation does. Each entry of
    :attr:`history`: ``{"step", "seconds", "sim": {group: mean SIM-o}, "level", "gap",
    "paired_gap"}``, where ``level`` is the cross-speaker level of all the trials,
    ``gap`` = ``sim[group] - level`` (the quantity the TGU target bounds) and
    ``paired_gap`` = ``sim[group]`` minus the same generations' SIM to other speakers.
    The probe runs in eval mode under ``torch.no_grad`` with the RNG state saved and
    restored, so training is the same with or without it; ``"seconds"`` is the training
    wall time so far with the probes' own time taken out.

    Args:
        trials: the trials to generate at each probe (all groups: the level needs them).
        vocab, front_end, vocoder, encoder: as :func:`score_cloning`.
        every_n_steps: probe period in optimiser steps (> 0).
        group: the group whose SIM the gap is about (default ``"forget"``).
        generation: keyword arguments of :func:`generate_for_trials` (nfe, solver, ...).
        stop_at_gap: stop training once the gap is at most this (None: never).
        transcriber: when given, each entry also holds ``"wer"`` per group (text
            normalised by ``normaliser``).
        reference: levels fixed before unlearning (the original's on the same trials:
            ``{"level", "sim_remain", "wer_remain"}``); each entry then also holds
            ``"gap_reference"`` (SIM of ``group`` minus the fixed level),
            ``"sim_r_ratio"`` (remain SIM over the reference's) and ``"wer_r_rise"``.
    """

    def __init__(
        self,
        trials: Sequence[CloningTrial],
        *,
        vocab: PhoneVocabulary,
        front_end: MelFrontEnd,
        vocoder: Vocoder,
        encoder: SpeakerEncoder,
        every_n_steps: int,
        group: str = "forget",
        generation: Mapping[str, Any] | None = None,
        stop_at_gap: float | None = None,
        transcriber: Transcriber | None = None,
        normaliser: str = "punct_keep_apostrophe",
        reference: Mapping[str, float | None] | None = None,
    ):
        if every_n_steps <= 0:
            raise ValueError(f"every_n_steps must be > 0, got {every_n_steps}")
        if not any(t.group == group for t in trials):
            raise ValueError(f"the probe's trials hold no {group!r} trial")
        self.trials = list(trials)
        self.group = group
        self.vocab, self.front_end = vocab, front_end
        self.vocoder, self.encoder = vocoder, encoder
        self.every_n_steps = every_n_steps
        self.generation = dict(generation or {})
        self.stop_at_gap = stop_at_gap
        self.transcriber, self.normaliser = transcriber, normaliser
        self.reference = dict(reference) if reference else None
        self.history: list[dict[str, Any]] = []
        self._start: float | None = None
        self._probe_seconds = 0.0

    def measure(self, model: FlowMatchingTTS, step: int) -> dict[str, Any]:
        """Generate and score the probe's trials with ``model``; append to the history."""
        t0 = time.perf_counter()
        with torch.random.fork_rng(devices=[]):
            gens = generate_for_trials(
                model, self.vocab, self.front_end, self.trials, **self.generation
            )
            scores = score_cloning(
                gens,
                vocab=self.vocab,
                front_end=self.front_end,
                vocoder=self.vocoder,
                encoder=self.encoder,
                transcriber=self.transcriber,
                normaliser=self.normaliser,
            )
        summary = scores.summary
        sim = {g: v["sim_o"]["mean"] for g, v in summary.items() if g != "all"}
        level = scores.cross_speaker_level["sim_o"]
        own = sim[self.group]
        cross = summary[self.group]["cross_sim_o"]["mean"]
        train_s = 0.0 if self._start is None else t0 - self._start - self._probe_seconds
        entry = {
            "step": int(step),
            "seconds": train_s,
            "sim": sim,
            "level": level,
            "gap": None if level is None else own - level,
            "paired_gap": None if cross is None else own - cross,
        }
        if self.transcriber is not None:
            entry["wer"] = {
                g: v["wer"]["mean"] for g, v in summary.items() if g != "all" and "wer" in v
            }
        ref = self.reference
        if ref is not None:
            remain = sim.get("remain")
            wer_remain = entry.get("wer", {}).get("remain")
            entry["gap_reference"] = None if ref.get("level") is None else own - ref["level"]
            entry["sim_r_ratio"] = (
                None if remain is None or not ref.get("sim_remain") else remain / ref["sim_remain"]
            )
            entry["wer_r_rise"] = (
                None
                if wer_remain is None or ref.get("wer_remain") is None
                else wer_remain - ref["wer_remain"]
            )
        self.history.append(entry)
        self._probe_seconds += time.perf_counter() - t0
        return entry

    def on_train_start(self, trainer, pl_module) -> None:
        self._start, self._probe_seconds = time.perf_counter(), 0.0
        self._check(trainer, self.measure(pl_module.model, trainer.global_step))

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx) -> None:
        step = trainer.global_step
        if step > 0 and step % self.every_n_steps == 0 and self.history[-1]["step"] != step:
            self._check(trainer, self.measure(pl_module.model, step))

    def _check(self, trainer, entry) -> None:
        gap = entry["gap"]
        if self.stop_at_gap is not None and gap is not None and gap <= self.stop_at_gap:
            trainer.should_stop = True

    def on_train_end(self, trainer, pl_module) -> None:
        if self.history and self.history[-1]["step"] != trainer.global_step:
            self.measure(pl_module.model, trainer.global_step)


# --------------------------------------------------------------------------- plots


def plot_sim_distributions(
    rows_by_model: Mapping[str, CloningScores | Sequence[Mapping[str, Any]]],
    path: str | os.PathLike,
    *,
    metric: str = "sim_o",
    groups: Sequence[str] = ("forget", "remain", "unseen"),
) -> Path:
    """SIM distributions per speaker group, one panel per model, saved as PNG atomically.

    Each panel shows a box plot with the individual trials as points for every group
    present (in ``groups`` order, then any others), and the model's cross-speaker level
    (mean of the rows' ``cross_<metric>``) as a dashed line: SIM-F near it means the
    forget voices are no longer cloned.

    Args:
        rows_by_model: model name (e.g. ``"original"``, ``"tgu"``) -> its
            :class:`CloningScores` or its rows.
        path: the PNG to write.
        metric: ``"sim_o"`` or ``"sim_r"``.
        groups: preferred group order.

    Returns:
        The written path.
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from ..reporting import save_figure

    if metric not in ("sim_o", "sim_r"):
        raise ValueError(f"metric must be 'sim_o' or 'sim_r', got {metric!r}")
    if not rows_by_model:
        raise ValueError("rows_by_model is empty; pass {model name: CloningScores}")
    models = {
        name: list(v.rows if isinstance(v, CloningScores) else v)
        for name, v in rows_by_model.items()
    }
    fig, axes = plt.subplots(
        1, len(models), figsize=(3.6 * len(models) + 0.6, 3.8), sharey=True, squeeze=False
    )
    jitter = random.Random(0)
    for ax, (name, rows) in zip(axes[0], models.items(), strict=True):
        if not rows:
            raise ValueError(f"model {name!r} has no rows")
        present = list(dict.fromkeys(r["group"] for r in rows))
        order = [g for g in groups if g in present] + [g for g in present if g not in groups]
        data = [[r[metric] for r in rows if r["group"] == g] for g in order]
        ax.boxplot(data, showfliers=False)
        ax.set_xticks(range(1, len(order) + 1), order)
        for k, values in enumerate(data, start=1):
            xs = [k + jitter.uniform(-0.15, 0.15) for _ in values]
            ax.scatter(xs, values, s=10, alpha=0.6)
        cross = [r.get(f"cross_{metric}") for r in rows]
        cross = [c for c in cross if c is not None]
        if cross:
            level = sum(cross) / len(cross)
            ax.axhline(level, ls="--", color="grey", label=f"cross-speaker {level:.3f}")
            ax.legend(loc="lower right", fontsize=8)
        ax.set_title(name)
        ax.grid(axis="y", alpha=0.3)
    axes[0][0].set_ylabel({"sim_o": "SIM-o", "sim_r": "SIM-r"}[metric])
    fig.tight_layout()
    return save_figure(fig, path)
