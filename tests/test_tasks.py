"""The task seam (audio_unlearn.tasks): one method implementation serves every task through
the task's loss, per-sample loss, outputs and divergence."""

import copy

import pytest
import torch
import torch.nn.functional as F

from audio_unlearn.methods import METHODS, build_method
from audio_unlearn.methods.registry import (
    PRESETS,
    method_hparams,
    methods_for_task,
    register_preset,
    resolve_method,
)
from audio_unlearn.models import build_classifier
from audio_unlearn.models.asr import CTCRecognizer, CTCRecognizerConfig
from audio_unlearn.tasks import ASRTask, ClassificationTask, TTSTask, get_task
from audio_unlearn.tasks.asr import finite_mean

TINY_ASR = dict(
    n_mels=16,
    conv_channels=8,
    blocks=1,
    block_kernel=3,
    rnn_hidden=8,
    rnn_layers=1,
    freq_masks=0,
    time_masks=0,
)


def _classifier():
    torch.manual_seed(0)
    return build_classifier(name="logmel_cnn", num_classes=3, channels=8, n_layers=2).eval()


def _classification_batch():
    g = torch.Generator().manual_seed(1)
    return torch.randn(4, 16000, generator=g) * 0.1, torch.tensor([0, 1, 2, 1])


def _recogniser():
    torch.manual_seed(0)
    return CTCRecognizer(CTCRecognizerConfig(characters=(" ", "a", "b"), **TINY_ASR)).eval()


def _asr_batch():
    g = torch.Generator().manual_seed(2)
    wavs = torch.randn(3, 16000, generator=g) * 0.1
    return (
        wavs,
        torch.tensor([16000, 12000, 8000]),
        torch.tensor([[1, 2, 1], [2, 2, 0], [1, 0, 0]]),
        torch.tensor([3, 2, 1]),
    )


def test_get_task_names_and_errors():
    assert isinstance(get_task("classification"), ClassificationTask)
    assert isinstance(get_task("asr"), ASRTask) and isinstance(get_task("tts"), TTSTask)
    task = ASRTask()
    assert get_task(task) is task
    with pytest.raises(ValueError, match="unknown task 'speech'"):
        get_task("speech")


def test_classification_task_is_cross_entropy_and_distillation_kl():
    task, model, batch = ClassificationTask(), _classifier(), _classification_batch()
    with torch.no_grad():
        logits = model(batch[0])
    torch.testing.assert_close(task.loss(model, batch), F.cross_entropy(logits, batch[1]))
    per = task.per_sample_loss(model, batch)
    assert per.shape == (4,)
    torch.testing.assert_close(per.mean(), task.loss(model, batch))
    assert float(task.divergence(logits, logits, batch, 4.0)) == pytest.approx(0.0, abs=1e-6)
    assert float(task.divergence(logits, logits.flip(0), batch, 4.0)) > 0
    assert task.batch_size(batch) == 4


def test_asr_task_uses_the_recognisers_per_sample_loss_and_sequence_kl():
    task, model, batch = ASRTask(), _recogniser(), _asr_batch()
    per = task.per_sample_loss(model, batch)
    torch.testing.assert_close(per, model.loss(*batch))
    torch.testing.assert_close(task.loss(model, batch), finite_mean(per))
    # the outputs route (one student pass for loss and divergence) gives the same loss
    out = task.outputs(model, batch)
    torch.testing.assert_close(task.loss_from_outputs(model, out, batch), task.loss(model, batch))
    assert float(task.divergence(out, out, batch)) == pytest.approx(0.0, abs=1e-6)
    other = copy.deepcopy(model)
    with torch.no_grad():
        other.output.weight.mul_(-1)
    assert float(task.divergence(out, task.outputs(other, batch), batch)) > 0
    assert task.batch_size(batch) == 3


def test_tts_task_is_the_flow_loss(tiny_tts):
    from audio_unlearn.models.tts import load_tts

    dm, path = tiny_tts
    model = load_tts(path).model.eval()
    dm.setup("fit")
    batch = next(iter(dm.eval_dataloader("retain")))
    task = TTSTask()
    torch.manual_seed(3)
    loss = task.loss(model, batch)
    torch.manual_seed(3)
    torch.testing.assert_close(loss, model.flow_loss(*batch[:3]))
    torch.manual_seed(3)
    per = task.per_sample_loss(model, batch)
    assert per.shape == (batch[0].shape[0],) and torch.isfinite(per).all()
    assert task.batch_size(batch) == batch[0].shape[0]


def _tts_batches(tiny_tts):
    from audio_unlearn.models.tts import load_tts

    dm, path = tiny_tts
    model = load_tts(path).model.eval()
    dm.setup("fit")
    return model, next(iter(dm.eval_dataloader("forget"))), next(iter(dm.eval_dataloader("retain")))


