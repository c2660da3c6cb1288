"""The MT-Diffusion model: encoders, every loss term finite and falling on a tiny overfit run, decoders that
recover the inputs near z_0, the posterior term against its closed form, and generation shapes / determinism."""

from __future__ import annotations

import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("diffusers")
from polymodal.diffusion.model import LossWeights, MTConfig, MTDiffusion  # noqa: E402
from polymodal.diffusion.process import ProcessConfig  # noqa: E402
from polymodal.errors import InputError  # noqa: E402


def tiny(**kw):
    mods = sum([bool(kw.get("classes")) and not kw.get("class_conditional", False), kw.get("mask", False),
                kw.get("masked_image", False)]) or 1
    return MTConfig(image_channels=1, image_size=8, channels=[16, 16], layers_per_block=1, attention=False,
                    process=ProcessConfig(timesteps=50, beta_end=0.2, gammas=[1.0] * mods), **kw)


def toy_batch(n=8, seed=0):
    """Two kinds of 8x8 images: a bright left half (label 0) or a bright top half (label 1), and their masks."""
    g = torch.Generator().manual_seed(seed)
    label = torch.arange(n) % 2
    mask = torch.zeros(n, 1, 8, 8)
    mask[label == 0, :, :, :4] = 1
    mask[label == 1, :, :4, :] = 1
    image = mask * 1.6 - 0.8 + 0.05 * torch.randn(n, 1, 8, 8, generator=g)
    return {"image": image, "label": label, "mask": mask.long()}


def spy_on_unet(m) -> dict:
    """Record what the model's U-Net is called with (its input ``z`` and ``class_labels``) in the returned dict."""
    seen = {}
    unet_forward = m.unet.forward

    def spy(z, t, class_labels=None):
        seen.update(z=z, class_labels=class_labels)
        return unet_forward(z, t, class_labels=class_labels)

    m.unet.forward = spy
    return seen


def test_encoders():
    torch.manual_seed(0)
    m = MTDiffusion(tiny(classes=3, mask=True))
    b = toy_batch()
    e_label, e_mask = m.encode(b)
    assert torch.allclose(e_label.flatten(1).pow(2).mean(1), torch.ones(8), atol=1e-4)
    assert torch.equal(e_label[0], e_label[2])  # same class, same encoding
    cells = m.label_table[b["label"][1]][None]  # a 4 x 4 lattice upsampled bilinearly, then unit RMS
    want = torch.nn.functional.interpolate(cells, size=(8, 8), mode="bilinear", align_corners=False)
    assert torch.allclose(e_label[1:2], want / want.pow(2).mean().sqrt(), atol=1e-5)
    assert torch.equal(e_mask, b["mask"].float() * 2 - 1)
    with pytest.raises(InputError):
        MTConfig(classes=3, process=ProcessConfig(gammas=[1.0, 1.0]))  # one modality, two scales
    with pytest.raises(InputError):
        MTDiffusion(tiny(classes=2, class_conditional=True))(torch.zeros(1, 1, 8, 8), torch.zeros(1).long())


def test_loss_terms_are_finite_and_fall_and_decoders_recover_the_inputs():
    torch.manual_seed(0)
    cfg = tiny(classes=2, mask=True)
    cfg.weights = LossWeights(l0=1.0, l1=1e-3, l2=1.0, l3=1.0)
    m = MTDiffusion(cfg)
    b = toy_batch(16)
    opt = torch.optim.Adam(m.parameters(), lr=3e-3)
    g = torch.Generator().manual_seed(1)
    history = []
    for _ in range(150):
        terms = m.losses(b, generator=g)
        assert all(torch.isfinite(v) for v in terms.values())
        opt.zero_grad()
        terms["total"].backward()
        opt.step()
        history.append({k: v.item() for k, v in terms.items()})
    first = {k: sum(h[k] for h in history[:15]) / 15 for k in history[0]}
    last = {k: sum(h[k] for h in history[-15:]) / 15 for k in history[0]}
    for k in ("l0", "l2_label", "l2_mask", "total"):
        assert last[k] < 0.7 * first[k], (k, first[k], last[k])
    # near z_0 (t = 0) the decoders read the label and the mask back
    m.eval()
    with torch.no_grad():
        t = torch.zeros(16, dtype=torch.long)
        z = m.process.sample(b["image"], t, m.encode(b), torch.randn(b["image"].shape, generator=g))
        out = m(z, t)
    assert torch.equal(out["label_logits"].argmax(-1), b["label"])
    assert ((out["mask_logits"] > 0).long() == b["mask"]).float().mean() > 0.95


