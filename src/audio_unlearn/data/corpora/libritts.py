"""LibriTTS and LibriTTS-R with Montreal Forced Aligner phone alignments.

LibriTTS (Zen et al., "LibriTTS: A Corpus Derived from LibriSpeech for Text-to-Speech",
Interspeech 2019; CC BY 4.0; openslr.org/60) and LibriTTS-R (Koizumi et al., "LibriTTS-R:
A Restored Multi-Speaker Text-to-Speech Corpus", Interspeech 2023; CC BY 4.0;
openslr.org/141) share one layout (the ``LibriTTS/`` or ``LibriTTS_R/`` folder)::

    <root>/<subset>/<speaker>/<chapter>/<speaker>_<chapter>_<para>_<sent>.wav   (24 kHz)
    <root>/<subset>/<speaker>/<chapter>/<utt>.normalized.txt, <utt>.original.txt
    <root>/<subset>/<speaker>/<chapter>/<speaker>_<chapter>.trans.tsv  (id, original,
                                                                         normalized)
    <root>/SPEAKERS.txt   LibriSpeech's ";"-commented "ID | SEX | SUBSET | MINUTES | NAME"

The normalised text is the utterance text (``.normalized.txt``, else the third column
of the chapter's ``.trans.tsv``); the original goes into ``labels["text_original"]``,
chapter and subset into ``labels``. Speaker ids are the corpus's own.

Phone alignments come from Montreal Forced Aligner (McAuliffe et al., Interspeech 2017)
TextGrids: ``<alignments_dir>/<speaker>/<utt>.TextGrid``, the corpus tree mirrored, or
any other layout below ``alignments_dir`` (files are found by utterance id), tier
``phones`` (or ``<speaker> - phones`` in multi-speaker files). :func:`read_textgrid`
parses Praat's long ("ooTextFile") and short text formats, UTF-8 or UTF-16. Empty,
``sil``, ``sp`` and ``spn`` intervals are silence and are left out of the alignment (the
TTS model gives frames outside every phone the silence id).

An utterance without a usable alignment (no TextGrid, or no phone in it) is excluded
with a warning that counts them and names the first ones; the full list goes to
``<output_dir>/unaligned_<split>.tsv``. A split left with no aligned utterance, or a
corrupt TextGrid, is an error naming the file and the fix.
"""

from __future__ import annotations

import logging
import os
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from types import MappingProxyType

from ..manifest import PhoneSpan, Utterance, atomic_write_text
from ._base import (
    audio_infos,
    finalize_splits,
    leaves_nothing_on_error,
    require_dir,
    write_speakers,
)

__all__ = [
    "DEFAULT_SUBSETS",
    "SILENCE_LABELS",
    "TextGrid",
    "TextGridError",
    "TextGridTier",
    "attach_alignments",
    "find_textgrids",
    "phone_alignment",
    "prepare_libritts",
    "read_libritts_subset",
    "read_textgrid",
]

logger = logging.getLogger(__name__)

LAYOUT = (
    "LibriTTS layout: <root>/<subset>/<speaker>/<chapter>/<speaker>_<chapter>_<para>_<sent>"
    ".wav with <utt>.normalized.txt (or <speaker>_<chapter>.trans.tsv) beside it"
)
#: Split name -> LibriTTS subset(s) (the official subsets are speaker-disjoint).
DEFAULT_SUBSETS: Mapping[str, str | Sequence[str]] = MappingProxyType(
    {"train": "train-clean-100", "valid": "dev-clean", "test": "test-clean"}
)
#: Aligner labels that mean "no phone" (MFA 2+: "" and "spn"; MFA 1 / Kaldi: sil, sp).
SILENCE_LABELS = ("", "sil", "sp", "spn")
#: A phone may end this long after the end of its audio file (rounding in TextGrids).
END_TOLERANCE_S = 0.05
MFA_FIX = (
    "align the corpus with Montreal Forced Aligner (MFA pairs audio and transcript by file "
    "stem: write <utt>.lab beside each wav from its .normalized.txt, then `mfa align "
    "<corpus> english_us_arpa english_us_arpa <alignments_dir>`) and pass alignments_dir"
)


# ------------------------------------------------------------------------------ TextGrid


