"""Acoustic features for a speech recogniser, computed in torch so they run inside the model.

The pipeline, for a waveform ``x`` ``(B, S)`` of ``lengths`` real samples per utterance:

1. **Power spectrogram.** Samples past each utterance's length are zeroed, the batch is padded
   with ``n_fft // 2`` zeros on both sides (``center=True``; librosa 0.11's default
   ``pad_mode="constant"``, which is what ``librosa.feature.melspectrogram`` uses unless told
   otherwise), and framed with hop ``H``. Frame ``t`` is centred on sample ``t·H``, windowed by
   the periodic Hann window ``w[n] = 0.5 − 0.5 cos(2πn / N)`` (``N = n_fft``), and
   ``P[t, k] = |Σ_n w[n] x[tH − N/2 + n] e^{−2πi kn/N}|²`` for ``k = 0 .. N/2``.
   There are ``T = 1 + S // H`` frames; utterance ``b`` has ``1 + lengths[b] // H`` real ones.
   Zero padding (not reflection) is what makes a padded batch give each utterance exactly the
   features it has alone: past its end an utterance sees zeros either way.
2. **Mel filterbank** (Slaney 1998, "Auditory Toolbox", Interval Research technical report
   #1998-010; librosa's default, ``htk=False, norm="slaney"``). The mel scale is linear below
   1 kHz and logarithmic above::

       m(f) = 3f / 200                               f < 1000 Hz
       m(f) = 15 + 27 · ln(f / 1000) / ln(6.4)       f ≥ 1000 Hz

   (HTK's scale, ``m(f) = 2595 log10(1 + f/700)``, is *not* the one used here.)
   ``M + 2`` points ``m_0 .. m_{M+1}`` are spaced evenly between ``m(f_min)`` and ``m(f_max)``,
   mapped back to Hz (``f_i = m⁻¹(m_i)``), and filter ``i`` is the triangle on
   ``f_i, f_{i+1}, f_{i+2}`` evaluated at the bin frequencies ``ν_k = k · sr / N``::

       W[k, i] = max(0, min((ν_k − f_i) / (f_{i+1} − f_i), (f_{i+2} − ν_k) / (f_{i+2} − f_{i+1})))

   scaled by ``2 / (f_{i+2} − f_i)`` so each triangle has unit area (Slaney's normalisation).
   ``mel = P @ W`` ``(B, T, M)``.
3. **Log.** ``log(mel + floor)``, the natural log (``floor = 1e-10`` by default).
4. **MFCC** (optional, Davis & Mermelstein 1980, "Comparison of Parametric Representations for
   Monosyllabic Word Recognition in Continuously Spoken Sentences"). The log-mel in dB as
   ``librosa.power_to_db`` computes it with ``ref=1``: ``D = 10 log10(max(mel, floor))``, then
   ``D = max(D, max(D) − top_db)`` with the maximum taken per utterance over its real frames;
   then the first ``C`` coefficients of the orthonormal DCT-II along the mel axis::

       c_j = s_j Σ_i D_i cos(π j (2i + 1) / (2M)),   s_0 = √(1/M),  s_j = √(2/M) for j > 0

   equal to ``librosa.feature.mfcc(S=librosa.power_to_db(mel), n_mfcc=C)``.

Frames past an utterance's length are 0 in every output here. Then, for the model:
:func:`normalise_utterance` (per-utterance mean/variance over real frames) or :class:`GlobalNorm`
(dataset statistics kept as buffers), :class:`SpecAugment` (Park et al. 2019, "SpecAugment: A
Simple Data Augmentation Method for Automatic Speech Recognition") in training, and
:func:`stack_frames` (frame stacking with subsampling, as in Sak et al. 2015, "Fast and Accurate
Recurrent Neural Network Acoustic Models for Speech Recognition").

Only plain torch ops run at forward time (``F.pad``, ``torch.stft`` with a window buffer,
matmul, log, clamp), so the module exports to ONNX: while exporting, the spectrogram is taken
by the real-valued ``torch.stft`` in float64 — the form torch's exporter maps to ONNX's
``STFT``, at the precision where ONNX Runtime's transform equals torch's FFT (its float32 one
is too coarse for the quiet bands, whose log-mel sits near the floor).
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Iterable

import torch
import torch.nn.functional as F
from torch import Tensor, nn

# Slaney's mel scale: linear (200/3 Hz per mel) up to 1 kHz = 15 mel, then log-spaced with
# 27 mel per factor of 6.4 in frequency.
_LINEAR_HZ_PER_MEL = 200.0 / 3.0
_BREAK_HZ = 1000.0
_BREAK_MEL = _BREAK_HZ / _LINEAR_HZ_PER_MEL
_LOG_STEP = math.log(6.4) / 27.0


def frame_mask(lengths: Tensor, frames: int) -> Tensor:
    """``(B, T)`` bool, True at the real frames ``t < lengths[b]``."""
    return torch.arange(frames, device=lengths.device) < lengths.unsqueeze(1)


def hz_to_mel(freqs: Tensor) -> Tensor:
    """Slaney's mel scale: ``3f/200`` below 1 kHz, ``15 + 27 ln(f/1000)/ln(6.4)`` above."""
    linear = freqs / _LINEAR_HZ_PER_MEL
    log = _BREAK_MEL + torch.log(freqs.clamp(min=_BREAK_HZ) / _BREAK_HZ) / _LOG_STEP
    return torch.where(freqs >= _BREAK_HZ, log, linear)


