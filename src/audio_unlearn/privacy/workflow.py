"""The forget workflow: validate a request against a deployed model and its data, unlearn,
evaluate before/after, attack, and write the new checkpoint and the record.

:func:`plan_forget` does every check and loads every input (checkpoint, manifests, audio,
method) *before* anything is written, so an invalid request or a mismatched checkpoint
leaves no trace on disk. :func:`run_forget` then computes everything in memory and writes
the run directory at the end:

``<checkpoint stem>.<request id>.pt`` (the new model; the original is never touched),
``request.json``, ``split.json``, ``train_after.jsonl`` (the training manifest without the
forgotten utterances, the manifest of the next request), ``cache/verification_embeddings.pt``
(speaker models), ``plots/*.png``, ``record.json`` + ``record.md`` (the unlearning record,
:mod:`.record`) and ``artefacts.json`` (what still holds forget-set data, :mod:`.purge`).

How the request becomes a split depends on what the model predicts: for a speaker
identification model (checkpoint ``label_key == "speaker"``) forgetting an enrolled speaker
is *class removal*; for any other task (intent, SLU, keyword) it is *speaker removal* from
the training data. Single utterances of a request are forgotten as items.
"""

from __future__ import annotations

import contextlib
import copy
import dataclasses
import hashlib
import inspect
import json
import os
import platform
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import lightning as L
import numpy as np
import soundfile as sf
import torch
import yaml

from .. import __version__
from ..data.audio import TARGET_SAMPLE_RATE
from ..data.datamodule import LabelEncoder, UnlearningDataModule
from ..data.manifest import Utterance, atomic_write_text, read_manifest, write_manifest
from ..data.splits import ForgetSplit, ids_digest
from ..methods import build_method, fit_unlearning
from ..models.checkpoint import (
    CheckpointError,
    ClassifierCheckpoint,
    load_classifier,
    save_classifier,
)
from ..run.config import merge_config
from .attacks import relearn_attack, sequential_attack
from .metrics import evaluate_request
from .record import file_sha256, state_sha256, write_record
from .request import ForgetRequest, load_request

__all__ = [
    "AttackConfig",
    "ForgetConfig",
    "ForgetPlan",
    "forget",
    "load_forget_config",
    "plan_forget",
    "plan_from_objects",
    "run_forget",
    "unlearn",
]


@dataclass
class AttackConfig:
    """Which attacks :func:`run_forget` runs after unlearning.

    Attributes:
        relearn: keyword overrides of :func:`~.attacks.relearn_attack` (``utterances``,
            ``minutes``, ``steps``, ``lr``, ...); ``None`` skips the relearning attack.
        sequential: speakers of a second request B (forget B after A, re-measure A);
            ``None`` skips it (``audio-unlearn attack sequential`` runs it later).
    """

    relearn: dict[str, Any] | None = field(default_factory=dict)
    sequential: list[str] | None = None


@dataclass
class ForgetConfig:
    """How a request is carried out. YAML files and ``--option`` hold overrides only.

    Attributes:
        method: registered unlearning method (``audio-unlearn methods``).
        hparams: the method's hyper-parameter overrides.
        batch_size: batch size of unlearning and evaluation.
        max_seconds: audio is padded/truncated to this length (as for training).
        seed: seed of unlearning, attacks and trial lists.
        mia_splits: shuffle-splits of the loss attacks.
        trials_per_speaker: verification target trials per speaker (speaker models).
        attack: the attacks to run.
    """

    method: str = "ngplus"
    hparams: dict[str, Any] = field(default_factory=dict)
    batch_size: int = 16
    max_seconds: float = 3.6
    seed: int = 0
    mia_splits: int = 10
    trials_per_speaker: int = 10
    attack: AttackConfig = field(default_factory=AttackConfig)


def _override(text: str) -> tuple[list[str], Any]:
    if "=" not in text:
        raise ValueError(f"override {text!r} must look like key=value (e.g. lr=1e-4)")
    key, value = text.split("=", 1)
    parsed = yaml.safe_load(value)
    if isinstance(parsed, str):  # YAML 1.1 reads 1e-3 as text
        with contextlib.suppress(ValueError):
            parsed = float(parsed)
    return key.strip().split("."), parsed


