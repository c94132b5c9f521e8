"""Zero-shot TTS cloning evaluation (audio_unlearn.evaluation.tts) on a tiny random model."""

import dataclasses
import json
import math

import jiwer
import numpy as np
import pytest
import soundfile as sf
import torch

from audio_unlearn.data.manifest import PhoneSpan, Utterance
from audio_unlearn.data.tts_data import utterance_features
from audio_unlearn.evaluation.asr import Transcriber
from audio_unlearn.evaluation.speaker import SpeakerEncoder
from audio_unlearn.evaluation.text import normalise
from audio_unlearn.evaluation.tts import (
    CloningProbe,
    CloningScores,
    TrialGenerations,
    build_cloning_trials,
    cross_speaker_similarity,
    generate_for_trials,
    plot_sim_distributions,
    prompt_segment,
    score_cloning,
    speaker_zrf_for_trials,
    summarise,
)
from audio_unlearn.models.tts import (
    FlowMatchingTTS,
    FlowMatchingTTSConfig,
    MelConfig,
    MelFrontEnd,
    PhoneVocabulary,
)
from audio_unlearn.models.tts.vocoder import GriffinLimVocoder

SR = 16_000
TEXTS = ["the cat sat", "a dog ran home", "the cat sat", "birds fly south"]
PHONES = ["a", "b", "k", "s", "t", "o"]


def _utterance(root, speaker, index, f0):
    """A harmonic 'voice' (speaker-specific pitch), phones spanning 0.05-0.05+0.1*n s."""
    rng = np.random.default_rng(1000 * int(speaker[1:]) + index)
    n_phones = 3 + index % 3
    seconds = 0.05 + 0.1 * n_phones + 0.2
    t = np.arange(int(seconds * SR)) / SR
    wav = sum(np.sin(2 * np.pi * f0 * k * t) / k for k in range(1, 6))
    wav = 0.3 * wav / np.abs(wav).max() + 0.01 * rng.standard_normal(t.size)
    path = root / f"{speaker}_{index}.wav"
    sf.write(path, wav.astype(np.float32), SR)
    spans = tuple(
        PhoneSpan(PHONES[(index + k) % len(PHONES)], 0.05 + 0.1 * k, 0.15 + 0.1 * k)
        for k in range(n_phones)
    )
    return Utterance(
        id=f"{speaker}-{index}",
        audio=str(path),
        speaker=speaker,
        duration=seconds,
        sample_rate=SR,
        text=TEXTS[index % len(TEXTS)],
        alignment=spans,
    )


@pytest.fixture(scope="module")
def corpus(tmp_path_factory):
    root = tmp_path_factory.mktemp("tts_eval")
    f0 = {"s0": 110.0, "s1": 180.0, "s2": 260.0}
    return {s: [_utterance(root, s, i, f) for i in range(4)] for s, f in f0.items()}


@pytest.fixture(scope="module")
def setup(corpus):
    torch.manual_seed(0)
    utts = [u for us in corpus.values() for u in us]
    vocab = PhoneVocabulary.from_utterances(utts)
    front_end = MelFrontEnd(MelConfig())
    model = FlowMatchingTTS(
        FlowMatchingTTSConfig(n_phones=len(vocab), d_model=32, n_layers=2, n_heads=2, d_phone=8)
    )
    mels = [utterance_features(u, vocab, front_end)[0] for u in utts]
    lengths = torch.tensor([m.shape[0] for m in mels])
    padded = torch.nn.utils.rnn.pad_sequence(mels, batch_first=True)
    model.set_mel_stats(padded, lengths)
    groups = {"forget": corpus["s0"], "remain": corpus["s1"], "unseen": corpus["s2"]}
    return model.eval(), vocab, front_end, groups


class MeanLogMelEncoder(SpeakerEncoder):
    """Stub speaker encoder: the mean log-mel spectrum, centred over bins (a real,
    deterministic spectral-envelope embedding)."""

    def __init__(self):
        super().__init__()
        self.front_end = MelFrontEnd(MelConfig())

    def describe(self):
        return {"backend": "mean-log-mel"}

    def _load(self):
        return object()

    def _embed_batch(self, wavs):
        out = []
        for w in wavs:
            m = self.front_end(w[None])[0].mean(0)
            out.append(m - m.mean())
        return torch.stack(out)


