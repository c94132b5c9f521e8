"""ITALIC and Speech-MASSIVE through Hugging Face ``datasets`` (optional extra ``hf``).

* ITALIC (Koudounas et al., "ITALIC: An Italian Intent Classification Dataset",
  Interspeech 2023): ``RiTA-nlp/ITALIC``, configs ``massive``, ``hard_speaker``,
  ``hard_noisy``; splits train/validation/test; a string ``intent`` label and a speaker
  column named ``speaker`` (dataset card) or ``speaker_id`` (Zenodo release).
* Speech-MASSIVE (Lee et al., "Speech-MASSIVE: A Multilingual Speech Dataset for SLU
  and Beyond", Interspeech 2024): ``FBK-MT/Speech-MASSIVE``, one config per locale;
  ``train`` exists for ``de-DE`` and ``fr-FR`` only; the test split lives in
  ``FBK-MT/Speech-MASSIVE-test``. Columns include ``intent_str, scenario_str, utt,
  audio, speaker_id``.

A source is a hub name, a ``save_to_disk`` folder (a ``DatasetDict``, or one folder per
split), or a folder of parquet/arrow files (hub snapshot layouts
``<config>/<split>-00000-of-00001.parquet`` or ``<config>/<split>/0000.parquet``);
``data_files`` maps splits to files explicitly. A ``<source>/<config>`` subfolder is
used when present.

Audio is read with ``Audio(decode=False)``, so no torchcodec is needed: a row whose
audio is an existing local file is used in place; otherwise the embedded bytes (or an
``{"array", "sampling_rate"}`` dict) are decoded with soundfile, resampled to 16 kHz and
written (atomically) to ``<output_dir>/audio/<config>/<id>.wav``. Existing wavs are not
rewritten, so a re-run is cheap; delete that folder after changing the source.

Ids are ``<hf split>-<row index>`` (e.g. ``validation-17``): the row positions the
UnSLU-BENCH reference code stores in its index files.
"""

from __future__ import annotations

import io
import os
import re
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import soundfile as sf

from ..audio import TARGET_SAMPLE_RATE, save_audio
from ..manifest import Utterance
from ._base import audio_info, finalize_splits, leaves_nothing_on_error, require_columns

__all__ = ["load_hf_splits", "prepare_italic", "prepare_speech_massive"]

HUB_ID = re.compile(r"^[A-Za-z0-9][\w.-]*/[\w.-]+$")
DATA_EXTENSIONS = {".parquet": "parquet", ".arrow": "arrow"}


def _import_datasets() -> Any:
    try:
        import datasets
    except ImportError:
        raise ImportError(
            "ITALIC and Speech-MASSIVE are read with Hugging Face `datasets`, which is not "
            "installed: pip install 'audio-unlearn[hf]' (or pip install datasets)"
        ) from None
    return datasets


def _split_files(base: Path, split: str) -> list[Path]:
    # The split name as a whole token of the path relative to ``base``: "train" matches
    # "train-00000-of-00001.parquet", "data/train-00000-of-00001.parquet" and
    # "train/0000.parquet", not "train_115-...". Files in other folders (another
    # config's, e.g. "fr-FR/train-...") are not picked up.
    token = re.compile(rf"(^|[-/]){re.escape(split)}($|[-./])")
    found = []
    for p in base.rglob("*"):
        rel = p.relative_to(base)
        if (
            p.suffix in DATA_EXTENSIONS
            and set(rel.parts[:-1]) <= {split, "data"}
            and token.search(rel.as_posix())
            and p.is_file()
        ):
            found.append(p)
    return sorted(found)


def _load_files(datasets: Any, files: Sequence[Path | str], cache_dir: str | None) -> Any:
    kinds = {DATA_EXTENSIONS.get(Path(f).suffix) for f in files}
    if len(kinds) != 1 or None in kinds:
        raise ValueError(
            f"data files must all be .parquet or all .arrow, got {[str(f) for f in files][:5]}"
        )
    return datasets.load_dataset(
        kinds.pop(), data_files=[str(f) for f in files], split="train", cache_dir=cache_dir
    )


