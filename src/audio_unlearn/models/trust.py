"""Loaders that run code named in the files they load need the user's explicit trust.

SpeechBrain's ``from_hparams`` reads ``hyperparams.yaml`` with HyperPyYAML, whose tags
(``!new:``, ``!name:``, ``!apply:``) import and call any Python object the file names:
loading such a folder runs whatever its author wrote, before any weight is read. Vocos'
``from_hparams`` likewise instantiates every ``class_path`` of its ``config.yaml``.

audio-unlearn therefore loads these only when

- the source is a hub repository of a publisher the library documents
  (:data:`TRUSTED_PUBLISHERS`: ``speechbrain/...``, ``charactr/...``), or
- the user says so explicitly: ``trust_code=True`` (config ``eval.trust_code: true``;
  ``audio-unlearn evaluate ... --trust-code``).

A local folder or another publisher's repository is refused before anything is loaded,
with a message that names the file to read first. Model weights themselves are always
read with ``torch.load(weights_only=True)`` or safetensors (see
:func:`~audio_unlearn.models.checkpoint.safe_torch_load`), so they need no trust.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

__all__ = [
    "CODE_LOADERS",
    "TRUSTED_PUBLISHERS",
    "TRUST_SETTING",
    "UntrustedCodeError",
    "check_loader_trust",
    "check_spec_trust",
    "check_trust",
    "hub_owner",
    "needs_trust",
]

#: Hub owners whose model repositories are loaded without ``trust_code`` (the publishers of
#: the models this library documents: SpeechBrain's ECAPA and HiFi-GAN, charactr's Vocos).
TRUSTED_PUBLISHERS = ("speechbrain", "charactr")

#: spec kind -> (what loads it, the file whose code runs, the source when the spec names none)
CODE_LOADERS: dict[str, tuple[str, str, str | None]] = {
    "ecapa": (
        "SpeechBrain's from_hparams",
        "hyperparams.yaml",
        "speechbrain/spkrec-ecapa-voxceleb",
    ),
    "hifigan": ("SpeechBrain's from_hparams", "hyperparams.yaml", None),
    "vocos": ("Vocos' from_hparams", "config.yaml", None),
}


#: How a user says ``trust_code`` (for messages).
TRUST_SETTING = (
    "trust_code=True (in a TTS config `eval.trust_code: true`, on the command line `--trust-code`)"
)


class UntrustedCodeError(ValueError):
    """A code-running loader was asked to load a source the user has not trusted."""


def hub_owner(source: str | os.PathLike) -> str | None:
    """The owner of an ``owner/name`` Hugging Face hub repository; None for an existing
    local path or anything else."""
    source = str(source)
    if Path(source).expanduser().exists():
        return None
    match = re.fullmatch(r"([A-Za-z0-9][\w.-]*)/[\w.-]+", source)
    return match.group(1) if match else None


def needs_trust(source: str | os.PathLike) -> bool:
    """Whether loading ``source`` with a code-running loader needs ``trust_code``: every
    local folder and every hub repository outside :data:`TRUSTED_PUBLISHERS`."""
    owner = hub_owner(str(source))
    return owner is None or owner.lower() not in TRUSTED_PUBLISHERS


def check_trust(
    source: str | os.PathLike, *, trust_code: bool, loader: str, file: str, setting: str
) -> None:
    """Refuse to load ``source`` with ``loader`` unless it is trusted (module docstring).

    Args:
        source: the folder or hub repository.
        trust_code: the user's explicit trust.
        loader: what would run the code (for the message).
        file: the file whose code would run.
        setting: how the user says ``trust_code`` where this was called from.

    Raises:
        UntrustedCodeError: naming the file to read and the setting that trusts it.
    """
    if trust_code or not needs_trust(source):
        return
    owner = hub_owner(str(source))
    publishers = ", ".join(p + "/..." for p in TRUSTED_PUBLISHERS)
    if owner is None:
        what = f"{Path(source).expanduser() / file} names; a local folder loads"
    else:
        what = (
            f"{file} of {source} names; {owner!r} is not a known publisher ({publishers}), "
            "so it loads"
        )
    raise UntrustedCodeError(
        f"{loader} would run the Python code that {what} only with your trust: read "
        f"{file} and, if you trust it, set {setting}"
    )


def check_loader_trust(kind: str, source: str | os.PathLike, *, trust_code: bool) -> None:
    """:func:`check_trust` for a loader of :data:`CODE_LOADERS` (``ecapa``, ``hifigan``,
    ``vocos``) called from Python (the setting named is :data:`TRUST_SETTING`)."""
    loader, file, _ = CODE_LOADERS[kind]
    check_trust(source, trust_code=trust_code, loader=loader, file=file, setting=TRUST_SETTING)


def check_spec_trust(spec: str | None, *, trust_code: bool, setting: str) -> None:
    """:func:`check_trust` for a speaker-encoder or vocoder spec (``ecapa:<dir>``,
    ``hifigan:<dir>``, ``vocos:<dir>``); specs of loaders that run no code pass."""
    if not isinstance(spec, str):
        return
    kind, _, source = spec.partition(":")
    known = CODE_LOADERS.get(kind.strip().lower())
    if known is None:
        return
    loader, file, default = known
    source = source.strip() or default
    if source:
        check_trust(source, trust_code=trust_code, loader=loader, file=file, setting=setting)