class FixedTranscriber(Transcriber):
    def __init__(self, text):
        self.text = text
        self.calls = 0

    def transcribe(self, wavs, sample_rate=16000):
        self.calls += 1
        assert sample_rate == SR
        return [self.text for _ in wavs]

    def describe(self):
        return {"backend": "fixed", "text": self.text}


GEN = {"nfe": 4, "solver": "midpoint", "guidance": 0.7}


def _vocode_one(vocoder, mel):
    """What score_cloning renders for one mel on its own: ceil(n_fft / hop) silent frames
    appended, frames * hop samples kept."""
    silence = torch.full((math.ceil(1024 / 160), mel.shape[1]), math.log(1e-5))
    return vocoder(torch.cat([mel, silence]))[0][: mel.shape[0] * 160]


def _cos(a, b):
    return float(torch.nn.functional.cosine_similarity(a.double(), b.double(), dim=0))


# --------------------------------------------------------------------------- trials


def test_trials_deterministic_same_speaker_cross_sentence(corpus):
    groups = {"forget": corpus["s0"], "remain": corpus["s1"] + corpus["s2"]}
    trials = build_cloning_trials(groups, per_speaker=3, seed=0)
    assert trials == build_cloning_trials(groups, per_speaker=3, seed=0)
    assert any(build_cloning_trials(groups, per_speaker=3, seed=s) != trials for s in range(1, 6))
    assert [t.group for t in trials] == ["forget"] * 3 + ["remain"] * 6
    assert len({t.key for t in trials}) == len(trials)
    for t in trials:
        assert t.prompt.speaker == t.target.speaker == t.speaker
        assert t.prompt.id != t.target.id
        # utterances 0 and 2 share a text, but another text is always available
        assert t.prompt.text != t.target.text
    # a speaker with fewer pairs than asked gets every ordered pair once
    everything = build_cloning_trials({"forget": corpus["s0"]}, per_speaker=50, seed=0)
    assert len(everything) == 4 * 3
    assert len({(t.prompt.id, t.target.id) for t in everything}) == 12
    # only same-text utterances: still paired (different utterances)
    same = [corpus["s0"][0], corpus["s0"][2]]
    pair = build_cloning_trials({"forget": same}, per_speaker=1, seed=0)
    assert pair[0].prompt.text == pair[0].target.text and pair[0].prompt != pair[0].target


def test_trials_validation(corpus):
    with pytest.raises(ValueError, match="'s0' is in groups"):
        build_cloning_trials(
            {"forget": corpus["s0"], "remain": corpus["s0"]}, per_speaker=1, seed=0
        )
    with pytest.raises(ValueError, match="two"):
        build_cloning_trials({"forget": corpus["s0"][:1]}, per_speaker=1, seed=0)
    bare = dataclasses.replace(corpus["s0"][0], alignment=None)
    with pytest.raises(ValueError, match="no phone alignment"):
        build_cloning_trials({"forget": [bare, *corpus["s0"][1:]]}, per_speaker=1, seed=0)
    with pytest.raises(ValueError, match="per_speaker"):
        build_cloning_trials({"forget": corpus["s0"]}, per_speaker=0, seed=0)


# --------------------------------------------------------------------------- generation


