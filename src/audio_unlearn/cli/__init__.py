"""``audio-unlearn``: the command-line entry point.

Subcommands:
  run       the whole speaker-forgetting experiment (corpus, split, original, gold,
            unlearning methods, evaluation, report) from a YAML of overrides
  data      synthesise the embedded corpus, or validate a manifest and its audio
  split     make a speaker-level forget split file from a manifest
  evaluate  WER/CER, speaker similarity, EER/minDCF, membership inference over files
  smoke     run every method on tiny models and a dummy corpus (a CI check)
  methods   list the registered unlearning methods and their hyper-parameters
"""

from __future__ import annotations

import argparse
import errno
import sys
import time
from pathlib import Path

from .. import __version__
from .evaluate import add_evaluate_parser
from .privacy import add_privacy_parsers
from .run import add_run_aliases, add_run_arguments

EPILOG = """\
examples:
  audio-unlearn run --out runs/demo                    # the demo: synthetic corpus, FT + NG
  audio-unlearn run recipes/demo/config.yaml --out runs/demo --set train.epochs=10
  audio-unlearn data synth data/synth-fsc --speakers 48 --seed 0
  audio-unlearn data validate data/synth-fsc/manifest.jsonl
  audio-unlearn split data/synth-fsc/manifest.jsonl --out split.json --n-speakers 6
  audio-unlearn evaluate wer --manifest t.jsonl --asr ctc:facebook/hubert-large-ls960-ft --out o
  audio-unlearn evaluate eer --manifest test.jsonl --encoder resemblyzer --out eer.json
  audio-unlearn smoke                                  # every method, tiny models, ~1 min
  audio-unlearn methods
"""


def _cmd_synth(args: argparse.Namespace) -> int:
    from ..data.synth import SynthConfig, synthesize_corpus

    cfg = SynthConfig(
        n_speakers=args.speakers,
        repeats_per_intent=args.repeats,
        seed=args.seed,
        noise=args.noise,
        n_intents=args.intents,
    )
    corpus = synthesize_corpus(
        args.output_dir, cfg, progress=not args.no_progress, overwrite=args.overwrite
    )
    print(f"corpus ready: {corpus.manifest} (speakers: {corpus.speakers})")
    return 0


def _cmd_validate(args: argparse.Namespace) -> int:
    import soundfile as sf
    from tqdm.auto import tqdm

    from ..data.audio import load_audio
    from ..data.manifest import read_manifest

    problems: list[str] = []
    utterances = read_manifest(args.manifest, problems=problems)
    for u in tqdm(utterances, desc="checking audio", unit="utt", disable=args.no_progress):
        problems += _audio_problems(u, args.label_key, sf, load_audio)
    speakers = {u.speaker for u in utterances}
    print(
        f"{args.manifest}: {len(utterances)} utterances, {len(speakers)} speakers, "
        f"{sum(u.duration for u in utterances) / 3600:.2f} h"
    )
    if problems:
        print(f"{len(problems)} problem(s):", *problems, sep="\n  ")
        return 1
    print("every line reads; all audio files load, match their lines and pass validation")
    return 0


#: a file's real duration may differ from its manifest line by this much (s, or fraction)
DURATION_TOLERANCE = (0.05, 0.02)


def _audio_problems(u, label_key: str | None, sf, load_audio) -> list[str]:
    """What is wrong with one utterance's audio and labels (empty: nothing)."""
    out = []
    if label_key and label_key != "speaker" and label_key not in u.labels:
        out.append(f"{u.id}: no label {label_key!r} (it has {sorted(u.labels)})")
    try:
        info = sf.info(u.audio)
    except Exception as err:  # soundfile raises its own error types for unreadable files
        return [*out, f"{u.id}: cannot read {u.audio} ({str(err).strip().splitlines()[0]})"]
    if info.samplerate != u.sample_rate:
        out.append(f"{u.id}: {u.audio} is {info.samplerate} Hz, its line says {u.sample_rate}")
    real = info.frames / info.samplerate
    if abs(real - u.duration) > max(DURATION_TOLERANCE[0], DURATION_TOLERANCE[1] * u.duration):
        out.append(f"{u.id}: {u.audio} lasts {real:.2f} s, its line says {u.duration:.2f} s")
    try:
        load_audio(u.audio)
    except (OSError, ValueError) as err:
        out.append(f"{u.id}: {err}")
    return out


