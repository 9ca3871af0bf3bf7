"""The encoder-decoder: attention scores against their formulas, decoding steps against the
teacher-forced forward pass, beams against brute force and greedy, state reordering for beams,
and padding that neither receives attention nor changes a translation."""

from __future__ import annotations

import itertools
import math

import pytest
import torch

from rnnkit import decode
from rnnkit.models.attention import Attention
from rnnkit.models.seq2seq import PAD_ID, Seq2Seq

BOS, EOS = 2, 3
KINDS = ["bahdanau", "dot", "general", "none"]


def model(attention: str = "general", input_feed: bool = True, **options) -> Seq2Seq:
    torch.manual_seed(0)
    sizes = {"embedding_dim": 6, "hidden_size": 8, "num_layers": 2, "dropout": 0.0}
    options = {**sizes, **options}
    built = Seq2Seq(
        11, 7, bos_id=BOS, eos_id=EOS, attention=attention, input_feed=input_feed, **options
    )
    return built.eval()


def sources() -> tuple[torch.Tensor, torch.Tensor]:
    """Three sources of lengths 5, 3, 1 (padding holds random ids, which must not matter)."""
    generator = torch.Generator().manual_seed(1)
    source = torch.randint(4, 11, (3, 5), generator=generator)
    return source, torch.tensor([5, 3, 1])


def step_through(m: Seq2Seq, source, lengths, target_in) -> torch.Tensor:
    """Log-probs ``(N, T, V)`` of feeding ``target_in`` token by token through `step`."""
    limit = torch.full((source.shape[0],), 100)
    state = m.init_state(source.shape[0], source, lengths, limit)
    steps = []
    for column in target_in.unbind(1):
        log_probs, state = m.step(column, state)
        steps.append(log_probs)
    return torch.stack(steps, 1)


@pytest.mark.parametrize("kind", ["bahdanau", "dot", "general"])
def test_attention_matches_its_formula_and_ignores_padding(kind):
    torch.manual_seed(0)
    attention = Attention(kind, 4, 4).double()
    query, memory = (
        torch.randn(2, 4, dtype=torch.float64),
        torch.randn(2, 3, 4, dtype=torch.float64),
    )
    mask = torch.tensor([[True, True, True], [True, False, False]])
    context, weights = attention(query, memory, attention.keys(memory), mask)
    for row in range(2):
        real = int(mask[row].sum())
        scores = []
        for s in range(real):
            q, m = query[row], memory[row, s]
            if kind == "dot":
                scores.append(q @ m)
            elif kind == "general":
                scores.append(q @ (attention.memory_projection.weight @ m))
            else:
                hidden = torch.tanh(
                    attention.query_projection(q) + attention.memory_projection.weight @ m
                )
                scores.append(attention.v.weight[0] @ hidden)
        expected = torch.softmax(torch.stack(scores), 0)
        torch.testing.assert_close(weights[row, :real], expected)
        assert torch.all(weights[row, real:] == 0)
        torch.testing.assert_close(context[row], expected @ memory[row, :real])


def test_attention_over_all_steps_equals_one_step_at_a_time():
    torch.manual_seed(0)
    attention = Attention("bahdanau", 4, 6)
    queries, memory = torch.randn(2, 5, 4), torch.randn(2, 3, 6)
    mask = torch.tensor([[True, True, True], [True, True, False]])
    keys = attention.keys(memory)
    context, weights = attention(queries, memory, keys, mask)
    for t in range(5):
        one_context, one_weights = attention(queries[:, t], memory, keys, mask)
        torch.testing.assert_close(context[:, t], one_context)
        torch.testing.assert_close(weights[:, t], one_weights)


def test_dot_attention_needs_equal_sizes():
    with pytest.raises(ValueError, match="one size"):
        Attention("dot", 4, 6)


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("input_feed", [True, False])
def test_decoding_steps_equal_the_teacher_forced_forward_pass(kind, input_feed):
    check_steps_equal_forward(model(kind, input_feed))


@pytest.mark.parametrize("cell", ["rnn", "gru", "mingru", "minlstm", "jordan"])
def test_every_cell_decodes_as_it_trains(cell):
    check_steps_equal_forward(model("bahdanau", cell=cell))


def check_steps_equal_forward(m: Seq2Seq) -> None:
    """`step` token by token gives the teacher-forced log-probs; attention sums to 1 and is 0
    on padding."""
    source, lengths = sources()
    target_in = torch.tensor([[BOS, 4, 5, 6], [BOS, 6, 6, 4], [BOS, 5, 4, 4]])
    logits, weights = m(source, lengths, target_in)
    expected = torch.log_softmax(logits, -1)
    expected[..., [PAD_ID, BOS]] = float("-inf")  # decoding never writes them
    torch.testing.assert_close(step_through(m, source, lengths, target_in), expected)
    if m.attention is None:
        assert weights is None
    else:
        torch.testing.assert_close(weights.sum(-1), torch.ones(3, 4))
        for row, length in enumerate(lengths.tolist()):
            assert torch.all(weights[row, :, length:] == 0)


@pytest.mark.parametrize("cell", ["lstm", "gru", "rnn"])
def test_the_decoder_starts_from_both_encoder_directions_of_each_layer(cell):
    m = model(cell=cell)
    source, lengths = sources()
    _, final = m.encoder(m.source_embedding(source), lengths=lengths)
    _, joined, _ = m.encode(source, lengths)
    parts = (final, joined) if cell != "lstm" else (final[0], joined[0])
    encoder_h, decoder_h = parts  # (L * 2, N, H / 2), (L, N, H)
    for layer in range(2):
        both = torch.cat([encoder_h[2 * layer], encoder_h[2 * layer + 1]], -1)
        torch.testing.assert_close(decoder_h[layer], both)


