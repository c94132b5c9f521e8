"""Prepare a "deployed" speaker-identification model to forget from.

Synthesises the espeak-ng corpus (optional extra: pip install 'audio-unlearn[synth]'),
holds out 25% of every speaker's utterances, trains a speaker-ID classifier on the rest and
writes DEPLOY/model.pt, DEPLOY/train.jsonl and DEPLOY/heldout.jsonl: the three files a
privacy team has for a model in production.

    python recipes/speaker_id/prepare.py --corpus data/synth-sid --out deploy/sid
"""

from __future__ import annotations

import argparse

from audio_unlearn.data.synth import SynthConfig, synthesize_corpus
from audio_unlearn.privacy import deploy_classifier

MODELS = {
    # log-mel CNN: trains in about a minute on 2 CPU cores
    "logmel_cnn": {"name": "logmel_cnn"},
    # SpeechBrain ECAPA-TDNN lobe with a cosine (additive-margin) head, CPU-sized
    "ecapa": {"name": "ecapa", "margin": 0.2},
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--corpus", default="data/synth-sid", help="corpus directory")
    parser.add_argument("--out", default="deploy/sid", help="deployment directory")
    parser.add_argument("--speakers", type=int, default=16)
    parser.add_argument("--intents", type=int, default=8)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--model", choices=sorted(MODELS), default="logmel_cnn")
    parser.add_argument("--epochs", type=int, default=20)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    corpus = synthesize_corpus(
        args.corpus,
        SynthConfig(
            n_speakers=args.speakers,
            n_intents=args.intents,
            repeats_per_intent=args.repeats,
            seed=args.seed,
        ),
    )
    deployment = deploy_classifier(
        corpus.manifest,
        args.out,
        label_key="speaker",
        holdout="utterance",
        test_fraction=0.25,
        model=MODELS[args.model],
        epochs=args.epochs,
        seed=args.seed,
    )
    print(
        f"deployed: {deployment.checkpoint}, {deployment.train_manifest}, "
        f"{deployment.heldout_manifest}"
    )


if __name__ == "__main__":
    main()
