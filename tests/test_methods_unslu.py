"""Update rules of the UnSLU-BENCH methods: NG+, CF-k, UNSIR, BT, BT-L, SCRUB."""

import copy

import pytest
import torch
import torch.nn.functional as F

from audio_unlearn.data.datamodule import UnlearningDataModule
from audio_unlearn.data.manifest import read_manifest
from audio_unlearn.data.splits import class_forget_split, speaker_disjoint_split
from audio_unlearn.methods import build_method, fit_unlearning, get_method, layer_groups
from audio_unlearn.methods.bad_teacher import bad_teacher_loss
from audio_unlearn.methods.neggrad_plus import neggrad_plus_loss
from audio_unlearn.methods.scrub import distill_kl
from audio_unlearn.methods.unsir import error_maximising_noise
from audio_unlearn.models import LogMelCNN, LogMelCNNConfig
from audio_unlearn.testing import train_classifier


@pytest.fixture(scope="module")
def dm(dummy_manifest, seed):
    """Class removal on the dummy tone corpus: class c0 is forgotten."""
    utts = read_manifest(dummy_manifest)
    corpus = speaker_disjoint_split(utts, n_test_speakers=3, seed=seed)
    split = class_forget_split(utts, corpus, classes=["c0"], label_key="intent")
    dm = UnlearningDataModule(utts, split, batch_size=8, max_seconds=1.0, seed=seed)
    dm.setup()
    return dm


@pytest.fixture(scope="module")
def trained(dm):
    """A classifier trained on the dummy corpus (copy it before modifying)."""
    return train_classifier(dm, epochs=6, lr=3e-3, seed=dm.seed)


def _fresh(trained):
    return copy.deepcopy(trained).train()


def _mean_loss(model, dm, name):
    model.eval()
    with torch.no_grad():
        losses = [
            F.cross_entropy(model(x), y, reduction="sum") for x, y in dm.eval_dataloader(name)
        ]
    return float(sum(losses)) / len(dm.dataset(name))


def _batch(dm, name, n=4):
    wav, y = next(iter(dm.eval_dataloader(name)))
    return wav[:n], y[:n]


def _params(model):
    return {k: v.detach().clone() for k, v in model.state_dict().items()}


# ---------------------------------------------------------------- NG+


def test_neggrad_plus_loss_unweighted_and_weighted():
    r, f = torch.tensor(0.5), torch.tensor(2.0)
    assert float(neggrad_plus_loss(r, f)) == pytest.approx(-1.5)
    assert float(neggrad_plus_loss(r, f, alpha=0.9)) == pytest.approx(0.9 * 0.5 - 0.1 * 2.0)


def test_neggrad_plus_step_loss_is_retain_ce_minus_forget_ce(dm, trained):
    model = _fresh(trained)
    batch = {"forget": _batch(dm, "forget"), "retain": _batch(dm, "retain")}
    method = build_method("ngplus", model)
    weighted = build_method("ngplus", model, alpha=0.99)
    with torch.no_grad():
        ce_r = F.cross_entropy(model(batch["retain"][0]), batch["retain"][1])
        ce_f = F.cross_entropy(model(batch["forget"][0]), batch["forget"][1])
        loss, loss_weighted = method.unlearning_loss(batch), weighted.unlearning_loss(batch)
    assert float(loss) == pytest.approx(float(ce_r - ce_f), rel=1e-5)
    assert float(loss_weighted) == pytest.approx(float(0.99 * ce_r - 0.01 * ce_f), rel=1e-5)


def test_neggrad_plus_raises_forget_loss_more_than_retain_loss(dm, trained):
    model = _fresh(trained)
    before = {s: _mean_loss(model, dm, s) for s in ("forget", "retain")}
    fit_unlearning(build_method("ngplus", model, lr=3e-3, epochs=2), dm)
    after = {s: _mean_loss(model, dm, s) for s in ("forget", "retain")}
    assert after["forget"] > before["forget"] + 1.0
    assert after["retain"] < after["forget"] - 1.0
    assert get_method("ngplus").gradient_clip_val == 1.0


def test_neggrad_plus_rejects_alpha_outside_unit_interval():
    model = LogMelCNN(LogMelCNNConfig(num_classes=3))
    with pytest.raises(ValueError, match="alpha must lie in"):
        build_method("ngplus", model, alpha=1.5)


