"""The TTS run's offline WER judge: the library CTC recogniser trained on the run's training
speakers, real and vocoder-resynthesised audio (``eval.judge: train``)."""

from __future__ import annotations

import dataclasses
import json
import logging
from typing import Any

import lightning as L
import torch

from ..data.manifest import atomic_write_text
from ..methods.fit import make_trainer
from ..run.store import settings_key

__all__ = ["resynthesised", "train_judge"]

logger = logging.getLogger(__name__)


def resynthesised(runner, utts, vocoder) -> list:
    """Copies of ``utts`` whose audio is their own mel through ``vocoder`` (cached)."""
    from ..data.audio import save_audio
    from ..data.tts_data import utterance_features

    out_dir = runner.run_dir / "judge_audio"
    out_dir.mkdir(parents=True, exist_ok=True)
    front_end = runner.dm.front_end
    copies = []
    for u in utts:
        path = out_dir / f"{u.id}.wav"
        if not path.is_file():
            mel, _ = utterance_features(u, runner.vocab, front_end, margin_s=runner.cfg.margin_s)
            wav = vocoder(mel[None])[0]
            save_audio(path, wav, runner.mel.sample_rate)
        copies.append(
            dataclasses.replace(
                u, id=f"{u.id}~voc", audio=str(path.resolve()), sample_rate=runner.mel.sample_rate
            )
        )
    return copies


def train_judge(runner, vocoder) -> tuple[str, dict[str, Any]]:
    """Train (or reuse) the library CTC recogniser as the offline WER judge.

    Trained on the training speakers' real audio plus the same utterances resynthesised
    by the evaluation vocoder (so vocoder artefacts alone do not count as errors); its
    WER on the unseen speakers' real and resynthesised audio goes into ``judge.json``.
    """
    from torch.utils.data import DataLoader

    from ..data.asr_data import ASRDataset, WaveformStore, collate_asr
    from ..evaluation.asr import get_transcriber
    from ..evaluation.wer import wer_scores
    from ..methods.asr import CTCTraining
    from ..models.asr import ASRCheckpointError, CTCRecognizer, load_asr, save_asr

    cfg = runner.cfg
    path = runner.ckpt_dir / "judge.pt"
    key = settings_key(
        {
            "data": runner.data_key,
            "epochs": cfg.eval.judge_epochs,
            "vocoder": vocoder.describe(),
            "seed": cfg.seed,
        }
    )
    info_path = runner.run_dir / "judge.json"
    spec = f"library:{path}"
    if path.is_file() and info_path.is_file():
        try:
            if load_asr(path).meta.get("key") == key:
                runner._say(f"reusing {path} (same settings)")
                return spec, json.loads(info_path.read_text())
        except ASRCheckpointError as err:
            logger.warning("%s cannot be reused (%s); retraining", path, err)
    by_id = {u.id: u for u in runner.utterances}
    train = [by_id[i] for i in (*runner.split.forget, *runner.split.retain)]
    test = [by_id[i] for i in runner.split.test]
    runner._say(f"vocoding {len(train) + len(test)} utterances for the judge")
    train_all = train + resynthesised(runner, train, vocoder)
    test_voc = resynthesised(runner, test, vocoder)
    L.seed_everything(cfg.seed, verbose=False)
    model = CTCRecognizer()
    store = WaveformStore(crop="speech", margin_s=cfg.margin_s)
    loader = DataLoader(
        ASRDataset(train_all, model.vocab.encode, store),
        batch_size=32,
        shuffle=True,
        generator=torch.Generator().manual_seed(cfg.seed),
        collate_fn=collate_asr,
    )
    runner._say(f"training the WER judge (library CTC) for {cfg.eval.judge_epochs} epochs")
    trainer = make_trainer(cfg.eval.judge_epochs, progress=runner.progress)
    trainer.fit(CTCTraining(model), train_dataloaders=loader)
    model = model.cpu().eval()
    save_asr(path, model, meta={"key": key, "role": "tts_judge"})
    transcriber = get_transcriber(spec)
    info: dict[str, Any] = {"spec": spec, "model": transcriber.describe()}
    for name, utts in (("unseen_real", test), ("unseen_vocoded", test_voc)):
        wavs = [store[u] for u in utts]
        hyps = transcriber.transcribe(wavs, sample_rate=runner.mel.sample_rate)
        scores = wer_scores([u.text for u in utts], hyps, normaliser=cfg.eval.normaliser)
        info[name] = {
            "wer": scores.corpus_wer,
            "mean_utterance_wer": scores.mean_utterance_wer,
            "n": scores.n,
            "normaliser": scores.normaliser,
        }
    atomic_write_text(info_path, json.dumps(info, indent=2, default=str))
    runner._say(f"judge WER: {json.dumps({k: info[k] for k in info if 'unseen' in k})}")
    return spec, info
