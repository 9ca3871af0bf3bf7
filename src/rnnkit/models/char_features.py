"""Word features from characters (Lample et al. 2016, "Neural Architectures for Named Entity
Recognition"): each word's characters run through a bidirectional LSTM, and the final forward
and backward states, concatenated, describe the word. A word never seen in training still gets
a representation: its spelling, capitalisation and affixes."""

from __future__ import annotations

from torch import Tensor, nn

from rnnkit.nn import LSTM


class CharWordFeatures(nn.Module):
    """``(N, T, C)`` character ids of ``T`` words -> ``(N, T, 2 * hidden_size)`` features.

    Args:
        num_chars: character ids ``0 .. num_chars - 1``, 0 the padding.
        embedding_dim: size of a character embedding.
        hidden_size: per direction of the character BiLSTM.

    ``char_lengths`` ``(N, T)`` gives each word's number of characters, 0 at padded word
    positions, whose features are 0.
    """

    def __init__(self, num_chars: int, embedding_dim: int = 25, hidden_size: int = 25) -> None:
        super().__init__()
        self.embedding = nn.Embedding(num_chars, embedding_dim, padding_idx=0)
        self.lstm = LSTM(embedding_dim, hidden_size, batch_first=True, bidirectional=True)
        self.out_features = 2 * hidden_size

    def forward(self, chars: Tensor, char_lengths: Tensor) -> Tensor:
        real = char_lengths > 0  # (N, T)
        words, lengths = chars[real], char_lengths[real]  # (W, C), (W,)
        _, (final_h, _) = self.lstm(self.embedding(words), lengths=lengths.cpu())  # (2, W, H)
        features = final_h.transpose(0, 1).flatten(1)  # (W, 2H): forward, then backward
        out = features.new_zeros(*chars.shape[:2], self.out_features)
        out[real] = features
        return out