def _cmd_split(args: argparse.Namespace) -> int:
    from ..data.manifest import read_manifest
    from ..data.splits import speaker_disjoint_split, speaker_forget_split

    if Path(args.out).exists() and not args.overwrite:
        print(
            f"error: {args.out} exists; splits are reused, not rewritten "
            "(pass --overwrite to replace it)",
            file=sys.stderr,
        )
        return 2
    utterances = read_manifest(args.manifest)
    corpus = speaker_disjoint_split(
        utterances,
        n_test_speakers=args.test_speakers,
        n_valid_speakers=args.valid_speakers,
        seed=args.seed,
    )
    chosen = {"fraction": args.fraction, "n_speakers": args.n_speakers, "speakers": args.speakers}
    if all(v is None for v in chosen.values()):
        chosen["fraction"] = 0.025
    split = speaker_forget_split(
        utterances, corpus, min_utterances=args.min_utterances, seed=args.seed, **chosen
    )
    split.save(args.out)
    print(
        f"forget speakers {list(split.forget_speakers)}: {len(split.forget)} forget, "
        f"{len(split.retain)} retain, {len(split.test)} test utterances -> {args.out}"
    )
    return 0


def _cmd_smoke(args: argparse.Namespace) -> int:
    from ..smoke import format_smoke_table, run_smoke

    start = time.perf_counter()
    results = run_smoke(args.methods, args.models)
    print(format_smoke_table(results))
    failed = [f"{r.model}/{r.method}" for r in results if not r.ok]
    print(
        f"\n{len(results) - len(failed)} passed, {len(failed)} failed "
        f"in {time.perf_counter() - start:.0f} s"
    )
    if failed:
        print(f"failed: {', '.join(failed)}", file=sys.stderr)
        return 1
    return 0


def _cmd_methods(args: argparse.Namespace) -> int:
    from ..methods import METHODS, method_hparams
    from ..methods.registry import PRESETS

    for name, cls in sorted(METHODS.items()):
        doc = (cls.__doc__ or "").strip().splitlines()[0]
        hp = ", ".join(f"{k}={v}" for k, v in method_hparams(name).items())
        tasks = ", ".join(cls.tasks)
        print(f"{name:8s} {doc}\n{'':8s} tasks {tasks}; uses {'+'.join(cls.uses)}; {hp}")
    if PRESETS:
        print("\npresets (a method on one task with that task's defaults):")
        for name, preset in sorted(PRESETS.items()):
            hp = ", ".join(f"{k}={v}" for k, v in preset.defaults.items()) or "method defaults"
            print(f"{name:10s} = {preset.method} on {preset.task}; {hp}")
    return 0


#: report files of a run directory, in the order looked for, with their Markdown twin
REPORT_FILES = (
    ("report.json", "report.md"),
    ("unslu_table.json", "unslu_table.md"),
    ("record.json", "record.md"),
)


