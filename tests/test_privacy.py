"""The voice-privacy workflow: `audio-unlearn forget`, attacks, the record, purge."""

from __future__ import annotations

import hashlib
import json
import shutil
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
import torch
import yaml

from audio_unlearn.cli import main
from audio_unlearn.data.audio import load_audio
from audio_unlearn.data.manifest import read_manifest
from audio_unlearn.models.checkpoint import load_classifier, save_classifier
from audio_unlearn.privacy import (
    AttackConfig,
    ForgetConfig,
    ForgetRequest,
    deploy_classifier,
    informed_mia,
    load_request,
    plan_forget,
    relearn_attack,
    run_forget,
    unlearn,
)
from audio_unlearn.testing import make_dummy_corpus

RECIPE = Path(__file__).resolve().parents[1] / "recipes" / "speaker_id"
TINY_CNN = {"name": "logmel_cnn", "channels": 16, "n_layers": 2}
FAST = ["--option", "max_seconds=1.0", "--option", "attack.relearn.steps=4"]


def sha(path) -> str:
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


def tree(root) -> dict[str, str]:
    return {str(p.relative_to(root)): sha(p) for p in Path(root).rglob("*") if p.is_file()}


@pytest.fixture(scope="module")
def sid(tmp_path_factory, seed):
    """A deployed tiny speaker-ID model on the dummy corpus (6 speakers, 1 s tones)."""
    root = tmp_path_factory.mktemp("sid")
    manifest = make_dummy_corpus(root / "corpus", n_speakers=6, n_classes=3, per_class=4)
    return deploy_classifier(
        manifest,
        root / "deploy",
        label_key="speaker",
        model=TINY_CNN,
        epochs=10,
        max_seconds=1.0,
        seed=seed,
    )


@pytest.fixture(scope="module")
def slu(tmp_path_factory):
    """A deployed tiny intent model, 2 speakers held out (speaker-disjoint)."""
    root = tmp_path_factory.mktemp("slu")
    manifest = make_dummy_corpus(root / "corpus", n_speakers=6, n_classes=3, per_class=3)
    return deploy_classifier(
        manifest,
        root / "deploy",
        label_key="intent",
        holdout="speaker",
        n_test_speakers=2,
        model=TINY_CNN,
        epochs=6,
        max_seconds=1.0,
    )


def write_request(path: Path, **fields) -> Path:
    path.write_text(yaml.safe_dump(fields))
    return path


def forget_args(dep, request, out, *extra) -> list[str]:
    return [
        "forget",
        "--checkpoint",
        str(dep.checkpoint),
        "--manifest",
        str(dep.train_manifest),
        "--heldout",
        str(dep.heldout_manifest),
        "--request",
        str(request),
        "--out",
        str(out),
        "--no-progress",
        *FAST,
        *extra,
    ]


# --------------------------------------------------------------------------- end to end