def test_a_padded_source_batch_gives_each_sentence_what_it_gets_alone():
    m = model("bahdanau")
    source, lengths = sources()
    source[1, 3:] = 9  # junk in the padding
    target_in = torch.tensor([[BOS, 4, 5], [BOS, 6, 6], [BOS, 5, 4]])
    together, _ = m(source, lengths, target_in)
    for row, length in enumerate(lengths.tolist()):
        alone, _ = m(
            source[row : row + 1, :length], lengths[row : row + 1], target_in[row : row + 1]
        )
        torch.testing.assert_close(together[row], alone[0])


def test_map_state_reorders_every_part_attention_included():
    m = model("general")
    source, lengths = sources()
    limit = torch.tensor([9, 8, 7])
    _, state = m.start(source, lengths, limit)
    index = torch.tensor([2, 0, 0, 1])
    moved = m.map_state(state, index)
    tokens = torch.tensor([4, 5, 6, 4])
    next_moved, after_moved = m.step(tokens, moved)
    # the same rows started one by one
    for i, row in enumerate(index.tolist()):
        one = slice(row, row + 1)
        length = int(lengths[row])
        _, alone = m.start(source[one, :length], lengths[one], limit[one])
        next_alone, after_alone = m.step(tokens[i : i + 1], alone)
        torch.testing.assert_close(next_moved[i], next_alone[0])
        torch.testing.assert_close(after_moved.feed[i], after_alone.feed[0])
        assert int(after_moved.limit[i]) == int(limit[row])
        _, weights_moved = m.attention(
            after_moved.feed[i : i + 1],
            after_moved.memory[i : i + 1, :length],
            after_moved.keys[i : i + 1, :length],
            after_moved.mask[i : i + 1, :length],
        )
        _, weights_alone = m.attention(
            after_alone.feed, after_alone.memory, after_alone.keys, after_alone.mask
        )
        torch.testing.assert_close(weights_moved, weights_alone)


def test_each_row_stops_at_its_own_limit():
    m = model()
    source, lengths = sources()
    limit = torch.tensor([4, 2, 1])
    log_probs, state = m.start(source, lengths, limit)
    outputs = decode.greedy(m, log_probs, state, 10, eos_id=EOS)
    for output, most in zip(outputs, limit.tolist(), strict=True):
        assert len(output) <= most and output[-1] == EOS
    beams = decode.beam_search(m, log_probs, state, 10, beam_size=3, eos_id=EOS)
    assert all(len(h.tokens) <= most for h, most in zip(beams, limit.tolist(), strict=True))


@pytest.mark.parametrize("kind", KINDS)
def test_a_beam_of_one_is_greedy(kind):
    m = model(kind)
    source, lengths = sources()
    log_probs, state = m.start(source, lengths, torch.full((3,), 12))
    greedy = decode.greedy(m, log_probs, state, 12, eos_id=EOS)
    beams = decode.beam_search(m, log_probs, state, 12, beam_size=1, eos_id=EOS)
    assert [h.tokens for h in beams] == greedy


def rescored(m: Seq2Seq, source, length: int, tokens: list[int]) -> float:
    """log p(tokens | source), teacher-forced."""
    target_in = torch.tensor([[BOS, *tokens[:-1]]])
    target_out = torch.tensor([tokens])
    log_probs, _ = m.score(source[None, :length], torch.tensor([length]), target_in, target_out)
    return float(log_probs.sum())


@pytest.mark.parametrize(("length_penalty", "early_stop"), [(0.0, "heuristic"), (1.0, "exact")])
def test_a_beam_keeping_every_hypothesis_finds_the_brute_force_best(length_penalty, early_stop):
    m = model("bahdanau", num_layers=1)
    source, lengths = sources()
    most = 3  # new tokens; the words are unk (1) and 4 .. 6, eos ends a hypothesis early
    words = [1, 4, 5, 6]
    log_probs, state = m.start(source, lengths, torch.full((3,), 100))
    found = decode.beam_search(
        m,
        log_probs,
        state,
        most,
        beam_size=len(words) ** most,
        eos_id=EOS,
        length_penalty=length_penalty,
        early_stop=early_stop,
    )
    for row, hypothesis in enumerate(found):
        length = int(lengths[row])
        candidates = [
            [*prefix, EOS] for n in range(most) for prefix in itertools.product(words, repeat=n)
        ] + [list(p) for p in itertools.product(words, repeat=most)]
        scored = {
            tuple(c): rescored(m, source[row], length, c) / len(c) ** length_penalty
            for c in candidates
        }
        best = max(scored, key=scored.__getitem__)
        assert hypothesis.tokens == list(best)
        assert math.isclose(hypothesis.score, scored[best], rel_tol=1e-5, abs_tol=1e-5)
        assert math.isclose(
            hypothesis.log_prob, rescored(m, source[row], length, hypothesis.tokens), abs_tol=1e-5
        )


def test_tied_and_shared_embeddings_are_one_tensor():
    m = Seq2Seq(
        9,
        9,
        bos_id=BOS,
        eos_id=EOS,
        embedding_dim=6,
        hidden_size=8,
        tie_embeddings=True,
        share_embeddings=True,
    )
    assert m.output.weight is m.target_embedding.weight is m.source_embedding.weight
    assert m.projection is not None  # H = 8 mapped to E = 6 before the tied output layer
    with pytest.raises(ValueError, match="one vocabulary"):
        Seq2Seq(9, 10, bos_id=BOS, eos_id=EOS, share_embeddings=True)
    with pytest.raises(ValueError, match="even"):
        Seq2Seq(9, 10, bos_id=BOS, eos_id=EOS, hidden_size=7)