def _cmd_report(args: argparse.Namespace) -> int:
    import json
    from pathlib import Path

    run = Path(args.run_dir)
    found = next(((j, m) for j, m in REPORT_FILES if (run / j).is_file()), None)
    if found is None:
        names = ", ".join(j for j, _ in REPORT_FILES)
        raise ValueError(f"{run} holds no report ({names}); is the run finished?")
    data_file, md_file = found
    text = (run / data_file).read_text()
    if args.json:
        print(text, end="" if text.endswith("\n") else "\n")
        return 0
    report = json.loads(text)
    if data_file == "report.json" and str(report.get("task", "")).startswith("tts"):
        from ..runners.tts_report import render_markdown

        print(render_markdown(report))
    elif (run / md_file).is_file():  # written from the same JSON by the runner
        print((run / md_file).read_text())
    else:
        raise ValueError(f"{run} has {data_file} but no {md_file}")
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="audio-unlearn",
        description="Machine unlearning for speech and audio models: make a trained model "
        "forget speakers, classes or items, and measure that it did.",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--version", action="version", version=f"audio-unlearn {__version__}")
    parser.add_argument(
        "--debug",
        action="store_true",
        help="show the full traceback of an error (user mistakes print one error: line)",
    )
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    run = sub.add_parser(
        "run",
        help="run an unlearning experiment end to end (any task: the config's task: key)",
        description="Prepare the corpus (synthesised when no manifest is given), make or "
        "reuse the forget split, train the original model (train set) and the gold model "
        "(retain set only), run each unlearning method from the original checkpoint, and "
        "write report.json, report.md and plots into OUT. Finished steps are reused "
        "when their settings match, so an interrupted run resumes. The config's `task:` "
        "picks the runner: classification (default; `protocol: unslu-bench` for the "
        "UnSLU-BENCH recipes), asr (speaker forgetting for a recogniser) or tts (speaker "
        "forgetting for zero-shot TTS).",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog="The YAML holds overrides of the defaults of its task's config "
        "(audio_unlearn.experiment.ExperimentConfig, asr_experiment.ASRExperimentConfig, "
        "tts_experiment.TTSExperimentConfig, unslu.UnSLUConfig);\n--set takes the same keys "
        "with dots, e.g. --set methods.ng.lr=1e-4\n\nexamples:\n"
        "  audio-unlearn run recipes/demo/config.yaml --out runs/demo\n"
        "  audio-unlearn run recipes/asr_speaker/synthetic.yaml --out runs/asr\n"
        "  audio-unlearn run recipes/tts_speaker/synthetic.yaml --out runs/tts\n"
        "  audio-unlearn run recipes/unslu/smoke.yaml --out runs/unslu-smoke",
    )
    add_run_arguments(run)

    data = sub.add_parser(
        "data",
        help="make or check corpora",
        description="Make the synthetic corpus or validate a manifest.",
    )
    dsub = data.add_subparsers(dest="data_command", required=True, metavar="DATA_COMMAND")
    synth = dsub.add_parser(
        "synth",
        help="synthesise the spoken-command corpus with espeak-ng",
        description="Synthesise a Fluent-Speech-Commands-style corpus (intent = action + "
        "object + location) with espeak-ng voices, accents, pitch/rate, reverb and noise, "
        "deterministic for a seed, with exact phone alignments. Needs the optional extra: "
        "pip install 'audio-unlearn[synth]' (espeak-ng is GPL-3.0, loaded at run time).",
    )
    synth.add_argument("output_dir", help="corpus directory (manifest.jsonl, speakers.tsv, wavs/)")
    synth.add_argument("--speakers", type=int, default=48, help="number of speakers (48)")
    synth.add_argument("--repeats", type=int, default=2, help="repeats of each intent per speaker")
    synth.add_argument("--intents", type=int, default=None, help="use only the first N intents")
    synth.add_argument("--seed", type=int, default=0, help="random seed (0)")
    synth.add_argument(
        "--noise",
        choices=["clean", "mid", "heavy"],
        default="mid",
        help="noise level: clean, mid (SNR 10-30 dB) or heavy (0-20 dB)",
    )
    synth.add_argument(
        "--overwrite",
        action="store_true",
        help="replace an existing corpus made with other settings",
    )
    synth.add_argument("--no-progress", action="store_true", help="no progress bar")
    synth.set_defaults(func=_cmd_synth)
    validate = dsub.add_parser(
        "validate",
        help="check a manifest and load every audio file",
        description="Read every line of a JSONL manifest, load and validate every audio file "
        "(missing, corrupt, empty, silent, NaN), compare each file's real duration and sample "
        "rate with its line (and, with --label-key, check the label), and list every problem "
        "found in one pass. Exit status 1 if any.",
    )
    validate.add_argument("manifest")
    validate.add_argument(
        "--label-key",
        default=None,
        help="also check that every line has this label (the label_key a run will use)",
    )
    validate.add_argument("--no-progress", action="store_true", help="no progress bar")
    validate.set_defaults(func=_cmd_validate)

    split = sub.add_parser(
        "split",
        help="make a speaker-level forget split (UnSLU-BENCH protocol)",
        description="Hold out test speakers, then draw forget speakers without replacement "
        "among those with at least --min-utterances training utterances until the forget "
        "set reaches --fraction of train (or take --n-speakers, or exactly --speakers). "
        "Writes a JSON split file that later runs reuse.",
    )
    split.add_argument("manifest")
    split.add_argument("--out", required=True, help="split file to write (JSON)")
    split.add_argument("--test-speakers", type=int, default=12, help="held-out test speakers")
    split.add_argument("--valid-speakers", type=int, default=0, help="held-out validation speakers")
    group = split.add_mutually_exclusive_group()
    group.add_argument("--fraction", type=float, help="forget fraction of train (default 0.025)")
    group.add_argument("--n-speakers", type=int, help="number of forget speakers")
    group.add_argument("--speakers", nargs="+", help="exact forget speaker ids")
    split.add_argument(
        "--min-utterances",
        type=int,
        default=101,
        help="eligibility: minimum training utterances (UnSLU-BENCH: 101)",
    )
    split.add_argument("--seed", type=int, default=42, help="draw seed (UnSLU-BENCH: 42)")
    split.add_argument("--overwrite", action="store_true", help="replace an existing split file")
    split.set_defaults(func=_cmd_split)

    smoke = sub.add_parser(
        "smoke",
        help="run every method on tiny models and a dummy corpus (CI check)",
        description="Train tiny randomly initialised models of each family on a dummy "
        "corpus (tone sequences, no espeak-ng, no network), then run every (task, method) "
        "pair the registry claims (or the named methods, on each task they serve) end to "
        "end: unlearn, evaluate, MIA. A named method that serves none of the models' tasks "
        "is an error, not an empty table. Prints "
        "a pass/fail table with timings and exits 1 if any method fails, naming it. "
        "Checks that methods run and give finite numbers, not how well they forget.",
    )
    smoke.add_argument("--methods", nargs="+", help="only these methods or presets (default: all)")
    smoke.add_argument(
        "--models",
        nargs="+",
        help="model families: logmel_cnn, ecapa, hf:wav2vec2, hf:hubert, hf:wavlm, "
        "hf:whisper_encoder (classification); asr (a tiny CTC recogniser, runs the methods "
        "that serve ASR); tts (the tiny flow-matching TTS, runs the methods that serve TTS) "
        "(default: logmel_cnn ecapa hf:wav2vec2 asr tts)",
    )
    smoke.set_defaults(func=_cmd_smoke)

    methods = sub.add_parser(
        "methods",
        help="list unlearning methods and their hyper-parameters",
        description="List registered methods, the data each uses (forget and/or retain "
        "batches), and their hyper-parameter defaults. A run selects methods and overrides "
        "their hyper-parameters in its YAML under `methods:` or on the command line.",
        epilog="example: audio-unlearn run --out runs/x --set methods.ng.lr=1e-4 "
        "--set methods.ft.epochs=2",
    )
    methods.set_defaults(func=_cmd_methods)

    report = sub.add_parser(
        "report",
        help="print a finished run's tables from its run directory (for READMEs)",
        description="Render the tables of a finished run from the files in RUN_DIR "
        "(report.json of `run`, unslu_table.json of the UnSLU-BENCH recipes, record.json "
        "of `forget`), so the numbers a README quotes come from a command over a run "
        "directory, never typed by hand. Rows run over seeds show mean [95% interval]; "
        "the TTS report adds its targets with met / not met / inconclusive.",
        epilog="example: audio-unlearn report runs/tts_speaker --markdown > table.md",
    )
    report.add_argument("run_dir", help="a finished run directory")
    fmt = report.add_mutually_exclusive_group()
    fmt.add_argument("--markdown", action="store_true", help="Markdown tables (the default)")
    fmt.add_argument("--json", action="store_true", help="the report's JSON as written")
    report.set_defaults(func=_cmd_report)
    add_evaluate_parser(sub)
    add_privacy_parsers(sub)
    add_run_aliases(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return args.func(args)
    except (ValueError, ImportError, OSError) as err:
        if args.debug:
            raise
        print(f"error: {describe_error(err)}", file=sys.stderr)
        return 2


def describe_error(err: BaseException) -> str:
    """One line for a user mistake: file-system errors say which file and what to do."""
    if isinstance(err, OSError) and not isinstance(err, FileNotFoundError):
        where = err.filename or "a file"
        if err.errno == errno.ENOSPC:
            return f"no space left on the device writing {where}; free space or use another --out"
        if err.errno in (errno.EACCES, errno.EPERM, errno.EROFS):
            return f"no permission to write {where}; choose a writable --out (or fix its rights)"
        if isinstance(err, (NotADirectoryError, FileExistsError)):
            return f"{where} is a file where a directory is needed; choose another --out"
        return f"{err.strerror or err} ({where})"
    return str(err)
