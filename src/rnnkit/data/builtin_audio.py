"""Built-in speech-like data, generated (deterministic, no download), for the tour and tests:
``--data builtin:tones`` (1,200 utterances) and ``builtin:tones-test`` (200).

Each "word" is a digit 0-9 spoken as a tone: two partials at ``f_d`` and ``1.5 f_d`` with
``f_d = 300 + 180 d`` Hz, 0.12-0.25 s long, faded in and out, with a random pitch wobble of
±3%; an utterance strings 1-4 of them with 40-120 ms pauses and adds white noise (SNR about
20 dB). The transcript is the digits separated by spaces ("3 9 1"). 8 kHz, float32.
"""

from __future__ import annotations

import numpy as np

from rnnkit.data.audio import Utterance
from rnnkit.errors import UserError

PREFIX = "builtin:"
SAMPLE_RATE = 8000
SETS = {"tones": (1200, 1), "tones-test": (200, 2)}  # name -> (utterances, seed)


def _word(digit: int, rng: np.random.Generator) -> np.ndarray:
    """One digit's tone (S,)."""
    seconds = rng.uniform(0.12, 0.25)
    t = np.arange(int(seconds * SAMPLE_RATE)) / SAMPLE_RATE
    pitch = (300 + 180 * digit) * rng.uniform(0.97, 1.03)
    tone = np.sin(2 * np.pi * pitch * t) + 0.5 * np.sin(2 * np.pi * 1.5 * pitch * t)
    fade = np.minimum(1.0, np.minimum(t, t[-1] - t) / 0.01)  # 10 ms ramps
    return 0.3 * tone * fade


def _utterance(rng: np.random.Generator) -> tuple[np.ndarray, str]:
    digits = rng.integers(0, 10, rng.integers(1, 5))
    parts = [np.zeros(int(rng.uniform(0.04, 0.12) * SAMPLE_RATE))]
    for digit in digits:
        parts += [_word(int(digit), rng), np.zeros(int(rng.uniform(0.04, 0.12) * SAMPLE_RATE))]
    audio = np.concatenate(parts)
    audio += rng.normal(0, 0.02, len(audio))
    return audio.astype(np.float32), " ".join(str(d) for d in digits)


def builtin_utterances(name: str, sample_rate: int) -> list[Utterance]:
    """The built-in set ``builtin:NAME`` at ``sample_rate`` (it is generated at 8 kHz)."""
    from rnnkit.data.audio import resample

    key = name.removeprefix(PREFIX)
    if key not in SETS:
        raise UserError(
            f"unknown built-in audio {name!r}; choose one of: "
            + ", ".join(PREFIX + k for k in SETS)
        )
    count, seed = SETS[key]
    rng = np.random.default_rng(seed)
    utterances = []
    for index in range(count):
        audio, text = _utterance(rng)
        utterances.append(
            Utterance(
                resample(audio, SAMPLE_RATE, sample_rate),
                text,
                f"{PREFIX}{key}#{index + 1}",
                PREFIX + key,
                index + 1,
            )
        )
    return utterances
