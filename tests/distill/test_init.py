"""Student embeddings from the teacher's principal subspace, against scikit-learn's PCA."""

from __future__ import annotations

import numpy as np
import pytest

torch = pytest.importorskip("torch")
from sklearn.decomposition import PCA  # noqa: E402

from polymodal.distill.init import init_embeddings_from_teacher, principal_projection  # noqa: E402
from polymodal.distill.transformer import Encoder, EncoderConfig  # noqa: E402
from polymodal.errors import InputError  # noqa: E402


def encoder(heads, seed):
    torch.manual_seed(seed)
    return Encoder(EncoderConfig(layers=1, heads=heads, head_dim=4, intermediate=8, vocab_size=300,
                                 max_positions=20))


def test_projection_matches_sklearn_pca_up_to_sign():
    rng = np.random.default_rng(0)
    table = torch.tensor(rng.normal(size=(500, 12)) * np.linspace(3, 0.2, 12) + 5.0, dtype=torch.float32)
    mean, proj = principal_projection(table, 4)
    ref = PCA(4).fit(table.numpy())
    np.testing.assert_allclose(mean.numpy(), ref.mean_, rtol=1e-5)
    got = ((table - mean) @ proj).numpy()
    want = ref.transform(table.numpy())
    signs = np.sign((got * want).sum(0))
    np.testing.assert_allclose(got * signs, want, atol=1e-3)
    np.testing.assert_allclose(proj.T @ proj, np.eye(4), atol=1e-5)
    with pytest.raises(InputError):
        principal_projection(table, 13)


def test_student_embeddings_are_the_teachers_in_their_principal_subspace():
    teacher, student = encoder(6, 0), encoder(2, 1)
    before_layers = {k: v.clone() for k, v in student.state_dict().items() if "embeddings" not in k}
    init_embeddings_from_teacher(student, teacher)
    tw = teacher.embeddings.word_embeddings.weight.detach().numpy()
    sw = student.embeddings.word_embeddings.weight.detach().numpy()
    want = PCA(8).fit(tw).transform(tw)
    signs = np.sign((sw * want).sum(0))
    np.testing.assert_allclose(sw * signs, want, atol=1e-4)
    # word-embedding distances are kept as well as 8 of 24 principal directions allow: exactly along them
    assert np.linalg.matrix_rank(sw, tol=1e-6) == 8
    for k, v in student.state_dict().items():
        if "embeddings" not in k and "LayerNorm" not in k:
            assert torch.equal(v, before_layers[k])
    with pytest.raises(InputError):
        init_embeddings_from_teacher(teacher, student)  # wider student than teacher
