"""The TTS run's inference-time method (``tts_steer``, TruS): enrol the protected speakers,
choose the gate, and evaluate the original model generating through the steerer.

Protected speakers: the forget speakers (seen in training, ``alpha_seen``) and the unseen
speakers of the trials (outside training: the opt-out speakers, ``alpha_unseen``). The
prototype comes from training speakers that no trial uses, one utterance each; each
protected speaker is enrolled from utterances no trial (and no identity-gallery enrolment)
uses. The embedding gate's threshold is chosen on validation speakers: other training
speakers, half enrolled as if protected, half as unprotected prompts. Everything is drawn
from ``seed`` and checked before any generation. The product is an enrolment file
``checkpoints/<label>.steer.pt`` (prototype, directions, gate), never new weights.
"""

from __future__ import annotations

import random
import time
from pathlib import Path
from typing import Any

import torch

from ..run.store import settings_key

__all__ = [
    "ABLATION",
    "ablation",
    "choose_setting",
    "draw_plan",
    "fit_embedding_gate",
    "record_utterances",
    "steering_rows",
]


def _all_trials(runner) -> list:
    """Every trial the run reads: test, validation and the set being evaluated now (the
    ablation's validation speakers')."""
    held = runner._trials(validation=True) if runner._held_out else []
    return [*runner._trials(), *held, *runner.trials]


def _pool(runner) -> dict[str, list]:
    """Utterances no trial (test or validation) and no gallery enrolment uses, by speaker,
    sorted by id."""
    trials = _all_trials(runner)
    used = {i for t in trials for i in (t.prompt.id, t.target.id)}
    gallery = getattr(runner, "gallery", None)
    if gallery is not None:
        used |= set(gallery.settings.get("enrolment_ids", ()))
    pool: dict[str, list] = {}
    for u in sorted(runner.utterances, key=lambda u: u.id):
        if u.id not in used:
            pool.setdefault(u.speaker, []).append(u)
    return pool


def draw(utts, n: int, seed: int, what: str, speaker: str) -> list:
    """``n`` of a speaker's utterances in a seeded order (named error when too few)."""
    utts = list(utts)
    random.Random(f"{seed}|{what}|{speaker}").shuffle(utts)
    if len(utts) < n:
        raise ValueError(
            f"tts_steer: speaker {speaker!r} has {len(utts)} usable utterance(s) (none of a "
            f"trial or the gallery's enrolment); its {what} needs {n}"
        )
    return utts[:n]


def draw_plan(
    pool: dict[str, list],
    protected: list[str],
    candidates: list[str],
    s: dict[str, Any],
    *,
    enrol_pool: dict[str, list] | None = None,
) -> dict[str, Any]:
    """Every utterance the steering reads, drawn from ``seed`` and checked before any model
    runs: the prototype (one utterance of each of ``prototype_speakers`` ``candidates``),
    each protected speaker's enrolment (from ``enrol_pool``, default ``pool``) and, for
    the embedding gate, its validation speakers (other ``candidates``: half enrolled from
    one utterance and probed with two more, half probed as unprotected with two)."""
    others = sorted(candidates)
    random.Random(f"{s['seed']}|prototype").shuffle(others)
    if len(others) < s["prototype_speakers"]:
        raise ValueError(
            f"tts_steer: prototype_speakers={s['prototype_speakers']} but only {len(others)} "
            "other training speakers are available; lower it"
        )
    enrol_pool = pool if enrol_pool is None else enrol_pool
    out: dict[str, Any] = {
        "prototype": [
            draw(pool.get(spk, ()), 1, s["seed"], "prototype", spk)[0]
            for spk in others[: s["prototype_speakers"]]
        ],
        "enrol": {
            spk: draw(enrol_pool.get(spk, ()), s["enrol_utterances"], s["seed"], "enrolment", spk)
            for spk in protected
        },
    }
    if s["gate"] == "embedding":
        gate_others = sorted(candidates)
        random.Random(f"{s['seed']}|gate").shuffle(gate_others)
        n = s["gate_speakers"]
        if len(gate_others) < 2 * n:
            raise ValueError(
                f"tts_steer: gate_speakers={n} needs {2 * n} other training speakers (half "
                f"enrolled, half unprotected), {len(gate_others)} here; lower it"
            )
        out["gate_protected"] = {
            spk: draw(pool.get(spk, ()), 3, s["seed"], "gate", spk) for spk in gate_others[:n]
        }
        out["gate_unprotected"] = {
            spk: draw(pool.get(spk, ()), 2, s["seed"], "gate", spk)
            for spk in gate_others[n : 2 * n]
        }
    return out


