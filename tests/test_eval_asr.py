"""ASR backends: tiny random checkpoints saved with save_pretrained, loaded by local path."""

import json

import pytest
import torch
from transformers import (
    GenerationConfig,
    WhisperConfig,
    WhisperFeatureExtractor,
    WhisperForConditionalGeneration,
    WhisperProcessor,
    WhisperTokenizer,
)

from audio_unlearn.evaluation.asr import (
    CTCTranscriber,
    WhisperTranscriber,
    bucket_by_length,
    get_transcriber,
)
from audio_unlearn.testing.tiny_hf import save_tiny_ctc

SR = 16000
# Lengths that differ, so a padded batch really pads (and two equal ones for group norm).
LENGTHS = [12345, 8000, 16000, 8000, 20011, 5003]

_WHISPER_SPECIALS = [
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
]


def _byte_alphabet():
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


def _save_tiny_whisper(directory):
    """A random 2-layer Whisper with a byte-level vocabulary, written with save_pretrained."""
    directory.mkdir(parents=True)
    alphabet = _byte_alphabet()
    vocab = {ch: i for i, ch in enumerate(alphabet.values())}
    for tok in _WHISPER_SPECIALS:
        vocab[tok] = len(vocab)
    (directory / "vocab_src.json").write_text(json.dumps(vocab))
    (directory / "merges_src.txt").write_text("#version: 0.2\n")
    tokenizer = WhisperTokenizer(
        vocab=str(directory / "vocab_src.json"),
        merges=str(directory / "merges_src.txt"),
        additional_special_tokens=_WHISPER_SPECIALS[1:],
    )
    ids = {tok: vocab[tok] for tok in _WHISPER_SPECIALS}
    eot = ids["<|endoftext|>"]
    # Only lower-case letters and the space byte may be generated (plus end of text).
    allowed = {vocab[alphabet[b]] for b in b"abcdefghijklmnopqrstuvwxyz "}
    suppress = [i for i in range(len(vocab)) if i not in allowed and i != eot]
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
        max_source_positions=1500,
        max_target_positions=64,
        pad_token_id=eot,
        bos_token_id=eot,
        eos_token_id=eot,
        decoder_start_token_id=ids["<|startoftranscript|>"],
        init_std=0.5,
    )
    torch.manual_seed(0)
    model = WhisperForConditionalGeneration(config)
    model.generation_config = GenerationConfig(
        decoder_start_token_id=ids["<|startoftranscript|>"],
        eos_token_id=eot,
        pad_token_id=eot,
        bos_token_id=eot,
        max_length=64,
        lang_to_id={"<|en|>": ids["<|en|>"], "<|de|>": ids["<|de|>"]},
        task_to_id={"transcribe": ids["<|transcribe|>"], "translate": ids["<|translate|>"]},
        is_multilingual=True,
        no_timestamps_token_id=ids["<|notimestamps|>"],
        suppress_tokens=suppress,
        begin_suppress_tokens=[eot],
    )
    model.save_pretrained(directory)
    WhisperProcessor(
        feature_extractor=WhisperFeatureExtractor(feature_size=80), tokenizer=tokenizer
    ).save_pretrained(directory)
    return directory


@pytest.fixture(scope="module")
def models(tmp_path_factory):
    root = tmp_path_factory.mktemp("asr_models")
    return {
        "layer": save_tiny_ctc(root / "w2v_layer", norm="layer"),
        "group": save_tiny_ctc(root / "w2v_group", norm="group"),
        "hubert": save_tiny_ctc(root / "hubert_layer", norm="layer", model="hubert"),
        "whisper": _save_tiny_whisper(root / "whisper"),
    }


@pytest.fixture(scope="module")
def wavs():
    g = torch.Generator().manual_seed(1)
    return [0.1 * torch.randn(n, generator=g) for n in LENGTHS]


def test_bucket_by_length_covers_all_sorted_and_within_budget():
    lengths = [5, 9, 3, 9, 7, 1, 20]
    batches = bucket_by_length(lengths, 20)
    assert sorted(i for b in batches for i in b) == list(range(len(lengths)))
    for b in batches:
        longest = max(lengths[i] for i in b)
        assert lengths[b[0]] == longest
        assert len(b) == 1 or len(b) * longest <= 20
    assert batches[0] == [6]  # longest first, alone (20 fills the budget)
    assert [1, 3] in batches  # the two 9s share a batch
    exact = bucket_by_length(lengths, 1000, equal_length_only=True)
    assert all(len({lengths[i] for i in b}) == 1 for b in exact)
    assert [1, 3] in exact and len(exact) == 6
    whisper_like = bucket_by_length(lengths, 100, padded_length=lambda n: max(n, 50))
    assert all(len(b) <= 2 for b in whisper_like)
    with pytest.raises(ValueError, match="max_batch_samples"):
        bucket_by_length(lengths, 0)