def load_hf_splits(
    source: str | os.PathLike,
    splits: Sequence[str],
    *,
    config: str | None = None,
    revision: str | None = None,
    cache_dir: str | os.PathLike | None = None,
    data_files: Mapping[str, str | Sequence[str]] | None = None,
) -> dict[str, Any]:
    """Load the named splits of a Hugging Face dataset from the hub or a local copy.

    Args:
        source: hub name (``owner/name``) or a local folder (see the module docstring).
        splits: Hugging Face split names to load (e.g. ``["train", "validation"]``).
        config: hub config; for a local folder, a subfolder of that name is used when
            it exists.
        revision: hub revision (e.g. ``"refs/convert/parquet"``).
        cache_dir: ``datasets`` cache folder.
        data_files: explicit split -> file(s) (parquet or arrow); overrides ``source``.

    Returns:
        Split name -> ``datasets.Dataset``.

    Raises:
        ImportError: ``datasets`` is not installed.
        FileNotFoundError: the source does not exist, or a split has no files.
        ValueError: a requested split is not in a saved ``DatasetDict``.
    """
    datasets = _import_datasets()
    cache = None if cache_dir is None else str(cache_dir)
    if data_files is not None:
        missing = [s for s in splits if s not in data_files]
        if missing:
            raise ValueError(f"data_files lacks split(s) {missing}; it has {sorted(data_files)}")
        out = {}
        for s in splits:
            files = data_files[s]
            out[s] = _load_files(datasets, [files] if isinstance(files, str) else files, cache)
        return out
    path = Path(source)
    if not path.exists():
        if not HUB_ID.match(str(source)):
            raise FileNotFoundError(
                f"{source} is neither a local folder nor a Hugging Face hub name (owner/name)"
            )
        return {
            s: datasets.load_dataset(
                str(source), config, split=s, revision=revision, cache_dir=cache
            )
            for s in splits
        }
    base = path / config if config and (path / config).is_dir() else path
    if (base / "dataset_dict.json").is_file():
        saved = datasets.load_from_disk(str(base))
        missing = [s for s in splits if s not in saved]
        if missing:
            raise ValueError(
                f"saved DatasetDict {base} lacks split(s) {missing}; it has {list(saved)}"
            )
        return {s: saved[s] for s in splits}
    out = {}
    for s in splits:
        if (base / s / "state.json").is_file():
            out[s] = datasets.load_from_disk(str(base / s))
            continue
        files = _split_files(base, s)
        if not files:
            raise FileNotFoundError(
                f"no data for split {s!r} under {base}: expected a save_to_disk folder "
                f"({base}/dataset_dict.json or {base}/{s}/state.json) or parquet/arrow files "
                f"named like {s}-00000-of-00001.parquet or {s}/0000.parquet; or pass "
                "data_files={split: [files]}"
            )
        out[s] = _load_files(datasets, files, cache)
    return out


def _audio_column(datasets: Any, ds: Any, column: str) -> Any:
    feature = ds.features[column]
    if isinstance(feature, datasets.Audio):
        return ds.cast_column(column, datasets.Audio(decode=False))
    return ds


def _materialise(value: Any, target: Path, where: str) -> tuple[str, float, int]:
    """Return ``(audio path, duration, sample_rate)``, writing a 16 kHz wav if needed."""
    if isinstance(value, str):
        path = Path(value)
        if not path.is_file():
            raise FileNotFoundError(f"{where}: audio path {value} does not exist")
        return (str(path.resolve()), *audio_info(path))
    if not isinstance(value, Mapping):
        raise ValueError(f"{where}: audio is a {type(value).__name__}, expected a dict or path")
    local = value.get("path")
    if value.get("bytes") is None and local and Path(local).is_file():
        return (str(Path(local).resolve()), *audio_info(local))
    if target.is_file():  # written by an earlier run
        return (str(target.resolve()), *audio_info(target))
    if value.get("bytes") is not None:
        try:
            data, rate = sf.read(io.BytesIO(value["bytes"]), dtype="float32", always_2d=True)
        except Exception as err:
            raise ValueError(f"{where}: cannot decode the embedded audio bytes ({err})") from None
        wav = data.mean(axis=1)
    elif value.get("array") is not None and value.get("sampling_rate"):
        wav = np.asarray(value["array"], dtype=np.float32)
        wav = wav.mean(axis=0) if wav.ndim == 2 else wav
        rate = int(value["sampling_rate"])
    elif local:
        raise FileNotFoundError(
            f"{where}: audio file {local} does not exist and the row embeds no audio bytes "
            "or array; copy the audio next to the dataset (or fix the paths)"
        )
    else:
        raise ValueError(
            f"{where}: audio has neither an existing file path, bytes, nor an array with "
            f"sampling_rate (keys {sorted(value)})"
        )
    if wav.size == 0:
        raise ValueError(f"{where}: the audio is empty")
    if rate != TARGET_SAMPLE_RATE:
        import torch
        import torchaudio

        wav = torchaudio.functional.resample(
            torch.from_numpy(np.ascontiguousarray(wav)), rate, TARGET_SAMPLE_RATE
        ).numpy()
    save_audio(target, wav, TARGET_SAMPLE_RATE)
    return str(target.resolve()), round(len(wav) / TARGET_SAMPLE_RATE, 6), TARGET_SAMPLE_RATE