def fit_embedding_gate(embed_enrol, embed_probe, drawn: dict[str, Any]):
    """``(gate, facts)``: the embedding gate over the protected speakers of
    ``drawn["enrol"]`` (mean embedding of their enrolment audio) with the threshold chosen
    on the validation speakers of :func:`draw_plan` (:func:`~audio_unlearn.models.tts.
    steering.choose_gate_threshold`). ``embed_enrol(utts)`` / ``embed_probe(utts)`` give
    ``(n, dim)`` embeddings of enrolment audio / of prompts as the service sees them."""
    from ..models.tts.steering import EmbeddingGate, choose_gate_threshold

    enrolled_v, probes, truth = {}, [], []
    for spk, utts in drawn["gate_protected"].items():
        enrolled_v[spk] = embed_enrol(utts[:1]).mean(0)
        probes += utts[1:]
        truth += [spk] * len(utts[1:])
    for utts in drawn["gate_unprotected"].values():
        probes += utts
        truth += [None] * len(utts)
    gate_v = EmbeddingGate(enrolled_v, 0.0)
    threshold, rates = choose_gate_threshold(
        gate_v.scores(embed_probe(probes)), truth, gate_v.speakers
    )
    enrolled = {spk: embed_enrol(utts).mean(0) for spk, utts in sorted(drawn["enrol"].items())}
    facts = {
        "threshold": threshold,
        "validation": rates,
        "validation_speakers": sorted(drawn["gate_protected"]) + sorted(drawn["gate_unprotected"]),
    }
    return EmbeddingGate(enrolled, threshold), facts


def plan(runner, s: dict[str, Any]) -> dict[str, Any]:
    """Who is protected (the current trials' forget speakers, seen; their unseen speakers,
    opt-out) and every utterance drawn (:func:`draw_plan` over utterances no trial or
    gallery enrolment uses; candidates: training speakers in no trial and not reserved as
    validation speakers; only utterances no trial uses)."""
    seen = sorted({t.speaker for t in runner.trials if t.group == "forget"})
    unseen = sorted({t.speaker for t in runner.trials if t.group == "unseen"})
    retain = set(runner.split.retain)
    training = {u.speaker for u in runner.utterances if u.id in retain}
    # other speakers: not in the trials being evaluated, not reserved as validation
    # speakers (their utterances in other trials are out of the pool anyway)
    busy = {t.speaker for t in runner.trials} | getattr(runner, "reserved_speakers", set())
    candidates = sorted(training - busy)
    drawn = draw_plan(_pool(runner), seen + unseen, candidates, s)
    return {"seen": seen, "unseen": unseen, **drawn}


def record_utterances(model, vocab, front_end, utts, sampler: dict[str, Any]) -> torch.Tensor:
    """``(len(utts), L, T, d)``: each utterance regenerated from itself (its own audio as
    the prompt, its own transcript as the text) under ``sampler`` (keyword arguments of
    ``generate_for_trials``: nfe, solver, guidance, seed, margin_s), one at a time."""
    from ..evaluation.tts import CloningTrial, generate_for_trials
    from ..models.tts.steering import record

    settings = {**sampler, "batch_size": 1}
    out = []
    for u in utts:
        trial = CloningTrial(group="enrol", speaker=u.speaker, prompt=u, target=u)
        run = lambda t=trial: generate_for_trials(model, vocab, front_end, [t], **settings)  # noqa: E731
        out.append(record(model, run)[0])
    return torch.stack(out)


