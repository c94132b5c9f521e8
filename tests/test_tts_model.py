"""The flow-matching TTS core: CFM loss and ODE sampler on toy problems, the model's
infilling contract, phones and checkpoints."""

from __future__ import annotations

import math

import pytest
import torch
from torch import nn

from audio_unlearn.data.manifest import PhoneSpan, Utterance
from audio_unlearn.models.tts import (
    DurationTable,
    FlowMatchingTTS,
    FlowMatchingTTSConfig,
    MelConfig,
    MelFrontEnd,
    PhoneVocabulary,
    TTSCheckpointError,
    cfm_path,
    cfm_target,
    frame_phone_ids,
    load_tts,
    masked_mse,
    ode_solve,
    phones_from_durations,
    save_tts,
)


def gaussian_field(mu: float, s: float):
    """The exact marginal velocity of the OT path from N(0, 1) to N(mu, s^2) (sigma_min=0)."""

    def field(x: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        t = t.view(-1, *([1] * (x.dim() - 1)))
        var = (1 - t) ** 2 + (t * s) ** 2
        dvar = -2 * (1 - t) + 2 * t * s**2
        return mu + dvar / (2 * var) * (x - t * mu)

    return field


@pytest.mark.parametrize(("solver", "nfe"), [("euler", 64), ("midpoint", 32)])
def test_sampler_maps_noise_to_the_known_target(solver, nfe, seed, bound):
    torch.manual_seed(seed)
    x0 = torch.randn(20_000, 1)
    x1 = ode_solve(gaussian_field(3.0, 0.5), x0, nfe=nfe, solver=solver)
    bound("|mean - 3|", abs(float(x1.mean()) - 3.0), "<", 0.03)
    bound("|std - 0.5|", abs(float(x1.std()) - 0.5), "<", 0.03)


def test_midpoint_is_more_accurate_than_euler_at_equal_cost():
    torch.manual_seed(0)
    x0 = torch.randn(5000, 1)
    field = gaussian_field(3.0, 0.2)
    exact = 3.0 + 0.2 * x0  # the OT map of this Gaussian pair is affine
    err_e = (ode_solve(field, x0, nfe=8, solver="euler") - exact).abs().mean()
    err_m = (ode_solve(field, x0, nfe=8, solver="midpoint") - exact).abs().mean()
    assert err_m < err_e


def test_sampler_rejects_bad_settings():
    with pytest.raises(ValueError, match="solver"):
        ode_solve(lambda x, t: x, torch.zeros(1, 1), solver="rk4")
    with pytest.raises(ValueError, match="nfe"):
        ode_solve(lambda x, t: x, torch.zeros(1, 1), nfe=1, solver="midpoint")


def test_cfm_loss_trains_a_toy_flow_to_a_two_mode_target(seed, bound):
    """A small MLP trained with the CFM path/target/loss functions samples both modes."""
    torch.manual_seed(seed)
    net = nn.Sequential(nn.Linear(2, 64), nn.SiLU(), nn.Linear(64, 64), nn.SiLU(), nn.Linear(64, 1))
    opt = torch.optim.Adam(net.parameters(), lr=3e-3)
    for _ in range(1500):
        x1 = (torch.randint(0, 2, (256, 1)) * 4.0 - 2.0) + 0.1 * torch.randn(256, 1)
        x0 = torch.randn_like(x1)
        t = torch.rand(256)
        x_t = cfm_path(x0, x1, t, 1e-4)
        v = net(torch.cat([x_t, t[:, None]], dim=1))
        loss = masked_mse(
            v[:, None], cfm_target(x0, x1, 1e-4)[:, None], torch.ones(256, 1, dtype=torch.bool)
        )
        opt.zero_grad()
        loss.backward()
        opt.step()
    with torch.no_grad():
        x = ode_solve(lambda x, t: net(torch.cat([x, t[:, None]], 1)), torch.randn(4000, 1), nfe=32)
    near = ((x - 2).abs() < 0.7) | ((x + 2).abs() < 0.7)
    bound("fraction of samples near a mode", float(near.float().mean()), ">", 0.85)
    bound("|fraction in the + mode - 0.5|", abs(float((x > 0).float().mean()) - 0.5), "<", 0.2)


def test_masked_mse_counts_only_masked_frames():
    pred = torch.zeros(2, 3, 4)
    target = torch.ones(2, 3, 4)
    target[0, 0] = 10.0  # outside the mask: must not count
    mask = torch.tensor([[False, True, True], [True, False, False]])
    assert float(masked_mse(pred, target, mask)) == pytest.approx(1.0)
    per = masked_mse(pred, target, mask, per_sample=True)
    assert per.shape == (2,)
    assert torch.allclose(per, torch.ones(2))


# --------------------------------------------------------------------------- model


def tiny_model(n_phones: int = 8, seed: int = 0) -> FlowMatchingTTS:
    torch.manual_seed(seed)
    cfg = FlowMatchingTTSConfig(
        n_phones=n_phones, n_mels=80, d_model=32, n_layers=2, n_heads=2, d_phone=8, dropout=0.0
    )
    return FlowMatchingTTS(cfg).eval()


def toy_batch(lengths=(30, 22), n_phones: int = 8, seed: int = 0):
    g = torch.Generator().manual_seed(seed)
    lengths = torch.tensor(lengths)
    mels = torch.randn(len(lengths), int(lengths.max()), 80, generator=g) - 5
    phones = torch.randint(1, n_phones, (len(lengths), int(lengths.max())), generator=g)
    for row, n in enumerate(lengths.tolist()):
        mels[row, n:] = 0
        phones[row, n:] = 0
    return mels, phones, lengths


def test_flow_loss_is_finite_and_trains():
    model = tiny_model().train()
    mels, phones, lengths = toy_batch()
    opt = torch.optim.Adam(model.parameters(), lr=3e-3)
    g = torch.Generator().manual_seed(1)
    with torch.no_grad():
        first = float(model.flow_loss(mels, phones, lengths, generator=g))
    for _ in range(60):
        loss = model.flow_loss(mels, phones, lengths)
        opt.zero_grad()
        loss.backward()
        opt.step()
    g = torch.Generator().manual_seed(1)
    assert math.isfinite(first)
    assert float(model.flow_loss(mels, phones, lengths, generator=g)) < first
    per = model.flow_loss(mels, phones, lengths, per_sample=True, drop_conditions=False)
    assert per.shape == (2,)


def test_generate_keeps_prompt_frames_and_fills_the_rest():
    model = tiny_model()
    mels, phones, lengths = toy_batch()
    infill = torch.zeros_like(phones, dtype=torch.bool)
    infill[:, 10:] = True
    out = model.generate(phones, lengths, prompt=mels, infill=infill, nfe=4, guidance=0.7)
    assert out.shape == mels.shape
    assert torch.allclose(out[0, :10], mels[0, :10], atol=1e-5)
    assert not torch.allclose(out[0, 10:30], mels[0, 10:30])
    assert float(out[1, 22:].abs().max()) == 0.0  # padding stays zero


def test_no_prompt_generation_depends_on_the_noise_and_is_reproducible():
    model = tiny_model()
    _, phones, lengths = toy_batch()
    a = model.generate(phones, lengths, nfe=4, generator=torch.Generator().manual_seed(0))
    b = model.generate(phones, lengths, nfe=4, generator=torch.Generator().manual_seed(1))
    c = model.generate(phones, lengths, nfe=4, generator=torch.Generator().manual_seed(0))
    assert not torch.allclose(a, b)
    assert torch.equal(a, c)
    with pytest.raises(ValueError, match="prompt"):
        model.generate(phones, lengths, infill=torch.zeros_like(phones, dtype=torch.bool))


def test_batched_vector_field_equals_per_item(bound):
    model = tiny_model()
    mels, phones, lengths = toy_batch()
    infill = model.random_infill_mask(lengths, torch.Generator().manual_seed(0))
    x = torch.randn_like(mels)
    t = torch.tensor([0.3, 0.7])
    batched = model.vector_field(x, t, mels, infill, phones, lengths)
    for row, n in enumerate(lengths.tolist()):
        single = model.vector_field(
            x[row : row + 1, :n],
            t[row : row + 1],
            mels[row : row + 1, :n],
            infill[row : row + 1, :n],
            phones[row : row + 1, :n],
            lengths[row : row + 1],
        )
        bound.close("vector field batched vs one", batched[row, :n], single[0], atol=1e-4)


def test_random_infill_mask_spans_the_configured_fraction():
    model = tiny_model()
    lengths = torch.tensor([100] * 200)
    mask = model.random_infill_mask(lengths, torch.Generator().manual_seed(0))
    frac = mask.float().sum(1) / 100
    assert float(frac.min()) >= 0.7 - 1e-6
    assert float(frac.max()) <= 1.0
    # contiguous: one rising edge per row at most
    edges = (mask[:, 1:] & ~mask[:, :-1]).sum(1)
    assert int(edges.max()) <= 1


def test_config_validation():
    with pytest.raises(ValueError, match="n_layers"):
        FlowMatchingTTSConfig(n_phones=8, n_layers=3)
    with pytest.raises(ValueError, match="divisible"):
        FlowMatchingTTSConfig(n_phones=8, d_model=30, n_heads=4)


# --------------------------------------------------------------------------- phones, mel


def test_frame_phone_ids_follow_the_alignment():
    vocab = PhoneVocabulary(["a", "b"])
    spans = (PhoneSpan("a", 0.10, 0.20), PhoneSpan("b", 0.20, 0.25), PhoneSpan("zz", 0.3, 0.31))
    ids = frame_phone_ids(spans, 40, 100.0, vocab)
    assert ids[:10].tolist() == [1] * 10  # silence before the first phone
    assert ids[10:20].tolist() == [vocab.id("a")] * 10
    assert ids[20:25].tolist() == [vocab.id("b")] * 5
    assert ids[30].item() == 2  # unknown phone
    with pytest.raises(ValueError, match="u7"):
        frame_phone_ids(None, 10, 100.0, vocab, utterance_id="u7")


def test_durations_and_expansion():
    utts = [
        Utterance(
            id=f"u{i}",
            audio="x.wav",
            speaker="s",
            duration=1.0,
            sample_rate=16000,
            alignment=(PhoneSpan("a", 0.0, 0.1 + 0.01 * i), PhoneSpan("b", 0.2, 0.25)),
        )
        for i in range(3)
    ]
    table = DurationTable.from_utterances(utts)
    assert table.frames(["a", "b", "q"], 100.0) == [11, 5, round(table.default_s * 100)]
    assert phones_from_durations([3, 4], [2, 1]).tolist() == [3, 3, 4]
    with pytest.raises(ValueError, match="alignments"):
        PhoneVocabulary.from_utterances([Utterance("x", "x.wav", "s", 1.0, 16000)])


def test_mel_front_end_matches_the_paper_settings():
    fe = MelFrontEnd()
    mel = fe(torch.randn(2, 16000))
    assert mel.shape == (2, 101, 80)  # 100 frames/s, centred
    assert MelConfig().n_frames(16000) == 101
    with pytest.raises(ValueError, match="f_max"):
        MelConfig(f_max=9000.0)


def test_checkpoint_round_trip_and_mismatch(tmp_path):
    vocab = PhoneVocabulary(["a", "b", "c", "d", "e"])
    model = tiny_model(n_phones=len(vocab))
    table = DurationTable({"a": 0.1})
    path = save_tts(tmp_path / "m.pt", model, vocab, table, MelConfig(), meta={"k": 1})
    ck = load_tts(path, expect_vocab=vocab)
    _, phones, lengths = toy_batch(n_phones=len(vocab))
    g1, g2 = (torch.Generator().manual_seed(3) for _ in range(2))
    assert torch.allclose(
        model.generate(phones, lengths, nfe=2, generator=g1),
        ck.model.generate(phones, lengths, nfe=2, generator=g2),
    )
    assert ck.meta == {"k": 1} and ck.durations.medians == {"a": 0.1}
    with pytest.raises(TTSCheckpointError, match="vocabulary"):
        load_tts(path, expect_vocab=PhoneVocabulary(["a"]))
    with pytest.raises(TTSCheckpointError, match="phones"):
        save_tts(tmp_path / "x.pt", model, PhoneVocabulary(["a"]), table, MelConfig())
    (tmp_path / "bad.pt").write_bytes(b"not a checkpoint")
    with pytest.raises(TTSCheckpointError, match="unreadable"):
        load_tts(tmp_path / "bad.pt")
    with pytest.raises(FileNotFoundError, match="tts-speaker"):
        load_tts(tmp_path / "missing.pt")
    assert not list(tmp_path.glob(".*tmp"))