def load_forget_config(
    path: str | os.PathLike | None = None,
    options: list[str] = (),
    *,
    method: str | None = None,
    hparams: list[str] = (),
    base: dict[str, Any] | None = None,
) -> ForgetConfig:
    """Defaults, then a YAML file, then ``key.sub=value`` options, then ``method`` and
    ``hparams`` (``key=value`` method hyper-parameters, the CLI's ``--set``). ``base``
    (e.g. a record's ``settings``) replaces the defaults as the starting point.

    A ``--method`` other than the file's starts from that method's own defaults (the file's
    ``hparams`` belonged to the other method).

    Raises:
        FileNotFoundError: no config file.
        ValueError: unknown keys or malformed overrides.
    """
    values: dict[str, Any] = copy.deepcopy(base) if base else {}
    if path is not None:
        path = Path(path)
        if not path.is_file():
            raise FileNotFoundError(f"forget config {path} not found")
        from_file = yaml.safe_load(path.read_text()) or {}
        if not isinstance(from_file, dict):
            raise ValueError(f"forget config {path} must be a mapping")
        values.update(from_file)
    for item in options:
        keys, value = _override(item)
        node = values
        for k in keys[:-1]:
            node = node.setdefault(k, {})
            if not isinstance(node, dict):
                raise ValueError(f"option {item!r}: {k!r} is not a mapping")
        node[keys[-1]] = value
    if method is not None and method != values.get("method"):
        values["method"] = method
        values["hparams"] = {}
    for item in hparams:
        keys, value = _override(item)
        values.setdefault("hparams", {})[".".join(keys)] = value
    return merge_config(ForgetConfig, values, str(path or "forget config"))


def _checkpoint_encoder(classes: tuple[str, ...]) -> LabelEncoder:
    """A label encoder with exactly the checkpoint's class order."""
    encoder = LabelEncoder(classes)
    encoder.classes = tuple(classes)
    encoder.index = {c: i for i, c in enumerate(classes)}
    return encoder


@dataclass
class ForgetPlan:
    """A validated request, ready to run: every input is loaded, nothing is written.

    Attributes:
        request: the request.
        config: method and settings.
        checkpoint: the deployed model (left untouched; the method works on a copy).
        checkpoint_path: its file (None for an in-memory model).
        checkpoint_sha256: hash of that file when planned.
        manifest_path / heldout_path: the data files (None when in memory).
        train: training utterances (every one was trained on).
        heldout: held-out utterances (never trained on), possibly empty.
        split: the forget split (``kind`` "class", "speaker" or "item").
        task: human-readable task ("class removal (speaker identification)", ...).
        dm: the data module, audio loaded; its encoder is the checkpoint's class list.
        module: the unlearning method wrapped around a copy of the model.
        speaker_task: the model identifies speakers.
    """

    request: ForgetRequest
    config: ForgetConfig
    checkpoint: ClassifierCheckpoint
    checkpoint_path: Path | None
    checkpoint_sha256: str | None
    manifest_path: Path | None
    heldout_path: Path | None
    train: list[Utterance]
    heldout: list[Utterance]
    split: ForgetSplit
    task: str
    dm: UnlearningDataModule
    module: Any
    speaker_task: bool

    @property
    def forgotten_classes(self) -> list[str]:
        """Classes forgotten so far (earlier requests + this one)."""
        earlier = list(self.checkpoint.meta.get("forgotten_classes", []))
        return earlier + [c for c in self.split.forget_classes if c not in earlier]

    @property
    def forgotten_speakers(self) -> list[str]:
        earlier = list(self.checkpoint.meta.get("forgotten_speakers", []))
        return earlier + [s for s in self.split.forget_speakers if s not in earlier]

    def derived_checkpoint(self, model: torch.nn.Module) -> ClassifierCheckpoint:
        """``model`` as a checkpoint that remembers what has been forgotten so far."""
        meta = {
            **self.checkpoint.meta,
            "forgotten_classes": self.forgotten_classes,
            "forgotten_speakers": self.forgotten_speakers,
        }
        return ClassifierCheckpoint(model, self.checkpoint.classes, self.checkpoint.label_key, meta)


def _labels(utts: list[Utterance], key: str, which: str) -> set[str]:
    try:
        return {u.label(key) for u in utts}
    except KeyError as err:
        raise ValueError(
            f"{which}: {err.args[0]}; the checkpoint classifies by {key!r}, so every "
            "utterance needs that label"
        ) from None