def test_tts_outputs_share_draws_so_a_teacher_and_its_student_meet_on_one_input(tiny_tts):
    """The flow model's output distribution: velocity at the draws (noise, time, span); a
    teacher scored like= a student reuses them, so a copy diverges by exactly 0."""
    model, batch, _ = _tts_batches(tiny_tts)
    task = TTSTask()
    torch.manual_seed(3)
    out = task.outputs(model, batch)
    torch.manual_seed(3)
    torch.testing.assert_close(
        task.loss_from_outputs(model, out, batch), model.flow_loss(*batch[:3])
    )
    same = task.outputs(copy.deepcopy(model), batch, like=out)
    assert torch.equal(same.draws.x_t, out.draws.x_t)
    assert float(task.divergence(out, same, batch)) == 0.0
    other = copy.deepcopy(model)
    with torch.no_grad():
        other.out_proj.weight.mul_(1.5)
    far = task.outputs(other, batch, like=out)
    d1, d4 = task.divergence(out, far, batch, 1.0), task.divergence(out, far, batch, 4.0)
    assert float(d1) > 0 and float(d4) == pytest.approx(4 * float(d1), rel=1e-6)
    # unshared draws are a different input: the same model would "diverge" from itself
    assert float(task.divergence(out, task.outputs(model, batch), batch)) > 0


def test_tts_concat_pads_items_and_rows_replace_velocities(tiny_tts):
    model, forget, retain = _tts_batches(tiny_tts)
    task = TTSTask()
    joined = task.concat(forget, retain)
    nf, nr = forget[0].shape[0], retain[0].shape[0]
    frames = max(forget[0].shape[1], retain[0].shape[1])
    assert joined[0].shape == (nf + nr, frames, forget[0].shape[2])
    assert joined[1].shape == (nf + nr, frames)
    assert torch.equal(joined[2], torch.cat([forget[2], retain[2]]))
    assert torch.equal(joined[0][:nf, : forget[0].shape[1]], forget[0])
    assert not joined[0][:nf, forget[0].shape[1] :].any()
    out = task.outputs(model, joined)
    rows = torch.zeros(nf, 3, out.velocity.shape[2])
    replaced = task.with_rows(out, rows)
    assert not replaced.velocity[:nf, :3].any()
    assert torch.equal(replaced.velocity[:nf, 3:], out.velocity[:nf, 3:])
    assert torch.equal(replaced.velocity[nf:], out.velocity[nf:])
    # a forget batch scored like= the joined outputs takes the first items' draws
    head = task.outputs(model, forget, like=out)
    assert torch.equal(head.draws.t, out.draws.t[:nf])


@pytest.mark.parametrize("name", ["bt", "btl", "scrub"])
def test_distillation_methods_serve_tts_with_tts_presets(name, tiny_tts):
    model, _, _ = _tts_batches(tiny_tts)
    method = build_method(name, model, task="tts")
    assert isinstance(method.task, TTSTask) and method.lr == 1e-4
    assert PRESETS[f"tts_{name}"].method == name


@pytest.mark.parametrize("name", ["bt", "btl"])
def test_bad_teacher_on_tts_teaches_forget_items_badly_on_shared_draws(name, tiny_tts):
    """One pass over forget + retain items on one set of draws: the teacher of forget items
    is the bad one (BT: a random network; BT-L: noise velocities), of retain items the
    original; trained on it, the student's forget velocities move towards the bad ones."""
    model, forget, retain = _tts_batches(tiny_tts)
    task = TTSTask()
    method = build_method(name, model, task="tts", lr=1e-3)
    original = copy.deepcopy(model)
    joined = task.concat(forget, retain)
    nf = forget[0].shape[0]
    reseed = getattr(method, "_noise", torch.Generator()).manual_seed
    torch.manual_seed(11)
    reseed(7)
    with torch.no_grad():
        good = task.outputs(original, joined)
        teacher = task.with_rows(good, method.incompetent_rows(forget, good))
    assert torch.equal(teacher.velocity[nf:], good.velocity[nf:])
    assert not torch.equal(teacher.velocity[:nf], good.velocity[:nf])
    torch.manual_seed(11)
    reseed(7)
    loss = method.unlearning_loss({"forget": forget, "retain": retain})
    with torch.no_grad():
        student = task.outputs(method.model, joined, like=good)
    assert float(loss) == pytest.approx(float(task.divergence(student, teacher, joined)), rel=1e-5)

    bad = teacher.velocity[:nf] if name == "bt" else torch.zeros_like(good.velocity[:nf])
    mask = good.draws.infill[:nf].unsqueeze(-1)

    def forget_gap():  # BT-L: the distance to the noise's mean, zero
        with torch.no_grad():
            v = task.outputs(method.model, joined, like=good).velocity[:nf]
        return float(((v - bad) ** 2 * mask).sum() / mask.sum())

    before = forget_gap()
    opt = torch.optim.AdamW(method.model.parameters(), lr=1e-3)
    method.model.eval()  # no condition dropout: the measured draws stay comparable
    for _ in range(60):
        opt.zero_grad()
        method.unlearning_loss({"forget": forget, "retain": retain}).backward()
        opt.step()
    # measured after / before: 0.248 (BT), 0.187 (BT-L), the same under AVX512, AVX2 and
    # default kernels and 1 or 2 threads (the batch and draws are fixed)
    assert forget_gap() < 0.5 * before


