"""ASR backends: tiny random checkpoints saved with save_pretrained, loaded by local path."""

import json
import threading

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
    ConvFrontEnd,
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
def test_ctc_layer_norm_batched_equals_one_by_one(models, wavs, kind, bound):
    batched = CTCTranscriber(models[kind], max_batch_samples=10**7)
    single = CTCTranscriber(models[kind], max_batch_samples=1)
    assert batched.uses_attention_mask
    logits_b = batched.logits(wavs)
    logits_s = [single.logits([w])[0] for w in wavs]
    for w, lb, ls in zip(wavs, logits_b, logits_s, strict=True):
        assert lb.shape == ls.shape
        assert lb.shape[0] == int(batched.model._get_feat_extract_output_lengths(w.numel()))
        bound.close("logits batched vs one", lb, ls, atol=1e-4)
    texts_b = batched.transcribe(wavs)
    texts_s = [single.transcribe([w])[0] for w in wavs]
    assert texts_b == texts_s
    assert len(set(texts_b)) > 1 and all(texts_b)  # input-dependent, non-empty output
    # the same batch in another order gives the same per-utterance results
    assert batched.transcribe(wavs[::-1]) == texts_b[::-1]


def test_ctc_group_norm_batches_any_lengths_exactly(models, wavs, bound):
    """wav2vec2-base-like checkpoints: group norm in the feature encoder normalises over the
    whole (padded) signal, so the features are computed per utterance and only the
    transformer sees padding (masked): batched == one-by-one for any lengths."""
    batched = CTCTranscriber(models["group"], max_batch_samples=10**7)
    assert batched.uses_attention_mask
    single = [batched.logits([w])[0] for w in wavs]
    for lb, ls in zip(batched.logits(wavs), single, strict=True):
        bound.close("logits batched vs one", lb, ls, atol=1e-4)
    assert batched.transcribe(wavs) == [batched.transcribe([w])[0] for w in wavs]
    never = CTCTranscriber(models["group"], max_batch_samples=10**7, padding="none")
    assert not never.uses_attention_mask
    for lb, ls in zip(never.logits(wavs), single, strict=True):
        bound.close("logits unpadded batch vs one", lb, ls, atol=1e-4)
    # padding the waveforms instead shows why: the padded utterances' logits move
    padded = CTCTranscriber(models["group"], max_batch_samples=10**7, padding="attention_mask")
    assert padded.load().describe()["padding_resolved"].startswith("attention_mask")
    moved = [(a - b).abs().max().item() for a, b in zip(padded.logits(wavs), single, strict=True)]
    assert max(moved) > 1e-2
    longest = LENGTHS.index(max(LENGTHS))
    # the longest item is not padded: it moves only by summation order (1.16e-4 measured under
    # ATEN_CPU_CAPABILITY=avx2 with 1 thread), two orders below the padded ones' 1e-2
    bound("longest item's logits moved", moved[longest], "<", 1e-3)


def test_ctc_streams_give_the_same_logits_and_restore_threads(models, wavs, bound):
    threads = torch.get_num_threads()
    one = CTCTranscriber(models["layer"], max_batch_samples=20000)
    two = CTCTranscriber(models["layer"], max_batch_samples=20000, streams=2, progress=True)
    expected = one.logits(wavs)
    got = two.logits(wavs)  # several batches, two at a time
    for a, b in zip(got, expected, strict=True):
        bound.close("logits two streams vs one", a, b, atol=1e-4)
    # the process-wide setting is back: the caller and threads started later see it
    seen = []
    worker = threading.Thread(target=lambda: seen.append(torch.get_num_threads()))
    worker.start()
    worker.join()
    assert torch.get_num_threads() == threads and seen == [threads]
    assert two.load().describe()["streams"] == 2
    with pytest.raises(ValueError, match="streams must be an int >= 1"):
        CTCTranscriber(models["layer"], streams=0)


