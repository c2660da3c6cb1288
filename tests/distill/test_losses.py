"""Distillation losses against brute-force loops, and AMAD's defining properties: weights that sum to one and
follow cosine similarity, the one-to-one loss as the zero-temperature limit with copied heads, padding that
contributes nothing, gradients that reach the student only."""

from __future__ import annotations

import math

import pytest

torch = pytest.importorskip("torch")
from polymodal.distill.losses import (  # noqa: E402
    alignment_weights,
    amad_loss,
    hidden_mse,
    layer_map,
    one_to_one_loss,
    output_kd,
    relation,
    relation_loss,
)
from polymodal.errors import InputError  # noqa: E402


def maps(b, h, length, seed, mask=None):
    g = torch.Generator().manual_seed(seed)
    scores = torch.randn(b, h, length, length, generator=g, dtype=torch.float64) * 2
    if mask is not None:
        scores = scores.masked_fill(~mask[:, None, None, :], float("-inf"))
    return torch.softmax(scores, -1)


def brute_amad(t, s, tau, form, mask):
    b, ht, length, _ = t.shape
    total, count = 0.0, 0
    for n in range(b):
        real = [i for i in range(length) if mask[n, i]]
        tv = [[t[n, i, q, k].item() for q in real for k in real] for i in range(ht)]
        sv = [[s[n, j, q, k].item() for q in real for k in real] for j in range(s.shape[1])]
        norm = lambda v: math.sqrt(sum(x * x for x in v))  # noqa: E731
        for i in range(ht):
            cos = [sum(a * c for a, c in zip(tv[i], sv[j], strict=True)) / (norm(tv[i]) * norm(sv[j]))
                   for j in range(len(sv))]
            e = [math.exp(c / tau) for c in cos]
            w = [x / sum(e) for x in e]
            if form == "mse":
                mix = [sum(w[j] * sv[j][f] / norm(sv[j]) for j in range(len(sv))) for f in range(len(tv[i]))]
                total += sum((tv[i][f] / norm(tv[i]) - mix[f]) ** 2 for f in range(len(tv[i])))
                count += 1
            else:
                for q in real:
                    p = [t[n, i, q, k].item() for k in real]
                    m = [sum(w[j] * s[n, j, q, k].item() for j in range(len(sv))) for k in real]
                    p = [x / sum(p) for x in p]
                    m = [x / sum(m) for x in m]
                    total += sum(a * (math.log(a) - math.log(c)) for a, c in zip(p, m, strict=True))
                    count += 1
    return total / count if form == "mse" else total / count


@pytest.mark.parametrize("form", ["mse", "kl"])
@pytest.mark.parametrize("hs", [1, 2, 4])
def test_amad_matches_brute_force_with_padding(form, hs):
    mask = torch.tensor([[1, 1, 1, 1, 1], [1, 1, 1, 0, 0]], dtype=torch.bool)
    t, s = maps(2, 6, 5, 0, mask), maps(2, hs, 5, 1, mask)
    got = amad_loss(t, s, tau=0.5, form=form, mask=mask)
    # mse is averaged over (example, teacher head); kl over (example, teacher head, real query)
    want = brute_amad(t, s, 0.5, form, mask)
    assert float(got) == pytest.approx(want, rel=1e-9)


def test_weights_sum_to_one_and_follow_cosine():
    t, s = maps(3, 6, 7, 2), maps(3, 3, 7, 3)
    w = alignment_weights(t, s, tau=0.2)
    assert torch.allclose(w.sum(-1), torch.ones(3, 6, dtype=w.dtype))
    tn = torch.nn.functional.normalize(t.flatten(2), dim=-1)
    sn = torch.nn.functional.normalize(s.flatten(2), dim=-1)
    cos = torch.einsum("bif,bjf->bij", tn, sn)
    assert torch.equal(w.argsort(-1), cos.argsort(-1))  # more similar student head -> larger weight
    assert float(alignment_weights(t, s, tau=100.0).std()) < 1e-3  # high temperature -> uniform


@pytest.mark.parametrize("form", ["mse", "kl"])
def test_zero_temperature_limit_with_copied_heads_is_one_to_one(form):
    t = maps(2, 4, 6, 4)
    noise = maps(2, 4, 6, 5)
    s = 0.9 * t + 0.1 * noise  # student heads: perturbed copies, each closest to its own teacher head
    w = alignment_weights(t, s, tau=1e-4)
    assert torch.allclose(w, torch.eye(4, dtype=w.dtype).expand(2, 4, 4), atol=1e-6)
    assert float(amad_loss(t, s, tau=1e-4, form=form)) == pytest.approx(float(one_to_one_loss(t, s, form)),
                                                                        rel=1e-6)
    assert float(amad_loss(t, t.clone(), tau=1e-4, form=form)) == pytest.approx(0.0, abs=1e-12)


def test_one_to_one_drops_extra_teacher_heads_and_matches_brute_force():
    t, s = maps(2, 6, 4, 6), maps(2, 2, 4, 7)
    got = one_to_one_loss(t, s, "mse")
    want = 0.0
    for n in range(2):
        for i in range(2):
            a, c = t[n, i].flatten(), s[n, i].flatten()
            want += float(((a / a.norm() - c / c.norm()) ** 2).sum())
    assert float(got) == pytest.approx(want / 4, rel=1e-9)
    t2 = t.clone()
    t2[:, 2:] = maps(2, 4, 4, 8)  # teacher heads the student does not have: ignored by one-to-one
    assert float(one_to_one_loss(t2, s, "mse")) == pytest.approx(float(got))
    assert float(amad_loss(t2, s)) != pytest.approx(float(amad_loss(t, s)))  # ... but not by AMAD