def _check_checkpoint(ckpt, path, train, heldout, manifest_name) -> None:
    key, classes = ckpt.label_key, tuple(ckpt.classes)
    earlier = set(ckpt.meta.get("forgotten_classes", []))
    train_labels = _labels(train, key, f"manifest {manifest_name}")
    extra = sorted(train_labels - set(classes))
    if extra:
        raise CheckpointError(
            f"checkpoint {path} does not match manifest {manifest_name}: {key!r} label(s) "
            f"{extra[:5]} are not among its {len(classes)} classes {list(classes)[:5]}...; "
            "use the checkpoint that was trained on this manifest"
        )
    missing = sorted(set(classes) - train_labels - earlier)
    if missing:
        raise CheckpointError(
            f"checkpoint {path} does not match manifest {manifest_name}: its class(es) "
            f"{missing[:5]} have no utterance in the manifest and were not forgotten by an "
            "earlier request; use the manifest the checkpoint was trained on"
        )
    foreign = sorted(_labels(heldout, key, "held-out manifest") - set(classes))
    if foreign:
        raise ValueError(
            f"held-out manifest has {key!r} label(s) {foreign[:5]} the checkpoint does not "
            "know; held-out data must come from the same label set"
        )
    rate = getattr(getattr(ckpt.model, "config", None), "sample_rate", TARGET_SAMPLE_RATE)
    if rate != TARGET_SAMPLE_RATE:
        raise CheckpointError(
            f"checkpoint {path}: the model expects {rate} Hz audio, the data pipeline gives "
            f"{TARGET_SAMPLE_RATE} Hz"
        )


def _check_request(request, ckpt, train, heldout, manifest_name, speaker_task):
    rid = request.request_id
    train_spk = Counter(u.speaker for u in train)
    held_spk = {u.speaker for u in heldout}
    earlier = set(ckpt.meta.get("forgotten_speakers", [])) | set(
        ckpt.meta.get("forgotten_classes", []) if speaker_task else []
    )
    known = set(train_spk) | held_spk | earlier | (set(ckpt.classes) if speaker_task else set())
    unknown = [s for s in request.speakers if s not in known]
    if unknown:
        listing = sorted(train_spk)
        raise ValueError(
            f"request {rid}: unknown speaker(s) {unknown}: not in the training manifest "
            f"{manifest_name}, the held-out manifest or the checkpoint's classes; known "
            f"training speakers: {listing[:20]}{' ...' if len(listing) > 20 else ''}"
        )
    no_data = [s for s in request.speakers if s not in train_spk]
    if no_data:
        why = []
        for s in no_data:
            if s in earlier:
                why.append(f"{s}: already forgotten by an earlier request")
            elif s in held_spk:
                why.append(f"{s}: only held-out utterances, never trained on")
            else:
                why.append(f"{s}: a class of the checkpoint with no utterance in the manifest")
        raise ValueError(
            f"request {rid}: speaker(s) {no_data} have no training utterances in "
            f"{manifest_name}, so there is nothing to forget ({'; '.join(why)}); remove them "
            "from the request or pass the manifest the model was trained on"
        )
    train_ids = {u.id for u in train}
    held_ids = {u.id for u in heldout}
    not_trained = [i for i in request.utterances if i not in train_ids]
    if not_trained:
        held = [i for i in not_trained if i in held_ids]
        raise ValueError(
            f"request {rid}: utterance(s) {not_trained[:10]} are not in the training "
            f"manifest {manifest_name}"
            + (f" ({held[:10]} are held-out utterances, never trained on)" if held else "")
            + "; remove them from the request"
        )


