"""``audio-unlearn smoke``: every (task, method) pair the registry claims, on tiny models
and a dummy corpus: each classification method on tiny classifiers, each ASR method on a
tiny CTC recogniser (model ``asr``) and each TTS method on a tiny flow-matching TTS (model
``tts``).

For users' CI: checks in about a minute, on a CPU, with no network and no espeak-ng, that
each unlearning method still trains, unlearns and evaluates end to end after a code or
dependency change. It checks that things *run* and produce finite numbers, not that
they forget well (the library's own tests do that on the synthetic speech corpus).
"""

from __future__ import annotations

import copy
import math
import tempfile
import time
import traceback
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import torch

from .data.datamodule import UnlearningDataModule
from .data.manifest import read_manifest
from .data.splits import class_forget_split, speaker_disjoint_split
from .evaluation import loss_mia
from .evaluation.classification import per_sample_cross_entropy
from .evaluation.model_eval import predict_logits
from .methods import build_method, fit_unlearning, method_hparams, methods_for_task
from .methods.registry import get_method, resolve_method
from .testing import make_dummy_corpus, train_classifier

__all__ = ["SmokeResult", "format_smoke_table", "run_smoke", "smoke_hparams"]

# Tiny model configurations: small enough that the whole smoke run stays near a minute.
TINY_MODELS: dict[str, dict] = {
    "logmel_cnn": {"channels": 16, "n_layers": 2},
    "ecapa": {"channels": (16, 16, 16, 16, 48), "embedding_dim": 16},
}
# Hugging Face encoder families, as "hf:<family>": a tiny random encoder is saved with
# save_pretrained and loaded back through HFAudioClassifier's from_pretrained.
HF_FAMILIES = ("wav2vec2", "hubert", "wavlm", "whisper_encoder")
#: the tiny flow-matching TTS: runs the methods whose task is "tts" (speaker split of the
#: dummy corpus, whose syllables are the phone alignment).
TTS_MODEL = "tts"
#: the tiny CTC recogniser: runs the methods that serve "asr" (speaker split of the dummy
#: corpus; each syllable's pitch is a character of the transcript).
ASR_MODEL = "asr"
DEFAULT_MODELS = ("logmel_cnn", "ecapa", "hf:wav2vec2", ASR_MODEL, TTS_MODEL)
#: every tiny classifier family (``tiny_model_kwargs`` builds each).
ALL_MODELS = (*TINY_MODELS, *(f"hf:{f}" for f in HF_FAMILIES))
#: what ``--models`` accepts.
SMOKE_MODELS = (*ALL_MODELS, ASR_MODEL, TTS_MODEL)
#: the task each smoke model runs
MODEL_TASK = {**dict.fromkeys(ALL_MODELS, "classification"), ASR_MODEL: "asr", TTS_MODEL: "tts"}
TINY_ASR = {
    "n_mels": 16,
    "conv_channels": 16,
    "blocks": 1,
    "block_kernel": 3,
    "rnn_hidden": 16,
    "rnn_layers": 1,
    "freq_masks": 0,
    "time_masks": 0,
}


def tiny_model_kwargs(model: str, workdir: Path) -> dict:
    """``build_classifier`` keyword arguments of the tiny model ``model`` (a smoke name)."""
    if model.startswith("hf:"):
        from .testing.tiny_hf import save_tiny_audio_encoder

        family = model.split(":", 1)[1]
        path = save_tiny_audio_encoder(workdir / f"tiny-{family}", family)
        return {"name": "hf", "pretrained": str(path), "max_seconds": 1.0}
    return {"name": model, **TINY_MODELS[model]}


@dataclass(frozen=True)
class SmokeResult:
    model: str
    method: str
    ok: bool
    seconds: float
    forget_acc: float | None = None
    retain_acc: float | None = None
    mia: float | None = None
    error: str | None = None


def smoke_hparams(name: str, task: str | None = None) -> dict:
    """One short epoch; methods with a repair or min/max schedule keep it to one pass."""
    defaults = method_hparams(name, task)
    hp = {}
    for key in ("epochs", "repair_epochs", "max_steps", "msteps"):
        if key in defaults and isinstance(defaults[key], int) and defaults[key] > 1:
            hp[key] = 1
    return hp