def test_end_to_end_speaker_id_on_the_synthetic_corpus(small_synth_corpus, tmp_path, seed, bound):
    dep = deploy_classifier(
        small_synth_corpus.manifest,
        tmp_path / "deploy",
        label_key="speaker",
        model={"name": "logmel_cnn", "channels": 32, "n_layers": 3},
        epochs=10,
        max_seconds=2.0,
        seed=seed,
    )
    # the recipe's own request (spk03) and config (NG+, relearning, then spk07), made quick
    request = RECIPE / "request.yaml"
    speakers = ["spk03", "spk07"]
    assert load_request(request).speakers == ("spk03",)
    quick = [
        *("--option", "max_seconds=2.0", "--option", "attack.relearn.steps=6"),
        *("--option", "attack.relearn.eval_every=2", "--option", "attack.relearn.utterances=3"),
    ]
    before_hash = sha(dep.checkpoint)
    out = tmp_path / "run"
    args = forget_args(dep, request, out, "--config", str(RECIPE / "config.yaml"))
    args = [*args[: -len(FAST) - 2], "--config", str(RECIPE / "config.yaml"), *quick]
    args += ["--set", "lr=1e-3", "--set", "epochs=3"]  # a few steps on this tiny corpus
    args += ["--option", f"seed={seed}"]
    assert main(args) == 0

    assert sha(dep.checkpoint) == before_hash  # the original is byte-identical
    record = json.loads((out / "record.json").read_text())
    new = out / "model.req-0001.pt"
    assert record["outputs"]["checkpoint"] == new.name and new.is_file()
    assert record["hashes"]["checkpoint_after"] == sha(new) != before_hash
    assert record["hashes"]["original_checkpoint_unchanged"] is True
    assert record["request"]["requester"] == "privacy office" and record["split"]["kind"] == "class"
    assert record["method"] == {
        "name": "ngplus",
        "hparams": {"lr": 1e-3, "alpha": 0.9, "epochs": 3},
    }
    assert record["split"]["sha256"] == sha(out / "split.json")
    b, a = record["metrics"]["before"]["sets"], record["metrics"]["after"]["sets"]
    # forgetting: the speaker's training utterances are no longer identified
    # the original identifies the speaker (>= 0.9 failed at 8 of 9 utterances on suite seeds
    # 1 and 2 and on held-out seed 10 even with 15 epochs: the 0.75 bound is that measured
    # spread, tests/README.md); forgetting is judged by "after" and the loss rise
    bound("forget acc before", b["forget"]["acc"], ">=", 0.75)
    bound("forget acc after", a["forget"]["acc"], "<=", 0.2)
    bound("forget loss rise", a["forget"]["loss"] - b["forget"]["loss"], ">", 1.0)
    # utility preserved on the other speakers
    bound("retain acc before", b["retain"]["acc"], ">=", 0.9)
    bound("retain acc drop", b["retain"]["acc"] - a["retain"]["acc"], "<=", 0.15)
    ver = record["metrics"]["after"]["verification"]
    assert {"eer", "min_dcf"} <= set(ver["forgotten"]) and "eer" in ver["others"]
    # the identity metrics a privacy officer reads, with the protocol behind them
    assert {"min_cllr", "cllr", "eer_threshold", "tpr_at_fpr_1pct"} <= set(ver["forgotten"])
    assert 0.0 <= ver["forgotten"]["min_cllr"] <= ver["forgotten"]["cllr"] + 1e-9
    assert ver["protocol"]["scoring"] == "cosine" and "embed()" in ver["protocol"]["encoder"]
    assert "auc" in record["metrics"]["after"]["mia"]
    # attacks filled in
    attacks = record["attacks"]
    assert [r["step"] for r in attacks["relearn"]["curve"]] == [0, 2, 4, 6]
    assert attacks["relearn"]["settings"]["retain_per_step"] == 8
    assert (
        attacks["informed_mia"]["after"]["n_nonmembers"]
        == record["split"]["sizes"]["forget_heldout"]
    )
    assert attacks["sequential"]["second_request"]["speakers"] == [speakers[1]]
    assert "forget_acc" in attacks["sequential"]["first_after_second"]
    # the rendering and its plots
    md = (out / "record.md").read_text()
    assert "req-0001" in md and "| forget accuracy |" in md and "Relearning" in md
    assert "| min-Cllr (bits), forgotten speakers |" in md and "Verification protocol:" in md
    assert (out / "plots" / "relearn.png").stat().st_size > 1000
    assert (out / "plots" / "before_after.png").stat().st_size > 1000
    # the new model remembers what it forgot (for the next request)
    ckpt = load_classifier(new)
    assert ckpt.meta["forgotten_classes"] == [speakers[0]]
    assert speakers[0] not in {u.speaker for u in read_manifest(out / "train_after.jsonl")}


# --------------------------------------------------------------------------- invalid input


def _bad_checkpoint(kind: str, dep, tmp_path: Path) -> Path:
    path = tmp_path / "inputs" / f"{kind}.pt"
    path.parent.mkdir(exist_ok=True)
    if kind == "garbage":
        path.write_bytes(b"not a checkpoint")
    elif kind == "other_labels":
        ckpt = load_classifier(dep.checkpoint)
        save_classifier(
            path, ckpt.model, classes=("c0", "c1", "c2", "c3", "c4", "c5"), label_key="speaker"
        )
    elif kind == "config":
        payload = torch.load(dep.checkpoint, weights_only=True)
        payload["config"]["channels"] = 8  # weights were made with 16 channels
        torch.save(payload, path)
    return path


