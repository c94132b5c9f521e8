"""Tiny randomly initialised transformers checkpoints for offline tests.

A real evaluator loads its model with ``from_pretrained``; these helpers write a
checkpoint of the same layout (model, feature extractor, tokenizer) with
``save_pretrained`` so that the whole loading path runs in CI without network or
weights. The models are random: their transcripts are input-dependent gibberish, good for
checking plumbing, batching and result files, never accuracy.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

__all__ = [
    "AUDIO_ENCODER_FAMILIES",
    "CTC_CHARACTERS",
    "save_tiny_audio_encoder",
    "save_tiny_ctc",
    "save_tiny_whisper",
]

#: Output characters of :func:`save_tiny_ctc` models (besides the word delimiter ``|``).
CTC_CHARACTERS = "ABCDEFGHIJKLMNOPQRSTUVWXYZ'"

_NORMS = ("layer", "group")
_MODELS = ("wav2vec2", "hubert")


def _tiny_encoder_config(norm: str) -> dict[str, Any]:
    """Config keywords of the tiny wav2vec2-style encoders (2 layers, width 32).

    ``norm``: ``"group"`` or ``"layer"`` feature-encoder normalisation (``"layer"`` also
    turns on the stable-layer-norm transformer).
    """
    return dict(
        hidden_size=32,
        num_hidden_layers=2,
        num_attention_heads=2,
        intermediate_size=64,
        conv_dim=(16, 16, 16),
        conv_stride=(5, 4, 4),
        conv_kernel=(10, 4, 4),
        num_conv_pos_embeddings=16,
        num_conv_pos_embedding_groups=2,
        feat_extract_norm=norm,
        do_stable_layer_norm=norm == "layer",
    )


def save_tiny_ctc(
    path: str | os.PathLike,
    *,
    norm: str = "layer",
    model: str = "wav2vec2",
    seed: int = 0,
    sample_rate: int = 16000,
) -> Path:
    """Write a ~30k-parameter random CTC model and its processor with ``save_pretrained``.

    The directory loads with ``AutoModelForCTC.from_pretrained`` and
    ``AutoProcessor.from_pretrained`` (a ``Wav2Vec2Processor``: feature extractor + CTC
    character tokenizer over ``A-Z'`` and the word delimiter ``|``), so it plugs into
    :class:`audio_unlearn.evaluation.asr.CTCTranscriber` and the ``ctc:<dir>`` ASR spec.
    Weights are drawn with a large initialiser range so transcripts depend on the input.

    Args:
        path: Directory to write (created; parents too).
        norm: Feature-encoder normalisation, ``"layer"`` (like HuBERT-large: the processor
            returns an attention mask) or ``"group"`` (like wav2vec2-base: no mask).
        model: ``"wav2vec2"`` (``Wav2Vec2ForCTC``) or ``"hubert"`` (``HubertForCTC``).
        seed: Seed of the random weights (same seed, same checkpoint).
        sample_rate: Sampling rate the feature extractor declares, Hz.

    Returns:
        ``path`` as a :class:`~pathlib.Path`.

    Raises:
        ValueError: ``norm`` or ``model`` is not one of the values above.
    """
    if norm not in _NORMS:
        raise ValueError(f"norm must be one of {_NORMS}, got {norm!r}")
    if model not in _MODELS:
        raise ValueError(f"model must be one of {_MODELS}, got {model!r}")
    import torch
    from transformers import (
        HubertConfig,
        HubertForCTC,
        Wav2Vec2Config,
        Wav2Vec2CTCTokenizer,
        Wav2Vec2FeatureExtractor,
        Wav2Vec2ForCTC,
        Wav2Vec2Processor,
    )

    directory = Path(path)
    vocab = {"<pad>": 0, "<s>": 1, "</s>": 2, "<unk>": 3, "|": 4}
    for c in CTC_CHARACTERS:
        vocab[c] = len(vocab)
    directory.mkdir(parents=True, exist_ok=True)
    vocab_file = directory / "vocab_src.json"
    vocab_file.write_text(json.dumps(vocab))
    tokenizer = Wav2Vec2CTCTokenizer(str(vocab_file))
    extractor = Wav2Vec2FeatureExtractor(
        feature_size=1,
        sampling_rate=sample_rate,
        do_normalize=True,
        return_attention_mask=norm == "layer",
    )
    common = dict(
        vocab_size=len(vocab),
        **_tiny_encoder_config(norm),
        pad_token_id=0,
        initializer_range=0.5,  # large weights: transcripts depend on the input
    )
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        if model == "hubert":
            net = HubertForCTC(HubertConfig(**common))
        else:
            net = Wav2Vec2ForCTC(Wav2Vec2Config(**common))
    net.save_pretrained(directory)
    Wav2Vec2Processor(feature_extractor=extractor, tokenizer=tokenizer).save_pretrained(directory)
    return directory


#: Families :func:`save_tiny_audio_encoder` writes (those of ``HFAudioClassifier``).
AUDIO_ENCODER_FAMILIES = ("wav2vec2", "hubert", "wavlm", "whisper_encoder")


def save_tiny_audio_encoder(
    path: str | os.PathLike,
    family: str = "wav2vec2",
    *,
    norm: str = "group",
    seed: int = 0,
    sample_rate: int = 16000,
    whisper_window_seconds: int = 1,
) -> Path:
    """Write a tiny random pretrained speech encoder as the hub ships it (``save_pretrained``).

    The directory stands in for ``facebook/wav2vec2-base`` & co. in offline tests of
    :class:`audio_unlearn.models.hf_classifier.HFAudioClassifier`: like the released
    checkpoints it holds an encoder *without* a classification head (``Wav2Vec2Model``,
    ``HubertModel``, ``WavLMModel``; a full ``WhisperForConditionalGeneration`` for
    Whisper, as ``openai/whisper-*``) and its feature extractor
    (``preprocessor_config.json``), so ``AutoModelForAudioClassification.from_pretrained``
    loads the encoder weights and initialises a fresh head. About 30k parameters.

    Args:
        path: Directory to write (created; parents too).
        family: ``"wav2vec2"``, ``"hubert"``, ``"wavlm"`` or ``"whisper_encoder"``.
        norm: wav2vec2-family feature-encoder normalisation: ``"group"`` (like
            wav2vec2-base: post-norm transformer, no attention mask) or ``"layer"`` (like
            XLS-R / large models: pre-norm, the extractor returns attention masks).
        seed: Seed of the random weights (same seed, same checkpoint).
        sample_rate: Sampling rate the feature extractor declares, Hz.
        whisper_window_seconds: Whisper only: the encoder's input window (the released
            models use 30 s); tiny models use 1 s so tests stay fast.

    Returns:
        ``path`` as a :class:`~pathlib.Path`.

    Raises:
        ValueError: unknown ``family`` or ``norm``.
    """
    if family not in AUDIO_ENCODER_FAMILIES:
        raise ValueError(f"family must be one of {AUDIO_ENCODER_FAMILIES}, got {family!r}")
    if norm not in _NORMS:
        raise ValueError(f"norm must be one of {_NORMS}, got {norm!r}")
    import torch
    import transformers as tf

    directory = Path(path)
    directory.mkdir(parents=True, exist_ok=True)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        if family == "whisper_encoder":
            hop = 160
            frames = whisper_window_seconds * sample_rate // hop
            config = tf.WhisperConfig(
                vocab_size=64,
                num_mel_bins=80,
                d_model=32,
                encoder_layers=2,
                decoder_layers=1,
                encoder_attention_heads=2,
                decoder_attention_heads=2,
                encoder_ffn_dim=64,
                decoder_ffn_dim=64,
                max_source_positions=frames // 2,
                max_target_positions=16,
                pad_token_id=0,
                bos_token_id=1,
                eos_token_id=2,
                decoder_start_token_id=3,
            )
            tf.WhisperForConditionalGeneration(config).save_pretrained(directory)
            tf.WhisperFeatureExtractor(
                feature_size=80,
                sampling_rate=sample_rate,
                hop_length=hop,
                chunk_length=whisper_window_seconds,
                n_fft=400,
            ).save_pretrained(directory)
            return directory
        common = _tiny_encoder_config(norm)
        if family == "hubert":
            net = tf.HubertModel(tf.HubertConfig(**common))
        elif family == "wavlm":
            net = tf.WavLMModel(tf.WavLMConfig(**common, num_buckets=16, max_bucket_distance=64))
        else:
            net = tf.Wav2Vec2Model(tf.Wav2Vec2Config(**common))
    net.save_pretrained(directory)
    tf.Wav2Vec2FeatureExtractor(
        feature_size=1,
        sampling_rate=sample_rate,
        do_normalize=True,
        return_attention_mask=norm == "layer",
    ).save_pretrained(directory)
    return directory


#: Special tokens of :func:`save_tiny_whisper` tokenizers, in Whisper's order (the
#: language tokens follow the start of transcript, as the released vocabularies have them).
WHISPER_SPECIAL_TOKENS: tuple[str, ...] = (
    "<|endoftext|>",
    "<|startoftranscript|>",
    "<|en|>",
    "<|de|>",
    "<|translate|>",
    "<|transcribe|>",
    "<|startoflm|>",
    "<|startofprev|>",
    "<|nospeech|>",
    "<|notimestamps|>",
)


def _byte_alphabet() -> dict[int, str]:
    """GPT-2 style byte -> printable character table (Whisper's byte-level BPE alphabet)."""
    keep = [*range(33, 127), *range(161, 173), *range(174, 256)]
    table, extra = {}, 0
    for b in range(256):
        if b in keep:
            table[b] = chr(b)
        else:
            table[b] = chr(256 + extra)
            extra += 1
    return table


def save_tiny_whisper(
    path: str | os.PathLike,
    *,
    seed: int = 0,
    window_seconds: int = 2,
    sample_rate: int = 16000,
    max_length: int = 32,
    init_std: float = 0.2,
) -> Path:
    """Write a tiny random ``WhisperForConditionalGeneration`` with its processor.

    A multilingual-style checkpoint (``<|en|>``, ``<|de|>``; transcribe/translate task
    tokens; no-timestamps token) with a byte-level vocabulary of the 256 byte symbols and
    no merges, a generation config such as the released checkpoints carry (so
    ``generate(language="en", task="transcribe")`` builds the usual prompt), and a
    ``WhisperProcessor``. Generation may emit only lower-case letters, the space and the
    end of text, so greedy transcripts are readable gibberish. About 60k parameters.

    Args:
        path: Directory to write (created; parents too).
        seed: Seed of the random weights.
        window_seconds: The encoder's input window (the released models: 30 s); short
            windows keep CPU tests fast. Inputs longer than this are rejected.
        sample_rate: Sampling rate of the feature extractor, Hz.
        max_length: The generation config's ``max_length`` (prompt + generated tokens).
        init_std: Weight initialisation scale.

    Returns:
        ``path`` as a :class:`~pathlib.Path`.

    Raises:
        ValueError: a window shorter than 1 s or a ``max_length`` under 8.
    """
    if isinstance(window_seconds, bool) or int(window_seconds) < 1:
        raise ValueError(f"window_seconds must be an int >= 1, got {window_seconds!r}")
    if max_length < 8:
        raise ValueError(f"max_length must be >= 8, got {max_length}")
    import torch
    from transformers import (
        GenerationConfig,
        WhisperConfig,
        WhisperFeatureExtractor,
        WhisperForConditionalGeneration,
        WhisperProcessor,
        WhisperTokenizer,
    )

    directory = Path(path)
    directory.mkdir(parents=True, exist_ok=True)
    alphabet = _byte_alphabet()
    vocab = {ch: i for i, ch in enumerate(alphabet.values())}
    for tok in WHISPER_SPECIAL_TOKENS:
        vocab[tok] = len(vocab)
    tokenizer = WhisperTokenizer(
        vocab=vocab, merges=[], additional_special_tokens=list(WHISPER_SPECIAL_TOKENS[1:])
    )
    ids = {tok: vocab[tok] for tok in WHISPER_SPECIAL_TOKENS}
    eot = ids["<|endoftext|>"]
    allowed = {vocab[alphabet[b]] for b in b"abcdefghijklmnopqrstuvwxyz "}
    suppress = [i for i in range(len(vocab)) if i not in allowed and i != eot]
    hop = 160
    frames = int(window_seconds) * sample_rate // hop
    config = WhisperConfig(
        vocab_size=len(vocab),
        num_mel_bins=80,
        d_model=32,
        encoder_layers=2,
        decoder_layers=2,
        encoder_attention_heads=2,
        decoder_attention_heads=2,
        encoder_ffn_dim=64,
        decoder_ffn_dim=64,
        max_source_positions=frames // 2,
        max_target_positions=64,
        pad_token_id=eot,
        bos_token_id=eot,
        eos_token_id=eot,
        decoder_start_token_id=ids["<|startoftranscript|>"],
        init_std=init_std,
    )
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        model = WhisperForConditionalGeneration(config)
    model.generation_config = GenerationConfig(
        decoder_start_token_id=ids["<|startoftranscript|>"],
        eos_token_id=eot,
        pad_token_id=eot,
        bos_token_id=eot,
        max_length=max_length,
        lang_to_id={"<|en|>": ids["<|en|>"], "<|de|>": ids["<|de|>"]},
        task_to_id={"transcribe": ids["<|transcribe|>"], "translate": ids["<|translate|>"]},
        is_multilingual=True,
        no_timestamps_token_id=ids["<|notimestamps|>"],
        suppress_tokens=suppress,
        begin_suppress_tokens=[eot],
    )
    model.save_pretrained(directory)
    extractor = WhisperFeatureExtractor(
        feature_size=80,
        sampling_rate=sample_rate,
        hop_length=hop,
        chunk_length=int(window_seconds),
        n_fft=400,
    )
    WhisperProcessor(feature_extractor=extractor, tokenizer=tokenizer).save_pretrained(directory)
    return directory