def _accuracy(logits: torch.Tensor, targets: torch.Tensor) -> float:
    return float((logits.argmax(-1) == targets).float().mean()) if len(targets) else math.nan


def run_smoke(
    methods: Sequence[str] | None = None,
    models: Sequence[str] | None = None,
    *,
    workdir: str | Path | None = None,
    seed: int = 0,
) -> list[SmokeResult]:
    """Run each method on each tiny model whose task it serves.

    ``methods`` are method or preset names (default: every registered method); each runs on
    every model in ``models`` of a task it serves (class removal on classifiers, speaker
    forgetting on the recogniser and the TTS).

    Raises:
        ValueError: an unknown method or model name, or a method that serves none of the
            models' tasks (nothing would run).
    """
    models = list(models or DEFAULT_MODELS)
    unknown = [m for m in models if m not in SMOKE_MODELS]
    if unknown:
        raise ValueError(f"unknown model(s) {unknown}; known: {list(SMOKE_MODELS)}")
    tasks = {MODEL_TASK[m] for m in models}
    if methods is None:
        pairs = {t: methods_for_task(t) for t in sorted(tasks)}
    else:
        pairs = {t: [] for t in sorted(tasks)}
        for name in methods:
            get_method(name)  # an unknown name fails here
            served = [t for t in sorted(tasks) if _serves(name, t)]
            if not served:
                raise ValueError(
                    f"method {name!r} serves none of the models' tasks {sorted(tasks)} "
                    f"(models: {models}); it would not run"
                )
            for t in served:
                pairs[t].append(name)
    with tempfile.TemporaryDirectory(dir=workdir, prefix="audio-unlearn-smoke-") as tmp:
        manifest = make_dummy_corpus(
            Path(tmp) / "corpus", n_speakers=8, n_classes=3, per_class=3, seed=seed
        )
        utts = read_manifest(manifest)
        corpus = speaker_disjoint_split(utts, n_test_speakers=2, seed=seed)
        split = class_forget_split(utts, corpus, classes=["c0"], label_key="intent")
        dm = UnlearningDataModule(utts, split, batch_size=16, max_seconds=1.0, progress=False)
        dm.setup()
        results = []
        classification = pairs.get("classification", [])
        for model_name in models:
            if model_name == TTS_MODEL:
                results += _run_tts(pairs["tts"], utts, seed) if pairs["tts"] else []
                continue
            if model_name == ASR_MODEL:
                results += _run_asr(pairs["asr"], utts, seed) if pairs["asr"] else []
                continue
            if not classification:
                continue
            kwargs = tiny_model_kwargs(model_name, Path(tmp))
            original = train_classifier(dm, epochs=2, seed=seed, **kwargs)
            results += _run_classification(model_name, classification, original, dm, seed)
    return results


def _serves(name: str, task: str) -> bool:
    try:
        resolve_method(name, task)
    except ValueError:
        return False
    return True


def _failure(model: str, method: str, start: float, err: Exception) -> SmokeResult:
    last = traceback.extract_tb(err.__traceback__)[-1]
    where = f"{Path(last.filename).name}:{last.lineno}"
    return SmokeResult(
        model,
        method,
        False,
        time.perf_counter() - start,
        error=f"{type(err).__name__}: {err} ({where})",
    )


def _each_method(model_name: str, methods: Sequence[str], original, seed: int, score):
    """Run every method from a seeded copy of ``original``; ``score(method, model)`` trains
    and measures it and returns the result's scores (``forget_acc``, ``retain_acc``,
    ``mia``). A failure is recorded, not raised: a smoke run reports every one."""
    results = []
    for method in methods:
        start = time.perf_counter()
        try:
            torch.manual_seed(seed)
            scores = score(method, copy.deepcopy(original).train())
            seconds = time.perf_counter() - start
            results.append(SmokeResult(model_name, method, True, seconds, **scores))
        except Exception as err:
            results.append(_failure(model_name, method, start, err))
    return results