INVALID = [
    ("unknown speaker", {"speakers": ["nobody"]}, None, [], "unknown speaker(s) ['nobody']"),
    ("unknown utterance", {"utterances": ["s00_c9_9"]}, None, [], "not in the training"),
    (
        "empties retain",
        {"speakers": ["s00", "s01", "s02", "s03", "s04", "s05"]},
        None,
        [],
        "would leave no retain data",
    ),
    ("unknown method", {"speakers": ["s01"]}, None, ["--method", "nosuch"], "unknown method"),
    (
        "bad hyper-parameter",
        {"speakers": ["s01"]},
        None,
        ["--set", "bogus=1"],
        "has no hyper-parameter(s) ['bogus']",
    ),
    (
        "bad relearn option",
        {"speakers": ["s01"]},
        None,
        ["--option", "attack.relearn.stepz=3"],
        "attack.relearn: unknown option(s) ['stepz']",
    ),
    ("unreadable checkpoint", {"speakers": ["s01"]}, "garbage", [], "is unreadable"),
    ("checkpoint of other labels", {"speakers": ["s01"]}, "other_labels", [], "does not match"),
    ("checkpoint vs config", {"speakers": ["s01"]}, "config", [], "do not match the model config"),
]


@pytest.mark.parametrize(("case", "fields", "ckpt", "extra", "message"), INVALID)
def test_invalid_requests_and_checkpoints_fail_before_writing(
    case, fields, ckpt, extra, message, sid, tmp_path, capsys
):
    request = write_request(tmp_path / "request.yaml", **fields)
    dep = sid
    if ckpt is not None:
        dep = type(sid)(
            _bad_checkpoint(ckpt, sid, tmp_path), sid.train_manifest, sid.heldout_manifest
        )
    deploy_before = tree(Path(sid.checkpoint).parent)
    inputs_before = tree(tmp_path)
    out = tmp_path / "out"
    assert main(forget_args(dep, request, out, *extra)) == 2, case
    assert message in capsys.readouterr().err
    assert not out.exists()  # nothing written: no directory, no file
    assert tree(tmp_path) == inputs_before
    assert tree(Path(sid.checkpoint).parent) == deploy_before


def test_speaker_without_training_data_and_already_forgotten_speaker(sid, slu, tmp_path, capsys):
    # intent model: held-out speakers were never trained on
    held_speaker = read_manifest(slu.heldout_manifest)[0].speaker
    request = write_request(tmp_path / "r1.yaml", speakers=[held_speaker])
    assert main(forget_args(slu, request, tmp_path / "o1")) == 2
    err = capsys.readouterr().err
    assert "have no training utterances" in err and "only held-out utterances" in err
    assert not (tmp_path / "o1").exists()
    # a second request for an already forgotten speaker, on the first request's output
    first = tmp_path / "first"
    request = write_request(tmp_path / "r2.yaml", id="a", speakers=["s01"])
    cfg = ["--option", "attack.relearn=null", "--option", "mia_splits=2"]
    assert main(forget_args(sid, request, first, *cfg)) == 0
    capsys.readouterr()
    again = [
        "forget",
        "--checkpoint",
        str(first / "model.a.pt"),
        "--manifest",
        str(first / "train_after.jsonl"),
        "--request",
        str(request),
        "--out",
        str(tmp_path / "o2"),
        *FAST,
    ]
    assert main(again) == 2
    assert "already forgotten by an earlier request" in capsys.readouterr().err
    assert not (tmp_path / "o2").exists()
    # ...while a new speaker on the same chain is accepted (checkpoint keeps class s01)
    write_request(tmp_path / "r3.yaml", id="b", speakers=["s02"])
    again[again.index(str(request))] = str(tmp_path / "r3.yaml")
    assert main([*again, *cfg]) == 0
    assert load_classifier(tmp_path / "o2" / "model.a.b.pt").meta["forgotten_classes"] == [
        "s01",
        "s02",
    ]


def test_an_existing_record_is_never_overwritten(sid, tmp_path, capsys):
    out = tmp_path / "run"
    request = write_request(tmp_path / "r.yaml", speakers=["s01"])
    cfg = ["--option", "attack.relearn=null"]
    assert main(forget_args(sid, request, out, *cfg)) == 0
    before = tree(out)
    assert main(forget_args(sid, request, out, *cfg)) == 2
    assert "already holds an unlearning record" in capsys.readouterr().err
    assert tree(out) == before


