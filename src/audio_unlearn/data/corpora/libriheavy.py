"""LibriHeavy (Kang et al., "Libriheavy: a 50,000 hours ASR corpus with punctuation casing
and context", ICASSP 2024; manifests Apache-2.0 at huggingface.co/datasets/pkufool/
libriheavy, audio = Libri-Light, MIT) with forced-aligner TextGrids.

The TGU paper (Kim et al., ICML 2025) pre-trains its VoiceBox on LibriHeavy. The corpus
is a set of lhotse cut manifests over Libri-Light's long recordings::

    <manifests_dir>/libriheavy_cuts_<subset>.jsonl.gz   subset: small, medium, large,
                                                        dev, test_clean, test_other, ...
    <corpus_dir>/download/librilight/<subset>/<speaker>/<book>/<file>.flac   (16 kHz)

One JSON object per line (a lhotse ``MonoCut``): ``id`` (e.g.
``small/100/sea_fairies_0812_librivox_64kb_mp3/01_baum_sea_fairies_64kb_0``), ``start``
and ``duration`` (seconds into the recording), ``supervisions`` (one, with ``speaker``
and either ``custom.texts = [book text with casing and punctuation, upper-case ASR-style
text]`` in the full manifests or ``text`` in the ``cases_and_punc`` / ``upper_no_punc``
ones), and ``recording`` (``id``, ``sampling_rate``, ``sources[0].source`` = the FLAC path
relative to the LibriHeavy repository, hard-coded as ``download/librilight/...``).

A cut is a span of an hour-long recording, while an
:class:`~audio_unlearn.data.manifest.Utterance` is a whole file: the prepare step cuts
each span out once into ``<output_dir>/audio/<subset>/<speaker>/<name>.flac`` (``name`` =
the cut id with ``/`` -> ``__``) with a ``<name>.lab`` transcript beside it, which is what
Montreal Forced Aligner reads. Re-runs reuse the cut files. So the workflow is:

1. ``prepare_libriheavy(..., require_alignment=False)`` (cuts the audio, writes .lab);
2. ``mfa align <output_dir>/audio english_us_arpa english_us_arpa <alignments_dir>``;
3. ``prepare_libriheavy(..., alignments_dir=<alignments_dir>)`` (TextGrids found by
   ``<name>.TextGrid`` at any depth; ``phones`` tier; silence dropped, as for LibriTTS).

Utterances without an alignment are excluded with a warning and listed in
``unaligned_<split>.tsv`` (see :mod:`.libritts`). Speakers: the supervision's ``speaker``
(the Libri-Light reader id), kept as is.
"""

from __future__ import annotations

import gzip
import json
import logging
import os
from collections.abc import Iterator, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from types import MappingProxyType

import soundfile as sf

from ..manifest import Utterance, atomic_write_text
from ._base import finalize_splits, require_dir
from .libritts import _subset_list, attach_alignments, find_textgrids

__all__ = ["DEFAULT_LIBRIHEAVY_SUBSETS", "LibriHeavyCut", "prepare_libriheavy", "read_cuts"]

logger = logging.getLogger(__name__)

#: Split name -> LibriHeavy manifest subset(s).
DEFAULT_LIBRIHEAVY_SUBSETS: Mapping[str, str | Sequence[str]] = MappingProxyType(
    {"train": "small", "valid": "dev", "test": "test_clean"}
)
#: Prefix the LibriHeavy manifests hard-code in front of Libri-Light paths.
AUDIO_PREFIX = "download/librilight/"
MANIFEST_FIX = (
    "download the manifests from huggingface.co/datasets/pkufool/libriheavy (k2-fsa/"
    "libriheavy: `bash run.sh --stage 1 --stop-stage 1`) and pass their folder as "
    "manifests_dir"
)
TEXTS = ("original", "asr")


@dataclass(frozen=True)
class LibriHeavyCut:
    """One cut of a LibriHeavy manifest (the fields the loader uses)."""

    id: str
    speaker: str
    start: float
    duration: float
    text: str
    recording_id: str
    source: str
    sampling_rate: int