def plan_from_objects(
    *,
    checkpoint: ClassifierCheckpoint,
    checkpoint_path: str | os.PathLike | None,
    train: list[Utterance],
    heldout: list[Utterance],
    request: ForgetRequest,
    config: ForgetConfig,
    manifest_path: str | os.PathLike | None = None,
    heldout_path: str | os.PathLike | None = None,
    progress: bool = False,
) -> ForgetPlan:
    """Validate ``request`` against an in-memory checkpoint and data; see :func:`plan_forget`."""
    manifest_name = str(manifest_path or "(in-memory manifest)")
    ckpt_name = str(checkpoint_path or "(in-memory checkpoint)")
    overlap = {u.id for u in train} & {u.id for u in heldout}
    if overlap:
        raise ValueError(
            f"the held-out manifest shares {len(overlap)} utterance(s) with the training "
            f"manifest (e.g. {sorted(overlap)[:3]}); held-out data must never have been "
            "trained on"
        )
    _check_checkpoint(checkpoint, ckpt_name, train, heldout, manifest_name)
    key = checkpoint.label_key
    speaker_task = key == "speaker"
    _check_request(request, checkpoint, train, heldout, manifest_name, speaker_task)
    speakers, items = set(request.speakers), set(request.utterances)
    forget = [u.id for u in train if u.speaker in speakers or u.id in items]
    retain = [u.id for u in train if not (u.speaker in speakers or u.id in items)]
    if not retain:
        raise ValueError(
            f"request {request.request_id} would leave no retain data: its {len(forget)} "
            f"utterances are the whole training manifest {manifest_name}; a model cannot be "
            "kept on nothing: forget fewer speakers, or retire the model"
        )
    # the relearning options are checked now, not after minutes of unlearning
    if config.attack.relearn is not None:
        allowed = {
            p.name
            for p in inspect.signature(relearn_attack).parameters.values()
            if p.kind == p.KEYWORD_ONLY and p.name not in ("target_acc",)
        }
        bad = sorted(set(config.attack.relearn) - allowed)
        if bad:
            raise ValueError(f"attack.relearn: unknown option(s) {bad}; allowed: {sorted(allowed)}")
    if config.attack.sequential is not None:
        ForgetRequest(speakers=tuple(config.attack.sequential))  # type check only
    forgotten_now = tuple(request.speakers) if speaker_task else ()
    gone_speakers = speakers | set(checkpoint.meta.get("forgotten_speakers", []))
    gone_classes = set(forgotten_now) | set(checkpoint.meta.get("forgotten_classes", []))
    forget_speakers = {u.speaker for u in train if u.id in set(forget)}

    def gone(u: Utterance) -> bool:
        return u.speaker in gone_speakers or u.label(key) in gone_classes

    kind = "class" if speaker_task and request.speakers else "speaker" if speakers else "item"
    task = {
        "class": "class removal (speaker identification: each speaker is a class)",
        "speaker": f"speaker removal ({key} classification)",
        "item": f"item removal ({key} classification)",
    }[kind]
    forget_test = [u.id for u in heldout if u.speaker in speakers]
    earlier_classes = set(checkpoint.meta.get("forgotten_classes", [])) - set(forgotten_now)
    forget_heldout = [
        u.id
        for u in heldout
        if u.speaker in forget_speakers and u.label(key) not in earlier_classes
    ]
    split = ForgetSplit(
        kind=kind,
        forget=tuple(forget),
        retain=tuple(retain),
        valid=(),
        test=tuple(u.id for u in heldout if not gone(u)),
        forget_speakers=tuple(request.speakers),
        forget_classes=forgotten_now,
        params={
            "request_id": request.request_id,
            "label_key": key,
            "utterances": list(request.utterances),
            "forget_test": forget_test,
            "forget_heldout": forget_heldout,
        },
    )
    model = copy.deepcopy(checkpoint.model)
    module = build_method(config.method, model, task="classification", **dict(config.hparams))
    dm = UnlearningDataModule(
        list(train) + list(heldout),
        split,
        label_key=key,
        batch_size=int(config.batch_size),
        max_seconds=float(config.max_seconds),
        seed=int(config.seed),
        extra_sets={"forget_test": forget_test, "forget_heldout": forget_heldout},
        progress=progress,
    )
    dm.encoder = _checkpoint_encoder(tuple(checkpoint.classes))
    dm.setup()  # loads and validates every audio file before anything is written
    return ForgetPlan(
        request=request,
        config=config,
        checkpoint=checkpoint,
        checkpoint_path=Path(checkpoint_path) if checkpoint_path else None,
        checkpoint_sha256=file_sha256(checkpoint_path) if checkpoint_path else None,
        manifest_path=Path(manifest_path) if manifest_path else None,
        heldout_path=Path(heldout_path) if heldout_path else None,
        train=list(train),
        heldout=list(heldout),
        split=split,
        task=task,
        dm=dm,
        module=module,
        speaker_task=speaker_task,
    )


def new_checkpoint_path(
    out_dir: str | os.PathLike, checkpoint: str | os.PathLike, rid: str
) -> Path:
    """Where the unlearned model goes: ``OUT/<original stem>.<request id>.pt``."""
    return Path(out_dir) / f"{Path(checkpoint).stem}.{rid}.pt"


