"""``audio-unlearn evaluate``: score manifests and saved outputs from the command line.

Four sub-commands, each a thin layer over :mod:`audio_unlearn.evaluation`:

- ``wer``: WER/CER of a manifest's ``text`` against transcripts, made by an ASR backend
  (:func:`audio_unlearn.evaluation.asr.get_transcriber`) or read from a JSONL file;
- ``sim``: cosine speaker similarity (SIM) between paired utterances
  (:mod:`audio_unlearn.evaluation.speaker`);
- ``eer``: a same/different-speaker trial list over a manifest, scored by a speaker
  encoder, EER and minDCF (:mod:`audio_unlearn.evaluation.verification`);
- ``mia``: membership-inference attacks over saved per-sample losses
  (:mod:`audio_unlearn.evaluation.mia`).

Every command writes one JSON file (atomically) holding the inputs, every setting that
produced the numbers (model and backend, normaliser, unit, encoder description, seeds,
counts, package versions), the summary result and the per-item scores, then prints a
one-line summary. Settings the user does not give take the evaluation function's own
default (read from its signature, so a default lives in one place) and are recorded.
"""

from __future__ import annotations

import argparse
import inspect
import json
import math
import platform
import time
from collections.abc import Callable, Sequence
from datetime import datetime, timezone
from importlib import metadata
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .. import __version__

if TYPE_CHECKING:
    import numpy as np

__all__ = ["NORMALISER_NAMES", "add_evaluate_parser"]

#: Utterances loaded into memory at once; the models batch within each chunk.
_CHUNK = 256
_HYPOTHESES_FORMAT = '{"id": "<utterance id>", "text": "<transcript>"}'
#: Names of :data:`audio_unlearn.evaluation.text.NORMALISERS`, listed here so that building
#: the parser imports no evaluation module (torch, scikit-learn: seconds). The defaults shown
#: in ``--help`` are those of the evaluation functions' signatures, which are what is used
#: and recorded; ``tests/test_cli_evaluate.py`` checks that both lists agree.
NORMALISER_NAMES = (
    "none",
    "punct_keep_apostrophe",
    "strip_punct",
    "whisper_basic",
    "whisper_english",
)


# --------------------------------------------------------------------------- helpers


def _default(fn: Callable[..., Any], name: str) -> Any:
    """The default of keyword ``name`` in ``fn``'s signature (the one place it lives)."""
    return inspect.signature(fn).parameters[name].default


def _resolve(fn: Callable[..., Any], **given: Any) -> dict[str, Any]:
    """Keyword arguments for ``fn``: the given values, ``None`` replaced by the default."""
    return {k: _default(fn, k) if v is None else v for k, v in given.items()}