# ---------------------------------------------------------------- CF-k


@pytest.mark.parametrize("k", [1, 2])
def test_cfk_trains_only_the_last_k_layer_groups(dm, trained, k):
    model = _fresh(trained)
    groups = layer_groups(model)
    before = [_params(g) for g in groups]
    fit_unlearning(build_method("cfk", model, lr=1e-2, epochs=1, k=k), dm)
    for i, (g, b) in enumerate(zip(groups, before, strict=True)):
        changed = any(not torch.equal(v, b[n]) for n, v in g.state_dict().items())
        # frozen groups keep weights *and* BatchNorm running statistics
        assert changed == (i >= len(groups) - k), (i, k)
    assert all(p.requires_grad for p in model.parameters())  # restored after training


def test_cfk_rejects_k_out_of_range():
    model = LogMelCNN(LogMelCNNConfig(num_classes=3))
    n = len(layer_groups(model))
    for k in (0, n + 1):
        with pytest.raises(ValueError, match=f"between 1 and {n}"):
            build_method("cfk", model, k=k)


# ---------------------------------------------------------------- UNSIR


def test_error_maximising_noise_raises_loss_on_its_targets_and_leaves_model_alone(dm, trained):
    model = _fresh(trained)
    state = _params(model)
    wav, y = _batch(dm, "forget")
    noise = error_maximising_noise(model, wav, y, steps=5, lr=0.01, reg=0.1)
    assert noise.shape == wav.shape and noise.abs().sum() > 0
    assert model.training  # mode restored
    assert all(torch.equal(v, state[k]) for k, v in model.state_dict().items())
    assert all(p.grad is None for p in model.parameters())
    model.eval()
    with torch.no_grad():
        clean = F.cross_entropy(model(wav), y)
        noisy = F.cross_entropy(model(wav + noise), y)
    assert noisy > clean + 0.5
    # the L2 regulariser shrinks the noise
    strong = error_maximising_noise(model, wav, y, steps=5, lr=0.01, reg=100.0)
    assert strong.norm() < noise.norm()


def test_unsir_optimises_the_noise_against_the_forget_labels(dm, trained, monkeypatch):
    model = _fresh(trained)
    method = build_method("unsir", model, lr=1e-3, repair_lr=1e-2)
    forget = dm.dataset("forget")
    forget_wavs = torch.stack([forget[i][0] for i in range(len(forget))])
    calls = []
    learn = method.learn_noise

    def spy(wav, targets):
        noise = learn(wav, targets)
        was_training = method.model.training
        method.model.eval()
        with torch.no_grad():
            clean = F.cross_entropy(method.model(wav), targets)
            noisy = F.cross_entropy(method.model(wav + noise), targets)
        method.model.train(was_training)
        calls.append((wav, targets, float(clean), float(noisy)))
        return noise

    monkeypatch.setattr(method, "learn_noise", spy)
    fit_unlearning(method, dm)
    assert calls
    for wav, targets, clean, noisy in calls:
        # every noisy input is a forget waveform, scored against its own (forget) label
        idx = [int((forget_wavs == w).all(dim=-1).nonzero()[0]) for w in wav]
        assert torch.equal(targets, forget.targets[idx])
        assert noisy > clean  # the noise maximises the forget samples' loss


def test_unsir_per_batch_structure_noise_impair_repair(dm, trained, monkeypatch):
    method = build_method("unsir", _fresh(trained), impair_steps=2, repair_steps=3, noise_steps=1)
    events = []
    learn, step = method.learn_noise, method._step

    def spy_noise(wav, targets):
        noise = learn(wav, targets)
        events.append(("noise", wav + noise))
        return noise

    def spy_step(opt, wav, y):
        kind = "impair" if isinstance(opt.optimizer, torch.optim.AdamW) else "repair"
        events.append((kind, wav))
        return step(opt, wav, y)

    monkeypatch.setattr(method, "learn_noise", spy_noise)
    monkeypatch.setattr(method, "_step", spy_step)
    fit_unlearning(method, dm)
    n_batches = len(dm.loader("retain", shuffle=True))
    kinds = [k for k, _ in events]
    assert kinds == (["noise"] + ["impair"] * 2 + ["repair"] * 3) * n_batches
    for i in range(0, len(events), 6):
        noisy = events[i][1]
        # impair inputs: the noisy forget batch, then the retain batch; repair: retain only
        assert torch.equal(events[i + 1][1][: len(noisy)], noisy)
        assert torch.equal(events[i + 3][1], events[i + 1][1][len(noisy) :])


