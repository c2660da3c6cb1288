"""Captioning: the word-piece vocabulary round-trips text, the decoder is causal, beam search with one beam is
greedy decoding and with enough beams finds the best sequence that brute-force enumeration finds."""

from __future__ import annotations

import itertools

import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("tokenizers")
from polymodal.errors import InputError  # noqa: E402
from polymodal.fusion.caption import BOS, EOS, PAD, CaptionDecoder, WordPieceVocab  # noqa: E402

TEXTS = ["a dog runs through the grass", "two dogs play in the snow", "a man rides a bike on the road",
         "a child runs on the beach", "the dog jumps over a log"] * 3


def test_vocab_round_trip_and_json():
    vocab = WordPieceVocab.train(TEXTS, vocab_size=120, min_frequency=1)
    ids = vocab.encode(["A dog runs on the beach", "two dogs"], max_len=12)
    assert ids.shape == (2, 12) and (ids[:, 0] == BOS).all()
    assert vocab.decode(ids[0].tolist()) == "a dog runs on the beach"
    assert vocab.decode(ids[1].tolist()) == "two dogs"
    row = ids[1].tolist()
    assert row[row.index(EOS) + 1 :] == [PAD] * (11 - row.index(EOS))
    again = WordPieceVocab.from_json(vocab.to_json())
    assert again.encode(["the dog jumps"], 8).tolist() == vocab.encode(["the dog jumps"], 8).tolist()
    truncated = vocab.encode(["a man rides a bike on the road"], max_len=4)[0].tolist()
    assert truncated[0] == BOS and truncated[-1] == EOS  # truncation keeps the end marker
    with pytest.raises(InputError):
        WordPieceVocab.train([], 100)


def small_decoder(vocab=7, seed=0, max_len=6):
    torch.manual_seed(seed)
    return CaptionDecoder(vocab, d_model=16, layers=1, heads=2, max_len=max_len, dropout=0.0).eval()


def test_decoder_is_causal():
    d = small_decoder()
    mem = torch.randn(2, 3, 16)
    a = torch.tensor([[BOS, 4, 5, 6], [BOS, 6, 6, 4]])
    b = a.clone()
    b[:, 3] = 5
    with torch.no_grad():
        la, lb = d(a, mem), d(b, mem)
    assert torch.allclose(la[:, :3], lb[:, :3], atol=1e-6)  # changing token 3 leaves steps 0..2 unchanged
    assert not torch.allclose(la[:, 3], lb[:, 3])
    with pytest.raises(InputError):
        d(torch.full((1, 7), 4), mem[:1])


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_one_beam_is_greedy(seed):
    d = small_decoder(seed=seed)
    mem = torch.randn(4, 2, 16, generator=torch.Generator().manual_seed(seed))
    assert d.beam(mem, beam_size=1) == d.greedy(mem)


def _logp(d, mem, pieces):
    seq = torch.tensor([[BOS, *pieces]])
    with torch.no_grad():
        lp = torch.log_softmax(d(seq, mem), -1)[0]
    return sum(float(lp[i, t]) for i, t in enumerate(pieces))


@pytest.mark.parametrize("seed", [0, 3])
def test_wide_beam_finds_the_brute_force_best(seed):
    # vocabulary: PAD UNK BOS EOS + 2 words; sequences of at most max_len - 1 = 3 pieces. Enumerate every
    # word sequence, finished by EOS, or unfinished at the length limit, and score it the way the beam does.
    d = small_decoder(vocab=6, seed=seed, max_len=4)
    mem = torch.randn(1, 2, 16, generator=torch.Generator().manual_seed(seed))
    words, alpha = [1, 4, 5], 0.7  # UNK and the two words: anything but PAD, BOS and EOS
    best, best_seq = float("-inf"), None
    for n in range(0, 3):
        for w in itertools.product(words, repeat=n):
            s = _logp(d, mem, [*w, EOS]) / (n + 1) ** alpha
            if s > best:
                best, best_seq = s, list(w)
    for w in itertools.product(words, repeat=3):
        s = _logp(d, mem, list(w)) / 3 ** alpha
        if s > best:
            best, best_seq = s, list(w)
    assert d.beam(mem, beam_size=64, length_penalty=alpha) == [best_seq]