def test_request_files(tmp_path):
    path = tmp_path / "r.yaml"
    path.write_text("speakers: [spk1, spk1, spk2]\nreason: art. 17\ndate: 2025-06-01\n")
    req = load_request(path)
    assert req.speakers == ("spk1", "spk2") and req.date == "2025-06-01"
    assert req.request_id.startswith("req-")
    (tmp_path / "r.json").write_text(json.dumps({"utterances": ["u1"], "id": "x"}))
    assert load_request(tmp_path / "r.json").request_id == "x"
    for text, message in (
        ("speakers: spk1\n", "must be a list of ids"),
        ("reason: nothing\n", "names nothing to forget"),
        ("speakers: [a]\nwho: me\n", "unknown request field(s) ['who']"),
        ("speakers: [a]\nid: a/b\n", "may hold only letters"),
    ):
        path.write_text(text)
        with pytest.raises(
            ValueError,
            match=message.replace("(", r"\(")
            .replace(")", r"\)")
            .replace("[", r"\[")
            .replace("]", r"\]"),
        ):
            load_request(path)
    with pytest.raises(FileNotFoundError, match="request file"):
        load_request(tmp_path / "none.yaml")


# --------------------------------------------------------------------------- tasks


def test_intent_model_forgets_a_speaker_by_speaker_removal(slu, tmp_path):
    speaker = read_manifest(slu.train_manifest)[0].speaker
    cfg = ForgetConfig(max_seconds=1.0, attack=AttackConfig(relearn=None))
    plan = plan_forget(
        slu.checkpoint,
        slu.train_manifest,
        ForgetRequest(speakers=(speaker,)),
        out_dir=tmp_path / "run",
        heldout=slu.heldout_manifest,
        config=cfg,
    )
    assert plan.split.kind == "speaker" and not plan.speaker_task
    train = read_manifest(slu.train_manifest)
    assert set(plan.split.forget) == {u.id for u in train if u.speaker == speaker}
    assert plan.split.params["forget_heldout"] == []  # speaker-disjoint: none held out
    record = run_forget(plan, tmp_path / "run")
    assert "verification" not in record["metrics"]["after"]
    assert "skipped" in record["attacks"]["informed_mia"]["after"]


# --------------------------------------------------------------------------- attacks


def test_informed_mia_reads_same_speaker_losses():
    rng = np.random.default_rng(0)
    low, high = rng.uniform(0, 1, 20), rng.uniform(2, 3, 20)
    assert informed_mia(low, high)["auc"] == 1.0  # memorised: members fit better
    assert informed_mia(high, low)["auc"] == 0.0
    same = informed_mia(low, low)
    assert same["auc"] == pytest.approx(0.5) and "accuracy" in same
    assert "skipped" in informed_mia([], high)


def test_relearning_brings_forgotten_speaker_back(sid, tmp_path, seed, bound):
    cfg = ForgetConfig(
        method="ngplus",
        hparams={"lr": 1e-3, "epochs": 2},
        max_seconds=1.0,
        attack=AttackConfig(relearn=None),
        seed=seed,
    )
    plan = plan_forget(
        sid.checkpoint,
        sid.train_manifest,
        ForgetRequest(speakers=("s01",)),
        out_dir=tmp_path / "unused",
        heldout=sid.heldout_manifest,
        config=cfg,
    )
    model, _ = unlearn(plan)
    result = relearn_attack(
        model, plan.dm, utterances=4, steps=12, lr=3e-3, eval_every=4, target_acc=1.0, recovery=0.8
    )
    curve = result["curve"]
    bound("forget acc after unlearning", curve[0]["forget_acc"], "<=", 0.2)
    assert curve[-1]["forget_acc"] > curve[0]["forget_acc"]  # the attack works
    assert curve[-1]["forget_loss"] < curve[0]["forget_loss"]
    assert result["measured_on"] == len(plan.split.forget) - 4
    assert set(result["attacker_utterances"]) <= set(plan.split.forget)
    with pytest.raises(ValueError, match="leave at least one"):
        relearn_attack(model, plan.dm, utterances=len(plan.split.forget))
    with pytest.raises(ValueError, match="k >= 2"):
        relearn_attack(model, plan.dm, utterances=1)
    assert not (tmp_path / "unused").exists()


