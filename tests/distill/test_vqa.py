"""Vision-language QA: questions and answers consistent with the labels and with brute-force measurements of the
real ETH-80 views, pooled image tokens, batches, and the single-stream model under the distiller."""

from __future__ import annotations

import numpy as np
import pytest

torch = pytest.importorskip("torch")
from polymodal.distill.trainer import DistillConfig, Distiller, cache_teacher  # noqa: E402
from polymodal.distill.transformer import Encoder, EncoderConfig, minilm_tokenizer  # noqa: E402
from polymodal.distill.vqa import QUESTION_TYPES, VQAModel, build_questions, pooled_tokens, qa_batches  # noqa: E402
from polymodal.errors import InputError  # noqa: E402
from polymodal.fusion.eth80 import ASPECT, COLOURS, FACTS, object_labels  # noqa: E402


@pytest.fixture(scope="module")
def eth_qa():
    from polymodal.datasets.images import load_eth80

    eth = load_eth80()
    keep = np.isin(eth.object_id, [0, 13, 27, 41, 55, 62, 70, 79])  # a few objects of several categories
    small = type(eth)(eth.images[keep], eth.masks[keep], eth.label[keep], eth.object_id[keep], eth.elev[keep],
                      eth.azim[keep], eth.category_names)
    return small, object_labels(eth), build_questions(small, object_labels(eth), seed=0)


def test_answers_follow_the_labels_and_the_pixels(eth_qa):
    eth, labels, qa = eth_qa
    cats = eth.category_names
    for v, q, a, t in zip(qa.view, qa.question, qa.answer, qa.qtype, strict=True):
        obj = int(eth.object_id[v])
        cname = cats[int(labels.category[obj])]
        answer = qa.answers[a]
        kind = QUESTION_TYPES[t]
        if kind == "category":
            assert answer == cname
        elif kind == "fact":
            fact = next(f for f in FACTS if f.replace("-", " ") in q.replace("-", " "))
            assert answer == ("yes" if cname in FACTS[fact] else "no")
        elif kind == "colour-yes-no":
            c = COLOURS.index(q.split()[2])
            assert answer == ("yes" if labels.attributes[obj, c] else "no")
        elif kind == "shape":  # brute force: rows and columns that hold mask pixels
            m = eth.masks[v].astype(bool)
            rows = [r for r in range(m.shape[0]) if m[r].any()]
            cols = [c for c in range(m.shape[1]) if m[:, c].any()]
            ratio = (rows[-1] - rows[0] + 1) / (cols[-1] - cols[0] + 1)
            assert ratio > ASPECT or ratio < 1 / ASPECT
            assert answer == ("yes" if ratio > ASPECT else "no")
    assert set(np.bincount(qa.qtype, minlength=5)[:4]) == {len(eth.images)}  # 4 questions of every view
    yes = np.array([qa.answers[a] == "yes" for a, t in zip(qa.answer, qa.qtype, strict=True)
                    if QUESTION_TYPES[t] == "colour-yes-no"])
    assert 0.3 < yes.mean() < 0.7


def test_dominant_colour_is_the_mode_of_the_views_pixel_names(eth_qa):
    from collections import Counter

    from polymodal.fusion.eth80 import colour_names  # per-pixel naming, tested in tests/fusion

    eth, _, qa = eth_qa
    for v in range(0, len(eth.images), 37):
        names = colour_names(eth.images[v][eth.masks[v].astype(bool)])
        want = COLOURS[Counter(names.tolist()).most_common(1)[0][0]]
        got = next(qa.answers[a] for vv, a, t in zip(qa.view, qa.answer, qa.qtype, strict=True)
                   if vv == v and QUESTION_TYPES[t] == "colour")
        assert got == want


def test_pooled_tokens_average_blocks():
    x = torch.arange(2 * 3 * 8 * 8, dtype=torch.float32).view(2, 3, 8, 8)
    t = pooled_tokens(x, 4)
    assert t.shape == (2, 16, 3)
    assert torch.allclose(t[1, 5, 2], x[1, 2, 2:4, 2:4].mean())  # row 1, column 1 of the 4x4 grid


def test_qa_batches_and_model_under_the_distiller(eth_qa):
    eth, _, qa = eth_qa
    tokens = torch.randn(len(eth.images), 16, 32)
    batches = qa_batches(qa, minilm_tokenizer(), tokens, batch_size=8, seed=0)
    assert sum(len(b["labels"]) for b in batches) == len(qa.view)
    b = batches[0]
    n_text = b["input_ids"].shape[1]
    assert b["attention_mask"].shape[1] == n_text + 16 and b["attention_mask"][:, n_text:].all()
    torch.manual_seed(0)

    def model(heads):
        return VQAModel(Encoder(EncoderConfig(layers=2, heads=heads, head_dim=8, intermediate=32, dropout=0.0)),
                        len(qa.answers), image_dim=32, dropout=0.0)

    teacher, student = model(6), model(2)
    logits, out = student(b["input_ids"], b["attention_mask"], b["image"], collect=True)
    assert logits.shape == (8, len(qa.answers)) and out.attentions[0].shape[-1] == n_text + 16
    # padded question tokens receive no attention
    pad = b["attention_mask"] == 0
    att = out.attentions[0].detach()
    assert float(att.masked_select(pad[:, None, None, :].expand_as(att)).abs().max() if pad.any() else 0.0) == 0.0
    d = Distiller(student, teacher, DistillConfig(attention="amad"))
    cached = cache_teacher(teacher, batches[:2], dtype=torch.float32)
    assert float(d.loss(cached[0]).detach()) == pytest.approx(float(d.loss(batches[0]).detach()), rel=1e-5)
    with pytest.raises(InputError):
        student(b["input_ids"], b["attention_mask"], b["image"][:, :3])
