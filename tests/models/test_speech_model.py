"""The speech recogniser's front ends: a padded batch scores each recording as it scores it
alone, whichever convolution comes first, and the output has one score row per kept frame."""

from __future__ import annotations

import pytest
import torch

from rnnkit.models.speech import SpeechRecognizer
from rnnkit.models.speech_features import LogMel
from rnnkit.tasks.speech_config import SpeechModelConfig


@pytest.mark.parametrize("conv", ["none", "1d", "2d"])
@pytest.mark.parametrize("output", ["ctc", "classify"])
def test_a_padded_batch_scores_each_recording_as_alone(conv, output):
    torch.manual_seed(0)
    features = LogMel(8000, 200, 80, 20)
    model = SpeechRecognizer(features, 7, output=output, conv=conv, hidden_size=12, num_layers=2)
    model.eval()
    lengths = torch.tensor([4000, 2500, 1200])
    audio = torch.randn(3, 4000) * (torch.arange(4000) < lengths[:, None])
    audio[1, 2500:] = 5.0  # whatever the padding holds
    with torch.no_grad():
        scores, frames = model(audio, lengths)
        for row in range(3):
            alone, alone_frames = model(
                audio[row : row + 1, : lengths[row]], lengths[row : row + 1]
            )
            assert alone_frames[0] == frames[row]
            got = scores[row, : frames[row]] if output == "ctc" else scores[row]
            torch.testing.assert_close(got, alone[0], atol=1e-5, rtol=1e-5)
    if output == "ctc":
        assert frames.tolist() == [(1 + n // 80) // 2 for n in lengths.tolist()]


def test_earlier_runs_boolean_conv_setting_still_loads():
    assert SpeechModelConfig(conv=True).conv == "1d"
    assert SpeechModelConfig(conv=False).conv == "none"