def _run_asr(methods: Sequence[str], utts, seed: int) -> list[SmokeResult]:
    """Each ASR method for one short epoch on a tiny CTC recogniser (speaker forgetting):
    transcripts spell each syllable's pitch as a letter; the loss attack reads the
    per-utterance CTC loss of forget vs unseen speakers; "acc" columns are 1 - CER (floored
    at 0: a model that inserts characters can have CER > 1)."""
    import dataclasses

    import jiwer

    from .data.asr_data import ASRDataModule
    from .data.splits import speaker_forget_split
    from .methods.asr import CTCTraining
    from .methods.fit import make_trainer
    from .models.asr import CharVocabulary, CTCRecognizer, CTCRecognizerConfig

    letters = {}
    spelt = []
    for u in utts:
        words = u.text.split()
        text = "".join(letters.setdefault(w, "abcdefgh"[len(letters)]) for w in words)
        spelt.append(dataclasses.replace(u, text=text))
    chars = (" ", *sorted(letters.values()))
    vocab = CharVocabulary(chars)
    corpus = speaker_disjoint_split(spelt, n_test_speakers=2, seed=seed)
    split = speaker_forget_split(spelt, corpus, n_speakers=1, min_utterances=1, seed=seed)
    dm = ASRDataModule(spelt, split, vocab.encode, batch_size=8, seed=seed, progress=False)
    dm.setup()
    torch.manual_seed(seed)
    original = CTCRecognizer(CTCRecognizerConfig(characters=chars, **TINY_ASR))
    make_trainer(40).fit(CTCTraining(original, lr=1e-2), datamodule=dm)

    def score(method, model):
        module = build_method(method, model, task="asr", **smoke_hparams(method, "asr"))
        fit_unlearning(module, dm)
        model.eval()
        losses, cer = {}, {}
        for name in ("forget", "retain", "test"):
            per, hyps, refs = [], [], []
            with torch.no_grad():
                for batch in dm.eval_dataloader(name):
                    per.append(model.loss(*batch))
                    hyps += model.transcribe_batch(batch[0], batch[1])
                    refs += [vocab.decode(t[:n]) for t, n in zip(batch[2], batch[3], strict=True)]
            losses[name] = torch.cat(per)
            if torch.isnan(losses[name]).any():
                raise FloatingPointError(f"NaN CTC loss on the {name} set")
            cer[name] = float(jiwer.cer(refs, hyps))
        finite = {k: v[torch.isfinite(v)] for k, v in losses.items()}
        mia = loss_mia(finite["forget"].numpy(), finite["test"].numpy(), n_splits=3, test_size=0.3)
        return {
            "forget_acc": max(0.0, 1.0 - cer["forget"]),
            "retain_acc": max(0.0, 1.0 - cer["retain"]),
            "mia": mia.accuracy,
        }

    return _each_method(ASR_MODEL, methods, original, seed, score)


def _run_tts(methods: Sequence[str], utts, seed: int) -> list[SmokeResult]:
    """Each TTS method for two steps on a tiny flow-matching TTS (speaker forgetting);
    the loss attack reads the per-utterance flow loss of forget vs unseen speakers."""
    from .data.splits import speaker_forget_split
    from .data.tts_data import TTSDataModule
    from .models.tts import FlowMatchingTTS, FlowMatchingTTSConfig, PhoneVocabulary

    corpus = speaker_disjoint_split(utts, n_test_speakers=2, seed=seed)
    split = speaker_forget_split(utts, corpus, n_speakers=1, min_utterances=1, seed=seed)
    vocab = PhoneVocabulary.from_utterances(utts)
    dm = TTSDataModule(utts, split, vocab, batch_size=4, progress=False)
    torch.manual_seed(seed)
    original = FlowMatchingTTS(
        FlowMatchingTTSConfig(n_phones=len(vocab), d_model=32, n_layers=2, n_heads=2, d_phone=8)
    )

    def score(method, model):
        if getattr(get_method(method), "inference_time", False):
            return _steering_smoke(method, model, dm, seed)
        known = method_hparams(method, "tts")
        hp = {"teacher_nfe": 2} if "teacher_nfe" in known else {}
        dm.batch_size = dm.forget_batch_size = 2
        fit_unlearning(build_method(method, model, task="tts", **hp), dm, max_steps=2)
        losses = {}
        for name in ("forget", "test"):
            per = []
            for mels, phones, lengths, _ in dm.eval_dataloader(name):
                g = torch.Generator().manual_seed(seed)
                with torch.no_grad():
                    loss = model.eval().flow_loss(
                        mels, phones, lengths, per_sample=True, generator=g
                    )
                per.append(loss)
            losses[name] = torch.cat(per)
            if not torch.isfinite(losses[name]).all():
                raise FloatingPointError(f"non-finite flow loss on the {name} set")
        mia = loss_mia(losses["forget"].numpy(), losses["test"].numpy(), n_splits=3, test_size=0.3)
        return {"mia": mia.accuracy}

    return _each_method(TTS_MODEL, methods, original, seed, score)