def _check_out_dir(out_dir: Path, checkpoint: Path, rid: str) -> None:
    if out_dir.exists() and not out_dir.is_dir():
        raise ValueError(f"--out {out_dir} is a file; give a directory")
    if (out_dir / "record.json").exists():
        raise ValueError(
            f"{out_dir} already holds an unlearning record (record.json); every request gets "
            "its own run directory: choose a new --out"
        )
    target = new_checkpoint_path(out_dir, checkpoint, rid)
    if target.exists():
        raise ValueError(f"{target} exists; it is never overwritten: choose a new --out")


def plan_forget(
    checkpoint: str | os.PathLike,
    manifest: str | os.PathLike,
    request: str | os.PathLike | ForgetRequest,
    *,
    out_dir: str | os.PathLike,
    heldout: str | os.PathLike | None = None,
    config: ForgetConfig | None = None,
    progress: bool = False,
) -> ForgetPlan:
    """Load and validate everything a request needs; write nothing.

    Args:
        checkpoint: the deployed model (:func:`~audio_unlearn.models.save_classifier`).
        manifest: its training manifest (every utterance was trained on).
        request: a request file or object.
        out_dir: the run directory that :func:`run_forget` will write (checked here).
        heldout: optional manifest of utterances never trained on, same label set (needed
            for the MIAs, forget-class test accuracy and the informed attack).
        config: method and settings (defaults: :class:`ForgetConfig`).
        progress: progress bars while loading audio.

    Raises:
        FileNotFoundError: a missing checkpoint, manifest, request or audio file.
        CheckpointError: the checkpoint does not match the manifest's label set or its own
            model config.
        ValueError: unknown speakers or utterances, speakers without training data, a
            request that empties the retain set, a bad method or hyper-parameter, an out
            directory that already holds a record.
    """
    config = config or ForgetConfig()
    request = request if isinstance(request, ForgetRequest) else load_request(request)
    checkpoint = Path(checkpoint)
    _check_out_dir(Path(out_dir), checkpoint, request.request_id)
    ckpt = load_classifier(checkpoint)
    train = read_manifest(manifest)
    held = read_manifest(heldout) if heldout is not None else []
    return plan_from_objects(
        checkpoint=ckpt,
        checkpoint_path=checkpoint,
        train=train,
        heldout=held,
        request=request,
        config=config,
        manifest_path=manifest,
        heldout_path=heldout,
        progress=progress,
    )


def unlearn(plan: ForgetPlan, *, progress: bool = False) -> tuple[torch.nn.Module, float]:
    """Run the plan's method; return the unlearned model and the unlearning seconds."""
    L.seed_everything(int(plan.config.seed), verbose=False)
    seconds = fit_unlearning(plan.module, plan.dm, progress=progress)
    return plan.module.model.eval(), seconds


def _evaluate(plan: ForgetPlan, model: torch.nn.Module):
    cfg = plan.config
    return evaluate_request(
        model,
        plan.dm,
        forgotten_speakers=plan.split.forget_speakers,
        speaker_task=plan.speaker_task,
        mia_splits=int(cfg.mia_splits),
        trials_per_speaker=int(cfg.trials_per_speaker),
        seed=int(cfg.seed),
    )


def run_attacks(
    plan: ForgetPlan,
    model: torch.nn.Module,
    *,
    before: dict[str, Any],
    after: dict[str, Any],
    progress: bool = False,
) -> dict[str, Any]:
    """The attacks of ``plan.config.attack`` on the unlearned ``model``."""
    cfg = plan.config
    attacks: dict[str, Any] = {
        "informed_mia": {"before": before["informed_mia"], "after": after["informed_mia"]}
    }
    if cfg.attack.relearn is not None:
        start = time.perf_counter()
        attacks["relearn"] = relearn_attack(
            model,
            plan.dm,
            target_acc=before["sets"]["forget"]["acc"],
            **{"seed": int(cfg.seed), **cfg.attack.relearn},
        )
        attacks["relearn"]["seconds"] = time.perf_counter() - start
    if cfg.attack.sequential:
        start = time.perf_counter()
        second = ForgetRequest(
            speakers=tuple(cfg.attack.sequential), id=f"{plan.request.request_id}-then-B"
        )
        attacks["sequential"] = sequential_attack(plan, model, second, cfg, progress=progress)
        attacks["sequential"]["seconds"] = time.perf_counter() - start
    return attacks