def test_unsir_impair_then_repair_forgets_the_class(dm, trained):
    model = _fresh(trained)
    fit_unlearning(build_method("unsir", model, lr=3e-3, repair_lr=1e-2, noise_steps=2), dm)
    after = {s: _mean_loss(model, dm, s) for s in ("forget", "retain")}
    assert after["forget"] > after["retain"] + 1.0


def test_unsir_validates_hyper_parameters():
    model = LogMelCNN(LogMelCNNConfig(num_classes=3))
    with pytest.raises(ValueError, match="noise_steps must be >= 0"):
        build_method("unsir", model, noise_steps=-1)
    with pytest.raises(ValueError, match="repair_lr must be > 0"):
        build_method("unsir", model, repair_lr=0)


# ---------------------------------------------------------------- BT / BT-L


def test_bad_teacher_loss_picks_each_samples_teacher():
    good = torch.tensor([[2.0, 0.0, -1.0], [0.0, 1.0, 0.0]])
    bad = torch.tensor([[0.0, 3.0, 0.0], [1.0, -2.0, 0.5]])
    is_forget = torch.tensor([True, False])
    # student equal to row 0's bad teacher and row 1's good teacher: zero loss
    student = torch.stack([bad[0], good[1]])
    assert float(bad_teacher_loss(student, good, bad, is_forget)) == pytest.approx(0, abs=1e-6)
    # otherwise: the mean over rows of KL(teacher || student), teacher per row
    student = torch.randn(2, 3, generator=torch.Generator().manual_seed(0))
    p_t = torch.stack([bad[0].softmax(-1), good[1].softmax(-1)])
    kl = (p_t * (p_t.log() - student.log_softmax(-1))).sum(-1).mean()
    assert float(bad_teacher_loss(student, good, bad, is_forget)) == pytest.approx(float(kl))


def test_bad_teacher_is_a_reinitialised_copy_not_the_original(dm, trained):
    model = _fresh(trained)
    method = build_method("bt", model, teacher_seed=3)
    bad, good = method.incompetent_teacher, method.competent_teacher
    assert type(bad) is type(model) and bad is not model and bad is not good
    orig, fresh = _params(model), bad.state_dict()
    weights = [k for k in orig if k.endswith("weight") and "frontend" not in k]
    assert all(not torch.equal(orig[k], fresh[k]) for k in weights)
    assert all(torch.equal(orig[k], v) for k, v in good.state_dict().items())
    wav, _ = _batch(dm, "forget")
    model.eval()
    with torch.no_grad():
        assert not torch.allclose(bad(wav), model(wav))
    # seeded: the same teacher_seed gives the same bad teacher
    again = build_method("bt", _fresh(trained), teacher_seed=3).incompetent_teacher
    assert all(torch.equal(v, again.state_dict()[k]) for k, v in fresh.items())


def test_bad_teacher_step_uses_bad_teacher_for_forget_rows_only(dm, trained):
    model = _fresh(trained)
    method = build_method("bt", model)
    wav_f, y_f = _batch(dm, "forget", 3)
    wav_r, y_r = _batch(dm, "retain", 5)
    model.eval()  # deterministic BatchNorm for the comparison
    loss = method.unlearning_loss({"forget": (wav_f, y_f), "retain": (wav_r, y_r)}).detach()
    wav = torch.cat([wav_f, wav_r])
    with torch.no_grad():
        good = method.competent_teacher(wav)
        bad = method.incompetent_teacher(wav)
        student = model(wav)
    is_forget = torch.tensor([True] * 3 + [False] * 5)
    assert float(loss) == pytest.approx(float(bad_teacher_loss(student, good, bad, is_forget)))
    swapped = bad_teacher_loss(student, bad, good, is_forget)
    assert float(loss) != pytest.approx(float(swapped))