def _manifest_path(manifests_dir: Path, subset: str) -> Path:
    for name in (f"libriheavy_cuts_{subset}.jsonl.gz", f"libriheavy_cuts_{subset}.jsonl"):
        if (manifests_dir / name).is_file():
            return manifests_dir / name
    raise FileNotFoundError(
        f"LibriHeavy manifest {manifests_dir / f'libriheavy_cuts_{subset}.jsonl.gz'} not "
        f"found; {MANIFEST_FIX}"
    )


def _cut_text(sup: Mapping, text: str) -> str | None:
    texts = (sup.get("custom") or {}).get("texts")
    if isinstance(texts, list) and texts:
        index = TEXTS.index(text)
        return str(texts[min(index, len(texts) - 1)]).strip()
    return str(sup["text"]).strip() if sup.get("text") else None


def read_cuts(
    path: str | os.PathLike, *, text: str = "original", max_cuts: int | None = None
) -> Iterator[LibriHeavyCut]:
    """Stream the cuts of a LibriHeavy manifest (``.jsonl.gz`` or ``.jsonl``).

    Args:
        path: the manifest.
        text: ``"original"`` (book text, cased and punctuated: ``custom.texts[0]``) or
            ``"asr"`` (upper-case, the form the LibriHeavy pipeline aligned:
            ``custom.texts[1]``); manifests with a plain ``text`` field give that.
        max_cuts: stop after this many cuts (None = all).

    Raises:
        ValueError: a line that is not a cut with one supervision, a speaker, a text and
            a file source (names the file and line).
    """
    if text not in TEXTS:
        raise ValueError(f"text must be one of {TEXTS}, got {text!r}")
    path = Path(path)
    opener = gzip.open if path.suffix == ".gz" else open
    n = 0
    try:
        with opener(path, "rt", encoding="utf-8") as f:
            for lineno, line in enumerate(f, 1):
                if max_cuts is not None and n >= max_cuts:
                    return
                if not line.strip():
                    continue
                try:
                    yield _parse_cut(json.loads(line), text)
                except (json.JSONDecodeError, KeyError, IndexError, TypeError, ValueError) as e:
                    raise ValueError(
                        f"{path}:{lineno}: not a LibriHeavy cut ({type(e).__name__}: {e}); "
                        f"expected a lhotse MonoCut with one supervision (speaker, text) and "
                        f"a recording with a file source; {MANIFEST_FIX}"
                    ) from None
                n += 1
    except (OSError, EOFError) as err:
        raise ValueError(f"cannot read {path} ({err}); re-download it. {MANIFEST_FIX}") from None


def _parse_cut(record: Mapping, text: str) -> LibriHeavyCut:
    sups = record["supervisions"]
    if len(sups) != 1:
        raise ValueError(f"cut {record.get('id')!r} has {len(sups)} supervisions, expected 1")
    sup, recording = sups[0], record["recording"]
    sources = [s for s in recording["sources"] if s.get("type", "file") == "file"]
    if not sources:
        raise ValueError(f"recording {recording.get('id')!r} has no file source")
    cut_text = _cut_text(sup, text)
    if not cut_text or not sup.get("speaker"):
        raise ValueError(f"cut {record['id']!r} has no speaker or no text")
    duration = float(record["duration"])
    if duration <= 0:
        raise ValueError(f"cut {record['id']!r} has duration {duration}")
    return LibriHeavyCut(
        id=str(record["id"]),
        speaker=str(sup["speaker"]),
        start=float(record["start"]),
        duration=duration,
        text=cut_text,
        recording_id=str(recording["id"]),
        source=str(sources[0]["source"]),
        sampling_rate=int(recording["sampling_rate"]),
    )


def _resolve_audio(corpus_dir: Path, source: str) -> Path:
    candidates = [corpus_dir / source]
    if source.startswith(AUDIO_PREFIX):
        candidates.append(corpus_dir / source[len(AUDIO_PREFIX) :])
    for path in candidates:
        if path.is_file():
            return path
    raise FileNotFoundError(
        f"audio {source} not found (tried {[str(c) for c in candidates]}); corpus_dir must "
        "be the LibriHeavy repository folder holding download/librilight/, or the "
        "Libri-Light folder itself (holding small/, medium/, ...)"
    )


