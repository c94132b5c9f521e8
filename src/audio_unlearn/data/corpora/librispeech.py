"""LibriSpeech (Panayotov et al., "LibriSpeech: an ASR corpus based on public domain audio
books", ICASSP 2015; CC BY 4.0; openslr.org/12).

Layout (as extracted from the openslr archives, the ``LibriSpeech/`` folder)::

    <root>/<subset>/<speaker>/<chapter>/<speaker>-<chapter>-<utt>.flac
    <root>/<subset>/<speaker>/<chapter>/<speaker>-<chapter>.trans.txt
    <root>/SPEAKERS.TXT   optional; ";" comments, then "ID | SEX | SUBSET | MINUTES | NAME"

``<subset>`` is ``train-clean-100``, ``dev-clean``, ``test-clean``, ...; each line of a
``.trans.txt`` is ``<utt-id> <TRANSCRIPT IN UPPER CASE>``. The speaker id is the
corpus's own (the first field of the utterance id), kept as is; the chapter goes into
``labels["chapter"]`` and the subset into ``labels["subset"]``.

The official subsets are speaker-disjoint (train-clean-100, dev-clean and test-clean share
no speaker), which the prepare step checks. Durations come from the FLAC headers; nothing
is decoded.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

from ..manifest import Utterance
from ._base import audio_infos, finalize_splits, require_dir, write_speakers

__all__ = ["prepare_librispeech", "read_librispeech_subset"]

LAYOUT = (
    "LibriSpeech layout: <root>/<subset>/<speaker>/<chapter>/<speaker>-<chapter>-<utt>.flac "
    "with <speaker>-<chapter>.trans.txt beside them"
)
UTT_RE = re.compile(r"^(?P<speaker>\d+)-(?P<chapter>\d+)-(?P<utt>\d+)$")


def _read_transcripts(path: Path) -> dict[str, str]:
    texts: dict[str, str] = {}
    for lineno, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        if not line.strip():
            continue
        utt_id, _, text = line.strip().partition(" ")
        if not UTT_RE.match(utt_id) or not text.strip():
            raise ValueError(
                f"{path}:{lineno}: expected '<speaker>-<chapter>-<utt> TRANSCRIPT', got "
                f"{line[:80]!r}; is this an unmodified LibriSpeech .trans.txt?"
            )
        texts[utt_id] = text.strip()
    return texts


def _read_speakers(root: Path) -> dict[str, dict[str, str]]:
    path = root / "SPEAKERS.TXT"
    if not path.is_file():
        return {}
    info: dict[str, dict[str, str]] = {}
    for line in path.read_text(encoding="utf-8", errors="replace").splitlines():
        if line.startswith(";") or "|" not in line:
            continue
        parts = [p.strip() for p in line.split("|")]
        if len(parts) >= 4 and parts[0].isdigit():
            info[parts[0]] = {"sex": parts[1], "subset": parts[2], "minutes": parts[3]}
    return info


def read_librispeech_subset(
    root: str | os.PathLike, subset: str, *, num_workers: int = 1
) -> list[Utterance]:
    """Utterances of one subset directory, sorted by id.

    Raises:
        FileNotFoundError: the subset directory is missing, or a transcript names a FLAC
            file that does not exist.
        ValueError: a malformed transcript line, a FLAC file without a transcript, or a
            file in the wrong speaker/chapter folder.
    """
    subset_dir = require_dir(Path(root) / subset, LAYOUT)
    records: list[tuple[str, str, str, str, Path]] = []
    for trans in sorted(subset_dir.glob("*/*/*.trans.txt")):
        speaker, chapter = trans.parent.parent.name, trans.parent.name
        if trans.name != f"{speaker}-{chapter}.trans.txt":
            raise ValueError(f"{trans}: transcript file name does not match its folder ({LAYOUT})")
        texts = _read_transcripts(trans)
        flacs = {p.stem for p in trans.parent.glob("*.flac")}
        orphans = sorted(flacs - set(texts))
        if orphans:
            raise ValueError(
                f"{trans.parent}: audio file(s) {orphans[:3]} have no line in {trans.name}; "
                "the download is incomplete or modified"
            )
        for utt_id, text in texts.items():
            m = UTT_RE.match(utt_id)
            if m["speaker"] != speaker or m["chapter"] != chapter:
                raise ValueError(f"{trans}: utterance {utt_id} is in the wrong folder ({LAYOUT})")
            audio = trans.parent / f"{utt_id}.flac"
            if utt_id not in flacs:
                raise FileNotFoundError(
                    f"{audio} is listed in {trans.name} but missing; re-extract the archive"
                )
            records.append((utt_id, speaker, chapter, text, audio))
    if not records:
        raise FileNotFoundError(f"no transcripts found under {subset_dir} ({LAYOUT})")
    records.sort(key=lambda r: r[0])
    infos = audio_infos([r[4] for r in records], num_workers=num_workers)
    return [
        Utterance(
            id=utt_id,
            audio=str(audio.resolve()),
            speaker=speaker,
            duration=duration,
            sample_rate=rate,
            text=text,
            labels={"chapter": chapter, "subset": subset},
        )
        for (utt_id, speaker, chapter, text, audio), (duration, rate) in zip(
            records, infos, strict=True
        )
    ]


def prepare_librispeech(
    corpus_dir: str | os.PathLike,
    output_dir: str | os.PathLike,
    *,
    train: str = "train-clean-100",
    valid: str | None = "dev-clean",
    test: str = "test-clean",
    num_workers: int = 1,
) -> dict[str, Path]:
    """Write ``train/valid/test.jsonl`` manifests from an extracted LibriSpeech folder.

    Args:
        corpus_dir: the ``LibriSpeech/`` folder holding the subset directories.
        output_dir: where the manifests and ``corpus.json`` go.
        train: training subset (train-clean-100 for single-speaker forget sets).
        valid: validation subset, or None for none.
        test: test subset.
        num_workers: threads reading FLAC headers.

    Returns:
        ``{"train": path, "valid": path, "test": path}`` (no ``valid`` when None).

    Raises:
        FileNotFoundError, ValueError: layout problems (see
            :func:`read_librispeech_subset`), or subsets that share speakers.
    """
    root = Path(corpus_dir)
    subsets = {"train": train, "valid": valid, "test": test}
    splits = {
        name: read_librispeech_subset(root, sub, num_workers=num_workers)
        for name, sub in subsets.items()
        if sub is not None
    }
    names = list(splits)
    disjoint = [(a, b) for i, a in enumerate(names) for b in names[i + 1 :]]
    speakers = _read_speakers(root)
    if speakers:
        seen = {u.speaker for utts in splits.values() for u in utts}
        write_speakers(output_dir, {s: speakers[s] for s in seen if s in speakers})
    return finalize_splits(
        output_dir,
        splits,
        corpus="librispeech",
        disjoint=disjoint,
        options={"train": train, "valid": valid, "test": test},
    )