def test_posterior_term_is_zero_for_a_perfect_prediction_and_matches_its_closed_form():
    torch.manual_seed(0)
    m = MTDiffusion(tiny(mask=True))
    b = toy_batch(4)
    proc = m.process
    enc = m.encode(b)
    t = torch.tensor([3, 10, 20, 40])
    noise = torch.randn(b["image"].shape)
    z = proc.sample(b["image"], t, enc, noise)
    # with the true noise and the true encodings the reverse mean is the posterior mean
    mean_q, var = proc.posterior(z, b["image"], t, enc)
    x0_hat = proc.predicted_z0(z, t, noise, enc)
    mean_p, _ = proc.posterior(z, x0_hat, t, enc)
    assert torch.allclose(mean_p, mean_q, atol=1e-4)
    # a wrong mask prediction shifts the reverse mean by exactly (m_{t-1} - c1 m_t) of the encoding error
    wrong = [-enc[0]]
    mean_w, _ = proc.posterior(z, proc.predicted_z0(z, t, noise, wrong), t, wrong)
    diff = mean_w - mean_q
    assert diff.abs().max() > 1e-3 and torch.isfinite(diff).all()


def test_generation_shapes_and_determinism():
    torch.manual_seed(0)
    m = MTDiffusion(tiny(classes=3, mask=True))
    a = m.generate(5, "ddim", 10, generator=torch.Generator().manual_seed(0))
    b = m.generate(5, "ddim", 10, generator=torch.Generator().manual_seed(0))
    assert a["image"].shape == (5, 1, 8, 8) and a["label"].shape == (5,) and a["mask"].shape == (5, 1, 8, 8)
    assert torch.equal(a["image"], b["image"]) and torch.equal(a["label"], b["label"])
    assert a["image"].abs().max() <= 1
    rec = MTDiffusion(tiny(masked_image=True))
    masked = toy_batch(3)["image"]
    r = rec.generate(3, "ddpm", 5, generator=torch.Generator().manual_seed(0), given={"masked_image": masked})
    assert r["reconstruction"].shape == (3, 1, 8, 8)
    with pytest.raises(InputError):
        rec.generate(3, "ddim", 5)  # the masked image must be given
    cond = MTDiffusion(tiny(classes=3, class_conditional=True))
    assert cond.generate(2, "ddim", 4, label=torch.tensor([0, 2]))["image"].shape == (2, 1, 8, 8)


def test_the_generated_label_is_the_one_the_chain_carried(monkeypatch):
    """A decoder that says class 0 where the label is strong in z_t (mid-chain) and class 1 near t = 0: the label is
    the lam-weighted vote along the trajectory (class 0), ``label_final`` the last reading (class 1). The weighted
    vote is recomputed by hand from the schedule."""
    torch.manual_seed(0)
    m = MTDiffusion(tiny(classes=3))
    forward = m.forward
    seen = []

    def fake(z, t, label=None, masked_image=None, read=None):
        out = forward(z, t, label, masked_image, read)
        late = int(t[0]) < 5
        logits = torch.tensor([0.0, 3.0, 0.0] if late else [2.0, 0.0, 0.0]).expand(len(z), 3)
        seen.append((int(t[0]), logits[0].log_softmax(-1)))
        return {**out, "label_logits": logits}

    monkeypatch.setattr(m, "forward", fake)
    g = m.generate(4, "ddim", 10, generator=torch.Generator().manual_seed(0))
    vote = sum((float(m.process.lam[0, t]) + 1e-6) * lp for t, lp in seen)
    assert len(seen) == 10 and int(vote.argmax()) == 0
    assert g["label"].tolist() == [0] * 4 and g["label_final"].tolist() == [1] * 4
    assert torch.allclose(g["label_probs"][0], vote.softmax(-1), atol=1e-6)