@pytest.mark.parametrize(
    "name",
    [
        *("ft", "ng", "ngplus", "cfk", "scrub", "l1sparse", "omp", "prune_regrow", "retrain"),
        *("ssd", "bt", "btl"),
    ],
)
def test_one_implementation_serves_every_task(name):
    from audio_unlearn.models.tts import FlowMatchingTTS, FlowMatchingTTSConfig

    cls = METHODS[name]
    assert set(cls.tasks) == {"classification", "asr", "tts"}
    assert all(name in methods_for_task(t) for t in ("classification", "asr", "tts"))
    asr = build_method(name, _recogniser(), task="asr")
    clf = build_method(name, _classifier(), task="classification")
    small = FlowMatchingTTSConfig(n_phones=8, d_model=16, n_layers=2, n_heads=2, d_phone=4)
    tts = build_method(name, FlowMatchingTTS(small), task="tts")
    assert type(asr) is type(clf) is type(tts) is cls
    assert isinstance(asr.task, ASRTask) and isinstance(clf.task, ClassificationTask)
    assert isinstance(tts.task, TTSTask)


def test_ng_ascends_the_task_loss_on_each_task():
    for model, batch, task in (
        (_classifier(), _classification_batch(), "classification"),
        (_recogniser(), _asr_batch(), "asr"),
    ):
        module = build_method("ng", model, task=task)
        expected = -get_task(task).loss(model, batch)
        torch.testing.assert_close(module.unlearning_loss({"forget": batch}), expected)


def test_label_bound_methods_serve_classification_only():
    for name in ("rl", "srl", "unsir", "amnesiac"):
        assert METHODS[name].tasks == ("classification",), name
        with pytest.raises(ValueError, match="serves"):
            resolve_method(name, "asr")


def test_presets_resolve_and_their_defaults_apply_on_their_task():
    assert resolve_method("asr_cfk") == ("cfk", "asr", {"lr": 3e-4, "k": 2})
    assert method_hparams("cfk", "asr")["k"] == 2 and method_hparams("cfk")["k"] == 1
    assert build_method("asr_cfk", _recogniser(), k=1).k == 1  # overrides win
    with pytest.raises(ValueError, match="already taken"):
        register_preset("asr_cfk", "ng", task="asr")
    with pytest.raises(ValueError, match="does not serve task 'asr'"):
        register_preset("asr_unsir_for_test", "unsir", task="asr")
    with pytest.raises(ValueError, match="no hyper-parameter"):
        register_preset("asr_ng_for_test", "ng", task="asr", defaults={"nope": 1})
    assert "asr_unsir_for_test" not in PRESETS and "asr_ng_for_test" not in PRESETS


@pytest.mark.parametrize("name", ["bt", "btl"])
def test_bad_teacher_on_asr_teaches_forget_items_badly_and_retain_items_well(name):
    """One forward pass over forget + retain (padded to the longer of each); the teacher of
    forget items is the bad one, of retain items the original."""
    task = get_task("asr")
    forget = _asr_batch()
    g = torch.Generator().manual_seed(3)
    retain = (
        torch.randn(2, 20000, generator=g) * 0.1,
        torch.tensor([20000, 15000]),
        torch.tensor([[2, 1, 2, 1], [1, 1, 0, 0]]),
        torch.tensor([4, 2]),
    )
    method = build_method(name, _recogniser(), task="asr")
    joined = task.concat(forget, retain)
    assert joined[0].shape == (5, 20000) and joined[2].shape == (5, 4)
    assert torch.equal(joined[0][:3, :16000], forget[0]) and not joined[0][:3, 16000:].any()
    reseed = getattr(method, "_noise", torch.Generator()).manual_seed  # BT-L: the same noise
    reseed(7)
    with torch.no_grad():
        good = task.outputs(method.competent_teacher, joined)
        teacher = task.with_rows(good, method.incompetent_rows(forget, good))
    assert torch.equal(teacher[0][3:], good[0][3:])
    assert not torch.equal(teacher[0][:3], good[0][:3])
    reseed(7)
    loss = method.unlearning_loss({"forget": forget, "retain": retain})
    with torch.no_grad():
        expected = task.divergence(task.outputs(method.model, joined), teacher, joined, 1.0)
    assert float(loss) == pytest.approx(float(expected), abs=1e-6)
    if name == "btl":  # noise logits are far from the original's: a real signal
        assert float(loss) > 0.01


