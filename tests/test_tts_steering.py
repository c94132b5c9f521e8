"""Inference-time steering (TruS) on the flow-matching TTS model: the hooked activation
loses the speaker direction, the step comes from the solver, the gate off changes nothing,
enrolment rules match a hand-computed table, gates count their errors."""

from __future__ import annotations

import pytest
import torch

from audio_unlearn.models.tts import FlowMatchingTTS, FlowMatchingTTSConfig
from audio_unlearn.models.tts.flow import solver_step
from audio_unlearn.models.tts.steering import (
    ActivationRecorder,
    EmbeddingGate,
    OracleGate,
    Prototype,
    Steerer,
    choose_gate_threshold,
    enrol,
    gate_rates,
    model_hash,
    record,
)
from audio_unlearn.models.tts.voicebox import field_rows


def tiny_model(seed: int = 0) -> FlowMatchingTTS:
    torch.manual_seed(seed)
    cfg = FlowMatchingTTSConfig(
        n_phones=8, n_mels=80, d_model=32, n_layers=4, n_heads=2, d_phone=8, dropout=0.0
    )
    return FlowMatchingTTS(cfg).eval()


def batch(lengths=(30, 22), seed: int = 0):
    g = torch.Generator().manual_seed(seed)
    lengths = torch.tensor(lengths)
    mels = torch.randn(len(lengths), int(lengths.max()), 80, generator=g) - 5
    phones = torch.randint(1, 8, (len(lengths), int(lengths.max())), generator=g)
    infill = torch.zeros_like(phones, dtype=torch.bool)
    for row, n in enumerate(lengths.tolist()):
        mels[row, n:] = 0
        phones[row, n:] = 0
        infill[row, n // 2 : n] = True
    noise = torch.randn(len(lengths), int(lengths.max()), 80, generator=g)
    return mels, phones, lengths, infill, noise


def generate(model, b, **kw):
    mels, phones, lengths, infill, noise = b
    kw = {"nfe": 4, "solver": "euler", "guidance": 0.7, **kw}
    return model.generate(phones, lengths, prompt=mels, infill=infill, noise=noise, **kw)


def profiles_for(model, b, speakers=("A", "B"), **enrol_kw):
    """Profiles of two 'speakers' (the two rows of ``b``) against a prototype of other
    prompts."""
    recorded = record(model, lambda: generate(model, b))
    others = record(model, lambda: generate(model, batch((26, 28, 24), seed=5)))
    proto = Prototype.from_recordings(others, ["x", "y", "z"], model_hash(model), {"nfe": 4})
    return {s: enrol(s, recorded[i], proto, **enrol_kw) for i, s in enumerate(speakers)}


def steered_projections(model, b, profiles, assignment, alpha=1.0):
    """Per call of every block on a steered row: max |<y, u_i>| / max |y| over its tokens
    and the profile's directions, read by a hook attached after the steerer's."""
    seen = []

    def probe(block):
        def hook(module, args, output):
            k, _ = solver_step()
            rows = field_rows()
            for r in range(output.shape[0]):
                speaker = assignment[int(rows.prompt_row[r])]
                if speaker is not None and profiles[speaker].keep[block, k]:
                    u = profiles[speaker].directions[block, k]  # (rank, d)
                    ratio = (output[r] @ u.T).abs().max() / output[r].norm(dim=-1).max()
                    seen.append(float(ratio))

        return hook

    with Steerer(model, profiles, assignment, alpha=alpha):
        handles = [layer.register_forward_hook(probe(i)) for i, layer in enumerate(model.layers)]
        try:
            generate(model, b)
        finally:
            for h in handles:
                h.remove()
    return seen


def test_steering_with_alpha_one_leaves_the_activation_orthogonal_to_u():
    model = tiny_model()
    b = batch()
    profiles = profiles_for(model, b, k=None, step_rule=False)  # every block and step
    seen = steered_projections(model, b, profiles, ["A", None])
    # 4 blocks x 4 steps x 2 guidance branches of row 0, each token's <y, u> removed
    assert len(seen) == 4 * 4 * 2
    assert max(seen) < 1e-5
    # alpha 0.5 leaves half of it: not orthogonal
    assert max(steered_projections(model, b, profiles, ["A", None], alpha=0.5)) > 1e-3


def test_rank_r_removal_is_orthogonal_to_every_direction():
    model = tiny_model()
    b3 = batch((30, 22, 26), seed=2)
    recorded = record(model, lambda: generate(model, b3))
    proto = Prototype.from_recordings(recorded[:1], ["p"], model_hash(model), {})
    profile = enrol("S", recorded[1:], proto, k=None, step_rule=False, rank=2)
    u = profile.directions
    assert u.shape == (4, 4, 2, 32)
    gram = torch.einsum("ltrd,ltsd->ltrs", u, u)
    torch.testing.assert_close(gram, torch.eye(2).expand_as(gram), atol=1e-5, rtol=0)
    seen = steered_projections(model, batch(), {"S": profile}, [None, "S"])
    assert len(seen) == 4 * 4 * 2 and max(seen) < 1e-5
    with pytest.raises(ValueError, match="rank 3"):
        enrol("S", recorded[1:], proto, rank=3)


@pytest.mark.parametrize("solver,nfe", [("euler", 4), ("midpoint", 8)])
def test_the_step_comes_from_the_solver_under_euler_and_midpoint(solver, nfe):
    """Four solver steps either way: Euler evaluates each once, midpoint twice (at its
    start and its middle), and both evaluations carry the same step index."""
    model = tiny_model()
    calls = []

    def hook(module, args, output):
        calls.append(solver_step())

    handle = model.layers[0].register_forward_hook(hook)
    try:
        generate(model, batch(), solver=solver, nfe=nfe)
    finally:
        handle.remove()
    per_step = 1 if solver == "euler" else 2
    assert calls == [(k, 4) for k in range(4) for _ in range(per_step)]


def test_packed_and_separate_guidance_passes_record_and_steer_alike():
    model = tiny_model()
    b = batch()
    packed = record(model, lambda: generate(model, b, solver="midpoint", nfe=8))
    separate = record(
        model, lambda: generate(model, b, solver="midpoint", nfe=8, guidance_passes="separate")
    )
    assert packed.shape == (2, 4, 4, 32)
    torch.testing.assert_close(packed, separate, atol=1e-5, rtol=1e-5)
    profiles = profiles_for(model, b, k=None)
    outs = {}
    for passes in ("packed", "separate"):
        with Steerer(model, profiles, ["A", "B"], alpha=1.5):
            outs[passes] = generate(model, b, guidance_passes=passes)
    torch.testing.assert_close(outs["packed"], outs["separate"], atol=1e-4, rtol=1e-4)
    assert not torch.allclose(outs["packed"], generate(model, b), atol=1e-3)


def test_the_gate_off_or_alpha_zero_is_bit_identical_to_the_unsteered_model():
    model = tiny_model()
    b = batch()
    plain = generate(model, b)
    profiles = profiles_for(model, b, k=None)
    with Steerer(model, profiles, [None, None], alpha=1.5):
        gate_off = generate(model, b)
    with Steerer(model, profiles, ["A", "B"], alpha=0.0):
        alpha_zero = generate(model, b)
    assert torch.equal(plain, gate_off) and torch.equal(plain, alpha_zero)
    with Steerer(model, profiles, ["A", None], alpha=1.5):
        one = generate(model, b)
    # the unassigned row is untouched, up to float rounding of the batch's kernels once
    # another row's activations change (bit-identical when no row is steered, above)
    torch.testing.assert_close(one[1], plain[1], atol=1e-5, rtol=1e-5)
    assert not torch.equal(one[0], plain[0])
    assert torch.equal(generate(model, b), plain)  # hooks removed on exit
    params = {k: v.clone() for k, v in model.state_dict().items()}
    assert all(torch.equal(params[k], v) for k, v in model.state_dict().items())


def test_enrolling_speaker_b_leaves_speaker_a_output_unchanged():
    model = tiny_model()
    b = batch()
    both = profiles_for(model, b)
    only_a = {"A": both["A"]}
    with Steerer(model, only_a, ["A", None], alpha=1.5):
        a_alone = generate(model, b)
    with Steerer(model, both, ["A", None], alpha=1.5):
        a_with_b_enrolled = generate(model, b)
    assert torch.equal(a_alone, a_with_b_enrolled)
    with Steerer(model, both, ["A", "B"], alpha=1.5):
        b_steered_too = generate(model, b)
    torch.testing.assert_close(b_steered_too[0], a_alone[0], atol=1e-5, rtol=1e-5)


def test_block_and_step_rules_reproduce_a_hand_computed_table():
    """X and P in 2-D, 4 blocks x 3 steps, angles chosen so c(l, t) = cos(angle).

    Block means c(l): 0.9, 0.5, 0.7, 0.3 (mu = 0.6, population sigma = 0.2236); with
    k = 1 blocks with c(l) < 0.8236 are kept: 1, 2, 3 (not 0); with k = 0, c(l) < 0.6:
    blocks 1 and 3; with k = -1, c(l) < 0.3764: block 3. Inside a kept block, steps with
    c(l, t) < c(l).
    """
    c = torch.tensor(
        [
            [0.95, 0.90, 0.85],
            [0.60, 0.40, 0.50],
            [0.70, 0.80, 0.60],
            [0.20, 0.30, 0.40],
        ]
    )
    angles = torch.arccos(c)
    p = torch.zeros(4, 3, 2)
    p[..., 0] = 2.0  # the prototype along the first axis (its norm does not matter)
    x = torch.stack([torch.cos(angles), torch.sin(angles)], dim=-1)
    profile = enrol("S", x, p, k=1.0)
    torch.testing.assert_close(profile.similarity, c, atol=1e-6, rtol=0)
    assert profile.layers.tolist() == [False, True, True, True]
    expected = [
        [False, False, False],
        [False, True, False],  # c(1) = 0.5: only 0.40 is below
        [False, False, True],  # c(2) = 0.7: only 0.60
        [True, False, False],  # c(3) = 0.3: only 0.20
    ]
    assert profile.keep.tolist() == expected
    assert enrol("S", x, p, k=0.0).layers.tolist() == [False, True, False, True]
    assert enrol("S", x, p, k=-1.0).layers.tolist() == [False, False, False, True]
    assert enrol("S", x, p, k=None).layers.tolist() == [True] * 4
    assert enrol("S", x, p, blocks=[0, 2]).layers.tolist() == [True, False, True, False]
    no_step_rule = enrol("S", x, p, k=1.0, step_rule=False).keep
    assert no_step_rule.tolist() == [[False] * 3] + [[True] * 3] * 3
    # directions: unit(X - P)
    u = profile.directions[..., 0, :]
    torch.testing.assert_close(u.norm(dim=-1), torch.ones(4, 3))
    torch.testing.assert_close(u, (x - p) / (x - p).norm(dim=-1, keepdim=True))


def test_recorder_takes_the_conditional_branch_and_valid_tokens_only():
    """Padding tokens of a shorter row, and the unconditional branch, stay out of the
    recording: a row recorded alone equals the same row recorded in a padded batch."""
    model = tiny_model()
    b = batch((30, 22))
    both = record(model, lambda: generate(model, b))
    mels, phones, lengths, infill, noise = b
    short = (mels[1:, :22], phones[1:, :22], lengths[1:], infill[1:, :22], noise[1:, :22])
    alone = record(model, lambda: generate(model, short))
    torch.testing.assert_close(both[1], alone[0], atol=1e-5, rtol=1e-5)
    with ActivationRecorder(model) as recorder:
        model.flow_loss(mels, phones, lengths)  # training passes are not recorded
    with pytest.raises(ValueError, match="nothing was recorded"):
        recorder.vectors()
    norms = both.norm(dim=-1)
    assert bool((norms <= 1 + 1e-5).all()) and bool((norms > 0.1).all())  # means of unit vectors


def test_prototype_refuses_another_model_or_sampler():
    model = tiny_model()
    b = batch()
    recorded = record(model, lambda: generate(model, b))
    proto = Prototype.from_recordings(recorded, ["a", "b"], model_hash(model), {"nfe": 4})
    proto.check(model_hash(model), {"nfe": 4})
    with pytest.raises(ValueError, match="recorded on model"):
        proto.check(model_hash(tiny_model(seed=1)), {"nfe": 4})
    with pytest.raises(ValueError, match="sampler settings"):
        proto.check(model_hash(model), {"nfe": 8})
    profiles = profiles_for(model, b)
    with Steerer(model, profiles, ["A", None]), pytest.raises(ValueError, match="solver steps"):
        generate(model, b, nfe=6)
    with pytest.raises(ValueError, match="no steering profile"):
        Steerer(model, profiles, ["C"])


def test_gates_assign_and_count_false_accepts_and_rejects():
    assert OracleGate(["A"]).assign(["A", "B", "A"]) == ["A", None, "A"]
    gate = EmbeddingGate({"A": torch.tensor([1.0, 0.0]), "B": torch.tensor([0.0, 1.0])}, 0.8)
    prompts = torch.tensor([[1.0, 0.1], [0.1, 1.0], [1.0, 1.0], [0.9, -0.5]])
    # best cosines: 0.995 (A), 0.995 (B), 0.707 (both), 0.874 (A)
    assigned = gate.assign(prompts)
    assert assigned == ["A", "B", None, "A"]
    truth = ["A", "B", "A", None]
    rates = gate_rates(assigned, truth)
    assert rates["false_accepts"] == 1 and rates["unprotected"] == 1
    assert rates["false_rejects"] == 1 and rates["protected"] == 3
    assert rates["false_reject_rate"] == pytest.approx(1 / 3)
    wrong_speaker = gate_rates(["B"], ["A"])
    assert wrong_speaker["false_rejects"] == 1
    # thresholds: <= 0.707 costs FA 1 (1.0); (0.707, 0.874] FR 1/3 + FA 1; (0.874, 0.995]
    # FR 1/3 only (the minimum); above, FR 1
    threshold, chosen = choose_gate_threshold(gate.scores(prompts), truth, gate.speakers)
    assert 0.874 < threshold <= 0.996
    assert chosen["false_accept_rate"] == 0
    assert chosen["false_reject_rate"] == pytest.approx(1 / 3)


def test_relative_drops_and_the_trus_verdict_by_hand():
    from audio_unlearn.runners.tts_report import relative_drops, trus_verdict

    original = {"model": "original", "sim_f": 0.8, "sim_u": 0.6, "sim_r": 0.7}
    per_seed = [
        {"model": "tts_steer", "seed": s, "sim_f": f, "sim_u": u, "sim_r": 0.7}
        for s, f, u in ((0, 0.56, 0.39), (1, 0.60, 0.42), (2, 0.58, 0.405))
    ]
    steer = {"model": "tts_steer", "sim_f": 0.58, "sim_u": 0.405, "sim_r": 0.7}
    steer["per_seed"] = per_seed
    one = {"model": "tts_tgu", "sim_f": 0.76, "sim_u": 0.6, "sim_r": 0.63}
    text_only = {"model": "original, text only", "reference": True, "sim_f": 0.5}
    entries = {e["model"]: e for e in relative_drops([original, text_only, steer, one])}
    assert set(entries) == {"tts_steer", "tts_tgu"}
    e = entries["tts_steer"]
    assert e["drop_sim_f"] == pytest.approx(1 - 0.58 / 0.8)  # 27.5%
    assert e["over_seeds"]["drop_sim_f"]["values"] == pytest.approx([0.3, 0.25, 0.275])
    assert e["drop_sim_u"] == pytest.approx(0.325)
    # seen: mean 0.275, interval [0.213, 0.337] holds 27%: consistent
    assert trus_verdict(e, "sim_f") == "consistent with TruS"
    # unseen drops 0.35, 0.30, 0.325: interval [0.263, 0.387] overlaps 27-35%
    assert trus_verdict(e, "sim_u") == "consistent with TruS"
    t = entries["tts_tgu"]
    assert t["drop_sim_f"] == pytest.approx(0.05) and t["drop_sim_r"] == pytest.approx(0.1)
    assert trus_verdict(t, "sim_f") == "below TruS (one model)"
    assert trus_verdict({"drop_sim_u": 0.5}, "sim_u") == "above TruS (one model)"


def test_the_ablation_rule_takes_the_lowest_protected_sim_within_the_wer_bound():
    from audio_unlearn.runners.tts_steer import choose_setting

    original = {"sim_f": 0.72, "sim_u": 0.67, "wer_f": 0.01, "wer_u": 0.02}
    rows = [
        {"change": {"alpha_seen": 1.0}, "sim_f": 0.69, "sim_u": 0.65, "wer_f": 0.01, "wer_u": 0.02},
        # lowest SIM, but WER-U rose by 0.06 > 0.05: out
        {"change": {"k": None}, "sim_f": 0.50, "sim_u": 0.50, "wer_f": 0.01, "wer_u": 0.08},
        {"change": {"rank": 2}, "sim_f": 0.66, "sim_u": 0.62, "wer_f": 0.07, "wer_u": 0.02},
        {"change": {"alpha_seen": 2.0}, "sim_f": 0.67, "sim_u": 0.64, "wer_f": 0.05, "wer_u": 0.0},
        {"skipped": "too few utterances", "change": {"rank": 3}},
    ]
    assert choose_setting(original, rows, 0.05)["change"] == {"alpha_seen": 2.0}
    assert choose_setting(original, rows, 0.10)["change"] == {"k": None}
    assert choose_setting(original, rows[4:], 0.05) is None