def test_attack_command_on_a_record_and_on_a_checkpoint(sid, tmp_path, capsys):
    out = tmp_path / "run"
    request = write_request(tmp_path / "r.yaml", id="q", speakers=["s01"])
    assert main(forget_args(sid, request, out, "--option", "attack.relearn=null")) == 0
    assert "relearn" not in json.loads((out / "record.json").read_text())["attacks"]
    assert (
        main(["attack", "relearn", "--record", str(out), "--utterances", "2", "--steps", "2"]) == 0
    )
    assert main(["attack", "sequential", "--record", str(out), "--speakers", "s02"]) == 0
    record = json.loads((out / "record.json").read_text())
    assert len(record["attacks"]["relearn"]["curve"]) == 2
    assert record["attacks"]["sequential"]["second_request"]["speakers"] == ["s02"]
    assert "Sequential request" in (out / "record.md").read_text()
    result = tmp_path / "informed.json"
    args = [
        "attack",
        "informed-mia",
        "--checkpoint",
        str(out / "model.q.pt"),
        "--manifest",
        str(sid.train_manifest),
        "--heldout",
        str(sid.heldout_manifest),
        "--request",
        str(request),
        "--option",
        "max_seconds=1.0",
        "--out",
        str(result),
    ]
    assert main(args) == 0
    assert 0.0 <= json.loads(result.read_text())["auc"] <= 1.0
    assert main(["attack", "relearn", "--record", str(out), "--checkpoint", "x"]) == 2
    assert "either --record" in capsys.readouterr().err


# --------------------------------------------------------------------------- purge


def test_purge_leaves_nothing_derived_from_the_forget_set(sid, tmp_path, capsys):
    # the run directory is the deployment directory: the new checkpoint lies beside the old
    deploy = tmp_path / "deploy"
    shutil.copytree(Path(sid.checkpoint).parent, deploy)
    original = deploy / "model.pt"
    original_hash = sha(original)
    request = write_request(tmp_path / "r.yaml", id="p", speakers=["s01"])
    args = [
        "forget",
        "--checkpoint",
        str(original),
        "--manifest",
        str(deploy / "train.jsonl"),
        "--heldout",
        str(deploy / "heldout.jsonl"),
        "--request",
        str(request),
        "--out",
        str(deploy),
        *FAST,
    ]
    assert main(args) == 0
    assert sha(original) == original_hash and (deploy / "model.p.pt").is_file()
    forget = [u for u in read_manifest(deploy / "train.jsonl") if u.speaker == "s01"]

    # caches a pipeline might leave: audio copies (one re-encoded), waveforms, embeddings
    (deploy / "cache" / "audio").mkdir(parents=True)
    shutil.copy(forget[0].audio, deploy / "cache" / "audio" / "copy.wav")
    data, rate = sf.read(forget[1].audio)
    sf.write(deploy / "cache" / "audio" / "copy.flac", data, rate)
    torch.save(
        {"wav": torch.stack([load_audio(u.audio) for u in forget[:3]])},
        deploy / "cache" / "features.pt",
    )
    cached = torch.load(deploy / "cache" / "verification_embeddings.pt")
    np.save(deploy / "cache" / "emb.npy", cached["before"].numpy())
    ckpt = load_classifier(original)  # the original weights re-saved under another name
    save_classifier(
        deploy / "backup.pt",
        ckpt.model,
        classes=ckpt.classes,
        label_key="speaker",
        meta={"note": "backup"},
    )

    # fingerprints the test checks independently of the library
    audio_hashes = {sha(u.audio) for u in forget}
    pcm_chunks = [Path(u.audio).read_bytes()[2000:2256] for u in forget]
    float_rows = [r.numpy().astype(np.float32).tobytes() for r in cached["before"]]
    float_rows += [r.numpy().astype(np.float32).tobytes() for r in cached["after"]]
    float_rows += [load_audio(u.audio).numpy()[4000:4064].tobytes() for u in forget]
    int16_chunks = [(sf.read(u.audio, dtype="int16")[0][3000:3064]).tobytes() for u in forget]

    assert main(["purge", str(deploy), "--dry-run"]) == 0
    assert "would remove 7 file(s)" in capsys.readouterr().out
    assert (deploy / "cache" / "emb.npy").is_file()  # dry run deletes nothing
    assert main(["purge", str(deploy)]) == 0

    left = [p for p in deploy.rglob("*") if p.is_file()]
    for path in left:
        blob = path.read_bytes()
        assert sha(path) not in audio_hashes, path
        assert sha(path) != original_hash, path
        for chunk in pcm_chunks + int16_chunks + float_rows:
            assert chunk not in blob, f"{path} still holds forget-set data"
        if path.suffix == ".flac":
            pytest.fail(f"{path}: re-encoded forget audio survived")
    names = {p.relative_to(deploy).as_posix() for p in left}
    assert {"model.p.pt", "record.json", "record.md", "split.json", "artefacts.json"} <= names
    assert "model.pt" not in names and "backup.pt" not in names
    record = json.loads((deploy / "record.json").read_text())
    assert len(record["purge"]["removed"]) == 7 and record["purge"]["remaining_forget_data"] == []
    assert {a["action"] for a in record["artefacts"]} == {"keep"}
    kept = json.loads((deploy / "artefacts.json").read_text())["artefacts"]
    assert "split.json" in {a["path"] for a in kept}
    assert load_classifier(deploy / "model.p.pt").meta["request_id"] == "p"