def _versions(*distributions: str) -> dict[str, str | None]:
    out: dict[str, str | None] = {"audio-unlearn": __version__, "python": platform.python_version()}
    for name in ("numpy", "torch", *distributions):
        try:
            out[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            out[name] = None
    return out


def _jsonable(value: Any) -> Any:
    """Numpy scalars to Python, non-finite floats to strings (strict JSON has no inf)."""
    import numpy as np

    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return str(value)
    if isinstance(value, Path):
        return str(value)
    return value


def _check_out(out: str, inputs: Sequence[str | None]) -> Path:
    path = Path(out)
    if path.is_dir():
        raise ValueError(f"--out {path} is a directory; pass the JSON file to write")
    for item in inputs:
        if item is not None and Path(item).resolve() == path.resolve():
            raise ValueError(f"--out {path} is also an input; write the result elsewhere")
    return path


def _write(out: Path, command: str, payload: dict[str, Any], started: float) -> None:
    from ..data.manifest import atomic_write_text

    record = {
        "command": f"audio-unlearn evaluate {command}",
        "created_utc": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        **payload,
        "elapsed_s": round(time.perf_counter() - started, 3),
    }
    text = json.dumps(_jsonable(record), indent=2, ensure_ascii=False, allow_nan=False)
    atomic_write_text(out, text + "\n")


def _manifest(path: str) -> list[Any]:
    from ..data.manifest import read_manifest

    utterances = read_manifest(path)
    if not utterances:
        raise ValueError(
            f"manifest {path} holds no utterances; pass a JSONL file with one utterance per line"
        )
    return utterances


def _progress(total: int, desc: str, unit: str, enabled: bool) -> Any:
    from tqdm.auto import tqdm

    return tqdm(total=total, desc=desc, unit=unit, disable=not enabled)


def _summary_stats(values: np.ndarray) -> dict[str, float]:
    return {
        "mean": float(values.mean()),
        "std": float(values.std()),
        "min": float(values.min()),
        "max": float(values.max()),
    }


# --------------------------------------------------------------------------- wer


def _read_hypotheses(path: str) -> dict[str, str]:
    file = Path(path)
    if not file.is_file():
        raise FileNotFoundError(
            f"hypotheses file {file} not found; write one JSON object per line: "
            f"{_HYPOTHESES_FORMAT}"
        )
    out: dict[str, str] = {}
    with file.open(encoding="utf-8") as handle:
        for lineno, line in enumerate(handle, 1):
            if not line.strip():
                continue
            try:
                record = json.loads(line)
            except json.JSONDecodeError as err:
                raise ValueError(f"{file}:{lineno}: not valid JSON ({err.msg})") from None
            if (
                not isinstance(record, dict)
                or not isinstance(record.get("id"), str)
                or not isinstance(record.get("text"), str)
            ):
                raise ValueError(
                    f"{file}:{lineno}: each line must be {_HYPOTHESES_FORMAT} (strings)"
                )
            if record["id"] in out:
                raise ValueError(f"{file}:{lineno}: hypothesis for {record['id']!r} repeats")
            out[record["id"]] = record["text"]
    return out


def _transcribe(utterances: list[Any], transcriber: Any, progress: bool) -> list[str]:
    from ..data.audio import load_audio

    # Longest first, so that each chunk holds similar lengths for the model's buckets.
    order = sorted(range(len(utterances)), key=lambda i: (-utterances[i].duration, i))
    texts: list[str] = [""] * len(utterances)
    with _progress(len(utterances), "transcribing", "utt", progress) as bar:
        for start in range(0, len(order), _CHUNK):
            chunk = order[start : start + _CHUNK]
            wavs = [load_audio(utterances[i].audio) for i in chunk]
            for i, text in zip(chunk, transcriber.transcribe(wavs, sample_rate=16000), strict=True):
                texts[i] = text
            bar.update(len(chunk))
    return texts


def _cmd_wer(args: argparse.Namespace) -> int:
    from ..evaluation.asr import get_transcriber
    from ..evaluation.wer import wer_scores

    started = time.perf_counter()
    out = _check_out(args.out, [args.manifest, args.hypotheses])
    utterances = _manifest(args.manifest)
    no_text = [u.id for u in utterances if not u.text.strip()]
    if no_text:
        raise ValueError(
            f"{len(no_text)} utterance(s) in {args.manifest} have no 'text' (first: "
            f"{no_text[:3]}); WER needs a reference transcript for every utterance: add "
            "them or drop those lines"
        )
    scoring = _resolve(
        wer_scores,
        normaliser=args.normaliser,
        unit=args.unit,
        empty_references=args.empty_references,
    )
    asr_info = None
    unused_hypotheses = 0
    if args.hypotheses is not None:
        given = _read_hypotheses(args.hypotheses)
        missing = [u.id for u in utterances if u.id not in given]
        if missing:
            raise ValueError(
                f"{args.hypotheses} has no hypothesis for {len(missing)} utterance(s) of "
                f"{args.manifest} (first: {missing[:3]}); every manifest id needs one"
            )
        hypotheses = [given[u.id] for u in utterances]
        unused_hypotheses = len(given) - len(utterances)
    else:
        options = {
            k: v
            for k, v in (
                ("device", args.device),
                ("dtype", args.dtype),
                ("max_batch_samples", args.max_batch_samples),
            )
            if v is not None
        }
        try:
            transcriber = get_transcriber(args.asr, progress=False, **options)
        except NotImplementedError as err:
            raise ValueError(str(err)) from None
        if hasattr(transcriber, "load"):
            transcriber.load()  # model errors surface before any audio is read
        hypotheses = _transcribe(utterances, transcriber, not args.no_progress)
        asr_info = transcriber.describe()
    result = wer_scores([u.text for u in utterances], hypotheses, **scoring)
    per_utterance = [
        {"id": u.id, "reference": u.text, "hypothesis": h, "error_rate": rate}
        for u, h, rate in zip(utterances, hypotheses, result.per_utterance, strict=True)
    ]
    _write(
        out,
        "wer",
        {
            "metric": "cer" if result.unit == "char" else "wer",
            "versions": _versions("jiwer", "transformers", "whisper-normalizer"),
            "inputs": {
                "manifest": str(Path(args.manifest).resolve()),
                "n_utterances": len(utterances),
                "hypotheses": None
                if args.hypotheses is None
                else str(Path(args.hypotheses).resolve()),
                "n_unused_hypotheses": unused_hypotheses,
            },
            "settings": {
                **scoring,
                "transcripts": "asr" if asr_info else "hypotheses file",
                "asr_spec": args.asr,
                "asr": asr_info,
            },
            "result": result.to_dict(include_per_utterance=False),
            "per_utterance": per_utterance,
        },
        started,
    )
    name = "CER" if result.unit == "char" else "WER"
    print(
        f"{name} ({result.normaliser} normaliser) over {result.n} utterances: corpus "
        f"{100 * result.corpus_wer:.2f}%, mean per utterance "
        f"{100 * result.mean_utterance_wer:.2f}% -> {out}"
    )
    return 0


# --------------------------------------------------------------------------- speaker helpers


def _encoder(args: argparse.Namespace) -> Any:
    from ..evaluation.speaker import get_speaker_encoder

    options = {
        k: v for k, v in (("device", args.device), ("batch_size", args.batch_size)) if v is not None
    }
    try:
        return get_speaker_encoder(args.encoder, trust_code=args.trust_code, **options)
    except TypeError:
        raise ValueError(
            f"speaker encoder {args.encoder!r} does not take "
            f"{' / '.join('--' + k.replace('_', '-') for k in options)}; drop the option"
        ) from None


def _embed(
    paths: list[str], encoder: Any, cache_dir: str | None, progress: bool
) -> tuple[Any, dict[str, Any] | None]:
    """Embeddings ``(N, D)`` of the unique files in ``paths`` (chunked, cached if asked)."""
    import torch

    from ..evaluation.speaker import EmbeddingCache, embed_files

    cache = None if cache_dir is None else EmbeddingCache(cache_dir)
    encoder.load()  # model errors surface before any audio is read
    parts = []
    with _progress(len(paths), "embedding", "file", progress) as bar:
        for start in range(0, len(paths), _CHUNK):
            chunk = paths[start : start + _CHUNK]
            parts.append(embed_files(chunk, encoder, cache=cache))
            bar.update(len(chunk))
    cache_info = None
    if cache is not None:
        cache_info = {
            "directory": str(cache.directory.resolve()),
            "hits": cache.hits,
            "misses": cache.misses,
        }
    return torch.cat(parts), cache_info


def _encoder_settings(encoder: Any, args: argparse.Namespace, cache_info: Any) -> dict[str, Any]:
    return {
        "encoder_spec": args.encoder,
        "encoder": encoder.describe(),
        "similarity": "cosine",
        "embedding_cache": cache_info,
    }


# --------------------------------------------------------------------------- sim


def _read_pairs(path: str) -> list[tuple[str, str, str]]:
    file = Path(path)
    if not file.is_file():
        raise FileNotFoundError(
            f"pairs file {file} not found; write one pair per line: "
            "<audio>\\t<reference audio>[\\t<pair id>]"
        )
    base = file.resolve().parent
    pairs: list[tuple[str, str, str]] = []
    seen: set[str] = set()
    for lineno, line in enumerate(file.read_text(encoding="utf-8").splitlines(), 1):
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        fields = [f.strip() for f in line.split("\t")]
        if len(fields) not in (2, 3) or not all(fields):
            raise ValueError(
                f"{file}:{lineno}: expected 2 or 3 tab-separated fields "
                f"(<audio>, <reference audio>[, <pair id>]), got {len(fields)}"
            )
        audio, reference = (str(p if p.is_absolute() else base / p) for p in map(Path, fields[:2]))
        for f in (audio, reference):
            if not Path(f).is_file():
                raise FileNotFoundError(f"{file}:{lineno}: audio file {f} not found")
        pair_id = fields[2] if len(fields) == 3 else f"line{lineno}"
        if pair_id in seen:
            raise ValueError(f"{file}:{lineno}: pair id {pair_id!r} repeats")
        seen.add(pair_id)
        pairs.append((pair_id, audio, reference))
    if not pairs:
        raise ValueError(f"pairs file {file} holds no pairs")
    return pairs


def _sim_pairs(args: argparse.Namespace) -> tuple[list[tuple[str, str, str]], dict[str, Any]]:
    if args.pairs is not None:
        if args.manifest is not None or args.reference is not None:
            raise ValueError("give either --pairs, or --manifest with --reference, not both")
        pairs = _read_pairs(args.pairs)
        return pairs, {"pairs": str(Path(args.pairs).resolve()), "pairing": "pairs file"}
    if args.manifest is None or args.reference is None:
        raise ValueError(
            "sim needs the pairs: --manifest M.jsonl with --reference R.jsonl (paired by "
            "utterance id), or --pairs pairs.tsv"
        )
    utterances = _manifest(args.manifest)
    references = {u.id: u for u in _manifest(args.reference)}
    missing = [u.id for u in utterances if u.id not in references]
    if missing:
        raise ValueError(
            f"{len(missing)} utterance id(s) of {args.manifest} are not in the reference "
            f"manifest {args.reference} (first: {missing[:3]}); pairs are matched by id"
        )
    pairs = [(u.id, u.audio, references[u.id].audio) for u in utterances]
    inputs = {
        "manifest": str(Path(args.manifest).resolve()),
        "reference": str(Path(args.reference).resolve()),
        "pairing": "utterance id",
        "n_unused_references": len(references) - len(utterances),
    }
    return pairs, inputs


def _cmd_sim(args: argparse.Namespace) -> int:
    from ..evaluation.speaker import speaker_similarity

    started = time.perf_counter()
    out = _check_out(args.out, [args.manifest, args.reference, args.pairs])
    encoder = _encoder(args)
    pairs, inputs = _sim_pairs(args)
    files = list(dict.fromkeys(p for _, a, b in pairs for p in (a, b)))
    embeddings, cache_info = _embed(files, encoder, args.cache, not args.no_progress)
    row = {f: i for i, f in enumerate(files)}
    a = embeddings[[row[p[1]] for p in pairs]]
    b = embeddings[[row[p[2]] for p in pairs]]
    sims = speaker_similarity(a, b).numpy()
    stats = _summary_stats(sims)
    _write(
        out,
        "sim",
        {
            "metric": "sim",
            "versions": _versions("resemblyzer", "speechbrain", "transformers"),
            "inputs": {**inputs, "n_pairs": len(pairs), "n_files": len(files)},
            "settings": _encoder_settings(encoder, args, cache_info),
            "result": {**stats, "std_ddof": 0, "n_pairs": len(pairs)},
            "per_pair": [
                {"id": pid, "audio": pa, "reference_audio": pb, "sim": float(s)}
                for (pid, pa, pb), s in zip(pairs, sims, strict=True)
            ],
        },
        started,
    )
    print(
        f"SIM ({encoder.describe()['backend']}) over {len(pairs)} pairs: mean "
        f"{stats['mean']:.4f} +- {stats['std']:.4f} -> {out}"
    )
    return 0


# --------------------------------------------------------------------------- eer


def _cmd_eer(args: argparse.Namespace) -> int:
    from ..evaluation.verification import (
        build_trials,
        read_trials,
        score_trials,
        verification_metrics,
        write_trials,
    )

    started = time.perf_counter()
    out = _check_out(args.out, [args.manifest])
    encoder = _encoder(args)
    utterances = _manifest(args.manifest)
    trial_settings = _resolve(build_trials, n_per_speaker=args.trials_per_speaker, seed=args.seed)
    import torch

    if args.trials:  # a given trial list: enrolment ids are utterances or speakers
        trials = read_trials(args.trials)
        trial_settings = {"trials": str(Path(args.trials).resolve())}
    else:
        trials = build_trials(utterances, **trial_settings)
    by_id = {u.id: u for u in utterances}
    tests = {t.test for t in trials}
    speakers = {t.enroll for t in trials if t.enroll not in by_id}
    enrol = {
        s: [u.id for u in utterances if u.speaker == s and u.id not in tests] for s in speakers
    }
    unknown = sorted(i for i in tests if i not in by_id) + sorted(s for s in enrol if not enrol[s])
    if unknown:
        raise ValueError(
            f"trial ids {unknown[:5]} are neither utterances of {args.manifest} nor speakers "
            "with an utterance that no trial tests"
        )
    used = {t.enroll for t in trials if t.enroll in by_id} | tests
    used |= {i for ids in enrol.values() for i in ids}
    chosen = [u for u in utterances if u.id in used]
    embeddings, cache_info = _embed(
        [u.audio for u in chosen], encoder, args.cache, not args.no_progress
    )
    ids = [u.id for u in chosen]
    if enrol:  # a speaker's enrolment: the mean of its unit embeddings
        row = {i: k for k, i in enumerate(ids)}
        unit = torch.nn.functional.normalize(torch.as_tensor(embeddings).double(), dim=1)
        means = [unit[[row[i] for i in enrol[s]]].mean(0) for s in sorted(enrol)]
        embeddings = torch.cat([unit, torch.stack(means)])
        ids = ids + sorted(enrol)
    if args.write_trials:
        write_trials(args.write_trials, trials)
    scores, labels = score_trials(trials, ids, embeddings)
    result = verification_metrics(scores, labels)
    _write(
        out,
        "eer",
        {
            "metric": "eer",
            "versions": _versions("resemblyzer", "speechbrain", "transformers"),
            "inputs": {
                "manifest": str(Path(args.manifest).resolve()),
                "n_utterances": len(utterances),
                "n_speakers": len({u.speaker for u in utterances}),
                "n_embedded": len(chosen),
            },
            "settings": {
                **_encoder_settings(encoder, args, cache_info),
                **(
                    {"trials": trial_settings["trials"]}
                    if "trials" in trial_settings
                    else {
                        "trials_per_speaker": trial_settings["n_per_speaker"],
                        "seed": trial_settings["seed"],
                    }
                ),
                "p_targets": list(_default(verification_metrics, "p_targets")),
            },
            "result": {**result.to_dict(), "n_trials": len(trials)},
            "per_trial": [
                {"enroll": t.enroll, "test": t.test, "target": t.target, "score": float(s)}
                for t, s in zip(trials, scores, strict=True)
            ],
        },
        started,
    )
    dcf = ", ".join(f"minDCF({p:g}) {v:.4f}" for p, v in result.min_dcf.items())
    print(
        f"EER ({encoder.describe()['backend']}) over {result.n_target} target / "
        f"{result.n_nontarget} non-target trials: {100 * result.eer:.2f}%, {dcf} -> {out}"
    )
    return 0


# --------------------------------------------------------------------------- mia


def _read_losses(path: str, option: str) -> np.ndarray:
    import numpy as np

    file = Path(path)
    if not file.is_file():
        raise FileNotFoundError(f"{option} file {file} not found")
    suffix = file.suffix.lower()
    if suffix not in (".npy", ".txt"):
        raise ValueError(
            f"{option} {file}: unknown format {suffix!r}; save a 1-D array with np.save "
            "(.npy) or one loss per line as text (.txt)"
        )
    try:
        if suffix == ".npy":
            values = np.asarray(np.load(file, allow_pickle=False))
        else:
            values = np.loadtxt(file, dtype=np.float64, ndmin=1)
    except (OSError, ValueError) as err:
        raise ValueError(f"{option} {file} is not a readable array of losses: {err}") from None
    if values.ndim == 2 and 1 in values.shape:
        values = values.reshape(-1)
    if values.ndim != 1:
        raise ValueError(
            f"{option} {file} must hold one loss per sample (1-D), got shape {values.shape}"
        )
    if values.dtype.kind not in "iuf":
        raise ValueError(f"{option} {file} must hold real numbers, got dtype {values.dtype}")
    return values.astype(np.float64)


def _cmd_mia(args: argparse.Namespace) -> int:
    from ..evaluation.mia import loss_mia, mia_auc, svc_mia_from_losses

    started = time.perf_counter()
    out = _check_out(args.out, [args.member_losses, args.nonmember_losses, args.target_losses])
    members = _read_losses(args.member_losses, "--member-losses")
    nonmembers = _read_losses(args.nonmember_losses, "--nonmember-losses")
    inputs: dict[str, Any] = {
        "member_losses": str(Path(args.member_losses).resolve()),
        "nonmember_losses": str(Path(args.nonmember_losses).resolve()),
        "n_members": int(members.size),
        "n_nonmembers": int(nonmembers.size),
    }
    if args.attack == "loss":
        if args.target_losses is not None or args.feature is not None:
            raise ValueError("--target-losses and --feature belong to --attack svc")
        settings = _resolve(
            loss_mia, n_splits=args.n_splits, test_size=args.test_size, seed=args.seed
        )
        mia = loss_mia(members, nonmembers, **settings)
        result = {
            "accuracy": mia.accuracy,
            "std": mia.std,
            "auc": mia_auc(members, nonmembers),
            "n_per_class": mia.n_per_class,
        }
        settings = {
            "attack": "loss",
            "description": "UnSLU-BENCH: logistic regression on the loss, members vs "
            "non-members balanced, stratified shuffle-splits; AUC of -loss as member score",
            **settings,
        }
        summary = (
            f"loss MIA: accuracy {mia.accuracy:.4f} +- {mia.std:.4f}, AUC {result['auc']:.4f} "
            f"({mia.n_per_class} per class)"
        )
    else:
        if args.target_losses is None:
            raise ValueError(
                "--attack svc needs --target-losses (the forget set's losses): the SVC is "
                "trained on members (retain) vs non-members (test) and labels the targets"
            )
        if args.n_splits is not None or args.test_size is not None:
            raise ValueError("--n-splits and --test-size belong to --attack loss")
        targets = _read_losses(args.target_losses, "--target-losses")
        inputs["target_losses"] = str(Path(args.target_losses).resolve())
        inputs["n_targets"] = int(targets.size)
        settings = _resolve(svc_mia_from_losses, feature=args.feature, seed=args.seed)
        svc = svc_mia_from_losses(members, nonmembers, targets, **settings)
        result = svc.to_dict()
        settings = {"attack": "svc", **settings}
        value = svc.efficacy[settings["feature"]]
        summary = f"SVC MIA ({settings['feature']}): MIA-efficacy {value:.4f}"
    _write(
        out,
        "mia",
        {
            "metric": "mia",
            "versions": _versions("scikit-learn"),
            "inputs": inputs,
            "settings": settings,
            "result": result,
        },
        started,
    )
    print(f"{summary} -> {out}")
    return 0


# --------------------------------------------------------------------------- parser


def _formatter(prog: str) -> argparse.HelpFormatter:
    return argparse.RawDescriptionHelpFormatter(prog, max_help_position=32)


def _add_common(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--out", required=True, help="JSON result file to write (atomically)")
    parser.add_argument("--no-progress", action="store_true", help="no progress bar")


def _add_encoder_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--encoder",
        required=True,
        metavar="SPEC",
        help="speaker encoder: resemblyzer (offline, weights in its wheel), "
        "ecapa[:<hub-name-or-dir>], wavlm-xvector[:<hub-name-or-dir>]",
    )
    parser.add_argument(
        "--cache", metavar="DIR", help="embedding cache (keyed by file hash and encoder)"
    )
    parser.add_argument("--device", help="torch device, e.g. cpu or cuda:0 (encoder default)")
    parser.add_argument("--batch-size", type=int, help="items per forward pass (encoder default)")
    parser.add_argument(
        "--trust-code",
        action="store_true",
        help="let an ecapa:<folder> (or another publisher's hub repository) run the code its "
        "hyperparams.yaml names; read that file first (SpeechBrain's own repositories "
        "need no flag)",
    )


def add_evaluate_parser(subparsers: Any) -> None:
    """Add the ``evaluate`` command (``wer``, ``sim``, ``eer``, ``mia``) to a CLI.

    Args:
        subparsers: The object returned by ``ArgumentParser.add_subparsers`` of the
            ``audio-unlearn`` parser.
    """
    evaluate = subparsers.add_parser(
        "evaluate",
        help="score manifests or saved losses: WER/CER, SIM, EER, MIA",
        description="Score a manifest's audio or saved per-sample losses. Each command "
        "writes a JSON file with the result, the per-item scores and every setting used "
        "(model, normaliser, encoder, seeds, versions), and prints a one-line summary.",
        formatter_class=_formatter,
        epilog="examples:\n"
        "  audio-unlearn evaluate wer --manifest test.jsonl --asr ctc:facebook/hubert-large-"
        "ls960-ft --out wer.json\n"
        "  audio-unlearn evaluate sim --manifest gen.jsonl --reference prompts.jsonl "
        "--encoder resemblyzer --out sim.json\n"
        "  audio-unlearn evaluate eer --manifest test.jsonl --encoder resemblyzer --out eer.json\n"
        "  audio-unlearn evaluate mia --member-losses forget.npy --nonmember-losses test.npy "
        "--out mia.json",
    )
    esub = evaluate.add_subparsers(dest="evaluate_command", required=True, metavar="METRIC")

    wer = esub.add_parser(
        "wer",
        help="word/character error rate of transcripts against the manifest's text",
        formatter_class=_formatter,
        description="Compare each utterance's `text` in the manifest with a transcript: "
        "either transcribed from its audio by an ASR model (--asr; batched, greedy "
        "decoding), or read from a JSONL file (--hypotheses, one line per utterance: "
        f"{_HYPOTHESES_FORMAT}). Both sides are normalised by the named normaliser before "
        "scoring. The JSON holds corpus WER (total edits / reference words), the mean "
        "per-utterance WER, edit counts, the normaliser, unit, ASR description and every "
        "utterance's reference, hypothesis and error rate.",
        epilog="examples:\n"
        "  audio-unlearn evaluate wer --manifest data/test.jsonl \\\n"
        "      --asr ctc:facebook/hubert-large-ls960-ft --normaliser whisper_english "
        "--out runs/x/wer.json\n"
        "  audio-unlearn evaluate wer --manifest data/test.jsonl --hypotheses hyp.jsonl "
        "--unit char --out cer.json",
    )
    wer.add_argument("--manifest", required=True, help="JSONL manifest (id, audio, text, ...)")
    source = wer.add_mutually_exclusive_group(required=True)
    source.add_argument(
        "--asr",
        metavar="SPEC",
        help="ctc:<hub-name-or-dir> (any wav2vec2/HuBERT CTC checkpoint) or "
        "whisper:<hub-name-or-dir>",
    )
    source.add_argument("--hypotheses", metavar="H.jsonl", help="existing transcripts by id")
    wer.add_argument(
        "--normaliser",
        choices=NORMALISER_NAMES,
        help="text normaliser (default: none)",
    )
    wer.add_argument(
        "--unit",
        choices=["word", "char"],
        help="word = WER, char = CER (default: word)",
    )
    wer.add_argument(
        "--empty-references",
        choices=["error", "skip"],
        help="a reference empty after normalisation: error or skip (default: error)",
    )
    wer.add_argument("--device", help="ASR torch device (backend default: cpu)")
    wer.add_argument("--dtype", choices=["float32", "float16", "bfloat16"], help="ASR dtype")
    wer.add_argument(
        "--max-batch-samples", type=int, help="ASR padded samples per batch (backend default)"
    )
    _add_common(wer)
    wer.set_defaults(func=_cmd_wer)

    sim = esub.add_parser(
        "sim",
        help="speaker similarity (cosine) between paired utterances",
        formatter_class=_formatter,
        description="Cosine similarity between speaker embeddings of paired utterances. "
        "Pairs come either from two manifests matched by utterance id (each utterance of "
        "--manifest with the utterance of the same id in --reference; e.g. generated "
        "speech vs its prompt: SIM-o with the original prompts, SIM-r with "
        "vocoder-resynthesised prompts), or from a tab-separated file with one pair per "
        "line: <audio>\\t<reference audio>[\\t<pair id>] (relative paths resolve against "
        "the file's folder; '#' lines are comments). The JSON holds mean/std/min/max, "
        "the encoder description and every pair's score.",
        epilog="examples:\n"
        "  audio-unlearn evaluate sim --manifest gen.jsonl --reference prompts.jsonl \\\n"
        "      --encoder resemblyzer --cache ~/.cache/spk --out sim.json\n"
        "  audio-unlearn evaluate sim --pairs pairs.tsv "
        "--encoder ecapa:speechbrain/spkrec-ecapa-voxceleb --out sim.json",
    )
    sim.add_argument("--manifest", help="JSONL manifest of the utterances to score")
    sim.add_argument("--reference", help="JSONL manifest of their references (same ids)")
    sim.add_argument("--pairs", metavar="pairs.tsv", help="tab-separated audio path pairs")
    _add_encoder_options(sim)
    _add_common(sim)
    sim.set_defaults(func=_cmd_sim)

    eer = esub.add_parser(
        "eer",
        help="speaker verification EER and minDCF over a trial list from a manifest",
        formatter_class=_formatter,
        description="Build same-speaker (target) and different-speaker (non-target) trials "
        "from the manifest's speaker ids (seeded), embed the utterances with the speaker "
        "encoder, score each trial by cosine similarity, and report the EER and minDCF "
        "(p_target 0.01 and 0.05, C_miss = C_fa = 1). The JSON holds every trial's score.",
        epilog="example:\n"
        "  audio-unlearn evaluate eer --manifest data/test.jsonl --encoder resemblyzer \\\n"
        "      --trials-per-speaker 20 --seed 0 --out eer.json",
    )
    eer.add_argument("--manifest", required=True, help="JSONL manifest (id, audio, speaker)")
    _add_encoder_options(eer)
    eer.add_argument(
        "--trials-per-speaker",
        type=int,
        help="target trials per speaker, and as many non-target (default: 10)",
    )
    eer.add_argument("--seed", type=int, help="trial-draw seed (default: 0)")
    eer.add_argument(
        "--trials",
        help="a VoicePrivacy-style trial list to score instead of drawing one: lines "
        "'<enrolment id> <test utterance id> target|nontarget'; an enrolment id that is not "
        "an utterance id names a speaker, enrolled as the mean embedding of its utterances "
        "that no trial tests",
    )
    eer.add_argument("--write-trials", help="write the trials used, in that format")
    _add_common(eer)
    eer.set_defaults(func=_cmd_eer)

    mia = esub.add_parser(
        "mia",
        help="membership-inference attacks over saved per-sample losses",
        formatter_class=_formatter,
        description="Attack saved per-sample losses (.npy: a 1-D array saved with np.save; "
        ".txt: one number per line, '#' comments). --attack loss (UnSLU-BENCH): logistic "
        "regression telling members (the forget set) from non-members (the test set) by "
        "their loss, accuracy over stratified shuffle-splits (0.5 = no signal), plus the "
        "ROC AUC. --attack svc (SalUn): an RBF SVC trained on members (retain) vs "
        "non-members (test) labels --target-losses (forget); MIA-efficacy = fraction of "
        "targets called non-members. Works for any task's losses (classification, CTC, "
        "TTS).",
        epilog="examples:\n"
        "  audio-unlearn evaluate mia --member-losses forget.npy --nonmember-losses test.npy "
        "--out mia.json\n"
        "  audio-unlearn evaluate mia --attack svc --member-losses retain.npy \\\n"
        "      --nonmember-losses test.npy --target-losses forget.npy --out svc.json",
    )
    mia.add_argument("--member-losses", required=True, metavar="FILE", help=".npy or .txt")
    mia.add_argument("--nonmember-losses", required=True, metavar="FILE", help=".npy or .txt")
    mia.add_argument(
        "--target-losses", metavar="FILE", help="svc only: the losses to classify (forget)"
    )
    mia.add_argument("--attack", choices=["loss", "svc"], default="loss", help="(default: loss)")
    mia.add_argument("--seed", type=int, help="balancing/split seed (default: 0)")
    mia.add_argument(
        "--n-splits",
        type=int,
        help="loss only: shuffle-splits (default: 10)",
    )
    mia.add_argument(
        "--test-size",
        type=float,
        help="loss only: held-out fraction (default: 0.1)",
    )
    mia.add_argument(
        "--feature",
        choices=["confidence", "loss"],
        help="svc only: exp(-loss) or the raw loss (default: confidence)",
    )
    _add_common(mia)
    mia.set_defaults(func=_cmd_mia)