def _record(runner, utts) -> torch.Tensor:
    return record_utterances(
        runner.original, runner.vocab, runner.dm.front_end, utts, runner.generation_settings()
    )


#: the prompt length the evaluation's generations use (``generate_for_trials``' default)
PROMPT_S = 3.0


def _prompt_wavs(runner, utts) -> list:
    """The prompts as the service sees them (cropped as the generations' prompts)."""
    from ..evaluation.tts import prompt_segment

    front, margin = runner.dm.front_end, runner.cfg.margin_s
    return [
        prompt_segment(u, runner.vocab, front, prompt_s=PROMPT_S, margin_s=margin)[0] for u in utts
    ]


def _embed(runner, wavs) -> torch.Tensor:
    return runner.encoder.embed(wavs, sample_rate=runner.mel.sample_rate).float()


def _gate(runner, s, drawn, profiles) -> tuple[dict[str, Any], dict[str, Any]]:
    """``(assignment per test prompt id, facts)`` of the configured gate."""
    from ..models.tts.steering import OracleGate, gate_rates

    protected = set(profiles)
    prompts = {}
    for t in runner.trials:
        prompts.setdefault(t.prompt.id, t)
    truth = [t.speaker if t.speaker in protected else None for t in prompts.values()]
    if s["gate"] == "oracle":
        assigned = OracleGate(sorted(protected)).assign([t.speaker for t in prompts.values()])
        return dict(zip(prompts, assigned, strict=True)), {
            "gate": "oracle",
            "gate_test": gate_rates(assigned, truth),
        }
    gate, facts = fit_embedding_gate(
        lambda utts: _embed(runner, [_full(u, runner) for u in utts]),
        lambda utts: _embed(runner, _prompt_wavs(runner, utts)),
        drawn,
    )
    assigned = gate.assign(
        _embed(runner, _prompt_wavs(runner, [t.prompt for t in prompts.values()]))
    )
    facts = {
        "gate": "embedding",
        "gate_threshold": facts["threshold"],
        "gate_validation": facts["validation"],
        "gate_test": gate_rates(assigned, truth),
    }
    return dict(zip(prompts, assigned, strict=True)), facts


def _full(utt, runner):
    from ..data.audio import load_audio

    return load_audio(utt.audio, sample_rate=runner.mel.sample_rate)


