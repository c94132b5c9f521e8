"""Resemblyzer's real pretrained weights on synthetic espeak-ng speech: SIM and EER."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from audio_unlearn.evaluation.speaker import ResemblyzerEncoder, embed_files, speaker_similarity
from audio_unlearn.evaluation.verification import (
    build_trials,
    score_trials,
    verification_metrics,
)

pytestmark = pytest.mark.synth


@pytest.fixture(scope="module")
def corpus(tmp_path_factory):
    # the test environment installs the synth extra (`make test`): a missing espeak-ng
    # must fail here, not skip
    from audio_unlearn.data.synth import SynthConfig, synthesize_corpus

    config = SynthConfig(n_speakers=6, n_intents=4, repeats_per_intent=1, seed=0, noise="mid")
    return synthesize_corpus(tmp_path_factory.mktemp("spk") / "corpus", config, progress=False)


def test_resemblyzer_separates_synthetic_speakers(corpus, bound):
    utts = corpus.utterances()
    emb = embed_files([u.audio for u in utts], ResemblyzerEncoder())
    speakers = np.array([u.speaker for u in utts])
    sims = speaker_similarity(
        emb[:, None, :].expand(-1, len(utts), -1).reshape(-1, emb.shape[1]),
        emb.repeat(len(utts), 1),
    ).reshape(len(utts), len(utts))
    same = torch.from_numpy(speakers[:, None] == speakers[None, :])
    off_diagonal = ~torch.eye(len(utts), dtype=torch.bool)
    mean_same = float(sims[same & off_diagonal].mean())
    mean_diff = float(sims[~same].mean())

    trials = build_trials(utts, n_per_speaker=6, seed=0)
    scores, labels = score_trials(trials, [u.id for u in utts], emb)
    result = verification_metrics(scores, labels)
    print(
        f"\nResemblyzer on espeak-ng (6 speakers x 4 utterances): mean SIM same-speaker "
        f"{mean_same:.3f}, different-speaker {mean_diff:.3f}; {result.n_target} target / "
        f"{result.n_nontarget} non-target trials: EER {result.eer:.3f}, minDCF(0.01) "
        f"{result.min_dcf[0.01]:.3f}, minDCF(0.05) {result.min_dcf[0.05]:.3f}"
    )
    bound("mean SIM same - different speaker", mean_same - mean_diff, ">", 0)
    bound("EER", result.eer, "<", 0.5)
