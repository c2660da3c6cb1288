"""Text batches: truncation keeps [SEP], every example lands in exactly one batch, padding is masked, and the
batch order (not the batches) changes per epoch."""

from __future__ import annotations

import pytest

torch = pytest.importorskip("torch")
from polymodal.distill.text import ShuffledBatches, accuracy, encode_texts, fixed_batches  # noqa: E402
from polymodal.errors import InputError  # noqa: E402


def test_encode_truncates_but_keeps_the_separator():
    from polymodal.distill.transformer import minilm_tokenizer

    tok = minilm_tokenizer()
    long = "lego star wars millennium falcon building set with minifigures " * 4
    full, cut = encode_texts([long], tok, 1000)[0], encode_texts([long], tok, 10)[0]
    assert len(cut) == 10 and cut[:-1] == full[:9] and cut[-1] == full[-1] == tok.token_to_id("[SEP]")
    assert encode_texts(["toy car"], tok, 32)[0] == tok.encode("toy car").ids


def test_fixed_batches_cover_every_example_once_with_masked_padding():
    ids = [[101] + [5] * (i % 9) + [102] for i in range(203)]
    labels = list(range(203))
    batches = fixed_batches(ids, labels, batch_size=16, seed=3)
    seen = []
    for b in batches:
        lengths = b["attention_mask"].sum(1)
        assert b["input_ids"].shape[1] == int(lengths.max())
        for row, n, y in zip(b["input_ids"], lengths, b["labels"], strict=True):
            assert row[:n].tolist() == ids[int(y)] and not row[n:].any()
        seen += b["labels"].tolist()
    assert sorted(seen) == labels
    with pytest.raises(InputError):
        fixed_batches(ids, labels[:-1])


def test_shuffled_batches_reorder_per_epoch():
    batches = [{"i": i} for i in range(20)]
    sb = ShuffledBatches(batches, seed=0)
    first, second = [b["i"] for b in sb], [b["i"] for b in sb]
    assert sorted(first) == sorted(second) == list(range(20)) and first != second and len(sb) == 20


def test_accuracy_counts_argmax_hits():
    class Fixed(torch.nn.Module):
        def forward(self, input_ids, attention_mask):
            return torch.nn.functional.one_hot(input_ids[:, 0] % 3, 3).float(), None

    b = {"input_ids": torch.tensor([[0], [1], [2], [4]]), "attention_mask": torch.ones(4, 1),
         "labels": torch.tensor([0, 1, 0, 1])}
    assert accuracy(Fixed(), [b, b]) == 0.75