def test_save_and_load_round_trip(tmp_path):
    from polymodal.diffusion.model import load_mt, save_mt
    from polymodal.diffusion.sheet import contact_sheet

    torch.manual_seed(0)
    m = MTDiffusion(tiny(classes=3, mask=True, class_names=["a", "b", "c"]))
    save_mt(tmp_path / "m", m)
    back = load_mt(tmp_path / "m")
    assert back.config == m.config
    z, t = torch.randn(2, 1, 8, 8), torch.tensor([3, 40])
    m.eval()
    a, b = m(z, t), back(z, t)
    assert all(torch.equal(a[k], b[k]) for k in a)
    # a late field is written only when set (earlier folders keep their names), and round-trips either way
    assert not {"class_dropout", "teacher_forcing"} & set(m.config.to_dict())
    guided = MTDiffusion(tiny(classes=3, class_conditional=True, class_dropout=0.2))
    assert guided.config.to_dict()["class_dropout"] == 0.2
    save_mt(tmp_path / "g", guided)
    assert load_mt(tmp_path / "g").config == guided.config
    taught = MTDiffusion(tiny(classes=3, label_reader=True, teacher_forcing=0.5))
    save_mt(tmp_path / "f", taught)
    assert load_mt(tmp_path / "f").config.teacher_forcing == 0.5
    with pytest.raises(InputError):
        MTConfig(classes=2, class_names=["only one"])
    with pytest.raises(InputError):
        MTConfig(objective="reconstruction")  # needs the masked-image modality
    with pytest.raises(InputError):
        contact_sheet([torch.zeros(2, 1, 8, 8), torch.zeros(2, 1, 4, 4)], tmp_path / "x.png")
    assert not (tmp_path / "x.png").exists()


def test_a_folder_saved_before_the_prediction_field_loads_as_noise_prediction(tmp_path):
    import json

    from polymodal.diffusion.model import load_mt, save_mt

    torch.manual_seed(0)
    m = MTDiffusion(tiny(classes=3))
    assert m.config.prediction == "v_prediction"
    save_mt(tmp_path / "m", m)
    cfg_path = tmp_path / "m" / "config.json"
    cfg = json.loads(cfg_path.read_text())
    del cfg["config"]["prediction"]
    cfg_path.write_text(json.dumps(cfg))
    old = load_mt(tmp_path / "m")
    assert old.config.prediction == "epsilon"
    assert load_mt(tmp_path / "m").state_dict().keys() == m.state_dict().keys()


def test_start_encodings_draw_unknown_labels_from_a_uniform_prior():
    """z_T's mean under an unknown label is the encoding of a class drawn uniformly (chi-square over 6,000 draws);
    drawn labels in ``start`` and given ones are used as they are; a mask's start is its mean encoding, 0."""
    torch.manual_seed(0)
    m = MTDiffusion(tiny(classes=3, mask=True))
    with torch.no_grad():
        table = m.encode_one("label", torch.arange(3))  # (3, 1, 8, 8)
        enc = m.start_encodings(6000, generator=torch.Generator().manual_seed(1))
        dist = ((enc[0][:, None] - table[None]) ** 2).flatten(2).sum(-1)  # (n, 3)
        assert float(dist.min(1).values.max()) < 1e-10  # every start is exactly one class's encoding
        counts = torch.bincount(dist.argmin(1), minlength=3).double()
        chi2 = float(((counts - 2000) ** 2 / 2000).sum())
        assert chi2 < 13.8  # 2 degrees of freedom, p = 0.001
        assert torch.equal(enc[1], torch.zeros(6000, 1, 8, 8))
        again = m.start_encodings(6000, generator=torch.Generator().manual_seed(1))
        assert torch.equal(enc[0], again[0])  # deterministic under a seed
        ids = torch.tensor([2, 0, 1])
        mask = toy_batch(3)["mask"]
        drawn = m.start_encodings(3, start={"label": ids}, given={"mask": mask})
        assert torch.allclose(drawn[0], table[ids]) and torch.equal(drawn[1], m.encode_one("mask", mask))


def test_stratified_labels_are_balanced_shuffled_and_seeded():
    """Every class n // classes or one more times; the order follows the generator (same seed, same order; two
    seeds, two orders); nonsense sizes are a user error."""
    from polymodal.diffusion.model import stratified_labels

    for n, classes in ((1000, 10), (1003, 10), (7, 3), (2, 5)):
        counts = torch.bincount(stratified_labels(n, classes), minlength=classes)
        assert counts.sum() == n and int(counts.max() - counts.min()) <= 1
    a = stratified_labels(500, 10, torch.Generator().manual_seed(1))
    assert torch.equal(a, stratified_labels(500, 10, torch.Generator().manual_seed(1)))
    assert not torch.equal(a, stratified_labels(500, 10, torch.Generator().manual_seed(2)))
    assert not torch.equal(a, torch.arange(500) % 10)
    with pytest.raises(InputError):
        stratified_labels(10, 0)