def file_name(cut_id: str) -> str:
    """The cut's file stem: its id with ``/`` -> ``__`` (also the TextGrid's stem)."""
    return cut_id.replace("/", "__")


def _extract(cut: LibriHeavyCut, source: Path, target: Path) -> tuple[float, int]:
    """Cut ``[start, start + duration)`` of ``source`` into ``target`` (FLAC, PCM 16)
    unless a file of the right length is there; write the ``.lab`` transcript.

    Returns:
        ``(duration, sample_rate)`` of the written file.
    """
    info = sf.info(str(source))
    if info.samplerate != cut.sampling_rate:
        raise ValueError(
            f"{source} is {info.samplerate} Hz but the manifest says {cut.sampling_rate} Hz; "
            "the audio is not Libri-Light's original FLAC"
        )
    first = round(cut.start * info.samplerate)
    frames = round(cut.duration * info.samplerate)
    if first + frames > info.frames + round(0.01 * info.samplerate):
        raise ValueError(
            f"cut {cut.id} ends at {cut.start + cut.duration:.2f} s but {source} lasts "
            f"{info.frames / info.samplerate:.2f} s; the audio file is truncated: re-download it"
        )
    frames = min(frames, info.frames - first)
    try:
        reuse = target.is_file() and sf.info(str(target)).frames == frames
    except Exception:  # an interrupted earlier write: cut it again
        reuse = False
    if not reuse:
        data, _ = sf.read(str(source), start=first, frames=frames, dtype="float32")
        if data.ndim > 1:
            data = data[:, 0]
        target.parent.mkdir(parents=True, exist_ok=True)
        tmp = target.with_name(f".{target.name}.tmp")
        sf.write(str(tmp), data, info.samplerate, format="FLAC", subtype="PCM_16")
        os.replace(tmp, target)
    lab = target.with_suffix(".lab")
    if not lab.is_file() or lab.read_text(encoding="utf-8").strip() != cut.text:
        atomic_write_text(lab, cut.text + "\n")
    return round(frames / info.samplerate, 6), int(info.samplerate)