class TextGridError(ValueError):
    """A TextGrid file cannot be parsed; the message names the file, line and fix."""


@dataclass(frozen=True)
class TextGridTier:
    """One tier: ``items`` are ``(start, end, label)`` (a point tier has start == end)."""

    name: str
    kind: str  # "IntervalTier" or "TextTier"
    xmin: float
    xmax: float
    items: tuple[tuple[float, float, str], ...]


@dataclass(frozen=True)
class TextGrid:
    """A parsed Praat TextGrid."""

    xmin: float
    xmax: float
    tiers: tuple[TextGridTier, ...]

    def tier_names(self) -> list[str]:
        return [t.name for t in self.tiers]


# Praat text files are a stream of numbers, "strings" ("" escapes a quote) and <flags>;
# everything else (long-format labels such as `xmin =`, `intervals [3]:`) is decoration.
_TOKEN = re.compile(
    r'"(?P<str>(?:[^"]|"")*)"'
    r"|(?P<flag><exists>|<absent>)"
    r"|(?P<num>[-+]?(?:\d+\.\d*|\.\d+|\d+)(?:[eE][-+]?\d+)?)(?![\w.])"
    r"|(?P<skip>\[\s*\d*\s*\]|![^\n]*|[A-Za-z_][\w?]*|[^\s\"])"
    r"|(?P<bad>\")",
    re.DOTALL,
)


def _decode(raw: bytes, path: Path) -> str:
    if raw.startswith((b"\xff\xfe", b"\xfe\xff")):
        return raw.decode("utf-16")
    if raw.startswith(b"ooBinaryFile"):
        raise TextGridError(
            f"{path} is a binary Praat TextGrid; save it as text (Praat: Save as text file) "
            "or re-run the aligner"
        )
    try:
        return raw.decode("utf-8-sig")
    except UnicodeDecodeError as err:
        raise TextGridError(
            f"{path} is neither UTF-8 nor UTF-16 text ({err}); re-run the aligner for it or "
            "delete it to exclude the utterance"
        ) from None


class _Tokens:
    def __init__(self, text: str, path: Path):
        self.text, self.path = text, path
        self.items: list[tuple[str, str, int]] = []
        for m in _TOKEN.finditer(text):
            kind = m.lastgroup
            if kind == "skip":
                continue
            if kind == "bad":
                self.fail("an unterminated string", m.start())
            value = m.group(kind)
            if kind == "str":
                value = value.replace('""', '"')
            self.items.append((kind, value, m.start()))
        self.pos = 0

    def fail(self, what: str, offset: int | None = None) -> None:
        if offset is None:
            offset = self.items[self.pos][2] if self.pos < len(self.items) else len(self.text)
        line = self.text.count("\n", 0, offset) + 1
        raise TextGridError(
            f"{self.path}:{line}: {what}; the TextGrid is truncated or corrupt: re-run the "
            "aligner for this utterance, or delete the file to exclude the utterance"
        )

    def next(self, kind: str, what: str) -> str:
        if self.pos >= len(self.items):
            self.fail(f"the file ends where {what} was expected")
        got_kind, value, _ = self.items[self.pos]
        if got_kind != kind:
            self.fail(f"expected {what}, found {value!r}")
        self.pos += 1
        return value

    def number(self, what: str) -> float:
        return float(self.next("num", what))

    def count(self, what: str) -> int:
        value = self.number(what)
        if value < 0 or value != int(value):
            self.fail(f"{what} must be a non-negative integer, got {value}")
        return int(value)