def test_bad_teacher_logits_are_gaussian_noise(dm, trained):
    method = build_method("btl", _fresh(trained), noise_std=2.0)
    assert method.incompetent_teacher is None
    forget = (torch.zeros(4000, 8), torch.zeros(4000, dtype=torch.long))
    logits = method.incompetent_rows(forget, torch.zeros(4000 + 7, 6))
    assert logits.shape == (4000, 6)
    assert float(logits.mean()) == pytest.approx(0.0, abs=0.05)
    assert float(logits.std()) == pytest.approx(2.0, rel=0.03)


@pytest.mark.parametrize("name", ["bt", "btl"])
def test_bad_teaching_raises_forget_loss_and_keeps_teachers_frozen(dm, trained, name):
    model = _fresh(trained)
    method = build_method(name, model, lr=1e-3)
    teacher_state = _params(method.competent_teacher)
    before = _mean_loss(model, dm, "forget")
    fit_unlearning(method, dm)
    assert _mean_loss(model, dm, "forget") > before + 0.5
    assert not method.competent_teacher.training
    assert all(
        torch.equal(v, teacher_state[k]) for k, v in method.competent_teacher.state_dict().items()
    )


# ---------------------------------------------------------------- SCRUB


def test_distill_kl_is_teacher_to_student_times_t_squared():
    s = torch.tensor([[1.0, 0.0, -1.0], [0.2, 0.3, 0.1]])
    t = torch.tensor([[3.0, -1.0, 0.0], [0.0, 2.0, 0.0]])
    T = 4.0
    p_s, p_t = (s / T).softmax(-1), (t / T).softmax(-1)
    teacher_first = (p_t * (p_t.log() - p_s.log())).sum(-1).mean() * T**2
    student_first = (p_s * (p_s.log() - p_t.log())).sum(-1).mean() * T**2
    assert float(distill_kl(s, t, T)) == pytest.approx(float(teacher_first), rel=1e-5)
    assert float(teacher_first) != pytest.approx(float(student_first), rel=1e-3)


def test_scrub_runs_max_passes_only_in_the_first_msteps_epochs(dm, trained, monkeypatch):
    method = build_method("scrub", _fresh(trained), lr=1e-4, epochs=3, msteps=2)
    log = []
    max_step, min_step = method.max_step, method.min_step
    monkeypatch.setattr(
        method, "max_step", lambda *a: log.append(("max", method.current_epoch)) or max_step(*a)
    )
    monkeypatch.setattr(
        method, "min_step", lambda *a: log.append(("min", method.current_epoch)) or min_step(*a)
    )
    fit_unlearning(method, dm)
    n_forget = len(dm.loader("forget", shuffle=True))
    n_retain = len(dm.loader("retain", shuffle=True))
    expected = []
    for epoch in range(3):
        expected += [("max", epoch)] * (n_forget if epoch < 2 else 0)
        expected += [("min", epoch)] * n_retain
    assert log == expected  # each epoch: the forget pass first, then the retain pass


def test_scrub_max_steps_push_the_student_away_from_the_teacher_on_forget(dm, trained, bound):
    model = _fresh(trained)
    torch.manual_seed(dm.seed)
    # min-step weights 0: only the max pass over forget moves the student
    method = build_method("scrub", model, lr=3e-3, epochs=1, msteps=1, alpha=0.0, gamma=0.0)
    fit_unlearning(method, dm)
    model.eval()

    def kl(name):
        x = torch.cat([w for w, _ in dm.eval_dataloader(name)])
        with torch.no_grad():
            return float(distill_kl(model(x), method.teacher(x), 4.0))

    bound("forget KL to the teacher", kl("forget"), ">", 0.5)
    bound("forget KL / retain KL", kl("forget") / kl("retain"), ">", 3)
    assert not method.teacher.training


def test_scrub_min_steps_fit_the_retain_labels(dm):
    torch.manual_seed(0)
    model = LogMelCNN(LogMelCNNConfig(num_classes=dm.num_classes))
    before = _mean_loss(model, dm, "retain")
    fit_unlearning(build_method("scrub", model, lr=3e-3, epochs=2, msteps=0), dm)
    assert _mean_loss(model, dm, "retain") < before - 0.1


def test_scrub_validates_hyper_parameters():
    model = LogMelCNN(LogMelCNNConfig(num_classes=3))
    with pytest.raises(ValueError, match="temperature must be > 0"):
        build_method("scrub", model, temperature=0)
    with pytest.raises(ValueError, match="msteps must be >= 0"):
        build_method("scrub", model, msteps=-1)
