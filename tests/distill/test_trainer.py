"""The distillation trainer: its loss is exactly the weighted sum of the separate losses over the mapped layers,
the teacher never changes, and distilling attention alone makes the student's maps approach the teacher's."""

from __future__ import annotations

import pytest

torch = pytest.importorskip("torch")
from polymodal.distill.losses import amad_loss, hidden_mse, output_kd, relation_loss  # noqa: E402
from polymodal.distill.trainer import (  # noqa: E402
    Classifier,
    DistillConfig,
    Distiller,
    auto_relation_heads,
    cache_teacher,
    distill,
)
from polymodal.distill.transformer import Encoder, EncoderConfig  # noqa: E402
from polymodal.errors import InputError  # noqa: E402
from polymodal.training import TrainConfig  # noqa: E402


def model(layers, heads, seed):
    torch.manual_seed(seed)
    enc = Encoder(EncoderConfig(layers=layers, heads=heads, head_dim=8, intermediate=32, vocab_size=50,
                                max_positions=16, dropout=0.0))
    return Classifier(enc, 3, dropout=0.0)


def batch(seed, n=6, length=7):
    g = torch.Generator().manual_seed(seed)
    ids = torch.randint(4, 50, (n, length), generator=g)
    mask = torch.ones(n, length, dtype=torch.bool)
    mask[::2, 5:] = False
    return {"input_ids": ids, "attention_mask": mask, "labels": torch.randint(0, 3, (n,), generator=g)}


def test_loss_is_the_weighted_sum_over_mapped_layers():
    teacher, student = model(6, 4, 0), model(3, 2, 1)
    cfg = DistillConfig(task_weight=0.5, kd_weight=2.0, attention="amad", attention_weight=3.0, form="kl", tau=0.3,
                        hidden_weight=0.7)
    d = Distiller(student, teacher, cfg)
    b = batch(0)
    got = d.loss(b)
    s_logits, s = student(b["input_ids"], b["attention_mask"], collect=True)
    t_logits, t = teacher(b["input_ids"], b["attention_mask"], collect=True)
    pairs = [(0, 1), (1, 3), (2, 5)]
    want = 0.5 * torch.nn.functional.cross_entropy(s_logits, b["labels"]) + 2.0 * output_kd(s_logits, t_logits, 2.0)
    want = want + 3.0 * sum(amad_loss(t.attentions[j], s.attentions[i], 0.3, "kl", mask=b["attention_mask"])
                            for i, j in pairs) / 3
    want = want + 0.7 * sum(hidden_mse(d.project(s.hidden_states[i + 1]), t.hidden_states[j + 1],
                                       b["attention_mask"]) for i, j in pairs) / 3
    assert float(got.detach()) == pytest.approx(float(want.detach()), rel=1e-6)

    rel = Distiller(student, teacher, DistillConfig(task_weight=0, kd_weight=0, attention="relations",
                                                    relation_heads=4))
    want = sum(sum(relation_loss(a, c, 4, b["attention_mask"]) for a, c in zip(t.qkv[j], s.qkv[i], strict=True)) / 3
               for i, j in pairs) / 3
    assert float(rel.loss(b).detach()) == pytest.approx(float(want.detach()), rel=1e-6)


def test_attention_distillation_moves_the_student_and_not_the_teacher():
    teacher, student = model(2, 6, 0), model(2, 2, 1)
    with torch.no_grad():  # a teacher with peaked, token-dependent attention (random init is near uniform)
        for layer in teacher.encoder.encoder.layer:
            layer.attention.self.query.weight.mul_(8)
            layer.attention.self.key.weight.mul_(8)
    before_teacher = {k: v.clone() for k, v in teacher.state_dict().items()}
    batches = [batch(i) for i in range(4)]
    probe = batch(100)

    def amad_now(m):
        with torch.no_grad():
            _, s = m(probe["input_ids"], probe["attention_mask"], collect=True)
            _, t = teacher(probe["input_ids"], probe["attention_mask"], collect=True)
            return float(sum(amad_loss(t.attentions[i], s.attentions[i], mask=probe["attention_mask"])
                             for i in range(2)))

    start = amad_now(student)
    cfg = DistillConfig(task_weight=0, kd_weight=0, attention="amad")
    distill(student, teacher, batches, cfg, TrainConfig(epochs=30, lr=1e-2, progress=False))
    after = amad_now(student)
    control = model(2, 2, 1)  # the same student trained on the labels only, same steps
    distill(control, teacher, batches, DistillConfig(kd_weight=0, attention="none"),
            TrainConfig(epochs=30, lr=1e-2, progress=False))
    assert after < 0.85 * start and after < amad_now(control)  # measured on a held-out batch
    for k, v in teacher.state_dict().items():
        assert torch.equal(v, before_teacher[k])


def test_config_errors():
    with pytest.raises(InputError):
        DistillConfig(attention="mystery")
    with pytest.raises(InputError):
        DistillConfig(form="l2")
    with pytest.raises(InputError):
        DistillConfig(kd_weight=-1)
    d = Distiller(model(1, 2, 0), model(1, 2, 1), DistillConfig(task_weight=0, kd_weight=0, attention="none"))
    with pytest.raises(InputError):
        d.loss(batch(0))


def test_cached_teacher_outputs_give_the_same_loss_as_running_the_teacher():
    teacher, student = model(4, 4, 0), model(2, 2, 1)
    batches = [batch(i) for i in range(3)]
    cached = cache_teacher(teacher, batches, dtype=torch.float32)
    for method in ("amad", "one-to-one", "relations"):
        cfg = DistillConfig(attention=method, form="kl", hidden_weight=0.5)
        d = Distiller(student, teacher, cfg)
        torch.manual_seed(0)
        for live, kept in zip(batches, cached, strict=True):
            assert float(d.loss(kept).detach()) == pytest.approx(float(d.loss(live).detach()), rel=1e-6)
    half = cache_teacher(teacher, batches)  # float16 storage: close, not exact
    d = Distiller(student, teacher, DistillConfig(attention="amad"))
    assert float(d.loss(half[0]).detach()) == pytest.approx(float(d.loss(batches[0]).detach()), rel=1e-2)


@pytest.mark.parametrize("dt, ds, heads", [(384, 128, 12), (384, 64, 12), (384, 384, 12), (384, 192, 12),
                                           (96, 40, 12), (30, 21, 6)])
def test_auto_relation_heads_is_the_largest_common_divisor_within_the_teacher_heads(dt, ds, heads):
    r = auto_relation_heads(dt, ds, heads)
    assert dt % r == 0 and ds % r == 0 and r <= heads
    assert not any(dt % k == 0 and ds % k == 0 for k in range(r + 1, heads + 1))