def steering_rows(
    runner, name: str, hparams: dict[str, Any], seed: int | None, *, label: str | None = None
) -> list[dict[str, Any]]:
    """Enrol, gate and evaluate ``tts_steer`` with ``seed`` (None: the method's own) on the
    runner's current trials; its row (the original's weights, generating through the
    steerer). ``label`` names its files (default ``<name>[@s<seed>]``)."""
    from ..methods.registry import build_method
    from ..models.tts.steering import Prototype, Steerer, enrol, model_hash

    hparams = dict(hparams)
    if seed is not None:
        hparams.setdefault("seed", seed)
    s = build_method(name, runner.original, task="tts", **hparams).settings
    if label is None:
        label = name if seed is None else f"{name}@s{seed}"
    drawn = plan(runner, s)  # every draw checked before any generation
    sampler = {k: runner.generation_settings()[k] for k in ("nfe", "solver", "guidance")}
    key = settings_key(
        {
            "method": name,
            "settings": s,
            "original": runner.original_key,
            "sampler": sampler,
            "prototype": [u.id for u in drawn["prototype"]],
            "enrol": {k: [u.id for u in v] for k, v in drawn["enrol"].items()},
        }
    )
    runner._say(
        f"{label}: prototype of {len(drawn['prototype'])} speakers; enrolling "
        f"{len(drawn['seen'])} seen and {len(drawn['unseen'])} unseen opt-out speakers"
    )
    start = time.perf_counter()
    mhash = model_hash(runner.original)
    proto = Prototype.from_recordings(
        _record(runner, drawn["prototype"]),
        [u.speaker for u in drawn["prototype"]],
        mhash,
        sampler,
    )
    prototype_s = time.perf_counter() - start
    profiles, enrol_s = {}, {}
    for spk, utts in drawn["enrol"].items():
        t0 = time.perf_counter()
        profiles[spk] = enrol(
            spk, _record(runner, utts), proto, k=s["k"], rank=s["rank"], step_rule=s["step_rule"]
        )
        enrol_s[spk] = time.perf_counter() - t0
    alphas = {spk: s["alpha_seen"] for spk in drawn["seen"]}
    alphas |= {spk: s["alpha_unseen"] for spk in drawn["unseen"]}
    by_prompt, gate_facts = _gate(runner, s, drawn, profiles)
    seconds = time.perf_counter() - start
    artefact = {
        "method": name,
        "settings": s,
        "prototype": proto.__dict__,
        "profiles": {k: p.__dict__ for k, p in profiles.items()},
        "alphas": alphas,
        "gate": gate_facts,
        "weights": "unchanged: the model still holds every voice",
    }
    path = runner.ckpt_path(label).with_suffix(".steer.pt")
    if runner.is_global_zero:
        path.parent.mkdir(parents=True, exist_ok=True)
        torch.save(artefact, path)

    def steer(batch):
        return Steerer(
            runner.original, profiles, [by_prompt.get(t.prompt.id) for t in batch], alpha=alphas
        )

    runner._batch_context = steer
    try:
        row = runner.evaluate(label, runner.original, key)
    finally:
        runner._batch_context = None
    kept = torch.stack([p.keep for p in profiles.values()]).float()
    if float(kept.sum()) == 0:
        runner._say(
            f"{label}: the block and step rules keep no (block, step) pair: steering changes "
            "nothing (one solver step keeps none under the step rule; raise eval.nfe)"
        )
    row.update(
        model=name,
        seconds=seconds,
        steps=0,
        inference_time=True,
        seconds_per_speaker=seconds / max(1, len(profiles)),
        prototype_seconds=prototype_s,
        enrolled_seen=len(drawn["seen"]),
        enrolled_unseen=len(drawn["unseen"]),
        kept_pairs=float(kept.mean()),
        kept_blocks=float(torch.stack([p.layers for p in profiles.values()]).float().mean()),
        gate=gate_facts["gate"],
        gate_threshold=gate_facts.get("gate_threshold"),
    )
    for where in ("validation", "test"):  # numbers, so seeds give them intervals
        rates = gate_facts.get(f"gate_{where}")
        if rates is not None:
            row[f"gate_fa_{where}"] = rates["false_accept_rate"]
            row[f"gate_fr_{where}"] = rates["false_reject_rate"]
    if seed is not None:
        row["seed"] = seed
    return [row]


#: The ablation grid (on validation trials): the paper's settings, then one change each.
ABLATION: tuple[dict[str, Any], ...] = (
    {"alpha_seen": 0.5, "alpha_unseen": 0.5},
    {"alpha_seen": 1.0, "alpha_unseen": 1.0},
    {"alpha_seen": 1.5, "alpha_unseen": 1.5},
    {"alpha_seen": 2.0, "alpha_unseen": 2.0},
    {"alpha_seen": 3.0, "alpha_unseen": 3.0},
    {"alpha_seen": 4.0, "alpha_unseen": 4.0},
    {"k": -1.0},
    {"k": 0.0},
    {"k": None},
    {"step_rule": False},
    {"k": None, "step_rule": False},
    {"prototype_speakers": 10},
    {"rank": 2, "enrol_utterances": 2},
    {"k": None, "alpha_seen": 3.0, "alpha_unseen": 3.0},
    {"k": None, "rank": 2, "enrol_utterances": 2},
)


def _tag(change: dict[str, Any]) -> str:
    return ",".join(f"{k}={v}" for k, v in change.items())


