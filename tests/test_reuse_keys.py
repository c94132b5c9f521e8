"""Reuse is keyed on the data's content, not only its ids: other audio behind the same
manifest lines recomputes every model and evaluation downstream."""

import json

import soundfile as sf

from audio_unlearn.cli import main
from audio_unlearn.data import read_manifest
from audio_unlearn.run.store import audio_identity
from audio_unlearn.testing import make_dummy_corpus


def test_audio_identity_follows_content_not_location(tmp_path):
    a = tmp_path / "a.wav"
    sf.write(a, [0.1, -0.2, 0.3] * 2000, 16000)
    b = tmp_path / "copy" / "a.wav"
    b.parent.mkdir()
    b.write_bytes(a.read_bytes())
    assert audio_identity([a]) == audio_identity([b]) == audio_identity([a, a])
    sf.write(a, [0.1, -0.2, 0.31] * 2000, 16000)  # the same size, other samples
    assert audio_identity([a]) != audio_identity([b])
    assert audio_identity([tmp_path / "gone.wav"]) != audio_identity([b])


def test_changed_audio_behind_the_manifest_recomputes_everything(tmp_path, capsys):
    manifest = make_dummy_corpus(tmp_path / "corpus", n_speakers=10, n_classes=4, per_class=6)
    out = tmp_path / "run"
    sets = [
        f"corpus.manifest={manifest}",
        "split.n_test_speakers=3",
        "split.n_speakers=2",
        "split.min_utterances=1",
        "train.epochs=1",
        "max_seconds=1.0",
        "methods={ng: {}}",
    ]
    argv = ["run", "--out", str(out), "--no-progress"] + [a for s in sets for a in ("--set", s)]
    assert main(argv) == 0
    first = json.loads((out / "report.json").read_text())["models"]
    capsys.readouterr()
    assert main(argv) == 0  # unchanged: everything reused
    said = capsys.readouterr().out
    assert "training the" not in said and "unlearning with" not in said
    reuse = json.loads((out / "report.json").read_text())["reuse"]
    assert {(r["checkpoint"], r["reused"], r["why"]) for r in reuse} == {
        (f"checkpoints/{name}.pt", True, "same settings") for name in ("original", "gold", "ng")
    }
    # the same ids and paths, other audio (quieter, with a little noise)
    for u in read_manifest(manifest):
        wav, sr = sf.read(u.audio)
        sf.write(u.audio, 0.5 * wav + 0.01 * (wav[::-1]), sr)
    assert main(argv) == 0
    said = capsys.readouterr().out
    assert said.count("training the") == 2  # original and gold
    assert "unlearning with ng" in said and "(same model and settings)" not in said
    report = json.loads((out / "report.json").read_text())
    second = report["models"]
    assert [r["forget_loss"] for r in second] != [r["forget_loss"] for r in first]
    why = {r["checkpoint"]: (r["reused"], r["why"]) for r in report["reuse"]}
    assert why["checkpoints/original.pt"] == (False, "changed: data.split.audio")
    assert why["checkpoints/gold.pt"] == (False, "changed: data.split.audio")
    assert why["checkpoints/ng.pt"] == (False, "changed: original")
    md = (out / "report.md").read_text()
    assert "- `checkpoints/original.pt`: computed (changed: data.split.audio)" in md