def test_generation_shapes_seeding_and_batching(setup, bound):
    model, vocab, front_end, groups = setup
    trials = build_cloning_trials(groups, per_speaker=2, seed=0)
    model.train()  # generation switches to eval and restores the mode
    gens = generate_for_trials(model, vocab, front_end, trials, seed=3, batch_size=4, **GEN)
    assert model.training
    model.eval()
    assert isinstance(gens, TrialGenerations) and gens.prompted and len(gens) == len(trials)
    for t, mel in zip(trials, gens, strict=True):
        target_mel, _ = utterance_features(t.target, vocab, front_end)
        assert mel.shape == target_mel.shape
        assert torch.isfinite(mel).all()
    assert gens.settings["seed"] == 3 and gens.settings["nfe"] == 4
    again = generate_for_trials(model, vocab, front_end, trials, seed=3, batch_size=4, **GEN)
    assert all(torch.equal(a, b) for a, b in zip(gens, again, strict=True))
    one_by_one = generate_for_trials(model, vocab, front_end, trials, seed=3, batch_size=1, **GEN)
    for a, b in zip(gens, one_by_one, strict=True):
        bound.close("mel batched vs one", a, b, atol=1e-4, rtol=1e-4)
    other_seed = generate_for_trials(model, vocab, front_end, trials, seed=4, batch_size=4, **GEN)
    assert all((a - b).abs().max() > 1e-3 for a, b in zip(gens, other_seed, strict=True))


def test_generation_conditions_on_prompt_and_infills_the_target(setup, monkeypatch):
    model, vocab, front_end, groups = setup
    trial = build_cloning_trials(groups, per_speaker=1, seed=0)[1]
    seen = []
    field = model.vector_field

    def spy(x_t, t, context, infill, phones, lengths):
        seen.append((context.clone(), infill.clone(), phones.clone()))
        return field(x_t, t, context, infill, phones, lengths)

    monkeypatch.setattr(model, "vector_field", spy)
    gens = generate_for_trials(model, vocab, front_end, [trial], seed=0, **GEN)
    _, p_mel, p_ids = prompt_segment(trial.prompt, vocab, front_end, prompt_s=3.0, margin_s=0.15)
    t_mel, t_ids = utterance_features(trial.target, vocab, front_end)
    context, infill, phones = seen[0]
    n_p, n_t = p_mel.shape[0], t_mel.shape[0]
    assert infill.shape == (2, n_p + n_t)  # conditional + unconditional (guidance) rows
    assert not infill[0, :n_p].any() and infill[0, n_p:].all()
    torch.testing.assert_close(context[0, :n_p], model.normalise(p_mel))
    assert torch.equal(phones[0], torch.cat([p_ids, t_ids]))  # target: aligner durations
    assert gens[0].shape == t_mel.shape
    seen.clear()
    generate_for_trials(model, vocab, front_end, [trial], prompted=False, seed=0, **GEN)
    context, infill, phones = seen[0]
    assert infill.shape == (2, n_t) and infill.all() and torch.equal(phones[0], t_ids)
    # a shorter prompt: the model sees prompt_s seconds of it
    wav, mel, ids = prompt_segment(trial.prompt, vocab, front_end, prompt_s=0.3, margin_s=0.15)
    assert wav.numel() == int(0.3 * SR) and mel.shape[0] == ids.numel() == wav.numel() // 160 + 1
    seen.clear()
    generate_for_trials(model, vocab, front_end, [trial], prompt_s=0.3, seed=0, **GEN)
    assert seen[0][1].shape == (2, mel.shape[0] + n_t)


def test_text_only_generations_differ_by_seed(setup):
    model, vocab, front_end, groups = setup
    trials = build_cloning_trials(groups, per_speaker=1, seed=0)
    a = generate_for_trials(model, vocab, front_end, trials, prompted=False, seed=0, **GEN)
    b = generate_for_trials(model, vocab, front_end, trials, prompted=False, seed=1, **GEN)
    assert not a.prompted and a.settings["prompted"] is False
    for t, ma, mb in zip(trials, a, b, strict=True):
        assert ma.shape == utterance_features(t.target, vocab, front_end)[0].shape
        assert (ma - mb).abs().mean() > 1e-2  # a different random voice each time
    a2 = generate_for_trials(model, vocab, front_end, trials, prompted=False, seed=0, **GEN)
    assert all(torch.equal(x, y) for x, y in zip(a, a2, strict=True))


# --------------------------------------------------------------------------- pure scores


