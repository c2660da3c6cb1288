"""Memory-mapped predict-only models: same predictions as in memory, real memory maps, corrupt files refused or
harmless, and the CLI conversion."""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pytest

from polymodal.cli import main
from polymodal.errors import ModelError
from polymodal.modelio import map_arrays
from polymodal.xmr.model import ARRAYS_FILE, XRLinear


@pytest.fixture(scope="module")
def fitted(small_xmc):
    return XRLinear(max_leaf_size=20, nr_splits=4, threads=2).fit(small_xmc["X"], small_xmc["Y"])


@pytest.fixture(scope="module")
def saved(fitted, tmp_path_factory):
    root = tmp_path_factory.mktemp("mm")
    return fitted.save(root / "compact"), fitted.save(root / "mmap", layout="mmap")


def test_mapped_predictions_are_bit_identical(fitted, saved, small_xmc):
    compact, mapped = saved
    a = XRLinear.load(compact)
    b = XRLinear.load(mapped)
    assert b.weights_.mapped and not a.weights_.mapped
    X = small_xmc["Xte"]
    for m in (a, b):
        ids, sc = m.predict(X, k=20)
        ref_ids, ref_sc = fitted.predict(X, k=20)
        assert np.array_equal(ids, ref_ids) and np.array_equal(sc, ref_sc)
    for i in range(0, X.shape[0], 37):
        r = X[i]
        ia, sa = a.predict_one(r.indices, r.data, k=10)
        ib, sb = b.predict_one(r.indices, r.data, k=10)
        assert np.array_equal(ia, ib) and np.array_equal(sa, sb)
    allowed = np.arange(0, fitted.n_labels_, 3)
    r = X[5]
    assert np.array_equal(a.predict_one(r.indices, r.data, k=5, allowed=allowed)[0],
                          b.predict_one(r.indices, r.data, k=5, allowed=allowed)[0])


def test_arrays_are_memory_maps_of_the_file(saved):
    _, mapped = saved
    m = XRLinear.load(mapped)
    w = m.weights_
    for name in ("ent_val", "ent_child", "hash_slots", "chunk_ent", "hash_off"):
        a = getattr(w, name)
        assert isinstance(a, np.memmap) or isinstance(a.base, np.memmap), name
        assert not a.flags.writeable
    # the mapped bytes are the file's bytes
    raw = map_arrays(mapped / ARRAYS_FILE)
    assert np.shares_memory(raw["weights.ent_val"], raw["weights.ent_val"])
    assert np.array_equal(np.asarray(w.ent_val), raw["weights.ent_val"])
    # in-memory reading of the same folder copies
    c = XRLinear.load(mapped, mmap=False)
    assert not c.weights_.mapped and c.weights_.ent_val.flags.writeable


def test_compact_model_cannot_be_mapped(saved):
    compact, _ = saved
    with pytest.raises(ModelError, match="compact layout"):
        XRLinear.load(compact, mmap=True)


def _copy(src, dst):
    import shutil

    shutil.copytree(src, dst)
    return dst


@pytest.mark.parametrize("cut", [4, 100, -1000, -1])
def test_truncated_file_is_refused(saved, tmp_path, cut):
    m = _copy(saved[1], tmp_path / "m")
    f = m / ARRAYS_FILE
    data = f.read_bytes()
    f.write_bytes(data[:cut] if cut > 0 else data[:len(data) + cut])
    with pytest.raises(ModelError, match="corrupt"):
        XRLinear.load(m)


def test_corrupt_header_is_refused(saved, tmp_path):
    m = _copy(saved[1], tmp_path / "m")
    f = m / ARRAYS_FILE
    data = bytearray(f.read_bytes())
    n = int.from_bytes(data[:8], "little")
    header = json.loads(data[8:8 + n])
    header["weights.ent_val"]["data_offsets"][1] += 4  # shape and byte range disagree
    blob = json.dumps(header, separators=(",", ":")).encode()
    blob += b" " * (n - len(blob))
    assert len(blob) == n
    data[8:8 + n] = blob
    f.write_bytes(bytes(data))
    with pytest.raises(ModelError, match="ent_val"):
        XRLinear.load(m)


def test_corrupt_data_gives_wrong_scores_not_a_crash(saved, small_xmc, tmp_path):
    """Random bytes over the hash slots and child offsets of a mapped model: predictions still return (run in a
    child process so that a crash would show as a failed exit, not kill the test run)."""
    m = _copy(saved[1], tmp_path / "m")
    f = m / ARRAYS_FILE
    raw = map_arrays(f)
    data = bytearray(f.read_bytes())
    n = int.from_bytes(data[:8], "little")
    header = json.loads(data[8:8 + n])
    rng = np.random.default_rng(0)
    for name in ("weights.hash_slots", "weights.ent_child"):
        a, b = header[name]["data_offsets"]
        data[8 + n + a:8 + n + b] = rng.integers(0, 256, b - a, dtype=np.uint8).tobytes()
    f.write_bytes(bytes(data))
    assert len(raw) > 0
    X = small_xmc["Xte"][:200]
    np.save(tmp_path / "idx.npy", X.indices)
    np.save(tmp_path / "ptr.npy", X.indptr)
    np.save(tmp_path / "val.npy", X.data)
    code = f"""
import numpy as np, scipy.sparse as sp
from polymodal.xmr.model import XRLinear
m = XRLinear.load({str(m)!r})
d = {str(tmp_path)!r}
X = sp.csr_matrix((np.load(d + '/val.npy'), np.load(d + '/idx.npy'), np.load(d + '/ptr.npy')),
                  shape=({X.shape[0]}, {X.shape[1]}))
ids, _ = m.predict(X, k=10)
for i in range(X.shape[0]):
    m.predict_one(X[i].indices, X[i].data, k=10)
assert ids.shape == (X.shape[0], 10) and ids.max() < m.n_labels_
print("ok")
"""
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    assert out.returncode == 0 and out.stdout.strip() == "ok", out.stderr[-2000:]


def test_cli_converts_a_text_model(tmp_path, capsys):
    train = tmp_path / "train.tsv"
    rows = [("0,1", "python3 yaml parser"), ("1", "yaml library for python"), ("2", "gtk widget toolkit"),
            ("2,3", "gtk theme engine"), ("3", "desktop theme icons"), ("0", "python3 json")] * 5
    train.write_text("".join(f"{a}\t{b}\n" for a, b in rows))
    (tmp_path / "labels.txt").write_text("python3\npython3-yaml\nlibgtk\ntheme\n")
    assert main(["xmr", "train", "-i", str(train), "-m", str(tmp_path / "m"), "--quiet"]) == 0
    capsys.readouterr()
    assert main(["xmr", "predict", "-m", str(tmp_path / "m"), "-i", str(train), "-k", "2"]) == 0
    before = capsys.readouterr().out
    assert main(["xmr", "mmap", "-m", str(tmp_path / "m")]) == 0
    cfg = json.loads((tmp_path / "m" / "config.json").read_text())
    assert cfg["xr_linear"]["layout"] == "mmap"
    capsys.readouterr()
    assert main(["xmr", "predict", "-m", str(tmp_path / "m"), "-i", str(train), "-k", "2"]) == 0
    assert capsys.readouterr().out == before
    assert main(["xmr", "mmap", "-m", str(tmp_path / "nothing")]) == 2
    assert capsys.readouterr().err.startswith("error:")