def test_generation_given_a_label_reports_that_label():
    torch.manual_seed(0)
    m = MTDiffusion(tiny(classes=3))
    ids = torch.tensor([2, 0, 1, 1])
    g = m.generate(4, "ddim", 5, generator=torch.Generator().manual_seed(0), given={"label": ids})
    assert g["label"].tolist() == ids.tolist() and "label_probs" not in g


def test_label_reader_learns_the_label_and_conditions_the_unet():
    """With ``label_reader`` the U-Net's class embedding is sum_k p_k e_k of the reader's probabilities from z_t
    (recomputed here by hand), and on a tiny overfit run the reader learns to read the label where lam_t is large."""
    torch.manual_seed(0)
    cfg = tiny(classes=2, label_reader=True)
    cfg.process = ProcessConfig(timesteps=50, beta_end=0.2, gammas=[1.0], weight_schedule="shift")
    m = MTDiffusion(cfg)
    b = toy_batch(16)
    opt = torch.optim.Adam(m.parameters(), lr=3e-3)
    g = torch.Generator().manual_seed(1)
    history = [m.losses(b, generator=g)["l2_reader"].item()]
    for _ in range(120):
        terms = m.losses(b, generator=g)
        opt.zero_grad()
        terms["total"].backward()
        opt.step()
        history.append(terms["l2_reader"].item())
    assert sum(history[-10:]) / 10 < 0.5 * sum(history[:10]) / 10
    m.eval()
    seen = spy_on_unet(m)
    with torch.no_grad():
        t = torch.full((16,), 40, dtype=torch.long)  # lam_t near its top under "shift"
        z = m.process.sample(b["image"], t, m.encode(b), torch.randn(b["image"].shape, generator=g))
        out = m(z, t)
        pooled = torch.nn.functional.adaptive_avg_pool2d(z, 7).flatten(1)
        sched = torch.tensor([[float(m.process.lam[0, 40]), float(m.process.alphas_cumprod[40].sqrt())]] * 16)
        logits = m.reader(torch.cat([pooled, sched], 1))
    assert torch.allclose(out["reader_logits"], logits, atol=1e-5)
    assert torch.allclose(seen["class_labels"], logits.softmax(-1) @ m.label_embed, atol=1e-5)
    assert torch.equal(out["reader_logits"].argmax(-1), b["label"])
    with pytest.raises(InputError):
        MTConfig(classes=2, class_conditional=True, label_reader=True)


def test_reader_subtract_feeds_the_unet_z_minus_the_read_label_encoding():
    """With ``reader_subtract`` the U-Net's input is z_t - lam_t sum_k p_k E(k), p the reader's probabilities
    (recomputed by hand), the reader is the label decoder, and once the reader has learnt the label the input is
    u_t = z_t - m_t, the plain DDPM variable, where the label is strong in z_t."""
    torch.manual_seed(0)
    cfg = tiny(classes=2, label_reader=True, reader_subtract=True)
    cfg.process = ProcessConfig(timesteps=50, beta_end=0.2, gammas=[1.0], weight_schedule="shift")
    m = MTDiffusion(cfg)
    b = toy_batch(16)
    opt = torch.optim.Adam(m.parameters(), lr=3e-3)
    g = torch.Generator().manual_seed(1)
    for _ in range(120):
        terms = m.losses(b, generator=g)
        opt.zero_grad()
        terms["total"].backward()
        opt.step()
    assert "l2_reader" not in terms and torch.isfinite(terms["l2_label"])
    m.eval()
    seen = spy_on_unet(m)
    with torch.no_grad():
        t = torch.full((16,), 40, dtype=torch.long)
        enc = m.encode(b)
        z = m.process.sample(b["image"], t, enc, torch.randn(b["image"].shape, generator=g))
        out = m(z, t)
        logits = m.read_label(z, t)
        p = logits.softmax(-1)
        lam = float(m.process.lam[0, 40])
        table = torch.stack([m.encode_one("label", torch.tensor([k]))[0] for k in range(2)])
        expected = z - lam * (p[:, 0, None, None, None] * table[0] + p[:, 1, None, None, None] * table[1])
        u = z - m.process.shift(t, enc)
    assert "reader_logits" not in out and torch.allclose(out["label_logits"], logits, atol=1e-6)
    assert torch.allclose(seen["z"], expected, atol=1e-5)
    assert torch.equal(logits.argmax(-1), b["label"])
    assert (seen["z"] - u).abs().max() < 0.1 * (z - u).abs().max()  # the lattice is (almost) all removed
    with pytest.raises(InputError):
        MTConfig(classes=2, reader_subtract=True)


