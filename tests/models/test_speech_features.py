"""Speech features against librosa as the reference: the Slaney filterbank, the log-mel and the
MFCCs; padding never leaks; the normalisers, SpecAugment and frame stacking respect lengths."""

from __future__ import annotations

import librosa
import numpy as np
import pytest
import torch

from rnnkit.models.speech_features import (
    GlobalNorm,
    LogMel,
    SpecAugment,
    mel_filterbank,
    normalise_utterance,
    stack_frames,
)

SR, N_FFT, HOP, N_MELS = 8000, 200, 80, 40


def signal(seconds: float = 0.5, seed: int = 0) -> np.ndarray:
    """A sum of sines plus noise at ``SR``, float64."""
    rng = np.random.default_rng(seed)
    t = np.arange(int(seconds * SR)) / SR
    tones = sum(
        a * np.sin(2 * np.pi * f * t) for a, f in [(0.5, 220.0), (0.3, 1234.0), (0.2, 3100.0)]
    )
    return tones + 0.05 * rng.standard_normal(t.shape)


def padded_batch() -> tuple[torch.Tensor, torch.Tensor, list[np.ndarray]]:
    """Two utterances of different lengths, padded with junk (not zeros) past their ends."""
    utterances = [signal(0.5, seed=1), signal(0.31, seed=2)[:2467]]
    lengths = torch.tensor([len(u) for u in utterances])
    batch = torch.full((2, int(lengths.max())), 3.0)
    for row, utterance in enumerate(utterances):
        batch[row, : len(utterance)] = torch.from_numpy(utterance).float()
    return batch, lengths, utterances


