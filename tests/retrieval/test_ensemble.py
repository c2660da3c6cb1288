"""XREnsemble against a brute-force merge of its members, item-text pairs, and the CLI/serve paths that load it."""

from __future__ import annotations

import json

import numpy as np
import pytest

from polymodal.cli import main
from polymodal.errors import InputError, ModelError
from polymodal.retrieval.ensemble import XREnsemble, load_search_model
from polymodal.retrieval.features import feature_config
from polymodal.retrieval.item_text import item_text, with_item_text
from polymodal.xmr.model import XRLinearConfig
from polymodal.xmr.text_model import XRTextModel


@pytest.fixture(scope="module")
def toys(tmp_path_factory):
    from polymodal.datasets import build_text_dataset

    ds = build_text_dataset("amazon-toys-category")
    return ds, ds.save(tmp_path_factory.mktemp("toys-ens"))


@pytest.fixture(scope="module")
def members(toys):
    ds, _ = toys
    cfg = XRLinearConfig(nr_splits=4, max_leaf_size=16)
    return [XRTextModel(cfg, feature_config(f)).fit(ds.train_texts, ds.train_labels, ds.labels)
            for f in ("tfidf", "char")]


def brute_merge(members, weights, text, pool, k):
    total: dict[int, float] = {}
    for m, w in zip(members, weights):
        ids, sc = m.predict([text], k=pool)
        for i, s in zip(ids[0], sc[0]):
            if i >= 0:
                total[int(i)] = total.get(int(i), 0.0) + w * float(s)
    return sorted(total.items(), key=lambda t: (-t[1], t[0]))[:k]


def test_scores_are_the_weighted_sum_of_member_scores(toys, members):
    ds, _ = toys
    ens = XREnsemble(members, [1.0, 0.4], candidates=20)
    texts = ds.test_texts[:60]
    ids, sc = ens.predict(texts, k=10)
    for row, text in enumerate(texts):
        want = brute_merge(members, [1.0, 0.4], text, 20, 10)
        assert ids[row, : len(want)].tolist() == [i for i, _ in want]
        np.testing.assert_allclose(sc[row, : len(want)], [s for _, s in want], rtol=1e-5)
        one_ids, one_sc = ens.predict_one(text, k=10)
        assert one_ids.tolist() == ids[row, : len(one_ids)].tolist()
        np.testing.assert_allclose(one_sc, sc[row, : len(one_sc)], rtol=1e-5)


def test_one_member_ensemble_ranks_as_the_member(toys, members):
    ds, _ = toys
    m = members[0]
    ids, sc = XREnsemble([m], [2.0], candidates=10).predict(ds.test_texts[:50], k=10)
    mid, msc = m.predict(ds.test_texts[:50], k=10)
    np.testing.assert_allclose(sc, 2.0 * msc, rtol=1e-6)
    for a, sa, b, sb in zip(ids, sc, mid, msc):  # same items with the same scores; tied ones may swap places
        keep = sa > sa.min()
        assert dict(zip(a[keep], sa[keep])) == pytest.approx(dict(zip(b[keep], 2.0 * sb[keep])), rel=1e-6)


def test_save_load_round_trip_and_dispatch(toys, members, tmp_path):
    ds, _ = toys
    ens = XREnsemble(members, [1.0, 0.3], candidates=30)
    ens.save(tmp_path / "ens")
    back = load_search_model(tmp_path / "ens")
    assert isinstance(back, XREnsemble) and back.weights == [1.0, 0.3] and back.candidates == 30
    a, b = ens.predict(ds.test_texts[:40], k=10), back.predict(ds.test_texts[:40], k=10)
    np.testing.assert_array_equal(a[0], b[0])
    members[0].save(tmp_path / "single")
    assert isinstance(load_search_model(tmp_path / "single"), XRTextModel)
    assert back.suggest("lego", 3) == ens.suggest("lego", 3)