def mel_to_hz(mels: Tensor) -> Tensor:
    """The inverse of :func:`hz_to_mel`."""
    linear = mels * _LINEAR_HZ_PER_MEL
    log = _BREAK_HZ * torch.exp(_LOG_STEP * (mels - _BREAK_MEL))
    return torch.where(mels >= _BREAK_MEL, log, linear)


def mel_filterbank(
    n_freqs: int,
    n_mels: int,
    sample_rate: int,
    f_min: float = 0.0,
    f_max: float | None = None,
) -> Tensor:
    """``(n_freqs, n_mels)`` float32: Slaney's area-normalised triangular mel filters.

    The filters of Slaney's Auditory Toolbox (1998), as ``librosa.filters.mel(sr=sample_rate,
    n_fft=n_fft, n_mels=n_mels, fmin=f_min, fmax=f_max)`` builds them by default (``htk=False,
    norm="slaney"``), transposed so that ``power (…, n_freqs) @ filterbank`` gives the mel power.
    ``n_freqs = n_fft // 2 + 1`` for an even ``n_fft``: the bins are ``linspace(0, sr/2,
    n_freqs)``. ``f_max`` defaults to ``sample_rate / 2``. See the module docstring for the
    formulas. Computed in float64, returned as float32.
    """
    if n_freqs < 2 or n_mels < 1:
        raise ValueError(f"need n_freqs >= 2 and n_mels >= 1, got {n_freqs} and {n_mels}")
    f_max = sample_rate / 2.0 if f_max is None else float(f_max)
    if not 0.0 <= f_min < f_max:
        raise ValueError(f"need 0 <= f_min < f_max, got f_min={f_min}, f_max={f_max}")
    bins = torch.linspace(0.0, sample_rate / 2.0, n_freqs, dtype=torch.float64)
    edges_mel = torch.linspace(
        hz_to_mel(torch.tensor(float(f_min), dtype=torch.float64)).item(),
        hz_to_mel(torch.tensor(f_max, dtype=torch.float64)).item(),
        n_mels + 2,
        dtype=torch.float64,
    )
    edges = mel_to_hz(edges_mel)  # (n_mels + 2,)
    widths = edges.diff()  # (n_mels + 1,)
    offsets = bins.unsqueeze(1) - edges.unsqueeze(0)  # (n_freqs, n_mels + 2): ν_k − f_i
    rising = offsets[:, :-2] / widths[:-1]  # (ν_k − f_i) / (f_{i+1} − f_i)
    falling = -offsets[:, 2:] / widths[1:]  # (f_{i+2} − ν_k) / (f_{i+2} − f_{i+1})
    weights = torch.minimum(rising, falling).clamp(min=0.0)
    weights = weights * (2.0 / (edges[2:] - edges[:-2]))  # unit area per triangle
    return weights.to(torch.float32)


def dct_matrix(n_in: int, n_out: int) -> Tensor:
    """``(n_in, n_out)`` float32: the first ``n_out`` basis vectors of the orthonormal DCT-II of
    length ``n_in`` as columns, so that ``x (…, n_in) @ dct_matrix`` is ``scipy.fft.dct(x,
    type=2, norm="ortho")[..., :n_out]``."""
    n = torch.arange(n_in, dtype=torch.float64).unsqueeze(1)
    j = torch.arange(n_out, dtype=torch.float64).unsqueeze(0)
    basis = torch.cos(math.pi * j * (2.0 * n + 1.0) / (2.0 * n_in)) * math.sqrt(2.0 / n_in)
    basis[:, 0] = 1.0 / math.sqrt(n_in)
    return basis.to(torch.float32)