def read_textgrid(path: str | os.PathLike) -> TextGrid:
    """Parse a Praat TextGrid in the long ("ooTextFile") or short text format.

    Raises:
        FileNotFoundError: no such file.
        TextGridError: not a text TextGrid, truncated, or with intervals out of order
            (names the file and line).
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"TextGrid {path} not found")
    tok = _Tokens(_decode(path.read_bytes(), path), path)
    if tok.next("str", '"ooTextFile"') != "ooTextFile":
        tok.fail('the header is not File type = "ooTextFile"', 0)
    kind = tok.next("str", '"TextGrid"')
    if kind != "TextGrid":
        tok.fail(f"this is a Praat {kind!r} file, not a TextGrid", 0)
    xmin, xmax = tok.number("xmin"), tok.number("xmax")
    if tok.next("flag", "<exists> or <absent>") == "<absent>":
        return TextGrid(xmin, xmax, ())
    tiers = []
    for _ in range(tok.count("the number of tiers")):
        tier_kind = tok.next("str", "a tier class")
        name = tok.next("str", "a tier name")
        t_min, t_max = tok.number("tier xmin"), tok.number("tier xmax")
        n = tok.count("the number of intervals")
        items: list[tuple[float, float, str]] = []
        for _ in range(n):
            if tier_kind == "IntervalTier":
                start, end = tok.number("interval xmin"), tok.number("interval xmax")
                label = tok.next("str", "an interval label")
                if end < start or (items and start < items[-1][1] - 1e-6):
                    tok.fail(f"interval [{start}, {end}] of tier {name!r} is out of order")
            elif tier_kind == "TextTier":
                start = end = tok.number("point time")
                label = tok.next("str", "a point mark")
            else:
                tok.fail(f"unknown tier class {tier_kind!r}")
            items.append((start, end, label))
        tiers.append(TextGridTier(name, tier_kind, t_min, t_max, tuple(items)))
    return TextGrid(xmin, xmax, tuple(tiers))


def phone_alignment(
    textgrid: TextGrid,
    *,
    tier: str = "phones",
    speaker: str | None = None,
    silence_labels: Iterable[str] = SILENCE_LABELS,
    source: str = "TextGrid",
) -> tuple[PhoneSpan, ...]:
    """The phone spans of a TextGrid's phone tier, silence intervals left out.

    Args:
        textgrid: a parsed TextGrid.
        tier: the tier name; ``"<speaker> - <tier>"`` (MFA's multi-speaker naming) is
            accepted too, preferring ``speaker``'s tier when there are several.
        speaker: the utterance's speaker.
        silence_labels: labels meaning "no phone" (compared case-insensitively, stripped).
        source: the file, for messages.

    Raises:
        ValueError: no such interval tier (lists the tiers there are).
    """
    by_name = {t.name: t for t in textgrid.tiers}
    chosen = by_name.get(tier)
    if chosen is None:
        suffixed = [t for t in textgrid.tiers if t.name.endswith(f" - {tier}")]
        own = by_name.get(f"{speaker} - {tier}") if speaker is not None else None
        chosen = own or (suffixed[0] if len(suffixed) == 1 else None)
    if chosen is None or chosen.kind != "IntervalTier":
        raise ValueError(
            f"{source} has no interval tier {tier!r} (tiers: {textgrid.tier_names()}); "
            "pass the phone tier's name (phone_tier=...)"
        )
    silence = {s.strip().lower() for s in silence_labels}
    return tuple(
        PhoneSpan(label.strip(), start, end)
        for start, end, label in chosen.items
        if label.strip().lower() not in silence and end > start
    )


def find_textgrids(root: str | os.PathLike) -> dict[str, Path]:
    """Every ``*.TextGrid`` below ``root``, by file stem (= utterance id).

    Raises:
        FileNotFoundError: ``root`` is not a directory.
        ValueError: two TextGrids share a stem (names both).
    """
    root = Path(root)
    if not root.is_dir():
        raise FileNotFoundError(f"alignments directory {root} not found ({MFA_FIX})")
    found: dict[str, Path] = {}
    for folder, _, files in os.walk(root):
        for name in files:
            if name.lower().endswith(".textgrid"):
                path = Path(folder) / name
                stem = name[: -len(".textgrid")]
                if stem in found:
                    raise ValueError(
                        f"two TextGrids for utterance {stem!r}: {found[stem]} and {path}; "
                        "keep one alignment per utterance"
                    )
                found[stem] = path
    return found


def attach_alignments(
    utterances: Sequence[Utterance],
    textgrids: Mapping[str, Path],
    *,
    split: str,
    corpus: str,
    output_dir: str | os.PathLike,
    searched: str | os.PathLike,
    tier: str = "phones",
    require: bool = True,
    key: Mapping[str, str] | None = None,
) -> list[Utterance]:
    """Give each utterance its TextGrid's phone alignment; report and drop the others.

    Args:
        utterances: one split's records.
        textgrids: TextGrid path by stem (:func:`find_textgrids`).
        split: split name, for messages and ``unaligned_<split>.tsv``.
        corpus: corpus name, for messages.
        output_dir: where ``unaligned_<split>.tsv`` (id, reason) is written.
        searched: where the TextGrids were looked for, for messages.
        tier: the phone tier's name.
        require: drop unaligned utterances (with a warning); False keeps them with
            ``alignment=None``.
        key: TextGrid stem per utterance id, when it is not the id itself.

    Raises:
        FileNotFoundError: ``require`` and no utterance of the split has an alignment.
        TextGridError: a corrupt TextGrid.
        ValueError: a phone tier is missing, or phones run past the end of the audio.
    """
    kept: list[Utterance] = []
    unaligned: list[tuple[str, str]] = []
    for utt in utterances:
        stem = key[utt.id] if key is not None else utt.id
        path = textgrids.get(stem)
        if path is None:
            unaligned.append((utt.id, f"no {stem}.TextGrid"))
            if not require:
                kept.append(utt)
            continue
        spans = phone_alignment(
            read_textgrid(path), tier=tier, speaker=utt.speaker, source=str(path)
        )
        if not spans:
            unaligned.append((utt.id, f"no phones in {path}"))
            if not require:
                kept.append(utt)
            continue
        if spans[-1].end > utt.duration + END_TOLERANCE_S:
            raise ValueError(
                f"{path}: phones run to {spans[-1].end:.3f} s but {utt.audio} lasts "
                f"{utt.duration:.3f} s; the TextGrid belongs to other audio (another corpus "
                "version, or a re-cut file): re-align this corpus"
            )
        kept.append(replace(utt, alignment=spans))
    report = Path(output_dir) / f"unaligned_{split}.tsv"
    if unaligned:
        atomic_write_text(report, "".join(f"{u}\t{why}\n" for u, why in unaligned))
    else:
        report.unlink(missing_ok=True)
    aligned = len(utterances) - len(unaligned)
    if require and aligned == 0 and utterances:
        raise FileNotFoundError(
            f"{corpus}: none of the {len(utterances)} utterances of split {split!r} has a "
            f"phone alignment (looked for <utterance id>.TextGrid under {searched}, e.g. "
            f"{unaligned[0][1]}); {MFA_FIX} (or require_alignment=False for manifests "
            "without phones)"
        )
    if unaligned:
        shown = ", ".join(f"{u} ({why})" for u, why in unaligned[:5])
        logger.warning(
            "%s: %d of %d utterances of split %r have no phone alignment and are %s: %s%s; "
            "full list in %s",
            corpus,
            len(unaligned),
            len(utterances),
            split,
            "excluded" if require else "kept without one",
            shown,
            ", ..." if len(unaligned) > 5 else "",
            report,
        )
    return kept


# ------------------------------------------------------------------------------ LibriTTS

_UTT_RE = re.compile(r"^(?P<speaker>[^_]+)_(?P<chapter>[^_]+)_.+$")


def _read_trans_tsv(path: Path) -> dict[str, tuple[str, str]]:
    """``{utt id: (original, normalized)}`` of a chapter's ``.trans.tsv`` (no header)."""
    rows: dict[str, tuple[str, str]] = {}
    if not path.is_file():
        return rows
    for lineno, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        if not line.strip():
            continue
        parts = line.split("\t")
        if len(parts) != 3:
            raise ValueError(
                f"{path}:{lineno}: expected 3 tab-separated columns (id, original, "
                f"normalized), got {len(parts)}; is this an unmodified LibriTTS .trans.tsv?"
            )
        rows[parts[0]] = (parts[1].strip(), parts[2].strip())
    return rows


def _read_text(path: Path) -> str | None:
    return path.read_text(encoding="utf-8").strip() if path.is_file() else None


def _read_speakers(root: Path) -> dict[str, dict[str, str]]:
    for name in ("SPEAKERS.txt", "SPEAKERS.TXT"):
        path = root / name
        if path.is_file():
            break
    else:
        return {}
    info: dict[str, dict[str, str]] = {}
    for line in path.read_text(encoding="utf-8", errors="replace").splitlines():
        if line.startswith(";") or "|" not in line:
            continue
        parts = [p.strip() for p in line.split("|")]
        if len(parts) >= 4 and parts[0].isdigit():
            info[parts[0]] = {"sex": parts[1], "subset": parts[2], "minutes": parts[3]}
    return info


def read_libritts_subset(
    root: str | os.PathLike, subset: str, *, num_workers: int = 1, strict: bool = True
) -> list[Utterance]:
    """Utterances of one LibriTTS(-R) subset folder, sorted by id (no alignments).

    Every chapter's ``.trans.tsv`` is read: a transcript line whose wav is missing is an
    error with ``strict`` (the download is incomplete), else a warning that names them.

    Raises:
        FileNotFoundError: the subset folder is missing or holds no wav files, or
            (``strict``) a transcript line has no wav.
        ValueError: a wav without a transcript, or in the wrong speaker/chapter folder.
    """
    subset_dir = require_dir(Path(root) / subset, LAYOUT)
    records: list[tuple[str, str, str, str, str, Path]] = []
    tsv_cache: dict[Path, dict[str, tuple[str, str]]] = {}
    for wav in sorted(subset_dir.glob("*/*/*.wav")):
        speaker, chapter, utt_id = wav.parent.parent.name, wav.parent.name, wav.stem
        m = _UTT_RE.match(utt_id)
        if m is None or (m["speaker"], m["chapter"]) != (speaker, chapter):
            raise ValueError(
                f"{wav}: the file name does not start with its folders' "
                f"<speaker>_<chapter>_ ({speaker}_{chapter}_); {LAYOUT}"
            )
        normalized = _read_text(wav.with_suffix(".normalized.txt"))
        original = _read_text(wav.with_suffix(".original.txt"))
        if normalized is None or original is None:
            tsv = wav.parent / f"{speaker}_{chapter}.trans.tsv"
            if tsv not in tsv_cache:
                tsv_cache[tsv] = _read_trans_tsv(tsv)
            row = tsv_cache[tsv].get(utt_id)
            if row is not None:
                original = row[0] if original is None else original
                normalized = row[1] if normalized is None else normalized
        if not normalized:
            raise ValueError(
                f"{wav} has no transcript: expected {wav.with_suffix('.normalized.txt').name} "
                f"beside it or a line in {speaker}_{chapter}.trans.tsv; the download is "
                "incomplete (re-extract the archive)"
            )
        records.append((utt_id, speaker, chapter, normalized, original or "", wav))
    if not records:
        raise FileNotFoundError(f"no wav files found under {subset_dir} ({LAYOUT})")
    found = {r[0] for r in records}
    orphans = []
    for tsv in sorted(subset_dir.glob("*/*/*.trans.tsv")):
        lines = tsv_cache[tsv] if tsv in tsv_cache else _read_trans_tsv(tsv)
        orphans += [tsv.parent / f"{i}.wav" for i in sorted(lines) if i not in found]
    if orphans:
        message = (
            f"{len(orphans)} transcript line(s) of {subset_dir} have no wav file, e.g. "
            f"{[str(p) for p in orphans[:3]]}; the download is incomplete (re-extract the "
            "archive)"
        )
        if strict:
            raise FileNotFoundError(message + ", or pass allow_missing_audio=True to skip them")
        logger.warning("%s; skipped", message)
    infos = audio_infos([r[5] for r in records], num_workers=num_workers)
    return [
        Utterance(
            id=utt_id,
            audio=str(wav.resolve()),
            speaker=speaker,
            duration=duration,
            sample_rate=rate,
            text=text,
            labels={"chapter": chapter, "subset": subset, "text_original": original},
        )
        for (utt_id, speaker, chapter, text, original, wav), (duration, rate) in zip(
            records, infos, strict=True
        )
    ]


def _subset_list(value: str | Sequence[str], split: str) -> list[str]:
    names = [value] if isinstance(value, str) else list(value)
    if not names or not all(isinstance(n, str) and n for n in names):
        raise ValueError(f"subsets[{split!r}] must name one or more subset folders, got {value}")
    return names


@leaves_nothing_on_error
def prepare_libritts(
    corpus_dir: str | os.PathLike,
    output_dir: str | os.PathLike,
    *,
    subsets: Mapping[str, str | Sequence[str]] = DEFAULT_SUBSETS,
    alignments_dir: str | os.PathLike | None = None,
    phone_tier: str = "phones",
    require_alignment: bool = True,
    num_workers: int = 1,
    allow_missing_audio: bool = False,
) -> dict[str, Path]:
    """Write ``train/valid/test.jsonl`` manifests with phone alignments from LibriTTS(-R).

    Args:
        corpus_dir: the ``LibriTTS/`` (or ``LibriTTS_R/``) folder holding the subsets.
        output_dir: where the manifests, ``corpus.json``, ``speakers.json`` and any
            ``unaligned_<split>.tsv`` go.
        subsets: split -> subset folder(s); ``train`` and ``test`` are required, e.g.
            ``{"train": ["train-clean-100", "train-clean-360"], "test": "test-clean"}``.
            Different subsets must share no speaker (the official ones do not).
        alignments_dir: the MFA output folder (TextGrids found by utterance id at any
            depth); None = TextGrids beside the wav files.
        phone_tier: the TextGrid tier holding phones.
        require_alignment: exclude utterances without an alignment (warning, listed in
            ``unaligned_<split>.tsv``); False keeps them with no alignment.
        num_workers: threads reading wav headers.
        allow_missing_audio: skip (with a warning naming them) transcript lines whose wav
            is missing, instead of failing.

    Returns:
        ``{split: manifest path}``.

    A failed prepare leaves nothing it wrote behind (``unaligned_<split>.tsv`` included).

    Raises:
        FileNotFoundError: a missing corpus/subset/alignments folder, a subset without
            wavs, or a split where no utterance has a TextGrid (the message gives the MFA
            command).
        TextGridError: a corrupt TextGrid (named).
        ValueError: unknown split names, a wav without transcript, splits sharing
            speakers, or alignments that do not fit their audio.
    """
    root = require_dir(Path(corpus_dir), LAYOUT)
    unknown = sorted(set(subsets) - {"train", "valid", "test"})
    missing = [s for s in ("train", "test") if s not in subsets]
    if unknown or missing:
        raise ValueError(
            f"subsets must map 'train', 'test' (and optionally 'valid') to LibriTTS subset "
            f"folders; unknown {unknown}, missing {missing}"
        )
    chosen = {
        split: _subset_list(subsets[split], split)
        for split in ("train", "valid", "test")
        if split in subsets
    }
    for names in chosen.values():  # every subset folder, before anything is read or written
        for name in names:
            require_dir(root / name, LAYOUT)
    if alignments_dir is not None:
        searched = Path(alignments_dir)
        textgrids = find_textgrids(searched)
    else:
        searched = root
        textgrids = {}
        for names in chosen.values():
            for name in names:
                textgrids.update(find_textgrids(require_dir(root / name, LAYOUT)))
    Path(output_dir).mkdir(parents=True, exist_ok=True)
    splits: dict[str, list[Utterance]] = {}
    for split, names in chosen.items():
        utts = [
            u
            for name in names
            for u in read_libritts_subset(
                root, name, num_workers=num_workers, strict=not allow_missing_audio
            )
        ]
        splits[split] = attach_alignments(
            utts,
            textgrids,
            split=split,
            corpus="libritts",
            output_dir=output_dir,
            searched=searched,
            tier=phone_tier,
            require=require_alignment,
        )
    names = list(splits)
    disjoint = [
        (a, b)
        for i, a in enumerate(names)
        for b in names[i + 1 :]
        if not set(chosen[a]) & set(chosen[b])
    ]
    speakers = _read_speakers(root)
    if speakers:
        seen = {u.speaker for utts in splits.values() for u in utts}
        write_speakers(output_dir, {s: speakers[s] for s in seen if s in speakers})
    return finalize_splits(
        output_dir,
        splits,
        corpus="libritts",
        disjoint=disjoint,
        options={
            "subsets": chosen,
            "alignments_dir": None if alignments_dir is None else str(alignments_dir),
            "phone_tier": phone_tier,
            "require_alignment": require_alignment,
        },
    )