def test_load_rejects_members_over_different_items(toys, members, tmp_path):
    ds, _ = toys
    XREnsemble(members).save(tmp_path / "ens")
    other = XRTextModel(XRLinearConfig(nr_splits=4, max_leaf_size=16), feature_config("tfidf"))
    other.fit(ds.train_texts, ds.train_labels, [n + "!" for n in ds.labels]).save(tmp_path / "other")
    (tmp_path / "ens" / "member1").rename(tmp_path / "old")
    (tmp_path / "other").rename(tmp_path / "ens" / "member1")
    with pytest.raises(ModelError, match="different item lists"):
        XREnsemble.load(tmp_path / "ens")


@pytest.mark.parametrize("kwargs, msg", [({"weights": [1.0]}, "1 weights for 2 members"),
                                         ({"weights": [1.0, 0.0]}, "must be > 0"),
                                         ({"candidates": 0}, "candidates must be between 1 and")])
def test_bad_ensemble_arguments(members, kwargs, msg):
    with pytest.raises(InputError, match=msg):
        XREnsemble(members, **kwargs)
    with pytest.raises(InputError, match="at least one member"):
        XREnsemble([])


def test_item_text_words():
    assert item_text("http://www.bankofamerica.com/") == "bankofamerica"
    assert item_text("https://en.wikipedia.org/wiki/Main_Page.html") == "en wikipedia wiki main page"
    assert item_text("Toys & Games > Jigsaws & Puzzles") == "toys games jigsaws puzzles"
    assert item_text("http://www.com/") == ""


def test_with_item_text_appends_one_pair_per_named_item():
    texts, ys = with_item_text(["q1", "q2"], [[0], [1, 2]], ["http://a.com/", "http://www.com/", "B c"], copies=2)
    assert texts == ["q1", "q2", "a", "b c", "a", "b c"]
    assert ys == [[0], [1, 2], [0], [2], [0], [2]]
    with pytest.raises(InputError, match="copies must be >= 0"):
        with_item_text([], [], [], copies=-1)


def test_cli_trains_an_ensemble_with_item_text(toys, tmp_path, capsys):
    ds, d = toys
    out = tmp_path / "m"
    assert main(["retrieval", "train", "-m", str(out), "-i", str(d / "train.tsv"), "--features", "tfidf",
                 "--features", "char", "--weight", "1", "--weight", "0.5", "--item-text", "--quiet"]) == 0
    ens = load_search_model(out)
    assert isinstance(ens, XREnsemble) and ens.weights == [1.0, 0.5]
    # item-text pairs: every category name is a training text, so it retrieves its own category first
    name = ds.labels[7]
    assert ens.members[0].vectorizer.transform([item_text(name)]).nnz > 0
    capsys.readouterr()
    assert main(["retrieval", "evaluate", "-m", str(out), "-i", str(d / "test.tsv"),
                 "--latency-requests", "50"]) == 0
    res = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    ids, _ = ens.predict(ds.test_texts, k=100)
    from polymodal.retrieval.evaluate import recall_metrics

    assert res["R@10"] == pytest.approx(recall_metrics(ds.test_labels, ids, len(ds.labels))["R@10"], abs=1e-3)
    assert main(["retrieval", "train", "-m", str(tmp_path / "x"), "-i", str(d / "train.tsv"), "--features",
                 "tfidf", "--weight", "1", "--weight", "2"]) == 2
    assert "2 --weight values for 1 --features" in capsys.readouterr().err
    assert not (tmp_path / "x").exists()


def test_service_loads_an_ensemble(members, tmp_path):
    pytest.importorskip("fastapi")
    from polymodal.serve.models import load_models

    XREnsemble(members, [1.0, 0.5]).save(tmp_path / "ens")
    served = load_models(tmp_path / "ens", None)
    assert served.search.suggest("lego duplo", 5) == XREnsemble.load(tmp_path / "ens").suggest("lego duplo", 5)


def test_recall_per_row_averages_to_recall_at_10():
    from polymodal.retrieval.evaluate import recall_metrics, recall_per_row

    rng = np.random.default_rng(3)
    ys = [rng.choice(50, rng.integers(1, 4), replace=False).tolist() for _ in range(300)]
    ids = np.stack([rng.permutation(50)[:12] for _ in range(300)])
    assert 100 * recall_per_row(ys, ids, 10).mean() == pytest.approx(recall_metrics(ys, ids, 50)["R@10"], abs=1e-3)