def test_teacher_forcing_conditions_and_subtracts_on_the_true_label():
    """``teach`` rows get the true label's embedding e_y as condition and z_t - lam_t E(y) as input (u_t, recomputed
    by hand from the forward process); the other rows, and the reader's logits (its loss), are as without it. In
    training, ``teacher_forcing`` f teaches about f of the examples (a binomial bound on 2,000 draws)."""
    torch.manual_seed(0)
    cfg = tiny(classes=2, label_reader=True, reader_subtract=True, teacher_forcing=0.3)
    cfg.process = ProcessConfig(timesteps=50, beta_end=0.2, gammas=[1.0], weight_schedule="shift")
    m = MTDiffusion(cfg).eval()
    b = toy_batch(8)
    g = torch.Generator().manual_seed(1)
    t = torch.full((8,), 40, dtype=torch.long)
    enc = m.encode(b)
    z = m.process.sample(b["image"], t, enc, torch.randn(b["image"].shape, generator=g))
    teach = torch.tensor([True, False] * 4)
    seen = spy_on_unet(m)
    with torch.no_grad():
        plain = m(z, t, b["label"])
        plain_seen = dict(seen)
        out = m(z, t, b["label"], teach=teach)
    u = z - m.process.shift(t, enc)
    assert torch.allclose(seen["z"][teach], u[teach], atol=1e-5)
    assert torch.allclose(seen["class_labels"][teach], m.label_embed[b["label"][teach]], atol=1e-6)
    assert torch.equal(seen["z"][~teach], plain_seen["z"][~teach])
    assert torch.equal(seen["class_labels"][~teach], plain_seen["class_labels"][~teach])
    assert not torch.allclose(plain_seen["class_labels"][teach], seen["class_labels"][teach], atol=1e-3)
    assert torch.equal(out["label_logits"], plain["label_logits"])
    assert torch.allclose(out["pred"][~teach], plain["pred"][~teach], atol=1e-5)
    n, f = 2000, 0.3
    big = toy_batch(n)
    m.losses(big, torch.Generator().manual_seed(2))
    taught = (seen["class_labels"] - m.label_embed[big["label"]]).abs().amax(1) < 1e-6
    assert abs(float(taught.float().mean()) - f) < 4 * (f * (1 - f) / n) ** 0.5
    with pytest.raises(InputError, match="teacher_forcing needs the label reader"):
        tiny(classes=2, teacher_forcing=0.5)
    with pytest.raises(InputError, match=r"teacher_forcing must be in \[0, 1\]"):
        tiny(classes=2, label_reader=True, teacher_forcing=1.5)
    with pytest.raises(InputError, match="needs the true label"):
        m(z, t, teach=teach)


def test_sampling_conditions_on_the_label_reading_carried_along_the_chain():
    """With the reader, each sampling step conditions the U-Net on softmax(sum_s lam_s log p_s) over the readings
    p_s so far (recomputed here from the recorded readings); the generated label is that sum's argmax, and
    ``carry_reading=False`` conditions on the step's own reading."""
    torch.manual_seed(0)
    cfg = tiny(classes=3, label_reader=True, reader_subtract=True)
    cfg.process = ProcessConfig(timesteps=50, beta_end=0.2, gammas=[1.0], weight_schedule="shift")
    m = MTDiffusion(cfg)
    readings, conds = [], []
    read = m.read_label
    m.read_label = lambda z, t: (readings.append((int(t[0]), read(z, t))) or readings[-1][1])
    seen = spy_on_unet(m)
    forward = m.unet.forward
    m.unet.forward = lambda z, t, class_labels=None: (conds.append(class_labels) or forward(z, t, class_labels))
    g = m.generate(4, "ddim", 5, generator=torch.Generator().manual_seed(0))
    acc = 0.0
    for (t, r), c in zip(readings, conds):
        acc = acc + (float(m.process.lam[0, t]) + 1e-6) * r.log_softmax(-1)
        assert torch.allclose(c, acc.softmax(-1) @ m.label_embed, atol=1e-5)
    assert len(readings) == 5 and torch.equal(g["label"], acc.argmax(-1))
    assert torch.equal(g["label_final"], readings[-1][1].argmax(-1))
    readings.clear(), conds.clear()
    m.generate(4, "ddim", 5, generator=torch.Generator().manual_seed(0), carry_reading=False)
    assert all(torch.allclose(c, r.softmax(-1) @ m.label_embed, atol=1e-5) for (_, r), c in zip(readings, conds))
    assert seen["z"].shape == (4, 1, 8, 8)


