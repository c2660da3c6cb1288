"""DDPM / DDIM sampling of the shifted process: exact recovery under the exact denoiser of a point mass, the
diffusers loop reproduced when the weights are zero, shapes and determinism under a seed."""

from __future__ import annotations

import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("diffusers")
from diffusers import DDPMScheduler  # noqa: E402

from polymodal.diffusion.process import MultimodalForward, ProcessConfig  # noqa: E402
from polymodal.diffusion.sampling import sample  # noqa: E402
from polymodal.errors import InputError  # noqa: E402


def point_mass_model(proc, c, enc, prediction="epsilon"):
    """The exact noise (or v) prediction when every z_0 equals c and the encodings are ``enc``."""
    def model(z, t):
        abar = proc.alphas_cumprod[t].float().view(-1, 1, 1, 1)
        eps = (z - abar.sqrt() * c - proc.shift(t, enc)) / (1 - abar).sqrt()
        if prediction == "v_prediction":  # v = sqrt(abar) eps - sqrt(1 - abar) z_0, written out by hand
            return abar.sqrt() * eps - (1 - abar).sqrt() * c, enc, {"t": t}
        return eps, enc, {"t": t}
    return model


@pytest.mark.parametrize("method, steps", [("ddim", 50), ("ddim", 7), ("ddpm", 1000), ("ddpm", 40)])
@pytest.mark.parametrize("prediction", ["epsilon", "v_prediction"])
def test_exact_denoiser_of_a_point_mass_returns_it(method, steps, prediction):
    proc = MultimodalForward(ProcessConfig(gammas=[1.5, -0.7]))
    g = torch.Generator().manual_seed(0)
    c = torch.rand(1, 1, 6, 6, generator=g) * 1.6 - 0.8
    enc = [torch.randn(4, 1, 6, 6, generator=g), torch.randn(4, 1, 6, 6, generator=g)]
    z, out = sample(point_mass_model(proc, c, enc, prediction), proc, (4, 1, 6, 6), method, steps, generator=g,
                    clip=None, prediction=prediction)
    assert torch.allclose(z, c.expand(4, -1, -1, -1), atol=1e-3)
    assert int(out["t"][0]) == 0


@pytest.mark.parametrize("method", ["ddpm", "ddim"])
def test_reverse_states_follow_the_forward_marginal(method):
    """Under the exact denoiser of a point mass, the state reached at step t has the forward marginal's mean (and,
    for ancestral sampling, its variance), modality shift included."""
    proc = MultimodalForward(ProcessConfig(gammas=[2.0]))
    c = torch.full((1, 1, 2, 2), 0.3)
    n = 4000
    enc = [torch.tensor([1.0, -1.0, 0.5, 2.0]).view(1, 1, 2, 2).expand(n, -1, -1, -1)]
    seen = {}
    exact = point_mass_model(proc, c, enc)

    def model(z, t):
        if int(t[0]) == 500:
            seen["z"] = z.clone()
        return exact(z, t)

    sample(model, proc, (n, 1, 2, 2), method, 100, generator=torch.Generator().manual_seed(5), clip=None,
           start_encodings=enc)  # known encodings: the start is the exact marginal at T
    mean, var = proc.marginal(c.expand(n, -1, -1, -1), torch.full((n,), 500), enc)
    got = seen["z"]
    se = float(var[0].sqrt()) / n**0.5
    assert torch.all((got.mean(0) - mean[0]).abs() < 5 * se)
    assert float(proc.lam[0, 500]) > 1.0  # the shift is large here: leaving it out would fail the mean check
    if method == "ddpm":
        assert torch.allclose(got.var(0), var[0].expand(1, 2, 2), rtol=0.1)


def test_zero_weights_reproduce_the_diffusers_ddpm_loop():
    proc = MultimodalForward(ProcessConfig(timesteps=100, weight_schedule="zero"))

    def net(z, t):
        return torch.tanh(z) * 0.5, [torch.zeros_like(z)], None

    ours, _ = sample(net, proc, (2, 1, 5, 5), "ddpm", 100, generator=torch.Generator().manual_seed(3))
    sched = DDPMScheduler(num_train_timesteps=100)
    sched.set_timesteps(100)
    g = torch.Generator().manual_seed(3)
    x = torch.randn(2, 1, 5, 5, generator=g) * float((1 - proc.alphas_cumprod[99]).sqrt())
    for t in sched.timesteps:
        x = sched.step(torch.tanh(x) * 0.5, t, x, generator=g).prev_sample
    assert torch.allclose(ours, x, atol=1e-5)


def test_determinism_and_errors():
    proc = MultimodalForward(ProcessConfig(timesteps=50))

    def net(z, t):
        return 0.1 * z, [0.5 * z], None

    a, _ = sample(net, proc, (3, 2, 4, 4), "ddim", 10, generator=torch.Generator().manual_seed(1))
    b, _ = sample(net, proc, (3, 2, 4, 4), "ddim", 10, generator=torch.Generator().manual_seed(1))
    c, _ = sample(net, proc, (3, 2, 4, 4), "ddim", 10, generator=torch.Generator().manual_seed(2))
    assert a.shape == (3, 2, 4, 4) and torch.equal(a, b) and not torch.equal(a, c)
    with pytest.raises(InputError):
        sample(net, proc, (1, 1, 2, 2), "euler", 10)
    with pytest.raises(InputError):
        sample(net, proc, (1, 1, 2, 2), "ddim", 51)


@pytest.mark.parametrize("prediction", ["epsilon", "v_prediction"])
def test_a_clipped_ddim_step_moves_along_the_clipped_estimate(prediction):
    """With clipping, one DDIM step (eta 0) from t to t' is u' = sqrt(abar_t') x + sqrt(1 - abar_t') e, where x is
    the z_0 estimate clipped to [-1, 1] and e = (u - sqrt(abar_t) x) / sqrt(1 - abar_t) the noise that clipped
    estimate implies, written out here by hand. The model's estimate (2.5 everywhere) is far outside the range."""
    proc = MultimodalForward(ProcessConfig(gammas=[1.0], weight_schedule="shift"))
    g = torch.Generator().manual_seed(0)
    enc = [torch.randn(3, 1, 4, 4, generator=g)]
    exact = point_mass_model(proc, torch.full((1, 1, 4, 4), 2.5), enc, prediction)
    seen = []

    def model(z, t):
        seen.append((int(t[0]), z.clone()))
        return exact(z, t)

    sample(model, proc, (3, 1, 4, 4), "ddim", 2, generator=g, clip=1.0, prediction=prediction)
    (t, z), (t2, z2) = seen
    a, a2 = proc.alphas_cumprod[t], proc.alphas_cumprod[t2]
    u = z - proc.shift(torch.full((3,), t), enc)
    x = torch.ones_like(u)  # the estimate 2.5, clipped
    e = (u - a.sqrt() * x) / (1 - a).sqrt()
    want = a2.sqrt() * x + (1 - a2).sqrt() * e + proc.shift(torch.full((3,), t2), enc)
    assert t > t2 and torch.allclose(z2, want, atol=1e-5)