def test_cross_speaker_level_by_hand():
    g = torch.tensor([[1.0, 0.0], [0.0, 2.0], [1.0, 1.0]])
    r = torch.tensor([[3.0, 0.0], [1.0, 1.0], [0.0, 1.0]])
    speakers = ["a", "b", "c"]
    got = cross_speaker_similarity(g, speakers, r, speakers)
    h = 1 / math.sqrt(2)
    # row 0 (a) vs refs b, c: cos((1,0),(1,1)) = h, cos((1,0),(0,1)) = 0
    # row 1 (b) vs refs a, c: 0, 1
    # row 2 (c) vs refs a, b: h, 1
    expected = torch.tensor([(h + 0) / 2, (0 + 1) / 2, (h + 1) / 2], dtype=torch.float64)
    torch.testing.assert_close(got, expected)
    # two references of speaker a: both excluded for generation a, both counted for b
    got = cross_speaker_similarity(g[:2], ["a", "b"], r, ["a", "a", "b"])
    torch.testing.assert_close(got, torch.tensor([0.0, (0 + h) / 2], dtype=torch.float64))
    with pytest.raises(ValueError, match="another speaker"):
        cross_speaker_similarity(g, ["a"] * 3, r, ["a"] * 3)
    assert summarise([1.0, 3.0, None]) == {"mean": 2.0, "std": math.sqrt(2.0), "n": 2}


# --------------------------------------------------------------------------- scoring


def test_score_cloning_sim_plumbing(setup):
    model, vocab, front_end, groups = setup
    trials = build_cloning_trials(groups, per_speaker=2, seed=0)
    gens = generate_for_trials(model, vocab, front_end, trials, seed=0, **GEN)
    vocoder = GriffinLimVocoder(front_end.config, n_iter=2)
    encoder = MeanLogMelEncoder()
    scores = score_cloning(gens, vocab=vocab, front_end=front_end, vocoder=vocoder, encoder=encoder)
    assert isinstance(scores, CloningScores) and len(scores.rows) == len(trials)
    assert "wer" not in scores.rows[0] and scores.settings["transcriber"] is None
    assert scores.settings["encoder"] == {"backend": "mean-log-mel"}
    assert scores.settings["vocoder"] == vocoder.describe()
    for key, value in {"nfe": 4, "solver": "midpoint", "guidance": 0.7, "seed": 0}.items():
        assert scores.settings["generation"][key] == value
    # recompute by hand: one trial at a time
    prompts = {}
    for t in trials:
        wav, mel, _ = prompt_segment(t.prompt, vocab, front_end, prompt_s=3.0, margin_s=0.15)
        prompts[t.prompt.id] = (
            t.speaker,
            encoder.embed([wav])[0],
            encoder.embed([_vocode_one(vocoder, mel)])[0],
        )
    for i, (t, row) in enumerate(zip(trials, scores.rows, strict=True)):
        e = encoder.embed([_vocode_one(vocoder, gens[i])])[0]
        assert row["target_id"] == t.target.id and row["group"] == t.group
        assert row["sim_o"] == pytest.approx(_cos(e, prompts[t.prompt.id][1]), abs=1e-4)
        assert row["sim_r"] == pytest.approx(_cos(e, prompts[t.prompt.id][2]), abs=1e-4)
        others = [v for v in prompts.values() if v[0] != t.speaker]
        cross = sum(_cos(e, v[1]) for v in others) / len(others)
        assert row["cross_sim_o"] == pytest.approx(cross, abs=1e-4)
    forget = [r["sim_o"] for r in scores.rows if r["group"] == "forget"]
    s = scores.summary["forget"]["sim_o"]
    assert s["n"] == 2 and s["mean"] == pytest.approx(np.mean(forget))
    assert s["std"] == pytest.approx(np.std(forget, ddof=1))
    assert scores.summary["all"]["sim_o"]["n"] == len(trials)
    assert json.loads(json.dumps(scores.to_dict()))["summary"] == scores.summary
    level = np.mean([r["cross_sim_o"] for r in scores.rows])
    assert scores.cross_speaker_level["sim_o"] == pytest.approx(level)
    # a "generation" that is the prompt's own mel: SIM-r is 1 (same vocoder, same mel)
    own = TrialGenerations(
        gens.trials,
        tuple(
            prompt_segment(t.prompt, vocab, front_end, prompt_s=3.0, margin_s=0.15)[1]
            for t in trials
        ),
        True,
        gens.settings,
    )
    same = score_cloning(own, vocab=vocab, front_end=front_end, vocoder=vocoder, encoder=encoder)
    assert all(r["sim_r"] == pytest.approx(1.0, abs=1e-4) for r in same.rows)
    assert all(r["sim_o"] < r["sim_r"] for r in same.rows)