def test_purge_finds_near_copies_by_content_and_leaves_other_data(sid, tmp_path, capsys):
    """Copies an exact hash misses (resampled, lossy re-encoded, another precision, a crop,
    derived log-mel features, float16 embeddings) are found by their content prints; the
    same transformations of retained speakers' audio are left alone."""
    import torchaudio

    from audio_unlearn.models.tts.mel import MelFrontEnd

    out = tmp_path / "out"
    request = write_request(tmp_path / "r.yaml", id="near", speakers=["s01"])
    assert main(forget_args(sid, request, out)) == 0
    train = read_manifest(sid.train_manifest)
    forget = [u for u in train if u.speaker == "s01"]
    retain = [u for u in train if u.speaker == "s02"]

    def derived(u, folder: Path) -> None:
        folder.mkdir(parents=True)
        x, rate = sf.read(u.audio, dtype="float32")
        t = torch.from_numpy(x)
        sf.write(folder / "8k.wav", torchaudio.functional.resample(t, rate, 8000), 8000)
        sf.write(folder / "c.mp3", x, rate, format="MP3", subtype="MPEG_LAYER_III")
        sf.write(folder / "c.ogg", x, rate, format="OGG", subtype="VORBIS")
        sf.write(folder / "crop.wav", x[rate // 4 :], rate)
        np.save(folder / "wave16.npy", x.astype(np.float16))
        wave22 = torchaudio.functional.resample(t, rate, 22_050)
        torch.save({"wave": wave22.half()}, folder / "wave22.pt")
        torch.save({"mel": MelFrontEnd()(t)[0].half()}, folder / "mel.pt")

    for i, u in enumerate(forget[:2]):
        derived(u, out / "cache" / f"forget{i}")
    for i, u in enumerate(retain[:2]):
        derived(u, out / "keep" / f"retain{i}")
    cached = torch.load(out / "cache" / "verification_embeddings.pt")
    np.save(out / "cache" / "emb16.npy", cached["before"].half().numpy())
    dim = cached["before"].shape[1]
    np.save(out / "keep" / "emb_other.npy", np.random.default_rng(0).normal(size=(8, dim)))

    assert main(["purge", str(out), "--dry-run"]) == 0
    said = capsys.readouterr().out
    assert "near-copy of forgotten" in said and "(print)" in said
    assert main(["purge", str(out)]) == 0
    left = {p.relative_to(out).as_posix() for p in out.rglob("*") if p.is_file()}
    assert not [p for p in left if p.startswith("cache/")], left
    kept = {p for p in left if p.startswith("keep/")}
    assert len(kept) == 2 * 7 + 1, kept  # every derivative of retained audio stays
    record = json.loads((out / "record.json").read_text())
    removed = {a["path"] for a in record["purge"]["removed"]}
    assert {
        f"cache/forget{i}/{n}" for i in (0, 1) for n in ("8k.wav", "c.mp3", "mel.pt")
    } <= removed
    assert record["purge"]["remaining_forget_data"] == []
    assert "audio_print" in record["fingerprints"] and "embedding_simhash" in record["fingerprints"]
