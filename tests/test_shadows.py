"""The runner's shadow-model attacks (``eval.shadows``): LiRA, RMIA and the speaker-level
attack on every row of a classification run, with shadows that a rerun reuses."""

import json

from audio_unlearn.cli import main

SETS = [
    "split.n_test_speakers=3",
    "split.n_speakers=2",
    "split.n_valid_speakers=2",
    "split.min_utterances=1",
    "train.epochs=4",
    "max_seconds=1.0",
    "methods={ft: {}}",
    "eval.shadows=4",
]


def test_shadow_attacks_tell_the_original_from_gold_and_reuse_their_shadows(
    dummy_manifest, tmp_path, capsys, bound
):
    out = tmp_path / "run"
    argv = ["run", "--out", str(out), "--no-progress", "--set", f"corpus.manifest={dummy_manifest}"]
    argv += [a for s in SETS for a in ("--set", s)]
    assert main(argv) == 0
    report = json.loads((out / "report.json").read_text())
    attack = report["shadow_attack"]
    assert attack["shadows"] == 4 and attack["shadow_seconds"] > 0
    rows = {r["model"]: r for r in report["models"]}
    for row in rows.values():
        assert row["lira_variant"] == "online" and row["rmia_population"] == "valid"
        for key in ("lira_auc", "rmia_auc", "lira_tpr_at_1pct_fpr", "speaker_lira_auc"):
            assert 0.0 <= row[key] <= 1.0, key
    # the original trained on the forget speakers, gold never did
    bound(
        "original LiRA AUC - gold's",
        rows["original"]["lira_auc"] - rows["gold"]["lira_auc"],
        ">",
        0.2,
    )
    bound("gold LiRA AUC", rows["gold"]["lira_auc"], "<", 0.75)
    assert rows["original"]["speaker_lira_auc"] >= rows["gold"]["speaker_lira_auc"]
    assert sorted(p.name for p in (out / "checkpoints" / "shadows").iterdir()) == [
        f"shadow{i}.pt" for i in range(4)
    ]
    capsys.readouterr()
    assert main(argv) == 0  # a rerun reuses the shadows
    reuse = json.loads((out / "report.json").read_text())["reuse"]
    shadows = [r for r in reuse if "shadows/" in r["checkpoint"]]
    assert len(shadows) == 4 and all(r["reused"] for r in shadows)


def test_shadow_attacks_are_refused_with_one_shadow_or_with_requests(tmp_path, capsys):
    base = ["run", "--dry-run", "--out", str(tmp_path / "r")]
    for n in (1, 3):
        assert main([*base, "--set", f"eval.shadows={n}"]) == 2
        assert "need an even number >= 2 of shadows" in capsys.readouterr().err
    assert main([*base, "--set", "eval.shadows=4", "--set", "requests=[1, 1]"]) == 2
    assert "single-request runs" in capsys.readouterr().err