def _steering_smoke(method: str, model, dm, seed: int) -> dict:
    """An inference-time method on the tiny TTS: a prototype recorded on the unseen
    speakers' utterances, the forget speaker enrolled from one of its own, a generation
    steered away from it (it must change and stay finite) and one with the gate off (it
    must not change)."""
    from .models.tts.steering import Prototype, Steerer, enrol, model_hash, record

    build_method(method, model, task="tts")  # the hyper-parameters check
    model.eval()

    def generation(name):
        mels, phones, lengths, _ = next(iter(dm.eval_dataloader(name)))
        infill = torch.arange(mels.shape[1])[None] >= (lengths // 2)[:, None]
        noise = torch.randn(mels.shape, generator=torch.Generator().manual_seed(seed))
        sampler = {"nfe": 4, "solver": "euler"}
        return lambda: model.generate(
            phones, lengths, prompt=mels, infill=infill, noise=noise, **sampler
        )

    others = record(model, generation("test"))
    proto = Prototype.from_recordings(
        others, [f"p{i}" for i in range(len(others))], model_hash(model), {}
    )
    forget = generation("forget")
    profile = enrol("forget", record(model, forget)[0], proto, k=None)
    plain = forget()
    rows = plain.shape[0]
    with Steerer(model, {"forget": profile}, ["forget"] + [None] * (rows - 1), alpha=1.5):
        steered = forget()
    with Steerer(model, {"forget": profile}, [None] * rows, alpha=1.5):
        off = forget()
    if not torch.isfinite(steered).all():
        raise FloatingPointError("non-finite steered generation")
    if torch.equal(steered[0], plain[0]) or not torch.equal(off, plain):
        raise AssertionError("steering did not change the protected row, or the gate off did")
    return {}


def _run_classification(model_name, methods, original, dm, seed) -> list[SmokeResult]:
    def score(method, model):
        hp = smoke_hparams(method, "classification")
        fit_unlearning(build_method(method, model, task="classification", **hp), dm)
        out = {}
        for name in ("forget", "retain", "test"):
            logits, targets = predict_logits(model, dm.eval_dataloader(name))
            if not torch.isfinite(logits).all():
                raise FloatingPointError(f"non-finite logits on the {name} set")
            out[name] = (logits, targets)
        losses = [per_sample_cross_entropy(*out[n]).numpy() for n in ("forget", "test")]
        mia = loss_mia(*losses, n_splits=3, test_size=0.3)
        return {
            "forget_acc": _accuracy(*out["forget"]),
            "retain_acc": _accuracy(*out["retain"]),
            "mia": mia.accuracy,
        }

    return _each_method(model_name, methods, original, seed, score)


def format_smoke_table(results: Sequence[SmokeResult]) -> str:
    lines = [
        "| model | method | result | time s | forget acc | retain acc | MIA |",
        "|---|---|---|---|---|---|---|",
    ]
    fmt = lambda v: "-" if v is None else f"{v:.2f}"  # noqa: E731
    for r in results:
        status = "pass" if r.ok else f"FAIL: {r.error}"
        lines.append(
            f"| {r.model} | {r.method} | {status} | {r.seconds:.1f} | {fmt(r.forget_acc)} "
            f"| {fmt(r.retain_acc)} | {fmt(r.mia)} |"
        )
    return "\n".join(lines)