def choose_setting(
    original: dict[str, Any], rows: list[dict[str, Any]], wer_bound: float
) -> dict[str, Any] | None:
    """The row with the lowest mean of SIM-F and SIM-U among those whose WER-F and WER-U
    stay within ``wer_bound`` of the original's (None when no row qualifies)."""

    def within(r, wer):
        return (
            r.get(wer) is None or original.get(wer) is None or r[wer] <= original[wer] + wer_bound
        )

    ok = [
        r
        for r in rows
        if r.get("sim_f") is not None
        and r.get("sim_u") is not None
        and within(r, "wer_f")
        and within(r, "wer_u")
    ]
    return min(ok, key=lambda r: (r["sim_f"] + r["sim_u"]) / 2) if ok else None


def validation_speaker_trials(
    runner, *, n_seen: int = 4, n_unseen: int = 2, n_remain: int = 2
) -> tuple[list, set[str]]:
    """Cloning trials of *validation speakers*, none of whom any test or validation trial
    uses: ``n_seen`` training speakers as protected seen speakers (group ``forget``: the
    steering needs no unlearning, only a voice the model was trained on), ``n_unseen``
    held-out speakers outside training as opt-out speakers (``unseen``) and ``n_remain``
    further training speakers left unprotected (``remain``), drawn from ``eval.seed``;
    their utterances are those no trial and no gallery enrolment uses. Returns the trials
    and the speakers (reserved: no prototype or gate speaker is drawn from them)."""
    from ..evaluation.tts import build_cloning_trials

    trials = _all_trials(runner)
    busy = {t.speaker for t in trials}
    retain, test = set(runner.split.retain), set(runner.split.test)
    training = sorted({u.speaker for u in runner.utterances if u.id in retain} - busy)
    outside = sorted({u.speaker for u in runner.utterances if u.id in test} - busy)
    rng = random.Random(f"{runner.cfg.eval.seed}|validation-speakers")
    rng.shuffle(training)
    rng.shuffle(outside)
    if len(outside) < n_unseen or len(training) < n_seen + n_remain:
        raise ValueError(
            f"validation speakers: need {n_unseen} held-out and {n_seen + n_remain} training "
            f"speakers that no trial uses, have {len(outside)} and {len(training)}; raise "
            "split.n_test_speakers above eval.max_speakers (or lower the counts)"
        )
    chosen = {
        "forget": training[:n_seen],
        "remain": training[n_seen : n_seen + n_remain],
        "unseen": outside[:n_unseen],
    }
    pool = _pool(runner)
    groups = {
        g: [u for spk in sorted(spks) for u in pool.get(spk, [])] for g, spks in chosen.items()
    }
    e = runner.cfg.eval
    out = build_cloning_trials(groups, per_speaker=e.per_speaker, seed=e.seed)
    return out, {spk for spks in chosen.values() for spk in spks}


def ablation(
    runner,
    grid=ABLATION,
    *,
    base: dict[str, Any] | None = None,
    speakers: tuple[int, int, int] = (4, 2, 2),
) -> dict[str, Any]:
    """``tts_steer`` (oracle gate) over ``grid`` on *validation speakers*
    (:func:`validation_speaker_trials`: speakers no test or validation trial uses), and
    the setting chosen from them by a rule fixed before any test trial is read
    (:func:`choose_setting`: the lowest mean of SIM-F and SIM-U among the settings whose
    WER-F and WER-U stay within ``eval.wer_bound`` of the original's). The test trials are
    never read. ``speakers``: how many seen, unseen and remain validation speakers."""
    test = runner.trials
    n_seen, n_unseen, n_remain = speakers
    runner.trials, runner.reserved_speakers = validation_speaker_trials(
        runner, n_seen=n_seen, n_unseen=n_unseen, n_remain=n_remain
    )
    speakers = {
        g: sorted({t.speaker for t in runner.trials if t.group == g})
        for g in ("forget", "unseen", "remain")
    }
    rows = []
    try:
        original = runner.evaluate(
            "original@validation-speakers", runner.original, runner.original_key
        )
        for change in grid:
            settings = {**(base or {}), **change}
            tag = _tag(change)
            try:
                row = steering_rows(
                    runner,
                    "tts_steer",
                    settings,
                    None,
                    label=f"tts_steer[{tag}]@validation-speakers",
                )[0]
            except ValueError as err:  # e.g. too few utterances for rank 2
                runner._say(f"tts_steer[{tag}]: skipped ({err})")
                row = {"skipped": str(err)}
            rows.append({"setting": tag, "change": dict(change), **row})
    finally:
        runner.trials, runner.reserved_speakers = test, set()
    bound = float(runner.cfg.eval.wer_bound)
    best = choose_setting(original, rows, bound)
    chosen = {} if best is None else {**(base or {}), **best["change"]}
    return {
        "original": original,
        "rows": rows,
        "chosen": chosen,
        "wer_bound": bound,
        "validation_speakers": speakers,
    }