def _utterances(
    datasets: Any,
    ds: Any,
    split: str,
    rows: Sequence[int] | None,
    *,
    source: str,
    audio_dir: Path,
    speaker_columns: Sequence[str],
    label_columns: Mapping[str, str],
    optional_labels: Mapping[str, str] | None = None,
    text_column: str | None,
) -> list[Utterance]:
    columns = list(ds.column_names)
    speaker_col = next((c for c in speaker_columns if c in columns), None)
    if speaker_col is None:
        raise ValueError(
            f"{source} split {split!r} has no speaker column (expected one of "
            f"{list(speaker_columns)}); it has {columns}"
        )
    require_columns(columns, ["audio", *label_columns.values()], f"{source} split {split!r}")
    extra = {k: c for k, c in (optional_labels or {}).items() if c in columns}
    keep = ["audio", speaker_col, *label_columns.values(), *extra.values()]
    if text_column in columns:
        keep.append(text_column)
    ds = _audio_column(datasets, ds.select_columns(list(dict.fromkeys(keep))), "audio")
    indices = range(len(ds)) if rows is None else rows
    utts = []
    for i in indices:
        row = ds[int(i)]
        uid = f"{split}-{int(i)}"
        where = f"{source} split {split!r} row {int(i)}"
        audio, duration, rate = _materialise(row["audio"], audio_dir / f"{uid}.wav", where)
        labels = {k: str(row[c]) for k, c in {**label_columns, **extra}.items()}
        utts.append(
            Utterance(
                id=uid,
                audio=audio,
                speaker=str(row[speaker_col]),
                duration=duration,
                sample_rate=rate,
                text=str(row[text_column]) if text_column in row else "",
                labels=labels,
            )
        )
    return utts


@leaves_nothing_on_error
def prepare_italic(
    corpus_dir: str | os.PathLike,
    output_dir: str | os.PathLike,
    *,
    config: str = "hard_speaker",
    revision: str | None = None,
    cache_dir: str | os.PathLike | None = None,
    data_files: Mapping[str, str | Sequence[str]] | None = None,
) -> dict[str, Path]:
    """Write train/valid/test manifests of ITALIC (the config's own splits).

    UnSLU-BENCH uses the ``hard_speaker`` config, whose test speakers are unseen in
    training (checked). Labels: ``intent`` (plus ``scenario`` / ``field`` when the
    columns exist). Speaker: column ``speaker`` or ``speaker_id``. Text: ``utt``.

    Args:
        corpus_dir: ``"RiTA-nlp/ITALIC"`` or a local copy (see the module docstring).
        output_dir: where manifests, ``corpus.json`` and any written audio go.
        config: ``"hard_speaker"`` (UnSLU-BENCH), ``"massive"`` or ``"hard_noisy"``.
        revision: hub revision; ``"refs/convert/parquet"`` reads the hub's parquet
            conversion when the main branch needs a loading script.
        cache_dir: ``datasets`` cache folder.
        data_files: explicit ``{"train": [...], "validation": [...], "test": [...]}``.
    """
    hf_splits = {"train": "train", "valid": "validation", "test": "test"}
    zenodo = _italic_zenodo_files(corpus_dir, config, hf_splits.values())
    if zenodo is not None and data_files is None:
        splits = {name: _italic_zenodo_split(zenodo[hf], hf) for name, hf in hf_splits.items()}
    else:
        splits = _italic_hf_splits(
            corpus_dir, output_dir, config, revision, cache_dir, data_files, hf_splits
        )
    return finalize_splits(
        output_dir,
        splits,
        corpus="italic",
        disjoint=(("train", "test"),) if config == "hard_speaker" else (),
        options={"source": str(corpus_dir), "config": config, "revision": revision},
    )