class _Stepper:
    """The two things CloningProbe reads of a Trainer and a LightningModule."""

    def __init__(self, model):
        self.model = model
        self.global_step = 0
        self.should_stop = False


def test_cloning_probe_records_the_curve_without_touching_the_rng(setup):
    model, vocab, front_end, groups = setup
    trials = build_cloning_trials(groups, per_speaker=1, seed=0)
    vocoder, encoder = GriffinLimVocoder(front_end.config, n_iter=2), MeanLogMelEncoder()
    kwargs = {"vocab": vocab, "front_end": front_end, "vocoder": vocoder, "encoder": encoder}
    probe = CloningProbe(trials, every_n_steps=2, generation={**GEN, "seed": 0}, **kwargs)
    run = _Stepper(model)
    torch.manual_seed(5)
    probe.on_train_start(run, run)
    for step in range(1, 6):
        run.global_step = step
        probe.on_train_batch_end(run, run, None, None, step - 1)
    probe.on_train_end(run, run)
    assert [h["step"] for h in probe.history] == [0, 2, 4, 5]
    first = probe.history[0]
    # the numbers of the final evaluation of the same model
    gens = generate_for_trials(model, vocab, front_end, trials, seed=0, **GEN)
    full = score_cloning(gens, vocab=vocab, front_end=front_end, vocoder=vocoder, encoder=encoder)
    forget = full.summary["forget"]
    assert first["sim"]["forget"] == pytest.approx(forget["sim_o"]["mean"], abs=1e-5)
    assert first["level"] == pytest.approx(full.cross_speaker_level["sim_o"], abs=1e-5)
    assert first["gap"] == pytest.approx(first["sim"]["forget"] - first["level"])
    paired = forget["sim_o"]["mean"] - forget["cross_sim_o"]["mean"]
    assert first["paired_gap"] == pytest.approx(paired, abs=1e-5)
    assert set(first["sim"]) == {"forget", "remain", "unseen"}
    assert probe.history[1]["sim"] == pytest.approx(first["sim"])  # the model did not change
    after = torch.rand(1)
    torch.manual_seed(5)
    assert torch.equal(after, torch.rand(1))  # the global RNG stream is as if no probe ran
    seconds = [h["seconds"] for h in probe.history]
    assert seconds == sorted(seconds) and seconds[-1] < 0.5  # probe time is taken out
    assert not run.should_stop
    # stop_at_gap: training is told to stop at the first probe within the gap
    stopper = CloningProbe(
        trials,
        every_n_steps=2,
        generation={**GEN, "seed": 0},
        stop_at_gap=first["gap"] + 1e-6,
        **kwargs,
    )
    run.global_step = 0
    stopper.on_train_start(run, run)
    assert run.should_stop
    with pytest.raises(ValueError, match="every_n_steps"):
        CloningProbe(
            trials, vocab=vocab, front_end=front_end, vocoder=None, encoder=None, every_n_steps=0
        )
    with pytest.raises(ValueError, match="no 'forget' trial"):
        remain = [t for t in trials if t.group == "remain"]
        CloningProbe(
            remain, vocab=vocab, front_end=front_end, vocoder=None, encoder=None, every_n_steps=1
        )