def _save_overlapping_ctc(directory, norm):
    """A tiny CTC model whose conv windows overlap (kernel > stride) and have biases."""
    from transformers import Wav2Vec2Config, Wav2Vec2ForCTC

    save_tiny_ctc(directory, norm=norm)  # processor and vocabulary
    config = Wav2Vec2Config.from_pretrained(directory)
    config.conv_kernel, config.conv_stride, config.conv_bias = (10, 3, 3), (5, 2, 2), True
    torch.manual_seed(3)
    model = Wav2Vec2ForCTC(config)
    with torch.no_grad():
        for name, p in model.wav2vec2.feature_extractor.named_parameters():
            if not name.endswith("conv.weight"):  # non-trivial biases and norm parameters
                p.add_(0.3 * torch.randn_like(p))
    model.save_pretrained(directory)
    return directory


@pytest.mark.parametrize("norm", ["layer", "group"])
def test_fast_front_end_equals_transformers_forward(tmp_path, wavs, norm):
    directory = _save_overlapping_ctc(tmp_path / norm, norm)
    fast = CTCTranscriber(directory, max_batch_samples=10**7)
    plain = CTCTranscriber(directory, fast_front_end=False, padding="none", max_batch_samples=1)
    info = fast.load().describe()
    if norm == "layer":
        assert info["front_end"].startswith("ConvFrontEnd")
        assert info["front_end_max_abs_diff"] < 1e-4
    else:  # no layer norms: the module's plain convolutions are kept
        assert info["front_end"] == "transformers module"
    assert plain.load().describe()["front_end"] == "transformers module"
    expected = [plain.logits([w])[0] for w in wavs]  # the model's own forward, unpadded
    for got, ref in zip(fast.logits(wavs), expected, strict=True):
        assert got.shape == ref.shape
        assert torch.allclose(got, ref, atol=1e-4, rtol=0)
    assert fast.transcribe(wavs) == plain.decode(expected)


@pytest.mark.parametrize(
    "family", ["wav2vec2-group", "wav2vec2-layer", "hubert", "wavlm", "data2vec"]
)
def test_conv_front_end_matches_each_family(family):
    import transformers as tf

    kwargs = dict(
        hidden_size=16,
        num_hidden_layers=1,
        num_attention_heads=2,
        intermediate_size=16,
        conv_dim=(8, 12, 12),
        conv_stride=(5, 2, 2),
        conv_kernel=(10, 3, 2),
        conv_bias=True,
        num_conv_pos_embeddings=4,
        num_conv_pos_embedding_groups=2,
    )
    name, _, norm = family.partition("-")
    if name != "data2vec":
        kwargs["feat_extract_norm"] = norm or "layer"
    classes = {
        "wav2vec2": (tf.Wav2Vec2Config, tf.Wav2Vec2Model),
        "hubert": (tf.HubertConfig, tf.HubertModel),
        "wavlm": (tf.WavLMConfig, tf.WavLMModel),
        "data2vec": (tf.Data2VecAudioConfig, tf.Data2VecAudioModel),
    }
    config_cls, model_cls = classes[name]
    torch.manual_seed(0)
    module = model_cls(config_cls(**kwargs)).eval().feature_extractor
    with torch.no_grad():
        for p in module.parameters():
            p.add_(0.2 * torch.randn_like(p))
    front_end = ConvFrontEnd(module)
    x = torch.randn(4321)
    with torch.inference_mode():
        expected = module(x[None])[0].transpose(0, 1)
        got = front_end(x)
    assert got.shape == expected.shape == (front_end.n_frames(4321), 12)
    assert torch.allclose(got, expected, atol=1e-5, rtol=0), (got - expected).abs().max()
    with pytest.raises(ValueError, match="not a wav2vec2-family"):
        ConvFrontEnd(torch.nn.Linear(2, 2))


def test_ctc_resamples_and_describes(models, wavs):
    tr = CTCTranscriber(models["layer"])
    at_8k = [torch.nn.functional.avg_pool1d(w[None, None], 2)[0, 0] for w in wavs[:2]]
    import torchaudio

    expected = [torchaudio.functional.resample(w, 8000, SR) for w in at_8k]
    assert tr.transcribe(at_8k, sample_rate=8000) == tr.transcribe(expected)
    info = tr.describe()
    assert info["backend"] == "ctc" and info["decoding"] == "greedy"
    assert info["model"] == str(models["layer"]) and info["source"] == "local"
    assert info["model_class"] == "Wav2Vec2ForCTC" and info["padding_resolved"].startswith(
        "features"
    )
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