def main(argv: list[str] | None = None) -> int:
    """``python -m audio_unlearn.runners.tts_steer --run RUN``: the ablation on
    validation speakers (the run's original and evaluation set-up reused), written to
    ``RUN/steer_ablation.json`` and ``.md``."""
    import argparse
    import json

    from ..data.manifest import atomic_write_text
    from ..reporting import markdown_table
    from ..tts_experiment import TTSExperiment
    from .tts_config import load_tts_config

    parser = argparse.ArgumentParser(description=main.__doc__.splitlines()[0])
    parser.add_argument("--run", required=True, help="a TTS run directory (its config.yaml)")
    parser.add_argument(
        "--speakers",
        type=int,
        nargs=3,
        default=(4, 2, 2),
        metavar=("SEEN", "UNSEEN", "REMAIN"),
        help="validation speakers: protected training speakers, opt-out held-out speakers, "
        "unprotected training speakers (none of them in a trial)",
    )
    parser.add_argument("--no-progress", action="store_true")
    args = parser.parse_args(argv)
    run = Path(args.run)
    cfg = load_tts_config(run / "config.yaml")
    runner = TTSExperiment(cfg, run, progress=not args.no_progress)
    runner.setup_evaluation()
    runner.trials = runner._trials()
    runner.validation_trials = runner._trials(validation=True) if runner._held_out else []
    result = ablation(runner, speakers=tuple(args.speakers))
    f = "{:.3f}"
    columns = [
        ("setting", "setting", "{}"),
        ("sim_f", "SIM-F", f),
        ("sim_u", "SIM-U", f),
        ("sim_r", "SIM-R", f),
        ("wer_f", "WER-F", f),
        ("wer_u", "WER-U", f),
        ("kept_pairs", "kept (block, step)", "{:.2f}"),
        ("kept_blocks", "kept blocks", "{:.2f}"),
        ("skipped", "skipped", "{}"),
    ]
    table = markdown_table([result["original"] | {"setting": "original"}, *result["rows"]], columns)
    command = f"python -m audio_unlearn.runners.tts_steer --run {args.run}"
    md = "\n".join(
        [
            "# tts_steer ablation on validation speakers",
            "",
            "Validation speakers (no test or validation trial uses them): protected seen "
            f"{', '.join(result['validation_speakers']['forget'])}; opt-out (outside "
            f"training) {', '.join(result['validation_speakers']['unseen'])}; unprotected "
            f"{', '.join(result['validation_speakers']['remain'])}.",
            "",
            f"`{command}`; oracle gate, one enrolment draw (seed 0); every other setting "
            "at the paper's (alpha 1.5 seen / 1.2 unseen, k = 1, step rule, 30 prototype "
            "speakers, rank 1). Rule: the lowest mean of validation SIM-F and SIM-U among "
            f"settings with WER-F and WER-U within {result['wer_bound']} of the original's. "
            f"Chosen: `{json.dumps(result['chosen'])}`.",
            "",
            table,
        ]
    )
    atomic_write_text(
        run / "steer_ablation.json",
        json.dumps({"command": command, **result}, indent=1, default=str) + "\n",
    )
    atomic_write_text(run / "steer_ablation.md", md + "\n")
    print(md)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