def test_score_cloning_wer_through_transcriber(setup):
    model, vocab, front_end, groups = setup
    trials = build_cloning_trials(groups, per_speaker=2, seed=1)
    gens = generate_for_trials(model, vocab, front_end, trials, seed=0, **GEN)
    hyp = "The CAT, sat!"
    asr = FixedTranscriber(hyp)
    scores = score_cloning(
        gens,
        vocab=vocab,
        front_end=front_end,
        vocoder=GriffinLimVocoder(front_end.config, n_iter=2),
        encoder=MeanLogMelEncoder(),
        transcriber=asr,
        normaliser="strip_punct",
    )
    assert asr.calls == 1
    assert scores.settings["normaliser"] == "strip_punct"
    assert scores.settings["transcriber"] == {"backend": "fixed", "text": hyp}
    for t, row in zip(trials, scores.rows, strict=True):
        ref, h = normalise(t.target.text, "strip_punct"), normalise(hyp, "strip_punct")
        assert row["hypothesis"] == hyp
        assert row["wer"] == pytest.approx(jiwer.wer(ref, h))
        assert row["cer"] == pytest.approx(jiwer.cer(ref, h))
    assert any(r["wer"] == 0 for r in scores.rows) and any(r["wer"] > 0 for r in scores.rows)
    refs = [normalise(t.target.text, "strip_punct") for t in trials]
    assert scores.summary["all"]["wer_corpus"] == pytest.approx(
        jiwer.wer(refs, [normalise(hyp, "strip_punct")] * len(refs))
    )
    with pytest.raises(ValueError, match="unknown text normaliser"):
        score_cloning(
            gens,
            vocab=vocab,
            front_end=front_end,
            vocoder=GriffinLimVocoder(front_end.config, n_iter=2),
            encoder=MeanLogMelEncoder(),
            transcriber=asr,
            normaliser="nope",
        )


def test_speaker_zrf_for_trials(setup):
    model, vocab, front_end, groups = setup
    trials = build_cloning_trials({"forget": groups["forget"]}, per_speaker=3, seed=0)
    prompted = generate_for_trials(model, vocab, front_end, trials, seed=0, **GEN)
    text_only = generate_for_trials(model, vocab, front_end, trials, prompted=False, seed=0, **GEN)
    vocoder = GriffinLimVocoder(front_end.config, n_iter=2)
    encoder = MeanLogMelEncoder()
    identical = dataclasses.replace(prompted, prompted=False)
    same = speaker_zrf_for_trials(prompted, identical, vocoder=vocoder, encoder=encoder)
    assert same["groups"]["forget"]["value"] == pytest.approx(1.0, abs=1e-9)
    assert same["log_base"] == "e" and same["groups"]["forget"]["n"] == 3
    real = speaker_zrf_for_trials(prompted, text_only, vocoder=vocoder, encoder=encoder, log_base=2)
    assert real["log_base"] == "2"
    assert 0 <= real["groups"]["forget"]["value"] < 1
    assert real["generation"]["original"]["prompted"] is False
    with pytest.raises(ValueError, match="text-only"):
        speaker_zrf_for_trials(prompted, prompted, vocoder=vocoder, encoder=encoder)
    with pytest.raises(ValueError, match="different trials"):
        speaker_zrf_for_trials(
            prompted,
            TrialGenerations(text_only.trials[::-1], text_only.mels[::-1], False),
            vocoder=vocoder,
            encoder=encoder,
        )


def test_plot_sim_distributions(tmp_path):
    def rows(shift):
        return [
            {"group": g, "sim_o": 0.1 * k + shift, "sim_r": 0.5, "cross_sim_o": 0.05}
            for g in ("remain", "forget", "unseen")
            for k in range(4)
        ]

    out = plot_sim_distributions({"original": rows(0.5), "tgu": rows(0.0)}, tmp_path / "sim.png")
    assert out == tmp_path / "sim.png" and out.stat().st_size > 1000
    assert list(tmp_path.iterdir()) == [out]  # atomic: no temporary file left behind
    with pytest.raises(ValueError, match="metric"):
        plot_sim_distributions({"original": rows(0.5)}, tmp_path / "x.png", metric="wer")