@pytest.mark.parametrize("form", ["mse", "kl"])
def test_padding_contributes_nothing(form):
    mask = torch.tensor([[1, 1, 1, 0], [1, 1, 0, 0]], dtype=torch.bool)
    t, s = maps(2, 4, 4, 9, mask), maps(2, 2, 4, 10, mask)
    base = amad_loss(t, s, form=form, mask=mask)
    t2, s2 = t.clone(), s.clone()
    t2[0, :, 3, :] = 0.7  # garbage in the padded query row and key column
    s2[1, :, :, 2:] = 0.3
    s2[1, :, 2:, :] = 0.9
    assert float(amad_loss(t2, s2, form=form, mask=mask)) == pytest.approx(float(base), rel=1e-12)
    assert float(one_to_one_loss(t2, s2, form, mask=mask)) == pytest.approx(
        float(one_to_one_loss(t, s, form, mask=mask)), rel=1e-12)


def test_gradients_reach_the_student_only():
    t = maps(2, 4, 5, 11).requires_grad_()
    logits = torch.randn(2, 2, 5, 5, dtype=torch.float64, requires_grad=True)
    s = torch.softmax(logits, -1)
    (amad_loss(t, s, form="mse") + amad_loss(t, s, form="kl")).backward()
    assert t.grad is None
    assert logits.grad is not None and float(logits.grad.abs().sum()) > 0


def test_relations_brute_force_and_any_head_count():
    g = torch.Generator().manual_seed(12)
    xt = torch.randn(2, 5, 12, generator=g, dtype=torch.float64)
    xs = torch.randn(2, 5, 8, generator=g, dtype=torch.float64)
    mask = torch.tensor([[1, 1, 1, 1, 1], [1, 1, 1, 0, 0]], dtype=torch.bool)
    r = relation(xt, 4, mask)
    n, h, q = 1, 2, 1
    v = xt[n, :, h * 3 : (h + 1) * 3]
    scores = torch.tensor([float(v[q] @ v[k]) / math.sqrt(3) for k in range(3)], dtype=torch.float64)
    assert torch.allclose(r[n, h, q, :3], torch.softmax(scores, 0))
    assert float(r[n, h, q, 3:].abs().sum()) == 0.0
    loss = relation_loss(xt, xs, heads=4, mask=mask)  # 12-d teacher and 8-d student, 4 relation heads each
    rt, rs = relation(xt, 4, mask), relation(xs, 4, mask)
    want, count = 0.0, 0
    for n in range(2):
        real = int(mask[n].sum())
        for h in range(4):
            for q in range(real):
                p, m = rt[n, h, q, :real], rs[n, h, q, :real]
                want += float((p * (p.log() - m.log())).sum())
                count += 1
    assert float(loss) == pytest.approx(want / count, rel=1e-9)
    with pytest.raises(InputError):
        relation(xt, 5)


def test_output_kd_and_hidden_mse():
    s = torch.tensor([[1.0, 2.0, 0.5]], dtype=torch.float64)
    t = torch.tensor([[0.2, 3.0, -1.0]], dtype=torch.float64)
    temp = 2.0
    p = torch.softmax(t / temp, -1)
    want = -float((p * torch.log_softmax(s / temp, -1)).sum()) * temp**2
    assert float(output_kd(s, t, temp)) == pytest.approx(want)
    # soft cross-entropy is minimised (= teacher entropy x T^2) when the student equals the teacher
    ent = -float((p * p.log()).sum()) * temp**2
    assert float(output_kd(t, t, temp)) == pytest.approx(ent)
    pm = torch.sigmoid(t / temp)
    bce = -float((pm * torch.log(torch.sigmoid(s / temp)) + (1 - pm) * torch.log(1 - torch.sigmoid(s / temp)))
                 .mean()) * temp**2
    assert float(output_kd(s, t, temp, multilabel=True)) == pytest.approx(bce)
    h_s, h_t = torch.zeros(1, 3, 2), torch.ones(1, 3, 2)
    h_t[0, 2] = 100.0  # a padded token
    assert float(hidden_mse(h_s, h_t, mask=torch.tensor([[1, 1, 0]]))) == pytest.approx(1.0)
    with pytest.raises(InputError):
        hidden_mse(torch.zeros(1, 3, 4), h_t)


def test_layer_map():
    assert layer_map(6, 6) == [0, 1, 2, 3, 4, 5]
    assert layer_map(6, 3) == [1, 3, 5]
    assert layer_map(6, 2) == [2, 5]
    assert layer_map(12, 4) == [2, 5, 8, 11]
    with pytest.raises(InputError):
        layer_map(3, 4)


def test_bad_shapes():
    with pytest.raises(InputError):
        amad_loss(maps(2, 4, 5, 0), maps(2, 2, 4, 0))
    with pytest.raises(InputError):
        amad_loss(maps(2, 4, 5, 0), maps(2, 2, 5, 0), tau=0)
    with pytest.raises(InputError):
        amad_loss(maps(2, 4, 5, 0), maps(2, 2, 5, 0), form="l1")
