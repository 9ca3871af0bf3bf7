r"""The CRF decoder a runtime runs on an exported tagger's emissions: Viterbi in NumPy.

The exported tagger graph gives the emissions ``e_t(y)``; the CRF's scores travel in the JSON
description (``facts["crf"]``: ``start`` π, ``transitions`` A with ``A[i][j]`` for label ``j``
after label ``i``, ``end`` ω, forbidden moves already penalised). The best path maximises

.. math::
    s(y) = \pi_{y_1} + \sum_{t=1}^{n} e_t(y_t) + \sum_{t=2}^{n} A_{y_{t-1} y_t} + \omega_{y_n}

(`rnnkit.models.crf`); this function finds it with the same recursion and tie-breaking as
`rnnkit.models.crf.CRF.decode`, so the tags equal rnnkit's. It needs nothing but NumPy.
"""

from __future__ import annotations

import numpy as np


def viterbi(
    emissions: np.ndarray,
    lengths: np.ndarray,
    start: np.ndarray,
    transitions: np.ndarray,
    end: np.ndarray,
) -> list[list[int]]:
    """The best label path of each sentence.

    Args:
        emissions: ``(N, T, L)``, as the exported graph gives them.
        lengths: ``(N,)``, each in ``[1, T]``.
        start, transitions, end: ``(L,)``, ``(L, L)``, ``(L,)`` from ``facts["crf"]``.

    Returns:
        One list of label ids per sentence, its own length long.
    """
    paths = []
    for row, length in zip(emissions, lengths.tolist(), strict=True):
        delta = start + row[0]  # (L,)
        backpointers = []
        for t in range(1, length):
            candidates = delta[:, None] + transitions  # (L previous, L next)
            previous = candidates.argmax(axis=0)  # (L,)
            backpointers.append(previous)
            delta = candidates.max(axis=0) + row[t]
        label = int((delta + end).argmax())
        path = [label]
        for previous in reversed(backpointers):
            label = int(previous[label])
            path.append(label)
        paths.append(path[::-1])
    return paths