@pytest.mark.parametrize("kind", ["layer", "hubert"])
def test_ctc_layer_norm_batched_equals_one_by_one(models, wavs, kind):
    batched = CTCTranscriber(models[kind], max_batch_samples=10**7)
    single = CTCTranscriber(models[kind], max_batch_samples=1)
    assert batched.uses_attention_mask
    logits_b = batched.logits(wavs)
    logits_s = [single.logits([w])[0] for w in wavs]
    for w, lb, ls in zip(wavs, logits_b, logits_s, strict=True):
        assert lb.shape == ls.shape
        assert lb.shape[0] == int(batched.model._get_feat_extract_output_lengths(w.numel()))
        assert torch.allclose(lb, ls, atol=1e-4, rtol=0)
    texts_b = batched.transcribe(wavs)
    texts_s = [single.transcribe([w])[0] for w in wavs]
    assert texts_b == texts_s
    assert len(set(texts_b)) > 1 and all(texts_b)  # input-dependent, non-empty output
    # the same batch in another order gives the same per-utterance results
    assert batched.transcribe(wavs[::-1]) == texts_b[::-1]


def test_ctc_group_norm_never_pads(models, wavs):
    """wav2vec2-base-like checkpoints: zero padding changes the logits, so none is used."""
    exact = CTCTranscriber(models["group"], max_batch_samples=10**7)
    assert not exact.uses_attention_mask
    single = [exact.logits([w])[0] for w in wavs]
    batched = exact.logits(wavs)
    for lb, ls in zip(batched, single, strict=True):
        assert torch.allclose(lb, ls, atol=1e-4, rtol=0)
    assert exact.transcribe(wavs) == [exact.transcribe([w])[0] for w in wavs]
    # forcing padded batches shows why: the padded utterances' logits move
    padded = CTCTranscriber(models["group"], max_batch_samples=10**7, padding="attention_mask")
    moved = [(a - b).abs().max().item() for a, b in zip(padded.logits(wavs), single, strict=True)]
    assert max(moved) > 1e-2
    longest = LENGTHS.index(max(LENGTHS))
    assert moved[longest] < 1e-4  # the longest item is not padded


def test_ctc_resamples_and_describes(models, wavs):
    tr = CTCTranscriber(models["layer"])
    at_8k = [torch.nn.functional.avg_pool1d(w[None, None], 2)[0, 0] for w in wavs[:2]]
    import torchaudio

    expected = [torchaudio.functional.resample(w, 8000, SR) for w in at_8k]
    assert tr.transcribe(at_8k, sample_rate=8000) == tr.transcribe(expected)
    info = tr.describe()
    assert info["backend"] == "ctc" and info["decoding"] == "greedy"
    assert info["model"] == str(models["layer"]) and info["source"] == "local"
    assert info["model_class"] == "Wav2Vec2ForCTC" and info["padding_resolved"] == "attention_mask"
    json.dumps(info)


def test_whisper_batched_equals_one_by_one(models, wavs):
    batched = WhisperTranscriber(models["whisper"], max_new_tokens=12)
    single = WhisperTranscriber(models["whisper"], max_new_tokens=12, max_batch_samples=1)
    texts_b = batched.transcribe(wavs)
    texts_s = [single.transcribe([w])[0] for w in wavs]
    assert texts_b == texts_s
    assert len(set(texts_b)) > 1 and all(texts_b)
    assert all(set(t) <= set("abcdefghijklmnopqrstuvwxyz ") for t in texts_b)
    info = batched.describe()
    assert info["backend"] == "whisper" and info["language"] == "en"
    assert info["task"] == "transcribe" and info["model_class"] == "WhisperForConditionalGeneration"


def test_whisper_rejects_clips_over_30_s(models):
    tr = WhisperTranscriber(models["whisper"], max_new_tokens=2)
    with pytest.raises(ValueError, match=r"wavs\[1\].*30 s window"):
        tr.transcribe([torch.zeros(SR), torch.zeros(31 * SR)])


def test_get_transcriber_specs(models):
    tr = get_transcriber(f"ctc:{models['layer']}")
    assert isinstance(tr, CTCTranscriber) and tr.model is None  # lazy: nothing loaded yet
    assert get_transcriber("ctc").name_or_path == "facebook/hubert-large-ls960-ft"
    whisper = get_transcriber(f"whisper:{models['whisper']}", max_new_tokens=3)
    assert isinstance(whisper, WhisperTranscriber) and whisper.max_new_tokens == 3
    assert get_transcriber("whisper").name_or_path == "openai/whisper-large-v3"
    with pytest.raises(ValueError, match="unknown ASR backend 'kaldi'"):
        get_transcriber("kaldi:/some/model")
    with pytest.raises(FileNotFoundError, match="library ASR checkpoint"):
        get_transcriber("library:runs/asr/last.ckpt")


def test_bad_inputs_raise_value_errors(models, tmp_path):
    with pytest.raises(FileNotFoundError, match="does not exist"):
        CTCTranscriber(str(tmp_path / "missing" / "model"))
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(FileNotFoundError, match=r"has no config\.json"):
        CTCTranscriber(empty).load()
    with pytest.raises(ValueError, match="padding"):
        CTCTranscriber(models["layer"], padding="zeros")
    tr = CTCTranscriber(models["layer"])
    with pytest.raises(ValueError, match="list of 1-D waveforms"):
        tr.transcribe(torch.zeros(SR))
    with pytest.raises(ValueError, match=r"wavs\[1\] must be 1-D"):
        tr.transcribe([torch.zeros(SR), torch.zeros(2, SR)])
    with pytest.raises(ValueError, match=r"wavs\[0\] has 50 samples, too short"):
        tr.transcribe([torch.zeros(50)])
    with pytest.raises(ValueError, match="NaN"):
        tr.transcribe([torch.full((SR,), float("nan"))])