def _forget_fingerprints(plan: ForgetPlan) -> dict[str, Any]:
    """Hashes (never contents) that let :mod:`.purge` recognise forget-set data later."""
    from .fingerprint import audio_print

    by_id = {u.id: u for u in plan.train}
    audio, decoded, waves, prints, durations = {}, {}, {}, {}, {}
    for i in plan.split.forget:
        u = by_id[i]
        audio[i] = file_sha256(u.audio)
        samples, rate = sf.read(u.audio, dtype="float32", always_2d=False)
        decoded[i] = _array_sha256(samples)
        waves[i] = _array_sha256(plan.dm.cache[u].numpy())
        prints[i] = audio_print(samples, rate).to_text()
        durations[i] = round(len(samples) / rate, 4)
    return {
        "audio_file_sha256": audio,
        "decoded_sha256": decoded,
        "waveform_sha256": waves,
        "audio_print": prints,
        "duration_s": durations,
    }


def _array_sha256(array) -> str:
    return hashlib.sha256(np.ascontiguousarray(array, dtype=np.float32).tobytes()).hexdigest()


def run_forget(plan: ForgetPlan, out_dir: str | os.PathLike, *, progress: bool = False) -> dict:
    """Carry out a planned request and write the run directory; return the record.

    The original checkpoint file is only read; the record states whether its hash is the
    same at the end as when planned.
    """
    from .fingerprint import simhashes as embedding_simhashes
    from .purge import scan_run_directory, write_artefacts

    t_start = time.perf_counter()
    cfg, split = plan.config, plan.split
    out = Path(out_dir)
    if plan.checkpoint_path is not None:
        _check_out_dir(out, plan.checkpoint_path, plan.request.request_id)
    original = plan.checkpoint.model.eval()
    t0 = time.perf_counter()
    before, cache_before = _evaluate(plan, original)
    t_eval_before = time.perf_counter() - t0
    model, t_unlearn = unlearn(plan, progress=progress)
    t0 = time.perf_counter()
    after, cache_after = _evaluate(plan, model)
    t_eval_after = time.perf_counter() - t0
    t0 = time.perf_counter()
    attacks = run_attacks(plan, model, before=before, after=after, progress=progress)
    t_attacks = time.perf_counter() - t0
    fingerprints = _forget_fingerprints(plan)

    # --- everything computed: write the run directory --------------------------------------
    out.mkdir(parents=True, exist_ok=True)
    rid = plan.request.request_id
    ckpt_src = plan.checkpoint_path or Path("model.pt")
    new_ckpt = new_checkpoint_path(out, ckpt_src, rid)
    derived = plan.derived_checkpoint(model)
    save_classifier(
        new_ckpt,
        model,
        classes=tuple(plan.checkpoint.classes),
        label_key=plan.checkpoint.label_key,
        meta={
            **{k: v for k, v in derived.meta.items() if k != "key"},
            "role": "unlearned",
            "request_id": rid,
            "method": cfg.method,
            "hparams": dict(cfg.hparams),
            "source_checkpoint_sha256": plan.checkpoint_sha256,
            "seconds": t_unlearn,
        },
    )
    split_path = split.save(out / "split.json")
    atomic_write_text(out / "request.json", json.dumps(plan.request.to_json(), indent=1) + "\n")
    retain_ids = set(split.retain)
    train_after = write_manifest(
        out / "train_after.jsonl", [u for u in plan.train if u.id in retain_ids]
    )
    caches, simhashes = {}, []
    if cache_before is not None and cache_after is not None:
        cache_path = out / "cache" / "verification_embeddings.pt"
        cache_path.parent.mkdir(parents=True, exist_ok=True)
        torch.save(
            {
                "ids": cache_before["ids"],
                "before": cache_before["embeddings"],
                "after": cache_after["embeddings"],
            },
            cache_path,
        )
        rows = torch.cat([cache_before["embeddings"], cache_after["embeddings"]])
        caches[str(cache_path.relative_to(out))] = [_array_sha256(r.numpy()) for r in rows]
        simhashes = embedding_simhashes(rows.numpy())
    fingerprints["embedding_row_sha256"] = [h for hs in caches.values() for h in hs]
    fingerprints["embedding_simhash"] = simhashes
    fingerprints["original_checkpoint_sha256"] = plan.checkpoint_sha256
    fingerprints["original_state_sha256"] = state_sha256(original)
    fingerprints["forget_ids"] = list(split.forget)
    fingerprints["forget_speakers"] = list(split.forget_speakers)

    unchanged = None
    if plan.checkpoint_path is not None:
        unchanged = file_sha256(plan.checkpoint_path) == plan.checkpoint_sha256
    by_id = {u.id: u for u in plan.train}
    record: dict[str, Any] = {
        "format": "audio-unlearn/unlearning-record",
        "version": 1,
        "request": plan.request.to_json(),
        "task": plan.task,
        "label_key": plan.checkpoint.label_key,
        "inputs": {
            "checkpoint": str(plan.checkpoint_path.resolve()) if plan.checkpoint_path else None,
            "manifest": str(Path(plan.manifest_path).resolve()) if plan.manifest_path else None,
            "heldout": str(Path(plan.heldout_path).resolve()) if plan.heldout_path else None,
        },
        "hashes": {
            "checkpoint_before": plan.checkpoint_sha256,
            "checkpoint_before_after_run": file_sha256(plan.checkpoint_path)
            if plan.checkpoint_path
            else None,
            "original_checkpoint_unchanged": unchanged,
            "checkpoint_after": file_sha256(new_ckpt),
            "data_before": {
                "manifest_sha256": file_sha256(plan.manifest_path) if plan.manifest_path else None,
                "heldout_sha256": file_sha256(plan.heldout_path) if plan.heldout_path else None,
                "train_ids": ids_digest(u.id for u in plan.train),
                "forget_ids": ids_digest(split.forget),
                "forget_audio": _digest_of(fingerprints["audio_file_sha256"]),
            },
            "data_after": {
                "manifest_sha256": file_sha256(train_after),
                "train_ids": ids_digest(split.retain),
            },
        },
        "split": {
            "kind": split.kind,
            "file": "split.json",
            "sha256": file_sha256(split_path),
            "sizes": {
                "forget": len(split.forget),
                "retain": len(split.retain),
                "test": len(split.test),
                "forget_test": len(split.params["forget_test"]),
                "forget_heldout": len(split.params["forget_heldout"]),
            },
            "forget_speakers": list(split.forget_speakers),
            "forget_classes": list(split.forget_classes),
            "forget_seconds": sum(by_id[i].duration for i in split.forget),
        },
        "outputs": {
            "checkpoint": new_ckpt.name,
            "train_manifest_after": train_after.name,
            "request": "request.json",
            "caches": sorted(caches),
        },
        "method": {"name": cfg.method, "hparams": dict(cfg.hparams)},
        "settings": dataclasses.asdict(cfg),
        "metrics": {"before": before, "after": after},
        "attacks": attacks,
        "tool": {
            "name": "audio-unlearn",
            "version": __version__,
            "torch": torch.__version__,
            "python": platform.python_version(),
        },
        "timings_s": {
            "evaluate_before": t_eval_before,
            "unlearn": t_unlearn,
            "evaluate_after": t_eval_after,
            "attacks": t_attacks,
        },
        "fingerprints": fingerprints,
    }
    record["timings_s"]["total"] = time.perf_counter() - t_start
    if plan.checkpoint_path is not None and not plan.checkpoint_path.resolve().is_relative_to(
        out.resolve()
    ):
        record["external_artefacts"] = [
            {
                "path": str(plan.checkpoint_path.resolve()),
                "kind": "original_checkpoint",
                "holds": "the original model (still encodes the forgotten data); outside the "
                "run directory: delete or replace it when the unlearned model is deployed",
                "action": "manual",
            }
        ]
    write_record(out, record)
    record["artefacts"] = [a.to_json() for a in scan_run_directory(out, record)]
    write_artefacts(out, record)
    return record


def _digest_of(mapping: dict[str, str]) -> str:
    h = hashlib.sha256()
    for k in sorted(mapping):
        h.update(f"{k}\0{mapping[k]}\n".encode())
    return h.hexdigest()


def forget(
    checkpoint: str | os.PathLike,
    manifest: str | os.PathLike,
    request: str | os.PathLike | ForgetRequest,
    out_dir: str | os.PathLike,
    *,
    heldout: str | os.PathLike | None = None,
    config: ForgetConfig | None = None,
    progress: bool = False,
) -> dict:
    """:func:`plan_forget` then :func:`run_forget`: a request in, a checkpoint and record out."""
    plan = plan_forget(
        checkpoint,
        manifest,
        request,
        out_dir=out_dir,
        heldout=heldout,
        config=config,
        progress=progress,
    )
    return run_forget(plan, out_dir, progress=progress)