@pytest.mark.parametrize(("sr", "n_fft", "n_mels"), [(8000, 200, 40), (16000, 400, 80)])
def test_filterbank_equals_librosa_slaney(sr, n_fft, n_mels):
    ours = mel_filterbank(n_fft // 2 + 1, n_mels, sr)
    reference = librosa.filters.mel(sr=sr, n_fft=n_fft, n_mels=n_mels)
    assert ours.shape == (n_fft // 2 + 1, n_mels)
    np.testing.assert_allclose(ours.numpy(), reference.T, rtol=0, atol=1e-6)


def test_filterbank_with_a_band_limit_equals_librosa():
    ours = mel_filterbank(201, 64, 16000, f_min=60.0, f_max=7600.0)
    reference = librosa.filters.mel(sr=16000, n_fft=400, n_mels=64, fmin=60.0, fmax=7600.0)
    np.testing.assert_allclose(ours.numpy(), reference.T, rtol=0, atol=1e-6)


def test_log_mel_equals_librosa():
    y = signal()
    floor = 1e-10
    module = LogMel(SR, N_FFT, HOP, N_MELS, floor=floor)
    features, lengths = module(torch.from_numpy(y).float()[None], torch.tensor([len(y)]))
    mel = librosa.feature.melspectrogram(y=y, sr=SR, n_fft=N_FFT, hop_length=HOP, n_mels=N_MELS)
    assert features.shape == (1, 1 + len(y) // HOP, N_MELS) == (1, *mel.T.shape)
    assert lengths.tolist() == [mel.shape[1]]
    ours_power = features[0].double().exp().numpy() - floor
    np.testing.assert_allclose(ours_power, mel.T, rtol=1e-4, atol=1e-4 * mel.max())
    np.testing.assert_allclose(features[0].numpy(), np.log(mel.T + floor), rtol=0, atol=1e-4)


def test_mfcc_equals_librosa():
    y = signal()
    module = LogMel(SR, N_FFT, HOP, N_MELS, mfcc=13)
    features, _ = module(torch.from_numpy(y).float()[None], torch.tensor([len(y)]))
    mel = librosa.feature.melspectrogram(y=y, sr=SR, n_fft=N_FFT, hop_length=HOP, n_mels=N_MELS)
    reference = librosa.feature.mfcc(S=librosa.power_to_db(mel), n_mfcc=13)
    assert features.shape == (1, *reference.T.shape)
    np.testing.assert_allclose(features[0].numpy(), reference.T, rtol=0, atol=1e-3)


def test_mfcc_clips_at_top_db_like_librosa():
    """A loud tone then near-silence: the quiet frames sit more than 80 dB below the peak."""
    y = signal()
    y[len(y) // 2 :] *= 1e-6
    module = LogMel(SR, N_FFT, HOP, N_MELS, mfcc=5)
    features, _ = module(torch.from_numpy(y).float()[None], torch.tensor([len(y)]))
    mel = librosa.feature.melspectrogram(y=y, sr=SR, n_fft=N_FFT, hop_length=HOP, n_mels=N_MELS)
    db = librosa.power_to_db(mel)
    assert (db == db.max() - 80).any()  # the clip is exercised
    reference = librosa.feature.mfcc(S=db, n_mfcc=5)
    np.testing.assert_allclose(features[0].numpy(), reference.T, rtol=0, atol=1e-3)


@pytest.mark.parametrize("mfcc", [0, 13])
def test_padded_batch_gives_each_utterance_its_own_features(mfcc):
    batch, lengths, utterances = padded_batch()
    module = LogMel(SR, N_FFT, HOP, N_MELS, mfcc=mfcc)
    features, frame_lengths = module(batch, lengths)
    assert features.shape == (2, 1 + batch.shape[1] // HOP, module.num_features)
    assert frame_lengths.tolist() == [1 + len(u) // HOP for u in utterances]
    for row, utterance in enumerate(utterances):
        alone, alone_lengths = module(
            torch.from_numpy(utterance).float()[None], torch.tensor([len(utterance)])
        )
        n = int(frame_lengths[row])
        assert alone.shape[1] == n == int(alone_lengths[0])
        torch.testing.assert_close(features[row, :n], alone[0], rtol=1e-5, atol=1e-4)
        assert (features[row, n:] == 0).all()
    assert (features[1, int(frame_lengths[1]) :] == 0).any()  # there is padding to check


@pytest.mark.parametrize("samples", [0, 1, 79, 80, 81, 4000])
def test_frame_counts(samples):
    module = LogMel(SR, N_FFT, HOP, N_MELS)
    features, lengths = module(torch.randn(1, max(samples, 1)), torch.tensor([samples]))
    assert lengths.tolist() == [1 + samples // HOP]
    assert features.shape[1] == 1 + max(samples, 1) // HOP


def test_log_mel_rejects_odd_n_fft():
    with pytest.raises(ValueError, match="even"):
        LogMel(SR, 201, HOP, N_MELS)


def padded_features() -> tuple[torch.Tensor, torch.Tensor]:
    torch.manual_seed(0)
    lengths = torch.tensor([9, 5, 7])
    features = torch.randn(3, 9, 4) * 3 + 2
    features[1, 5:] = 0.0
    features[2, 7:] = 0.0
    return features, lengths


def test_normalise_utterance_standardises_the_real_frames():
    features, lengths = padded_features()
    out = normalise_utterance(features, lengths)
    for row, n in enumerate(lengths.tolist()):
        real = out[row, :n]
        torch.testing.assert_close(real.mean(0), torch.zeros(4), atol=1e-5, rtol=0)
        torch.testing.assert_close(real.std(0, unbiased=False), torch.ones(4), atol=1e-5, rtol=0)
        assert (out[row, n:] == 0).all()


def test_global_norm_fits_real_frames_and_survives_the_state_dict():
    features, lengths = padded_features()
    norm = GlobalNorm(4).fit(features, lengths)
    real = torch.cat([features[row, :n] for row, n in enumerate(lengths.tolist())])
    torch.testing.assert_close(norm.mean, real.mean(0))
    torch.testing.assert_close(norm.std, real.std(0, unbiased=False))
    batches = [(features[:1], lengths[:1]), (features[1:], lengths[1:])]
    by_batches = GlobalNorm(4).fit(batches)
    torch.testing.assert_close(by_batches.mean, norm.mean)
    torch.testing.assert_close(by_batches.std, norm.std)

    restored = GlobalNorm(4)
    restored.load_state_dict(norm.state_dict())
    assert set(norm.state_dict()) == {"mean", "std"}
    out = restored(features, lengths)
    torch.testing.assert_close(out, norm(features, lengths))
    mask = torch.arange(9) < lengths[:, None]
    torch.testing.assert_close(out[mask].mean(0), torch.zeros(4), atol=1e-5, rtol=0)
    assert (out[~mask] == 0).all()


def test_spec_augment_is_identity_in_eval():
    features, lengths = padded_features()
    augment = SpecAugment().eval()
    assert torch.equal(augment(features, lengths), features)


def test_spec_augment_masks_bands_within_real_frames_only():
    torch.manual_seed(0)
    lengths = torch.tensor([100, 60])
    features = torch.randn(2, 100, 40).abs() + 1.0  # never 0, so zeros are masks
    features[1, 60:] = 7.0  # padding sentinel
    augment = SpecAugment(freq_masks=2, freq_width=8, time_masks=2, time_width=0.1).train()
    out = augment(features, lengths)
    assert torch.equal(out[1, 60:], features[1, 60:])  # padding untouched
    zero = out == 0
    assert zero.any()
    assert ((out == features) | zero).all()  # everything else unchanged
    full_bands = zero[:, : int(lengths.min())].all(dim=1)  # (B, F): features zeroed at every frame
    full_frames = zero.all(dim=2)  # (B, T): frames zeroed at every feature
    assert full_bands.any()
    assert full_frames[:, :60].any()
    assert full_bands.sum(1).max() <= 2 * 8
    for row, n in enumerate(lengths.tolist()):
        assert full_frames[row, :n].sum() <= 2 * int(0.1 * n)


def test_stack_frames_concatenates_consecutive_frames():
    features = torch.arange(2 * 7 * 3, dtype=torch.float32).reshape(2, 7, 3)
    lengths = torch.tensor([7, 5])
    stacked, new_lengths = stack_frames(features, lengths, 3)
    assert stacked.shape == (2, 2, 9)
    assert new_lengths.tolist() == [2, 1]
    torch.testing.assert_close(stacked[0, 1], features[0, 3:6].flatten())
    torch.testing.assert_close(stacked[1, 0], features[1, 0:3].flatten())
    assert (stacked[1, 1] == 0).all()  # frames 3..5 of utterance 1 include padding
    same, same_lengths = stack_frames(features, lengths, 1)
    assert same is features and same_lengths is lengths