def _italic_zenodo_files(
    corpus_dir: str | os.PathLike, config: str, splits: Sequence[str]
) -> dict[str, Path] | None:
    """``{hf split: <config>_<split>.json}`` of ITALIC's Zenodo release (``recordings/``
    beside the JSON files), or None when ``corpus_dir`` is not that layout."""
    root = Path(corpus_dir)
    if not (root / "recordings").is_dir():
        return None
    files = {s: root / f"{config}_{s}.json" for s in splits}
    missing = [str(p) for p in files.values() if not p.is_file()]
    if missing:
        raise FileNotFoundError(
            f"{root} holds ITALIC's Zenodo layout (recordings/) but not {missing}; expected "
            f"<config>_<split>.json for config {config!r} and splits {list(splits)}"
        )
    return files


def _italic_zenodo_split(path: Path, split: str) -> list[Utterance]:
    """Utterances of one ``<config>_<split>.json`` (JSON lines, or one JSON list): ids
    ``<split>-<row>`` as on the hub, audio ``recordings/<id>.wav`` (or the row's
    ``path`` / ``audio`` / ``file`` field), speaker ``speaker_id`` (or ``speaker``)."""
    import json

    text = path.read_text(encoding="utf-8")
    try:
        rows = json.loads(text) if text.lstrip().startswith("[") else None
    except json.JSONDecodeError:
        rows = None
    if rows is None:
        rows = []
        for n, line in enumerate(text.splitlines(), start=1):
            if not line.strip():
                continue
            try:
                rows.append(json.loads(line))
            except json.JSONDecodeError as err:
                raise ValueError(f"{path}:{n}: not a JSON line ({err})") from None
    recordings = path.parent / "recordings"
    utts = []
    for i, row in enumerate(rows):
        where = f"{path}:{i + 1}"
        speaker = row.get("speaker_id", row.get("speaker"))
        if speaker is None or "intent" not in row:
            raise ValueError(
                f"{where}: an ITALIC row needs 'intent' and 'speaker_id' (or 'speaker'); it "
                f"has {sorted(row)}"
            )
        named = next(
            (row[k] for k in ("path", "audio", "file") if isinstance(row.get(k), str)), None
        )
        if named is not None:
            audio = Path(named) if Path(named).is_absolute() else path.parent / named
            if not audio.is_file():
                audio = recordings / Path(named).name
        elif "id" in row:
            audio = recordings / f"{row['id']}.wav"
        else:
            raise ValueError(f"{where}: the row names no audio ('id', 'path', 'audio' or 'file')")
        if not audio.is_file():
            raise FileNotFoundError(f"{where}: audio file {audio} does not exist")
        duration, rate = audio_info(audio)
        labels = {"intent": str(row["intent"])}
        labels |= {k: str(row[k]) for k in ("scenario", "field") if k in row}
        utts.append(
            Utterance(
                id=f"{split}-{i}",
                audio=str(audio.resolve()),
                speaker=str(speaker),
                duration=duration,
                sample_rate=rate,
                text=str(row.get("utt", "")),
                labels=labels,
            )
        )
    return utts


def _italic_hf_splits(
    corpus_dir, output_dir, config, revision, cache_dir, data_files, hf_splits
) -> dict[str, list[Utterance]]:
    datasets = _import_datasets()
    loaded = load_hf_splits(
        corpus_dir,
        list(hf_splits.values()),
        config=config,
        revision=revision,
        cache_dir=cache_dir,
        data_files=data_files,
    )
    audio_dir = Path(output_dir) / "audio" / config
    splits = {
        name: _utterances(
            datasets,
            loaded[hf],
            hf,
            None,
            source=f"ITALIC ({corpus_dir}, {config})",
            audio_dir=audio_dir,
            speaker_columns=("speaker", "speaker_id"),
            label_columns={"intent": "intent"},
            optional_labels={"scenario": "scenario", "field": "field"},
            text_column="utt",
        )
        for name, hf in hf_splits.items()
    }
    return splits