def _zero_padding(features: Tensor, mask: Tensor) -> Tensor:
    """``features`` ``(B, T, F)`` with the frames outside ``mask`` ``(B, T)`` set to 0."""
    return torch.where(mask.unsqueeze(-1), features, torch.zeros_like(features))


class LogMel(nn.Module):
    """Log-mel (or MFCC) features of a padded batch of waveforms.

    Args:
        sample_rate: samples per second.
        n_fft: the FFT size and the length of the periodic Hann window; must be even.
        hop_length: samples between frame centres ``H``.
        n_mels: mel bands ``M``.
        f_min, f_max: the filterbank's range in Hz (``f_max`` defaults to ``sample_rate / 2``).
        mfcc: with ``C > 0``, return the first ``C`` MFCCs instead of the log-mel.
        floor: added to the mel power before the natural log (log-mel); the ``amin`` of the dB
            conversion (MFCC).
        top_db: the MFCCs' dynamic-range clip in dB below each utterance's peak (``None``: off);
            librosa's ``power_to_db`` default is 80.

    Shapes: ``forward(waveform (B, S) float, lengths (B,) long samples) -> (features (B, T, F),
    frame_lengths (B,))`` with ``T = 1 + S // H``, ``frame_lengths = 1 + lengths // H`` and
    ``F = M`` (or ``C``); frames past an utterance's length are 0. On an utterance alone this
    equals ``log(librosa.feature.melspectrogram(y=x, sr=sample_rate, n_fft=n_fft,
    hop_length=hop_length, n_mels=n_mels) + floor)`` transposed, or
    ``librosa.feature.mfcc(S=librosa.power_to_db(mel), n_mfcc=C)`` transposed.
    """

    window: Tensor
    filterbank: Tensor
    dct: Tensor

    def __init__(
        self,
        sample_rate: int,
        n_fft: int,
        hop_length: int,
        n_mels: int,
        *,
        f_min: float = 0.0,
        f_max: float | None = None,
        mfcc: int = 0,
        floor: float = 1e-10,
        top_db: float | None = 80.0,
    ) -> None:
        super().__init__()
        if n_fft < 2 or n_fft % 2:
            raise ValueError(f"n_fft must be even and >= 2, got {n_fft}")
        if hop_length < 1:
            raise ValueError(f"hop_length must be >= 1, got {hop_length}")
        if not 0 <= mfcc <= n_mels:
            raise ValueError(f"mfcc must be in [0, n_mels={n_mels}], got {mfcc}")
        if floor <= 0:
            raise ValueError(f"floor must be > 0, got {floor}")
        self.n_fft = n_fft
        self.hop_length = hop_length
        self.mfcc = mfcc
        self.floor = floor
        self.top_db = top_db
        self.num_features = mfcc if mfcc else n_mels
        self.register_buffer("window", torch.hann_window(n_fft, periodic=True), persistent=False)
        fb = mel_filterbank(n_fft // 2 + 1, n_mels, sample_rate, f_min, f_max)
        self.register_buffer("filterbank", fb, persistent=False)
        self.register_buffer("dct", dct_matrix(n_mels, max(mfcc, 1)), persistent=False)

    def frame_lengths(self, lengths: Tensor) -> Tensor:
        """``(B,)``: the real frames of utterances of ``lengths`` samples, ``1 + lengths // H``."""
        return 1 + torch.div(lengths, self.hop_length, rounding_mode="floor")

    def power_spectrogram(self, waveform: Tensor, lengths: Tensor) -> Tensor:
        """``(B, T, n_fft // 2 + 1)``: ``|STFT|²`` of the zero-padded, centred frames."""
        samples = waveform.shape[1]
        real = frame_mask(lengths, samples)
        waveform = torch.where(real, waveform, torch.zeros_like(waveform))
        half = self.n_fft // 2
        padded = F.pad(waveform, (half, half))  # center=True, pad_mode="constant"
        exporting = torch.onnx.is_in_onnx_export()
        if exporting:
            padded = padded.double()
        with warnings.catch_warnings():
            # return_complex=False is deprecated, and the only form the exporter maps to STFT
            warnings.simplefilter("ignore")
            spec = torch.stft(
                padded,
                n_fft=self.n_fft,
                hop_length=self.hop_length,
                window=self.window.to(padded.dtype),
                center=False,
                return_complex=not exporting,
            )  # (B, n_fft // 2 + 1, T), complex; or real and imaginary as a last axis of 2
        power = (spec if exporting else torch.view_as_real(spec)).pow(2).sum(-1)
        return power.transpose(1, 2).to(waveform.dtype)

    def forward(self, waveform: Tensor, lengths: Tensor) -> tuple[Tensor, Tensor]:
        frame_lengths = self.frame_lengths(lengths)
        power = self.power_spectrogram(waveform, lengths)
        mel = power @ self.filterbank.to(power.dtype)  # (B, T, M)
        mask = frame_mask(frame_lengths, mel.shape[1])
        if self.mfcc:
            features = self._power_to_db(mel, mask) @ self.dct.to(mel.dtype)
        else:
            features = torch.log(mel + self.floor)
        return _zero_padding(features, mask), frame_lengths

    def _power_to_db(self, mel: Tensor, mask: Tensor) -> Tensor:
        """``10 log10(max(mel, floor))``, clipped at ``top_db`` below each utterance's peak over
        its real frames (``librosa.power_to_db`` with ``ref=1, amin=floor``)."""
        db = 10.0 * torch.log10(mel.clamp(min=self.floor))
        if self.top_db is None:
            return db
        real = torch.where(mask.unsqueeze(-1), db, torch.full_like(db, -torch.inf))
        peak = real.amax(dim=(1, 2), keepdim=True)  # (B, 1, 1)
        return torch.maximum(db, peak - self.top_db)


def normalise_utterance(features: Tensor, lengths: Tensor, eps: float = 1e-5) -> Tensor:
    """``(B, T, F)``: each utterance standardised per feature with the mean and (population)
    standard deviation of its real frames; padded frames are 0. ``std`` is clamped at ``eps``."""
    mask = frame_mask(lengths, features.shape[1]).unsqueeze(-1)  # (B, T, 1)
    count = lengths.clamp(min=1).to(features.dtype).view(-1, 1, 1)
    kept = torch.where(mask, features, torch.zeros_like(features))
    mean = kept.sum(1, keepdim=True) / count
    centred = torch.where(mask, features - mean, torch.zeros_like(features))
    std = (centred.pow(2).sum(1, keepdim=True) / count).sqrt().clamp(min=eps)
    return centred / std


class GlobalNorm(nn.Module):
    """``(x − mean) / std`` per feature with dataset statistics, on real frames only.

    ``mean`` and ``std`` ``(F,)`` are buffers, saved in the ``state_dict``; they start as 0 and 1
    and are set by :meth:`fit`.

    Shapes: ``forward(features (B, T, F), lengths (B,)) -> (B, T, F)``, padded frames 0.
    """

    mean: Tensor
    std: Tensor

    def __init__(self, num_features: int, eps: float = 1e-5) -> None:
        super().__init__()
        self.eps = eps
        self.register_buffer("mean", torch.zeros(num_features))
        self.register_buffer("std", torch.ones(num_features))

    @torch.no_grad()
    def fit(
        self,
        features: Tensor | Iterable[tuple[Tensor, Tensor]],
        lengths: Tensor | None = None,
    ) -> GlobalNorm:
        """Set ``mean`` and (population) ``std`` over the real frames of ``features`` ``(B, T,
        F)`` with ``lengths``, or of every ``(features, lengths)`` batch of an iterable.
        Accumulates in float64. Returns ``self``."""
        if isinstance(features, Tensor):
            if lengths is None:
                raise ValueError("fit(features, lengths) needs lengths with a tensor")
            batches: Iterable[tuple[Tensor, Tensor]] = [(features, lengths)]
        else:
            batches = features
        total = torch.zeros(self.mean.shape, dtype=torch.float64)
        squares = torch.zeros(self.mean.shape, dtype=torch.float64)
        count = 0
        for batch, batch_lengths in batches:
            mask = frame_mask(batch_lengths, batch.shape[1]).cpu()
            real = batch.detach().cpu().to(torch.float64)[mask]  # (N, F)
            total += real.sum(0)
            squares += real.pow(2).sum(0)
            count += real.shape[0]
        if count == 0:
            raise ValueError("fit needs at least one real frame")
        mean = total / count
        var = (squares / count - mean.pow(2)).clamp(min=0.0)
        self.mean.copy_(mean.to(self.mean))
        self.std.copy_(var.sqrt().clamp(min=self.eps).to(self.std))
        return self

    def forward(self, features: Tensor, lengths: Tensor) -> Tensor:
        mask = frame_mask(lengths, features.shape[1])
        return _zero_padding((features - self.mean) / self.std, mask)


class SpecAugment(nn.Module):
    """Frequency and time masking (Park et al. 2019, "SpecAugment"), in training only.

    Each utterance gets ``freq_masks`` bands of ``f ~ U{0 .. freq_width}`` consecutive features
    starting at ``f0 ~ U{0 .. F − f}``, and ``time_masks`` spans of ``t ~ U{0 .. ⌊time_width ·
    length⌋}`` frames starting at ``t0 ~ U{0 .. length − t}`` (within its real frames), all set
    to 0 (apply it after normalisation, so 0 is the mean). Padded frames are never touched.
    Draws from torch's global RNG; in eval mode it returns its input.

    Shapes: ``forward(features (B, T, F), lengths (B,)) -> (B, T, F)``.
    """

    def __init__(
        self,
        freq_masks: int = 2,
        freq_width: int = 8,
        time_masks: int = 2,
        time_width: float = 0.05,
    ) -> None:
        super().__init__()
        if min(freq_masks, freq_width, time_masks) < 0 or not 0.0 <= time_width <= 1.0:
            raise ValueError("mask counts and widths must be >= 0 and time_width in [0, 1]")
        self.freq_masks = freq_masks
        self.freq_width = freq_width
        self.time_masks = time_masks
        self.time_width = time_width

    def forward(self, features: Tensor, lengths: Tensor) -> Tensor:
        if not self.training:
            return features
        batch, frames, size = features.shape
        device = features.device
        lengths = lengths.to(device)
        freq_width = torch.full((batch,), min(self.freq_width, size), device=device)
        freq = _span_mask(freq_width, torch.full_like(freq_width, size), self.freq_masks, size)
        time_width = torch.floor(self.time_width * lengths.to(torch.float64)).long()
        time = _span_mask(time_width, lengths, self.time_masks, frames)
        masked = freq.unsqueeze(1) | time.unsqueeze(2)  # (B, T, F)
        masked = masked & frame_mask(lengths, frames).unsqueeze(-1)
        return features.masked_fill(masked, 0.0)


def _span_mask(max_width: Tensor, extent: Tensor, count: int, size: int) -> Tensor:
    """``(B, size)`` bool: the union of ``count`` spans per row, each of width ``w ~ U{0 ..
    max_width[b]}`` starting at ``s ~ U{0 .. extent[b] − w}``."""
    batch = max_width.shape[0]
    device = max_width.device
    mask = torch.zeros(batch, size, dtype=torch.bool, device=device)
    positions = torch.arange(size, device=device)
    for _ in range(count):
        width = (torch.rand(batch, device=device) * (max_width + 1)).long()
        width = torch.minimum(width, max_width)  # guards rand() rounding up to 1.0
        room = (extent - width).clamp(min=0)
        start = torch.minimum((torch.rand(batch, device=device) * (room + 1)).long(), room)
        inside = (positions >= start.unsqueeze(1)) & (positions < (start + width).unsqueeze(1))
        mask |= inside
    return mask


def stack_frames(features: Tensor, lengths: Tensor, factor: int) -> tuple[Tensor, Tensor]:
    """Frame stacking with subsampling: ``(B, T, F) -> (B, T // factor, F · factor)``.

    Output frame ``t`` is input frames ``t·factor .. t·factor + factor − 1`` concatenated in
    order; the lengths become ``lengths // factor`` (a trailing partial group is dropped) and
    output frames past them are 0. ``factor == 1`` returns the inputs as they are.
    """
    if factor < 1:
        raise ValueError(f"factor must be >= 1, got {factor}")
    if factor == 1:
        return features, lengths
    batch, frames, size = features.shape
    kept = frames // factor
    stacked = features[:, : kept * factor].reshape(batch, kept, size * factor)
    new_lengths = torch.div(lengths, factor, rounding_mode="floor")
    return _zero_padding(stacked, frame_mask(new_lengths, kept)), new_lengths