def test_class_dropout_gives_a_share_of_examples_the_null_conditioning():
    """Training with ``class_dropout`` p hands the baseline's U-Net the null class id (``classes``) and the reader
    model a zero class embedding on about p of the examples (a binomial bound on 2,000 draws), and the rest their
    usual conditioning."""
    torch.manual_seed(0)
    n, p = 2000, 0.25
    base = MTDiffusion(tiny(classes=2, class_conditional=True, class_dropout=p))
    seen = spy_on_unet(base)
    batch = toy_batch(n)
    base.losses(batch, torch.Generator().manual_seed(1))
    null = seen["class_labels"] == 2
    assert abs(float(null.float().mean()) - p) < 4 * (p * (1 - p) / n) ** 0.5
    assert torch.equal(seen["class_labels"][~null], batch["label"][~null])
    reader = MTDiffusion(tiny(classes=2, label_reader=True, class_dropout=p))
    seen = spy_on_unet(reader)
    reader.losses(batch, torch.Generator().manual_seed(1))
    zero = seen["class_labels"].abs().sum(1) == 0
    assert torch.equal(zero, null)  # the same generator, the same draws
    with pytest.raises(InputError, match="class_dropout needs class conditioning"):
        tiny(classes=2, class_dropout=0.1)
    with pytest.raises(InputError, match=r"class_dropout must be in \[0, 1\)"):
        tiny(classes=2, class_conditional=True, class_dropout=1.0)


@pytest.mark.parametrize("reader", [False, True])
def test_guidance_extrapolates_from_the_null_to_the_conditional_prediction(monkeypatch, reader):
    """Each guided sampling step hands the sampler pred_null + s (pred_cond - pred_null), the two predictions
    computed here directly from the model at the same (z_t, t) with and without the null conditioning."""
    import polymodal.diffusion.sampling as sampling

    torch.manual_seed(0)
    kw = {"label_reader": True, "reader_subtract": True} if reader else {"class_conditional": True}
    m = MTDiffusion(tiny(classes=3, class_dropout=0.1, **kw)).eval()
    label = None if reader else torch.tensor([0, 1, 2, 1])
    z, t = torch.randn(4, 1, 8, 8), torch.full((4,), 30)
    got = {}

    def one_step(model, process, shape, *a, **k):
        got["pred"], _, out = model(z, t)
        return z, out

    monkeypatch.setattr(sampling, "sample", one_step)
    m.generate(4, guidance=2.5, label=label)
    with torch.no_grad():
        read = m.read_label(z, t).log_softmax(-1) * (float(m.process.lam[0, 30]) + 1e-6) if reader else None
        cond = m(z, t, label, read=read)["pred"]
        null = m(z, t, label, read=read, drop=torch.ones(4, dtype=torch.bool))["pred"]
    assert not torch.allclose(cond, null, atol=1e-4)  # the null conditioning changes the prediction
    assert torch.allclose(got["pred"], null + 2.5 * (cond - null), atol=1e-5)
    m.generate(4, guidance=1.0, label=label)
    assert torch.allclose(got["pred"], cond, atol=1e-5)
    plain = MTDiffusion(tiny(classes=3, **kw))
    with pytest.raises(InputError, match="guidance needs a model trained with class_dropout"):
        plain.generate(4, guidance=2.0, label=label)
    with pytest.raises(InputError, match="guidance must be >= 0"):
        m.generate(4, guidance=-1.0, label=label)