@leaves_nothing_on_error  # no written audio left by a failed prepare
def prepare_speech_massive(
    corpus_dir: str | os.PathLike,
    output_dir: str | os.PathLike,
    *,
    locale: str = "de-DE",
    protocol: str = "unslu",
    seed: int = 42,
    train_split: str = "train",
    test_source: str | os.PathLike | None = None,
    revision: str | None = None,
    cache_dir: str | os.PathLike | None = None,
    data_files: Mapping[str, str | Sequence[str]] | None = None,
) -> dict[str, Path]:
    """Write train/valid/test manifests of Speech-MASSIVE for one locale.

    ``protocol="unslu"`` (UnSLU-BENCH): train = ``train_split``; the ``validation``
    utterances of train speakers are dropped, the rest shuffled with NumPy's legacy
    generator (``np.random.seed(seed); np.random.shuffle(rows)``, seed 42) and halved:
    the first ``n // 2`` rows are valid, the rest test. Train shares no speaker with
    valid or test (checked); valid and test may share speakers.
    ``protocol="official"``: train, ``validation`` as valid, and the ``test`` split of
    ``test_source`` (default ``FBK-MT/Speech-MASSIVE-test`` when ``corpus_dir`` is a
    hub name); no speaker-disjointness is promised.

    Labels: ``intent`` (``intent_str``), ``scenario`` (``scenario_str``). Speaker:
    ``speaker_id``. Text: ``utt``.

    Args:
        corpus_dir: ``"FBK-MT/Speech-MASSIVE"`` or a local copy (see the module docstring).
        output_dir: where manifests, ``corpus.json`` and any written audio go.
        locale: config, ``"de-DE"`` or ``"fr-FR"`` (the locales with a train split).
        protocol: ``"unslu"`` or ``"official"``.
        seed: the validation shuffle seed (UnSLU-BENCH: 42).
        train_split: ``"train"`` or ``"train_115"``.
        test_source: where the official test split lives (``protocol="official"``).
        revision: hub revision.
        cache_dir: ``datasets`` cache folder.
        data_files: explicit split -> file(s) for ``corpus_dir`` (``train_split``,
            ``"validation"``).
    """
    if protocol not in ("unslu", "official"):
        raise ValueError(f"protocol must be 'unslu' or 'official', got {protocol!r}")
    datasets = _import_datasets()
    loaded = load_hf_splits(
        corpus_dir,
        [train_split, "validation"],
        config=locale,
        revision=revision,
        cache_dir=cache_dir,
        data_files=data_files,
    )
    source = f"Speech-MASSIVE ({corpus_dir}, {locale})"
    common = {
        "audio_dir": Path(output_dir) / "audio" / locale,
        "speaker_columns": ("speaker_id",),
        "label_columns": {"intent": "intent_str", "scenario": "scenario_str"},
        "text_column": "utt",
    }
    train = _utterances(datasets, loaded[train_split], train_split, None, source=source, **common)
    valid_ds = loaded["validation"]
    if protocol == "unslu":
        require_columns(valid_ds.column_names, ["speaker_id"], f"{source} split 'validation'")
        train_speakers = {u.speaker for u in train}
        speakers = [str(s) for s in valid_ds["speaker_id"]]
        rows = [i for i, s in enumerate(speakers) if s not in train_speakers]
        if len(rows) < 2:
            raise ValueError(
                f"{source}: the speaker-disjoint valid/test halves would be empty: "
                f"{len(set(speakers) & train_speakers)} of {len(set(speakers))} validation "
                f"speakers also speak in {train_split!r}, leaving {len(rows)} validation "
                "utterance(s) of other speakers (2 or more are needed); is the validation "
                "split the locale's own?"
            )
        np.random.RandomState(seed).shuffle(rows)  # == np.random.seed(seed); shuffle(rows)
        half = len(rows) // 2
        valid_rows, test_rows = sorted(rows[:half]), sorted(rows[half:])
        splits = {
            "train": train,
            "valid": _utterances(
                datasets, valid_ds, "validation", valid_rows, source=source, **common
            ),
            "test": _utterances(
                datasets, valid_ds, "validation", test_rows, source=source, **common
            ),
        }
        disjoint: tuple[tuple[str, str], ...] = (("train", "valid"), ("train", "test"))
    else:
        if test_source is None:
            if Path(corpus_dir).exists():
                raise ValueError(
                    "protocol='official' with a local corpus_dir needs test_source: the test "
                    "split is in FBK-MT/Speech-MASSIVE-test (a hub name or a local copy)"
                )
            test_source = "FBK-MT/Speech-MASSIVE-test"
        test_ds = load_hf_splits(
            test_source, ["test"], config=locale, revision=revision, cache_dir=cache_dir
        )["test"]
        splits = {
            "train": train,
            "valid": _utterances(datasets, valid_ds, "validation", None, source=source, **common),
            "test": _utterances(datasets, test_ds, "test", None, source=source, **common),
        }
        disjoint = ()
    return finalize_splits(
        output_dir,
        splits,
        corpus="speech_massive",
        disjoint=disjoint,
        options={
            "source": str(corpus_dir),
            "locale": locale,
            "protocol": protocol,
            "seed": seed,
            "train_split": train_split,
            "test_source": None if test_source is None else str(test_source),
        },
    )