def prepare_libriheavy(
    corpus_dir: str | os.PathLike,
    output_dir: str | os.PathLike,
    *,
    manifests_dir: str | os.PathLike | None = None,
    subsets: Mapping[str, str | Sequence[str]] = DEFAULT_LIBRIHEAVY_SUBSETS,
    alignments_dir: str | os.PathLike | None = None,
    text: str = "original",
    phone_tier: str = "phones",
    require_alignment: bool = True,
    max_cuts: int | None = None,
    num_workers: int = 1,
) -> dict[str, Path]:
    """Cut LibriHeavy's segments into files and write manifests with phone alignments.

    Args:
        corpus_dir: the folder the manifests' audio paths are relative to (the LibriHeavy
            repository, holding ``download/librilight/``), or the Libri-Light folder.
        output_dir: manifests, ``corpus.json``, ``unaligned_<split>.tsv`` and
            ``audio/<subset>/<speaker>/<name>.flac`` + ``.lab``.
        manifests_dir: the folder of ``libriheavy_cuts_<subset>.jsonl.gz`` (None =
            ``corpus_dir``).
        subsets: split -> manifest subset(s) (``train`` and ``test`` required).
        alignments_dir: MFA output (``<name>.TextGrid`` at any depth); None = beside the
            cut audio files.
        text: ``"original"`` (book text) or ``"asr"`` (upper-case; see :func:`read_cuts`).
        phone_tier: the TextGrid tier holding phones.
        require_alignment: exclude unaligned cuts (warning); False keeps them without.
        max_cuts: at most this many cuts per subset manifest (None = all), to try things.
        num_workers: threads cutting audio.

    Returns:
        ``{split: manifest path}``.

    Raises:
        FileNotFoundError: a missing manifest or audio file, or a split with no aligned
            cut (the message gives the MFA command).
        ValueError: malformed manifest lines, audio not matching the manifest, a cut id
            in two subsets, or (see :func:`~.libritts.attach_alignments`) bad alignments.
    """
    corpus_dir = require_dir(Path(corpus_dir), "the LibriHeavy / Libri-Light audio folder")
    manifests = Path(manifests_dir) if manifests_dir is not None else corpus_dir
    unknown = sorted(set(subsets) - {"train", "valid", "test"})
    missing = [s for s in ("train", "test") if s not in subsets]
    if unknown or missing:
        raise ValueError(
            f"subsets must map 'train', 'test' (and optionally 'valid') to LibriHeavy "
            f"subsets; unknown {unknown}, missing {missing}"
        )
    if max_cuts is not None and max_cuts < 1:
        raise ValueError(f"max_cuts must be >= 1 or None, got {max_cuts}")
    if num_workers < 1:
        raise ValueError(f"num_workers must be >= 1, got {num_workers}")
    chosen = {s: _subset_list(subsets[s], s) for s in ("train", "valid", "test") if s in subsets}
    output_dir = Path(output_dir)
    audio_dir = output_dir / "audio"
    raw: dict[str, list[tuple[LibriHeavyCut, str, Path]]] = {}
    names: dict[str, str] = {}
    for split, subset_names in chosen.items():
        raw[split] = []
        for subset in subset_names:
            for cut in read_cuts(_manifest_path(manifests, subset), text=text, max_cuts=max_cuts):
                name = file_name(cut.id)
                if names.setdefault(name, cut.id) != cut.id:
                    raise ValueError(
                        f"cut ids {names[name]!r} and {cut.id!r} map to the same file name "
                        f"{name!r}; rename one in the manifest"
                    )
                target = audio_dir / subset / cut.speaker / f"{name}.flac"
                raw[split].append((cut, subset, target))
        if not raw[split]:
            raise ValueError(
                f"libriheavy: the manifest(s) of split {split!r} ({subset_names}) hold no cuts; "
                f"they are empty or truncated: {MANIFEST_FIX}"
            )
    sources = {}
    for items in raw.values():
        for cut, _, _ in items:
            if cut.source not in sources:
                sources[cut.source] = _resolve_audio(corpus_dir, cut.source)

    def extract(item: tuple[LibriHeavyCut, str, Path]) -> tuple[float, int]:
        cut, _, target = item
        return _extract(cut, sources[cut.source], target)

    infos_by_split = {}
    for split, items in raw.items():
        with ThreadPoolExecutor(max_workers=num_workers) as pool:
            infos_by_split[split] = list(pool.map(extract, items))
    searched = Path(alignments_dir) if alignments_dir is not None else audio_dir
    textgrids = find_textgrids(searched)
    splits: dict[str, list[Utterance]] = {}
    for split, items in raw.items():
        infos = infos_by_split[split]
        utts = [
            Utterance(
                id=cut.id,
                audio=str(target.resolve()),
                speaker=cut.speaker,
                duration=duration,
                sample_rate=rate,
                text=cut.text,
                labels={
                    "subset": subset,
                    "recording": cut.recording_id,
                    "start": f"{cut.start:.3f}",
                },
            )
            for (cut, subset, target), (duration, rate) in zip(items, infos, strict=True)
        ]
        splits[split] = attach_alignments(
            utts,
            textgrids,
            split=split,
            corpus="libriheavy",
            output_dir=output_dir,
            searched=searched,
            tier=phone_tier,
            require=require_alignment,
            key={u.id: file_name(u.id) for u in utts},
        )
    for a in splits:
        for b in splits:
            if a < b:
                shared = {u.speaker for u in splits[a]} & {u.speaker for u in splits[b]}
                if shared:
                    logger.info(
                        "libriheavy: splits %r and %r share %d speaker(s) (not an error: "
                        "speaker-disjointness is not checked for LibriHeavy)",
                        a,
                        b,
                        len(shared),
                    )
    return finalize_splits(
        output_dir,
        splits,
        corpus="libriheavy",
        options={
            "subsets": chosen,
            "manifests_dir": str(manifests),
            "alignments_dir": None if alignments_dir is None else str(alignments_dir),
            "text": text,
            "phone_tier": phone_tier,
            "require_alignment": require_alignment,
            "max_cuts": max_cuts,
        },
    )