def test_retrain_trains_as_each_tasks_reference_was_trained():
    """Exact unlearning uses the task's reference-training recipe (methods/training.py)."""
    clf = build_method("retrain", _classifier(), task="classification")
    assert (clf.recipe["optimizer"], clf.recipe["schedule"], clf.gradient_clip_val) == (
        "adam",
        "one_cycle",
        None,
    )
    asr = build_method("retrain", _recogniser(), task="asr")
    assert (asr.recipe["optimizer"], asr.gradient_clip_val) == ("adamw", 5.0)
    from audio_unlearn.models.tts import FlowMatchingTTS, FlowMatchingTTSConfig

    small = FlowMatchingTTSConfig(n_phones=8, d_model=16, n_layers=2, n_heads=2, d_phone=4)
    tts = build_method("tts_retrain", FlowMatchingTTS(small))
    assert isinstance(tts.task, TTSTask)
    r = tts.recipe
    assert (r["schedule"], r["warmup_steps"], r["weight_decay"], r["lr"]) == (
        "warmup_cosine",
        200,
        0.01,
        1e-3,
    )
    assert tts.gradient_clip_val == 1.0


class _CapturingASRTask(ASRTask):
    """Records the targets each loss call trains towards."""

    def __init__(self):
        self.seen = []

    def loss(self, model, batch):
        self.seen.append((batch[2].clone(), batch[3].clone()))
        return super().loss(model, batch)


def _transcripts(targets, lengths):
    return [tuple(row[: int(n)].tolist()) for row, n in zip(targets, lengths, strict=True)]


def test_asr_random_labels_are_other_utterances_transcripts():
    forget = _asr_batch()
    own = _transcripts(forget[2], forget[3])
    g = torch.Generator().manual_seed(3)
    pool = (
        torch.randn(3, 20000, generator=g) * 0.1,
        torch.tensor([20000, 15000, 9000]),
        torch.tensor([[1, 2, 1, 0], [2, 1, 2, 1], [1, 0, 0, 0]]),  # two of forget's texts
        torch.tensor([3, 4, 1]),
    )
    task, model = _CapturingASRTask(), _recogniser()
    generator = torch.Generator().manual_seed(0)
    for _ in range(20):
        loss = task.random_label_loss(model, forget, pool, generator)
        assert torch.isfinite(loss)
    drawn = [_transcripts(*seen) for seen in task.seen]
    pool_texts = set(_transcripts(pool[2], pool[3]))
    for row, text in enumerate(own):
        mine = {d[row] for d in drawn}
        assert text not in mine and mine <= pool_texts  # always wrong, always a real text
    assert len({d[0] for d in drawn}) == 2  # item 0 ([1, 2, 1]) draws both other texts
    # a pool of the item's own text only: nothing wrong exists, the pool's text is used
    same = (pool[0][:1], pool[1][:1], torch.tensor([[1, 0, 0]]), torch.tensor([1]))
    task.seen.clear()
    task.random_label_loss(model, forget, same, generator)
    assert _transcripts(*task.seen[0]) == [(1,), (1,), (1,)]


def test_tts_random_labels_are_sgu_rows_with_a_random_pool_speaker(tiny_tts):
    from audio_unlearn.methods.tts import concat_rows

    model, forget, retain = _tts_batches(tiny_tts)
    task = TTSTask()
    torch.manual_seed(5)
    loss = task.random_label_loss(model, forget, retain, torch.Generator().manual_seed(1))
    pick = torch.randint(4, (4,), generator=torch.Generator().manual_seed(1))
    mels, phones, lengths, span = concat_rows(forget, tuple(t[pick] for t in retain[:3]))
    torch.manual_seed(5)
    expected = model.flow_loss(mels, phones, lengths, infill=span, drop_conditions=False)
    torch.testing.assert_close(loss, expected)


def test_salun_serves_tts_moving_only_the_salient_weights(tiny_tts):
    from audio_unlearn.methods import fit_unlearning
    from audio_unlearn.models.tts import load_tts

    dm, path = tiny_tts
    model = load_tts(path).model
    before = {n: p.detach().clone() for n, p in model.named_parameters()}
    method = build_method("salun", model, task="tts", lr=1e-2, epochs=1, gamma=0.3)
    fit_unlearning(method, dm)
    n_total = sum(p.numel() for p in model.parameters())
    assert sum(int(m.sum()) for m in method.masks.values()) == int(0.3 * n_total)
    changed = 0
    for n, p in model.named_parameters():
        moved = p.detach() != before[n]
        assert not moved[~method.masks[n]].any(), n  # masked-out weights never move
        changed += int(moved.sum())
    assert changed > 0.5 * int(0.3 * n_total)
