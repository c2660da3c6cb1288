"""The closed-form marginal and posterior of the MT-Diffusion forward process against Monte-Carlo runs of the
step-by-step chain; with one modality and w = 0 it is plain DDPM with the diffusers schedule."""

from __future__ import annotations

import numpy as np
import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("diffusers")
from diffusers import DDPMScheduler  # noqa: E402

from polymodal.diffusion.process import (  # noqa: E402
    MultimodalForward,
    ProcessConfig,
    lam_from_weights,
    weights_from_lam,
)
from polymodal.errors import InputError  # noqa: E402

T = 25
CFG = ProcessConfig(timesteps=T, beta_start=1e-3, beta_end=0.25)


def random_weights(n=2, seed=0):
    g = torch.Generator().manual_seed(seed)
    return torch.randn(n, T, generator=g, dtype=torch.float64) * 0.3


def chain(process, z0, encodings, n_paths, seed):
    """All z_t of n_paths runs of the chain, stepping the transition: (T, n_paths, D)."""
    g = torch.Generator().manual_seed(seed)
    z = z0.expand(n_paths, -1).double()
    enc = [e.expand(n_paths, -1).double() for e in encodings]
    out = []
    for t in range(process.timesteps):
        z = process.transition(z, torch.full((n_paths,), t), enc, torch.randn(z.shape, generator=g,
                                                                                dtype=torch.float64))
        out.append(z)
    return torch.stack(out)


def test_marginal_matches_the_simulated_chain():
    proc = MultimodalForward(CFG, weights=random_weights())
    z0 = torch.tensor([[0.7, -1.2, 0.3]], dtype=torch.float64)
    enc = [torch.tensor([[1.0, 2.0, -1.0]], dtype=torch.float64), torch.tensor([[-0.5, 0.0, 3.0]],
                                                                               dtype=torch.float64)]
    n = 40_000
    zs = chain(proc, z0, enc, n, seed=1)
    for t in (0, 3, 11, T - 1):
        mean, var = proc.marginal(z0, torch.tensor([t]), enc)
        emp_mean, emp_var = zs[t].mean(0), zs[t].var(0)
        se = (var / n).sqrt()
        assert torch.all((emp_mean - mean[0]).abs() < 5 * se), (t, emp_mean, mean)
        assert torch.allclose(emp_var, var.expand(3), rtol=0.04)


def test_posterior_matches_the_regression_of_the_simulated_chain():
    """Given z_0, z_{t-1} | z_t is linear-Gaussian: regress simulated z_{t-1} on z_t per dimension."""
    proc = MultimodalForward(CFG, weights=random_weights(seed=2))
    z0 = torch.tensor([[0.4, -0.8]], dtype=torch.float64)
    enc = [torch.tensor([[2.0, -1.0]], dtype=torch.float64), torch.tensor([[0.5, 1.5]], dtype=torch.float64)]
    n = 60_000
    zs = chain(proc, z0, enc, n, seed=3)
    for t in (1, 6, T - 1):
        prev, cur = zs[t - 1], zs[t]
        for d in range(2):
            x, y = cur[:, d].numpy(), prev[:, d].numpy()
            slope, intercept = np.polyfit(x, y, 1)
            resid = np.var(y - (slope * x + intercept))
            probe = torch.tensor([[x.mean(), x.mean()], [x.mean() + 1, x.mean() + 1]], dtype=torch.float64)
            mean, var = proc.posterior(probe, z0.expand(2, -1), torch.tensor([t, t]),
                                       [e.expand(2, -1) for e in enc])
            want_slope = float(mean[1, d] - mean[0, d])
            want_intercept = float(mean[0, d]) - want_slope * x.mean()
            assert slope == pytest.approx(want_slope, abs=0.02)
            assert intercept == pytest.approx(want_intercept, abs=0.03)
            assert resid == pytest.approx(float(var[0]), rel=0.04)


def test_posterior_at_the_first_step_returns_the_data():
    torch.manual_seed(0)
    proc = MultimodalForward(CFG, weights=random_weights())
    z0, zt = torch.randn(4, 3), torch.randn(4, 3)
    mean, var = proc.posterior(zt, z0, torch.zeros(4, dtype=torch.long), [torch.randn(4, 3), torch.randn(4, 3)])
    assert torch.allclose(mean, z0, atol=1e-6) and torch.all(var == 0)


def test_lam_and_weights_are_inverse_and_shift_is_the_weighted_sum():
    proc = MultimodalForward(CFG, weights=random_weights())
    assert torch.allclose(weights_from_lam(lam_from_weights(proc.weights, proc.alphas), proc.alphas), proc.weights)
    torch.manual_seed(0)
    e = [torch.randn(2, 5), torch.randn(2, 5)]
    t = torch.tensor([4, 9])
    got = proc.shift(t, e)
    for r in range(2):
        want = sum(float(proc.lam[i, t[r]]) * e[i][r] for i in range(2))
        assert torch.allclose(got[r], want, atol=1e-6)
    assert torch.equal(proc.shift(torch.tensor([-1, -1]), e), torch.zeros(2, 5))


def test_one_modality_with_zero_weights_is_diffusers_ddpm():
    torch.manual_seed(0)
    cfg = ProcessConfig(timesteps=1000, weight_schedule="zero")
    proc = MultimodalForward(cfg)
    ref = DDPMScheduler(num_train_timesteps=1000)
    z0, noise, enc = torch.randn(6, 1, 4, 4), torch.randn(6, 1, 4, 4), [torch.randn(6, 1, 4, 4)]
    t = torch.tensor([0, 1, 10, 500, 998, 999])
    assert torch.allclose(proc.sample(z0, t, enc, noise), ref.add_noise(z0, noise, t), atol=1e-5)
    # DDPM posterior mean (Ho et al. eq. 7) and variance
    cum = torch.cumprod(1 - ref.betas.double(), 0)  # diffusers' betas, in float64
    abar, abar_prev = cum[t], torch.cat([torch.ones(1, dtype=torch.float64), cum])[t]
    beta = ref.betas.double()[t]
    zt = ref.add_noise(z0, noise, t)
    c0 = (abar_prev.sqrt() * beta / (1 - abar)).view(-1, 1, 1, 1)
    c1 = ((1 - beta).sqrt() * (1 - abar_prev) / (1 - abar)).view(-1, 1, 1, 1)
    mean, var = proc.posterior(zt, z0, t, enc)
    assert torch.allclose(mean, (c0 * z0 + c1 * zt).float(), atol=1e-5)
    assert torch.allclose(var, ((1 - abar_prev) / (1 - abar) * beta).float(), atol=1e-7)


def test_schedules_and_prior():
    bump = MultimodalForward(ProcessConfig(gammas=[1.0, 2.0]))
    assert bump.lam.shape == (2, 1000)
    assert float(bump.lam[1].max()) == pytest.approx(2.0, abs=1e-3)  # gamma where sqrt(abar) = 1/2
    assert float(bump.lam[0, -1]) < 0.03 and float(bump.lam[0, 0]) < 0.03
    shift = MultimodalForward(ProcessConfig(weight_schedule="shift"))
    assert float(shift.lam[0, -1]) == pytest.approx(1.0, abs=0.01)
    z0, e = torch.zeros(3, 8), [torch.full((3, 8), 2.0)]
    m_bump = 2 * float(bump.lam[:, -1].sum())  # the bump's z_T hardly depends on the inputs
    assert m_bump < 0.2 and float(bump.prior_kl(z0, e + e).max()) < 0.5 * m_bump**2 + 1e-3
    # shift: z_T ~ N(2, 1 - abar_T): KL = (2^2 + v - 1 - log v) / 2 per dimension
    v = float(1 - shift.alphas_cumprod[-1])
    m = 2 * float(shift.lam[0, -1])
    assert float(shift.prior_kl(z0, e)[0]) == pytest.approx(0.5 * (v + m * m - 1 - np.log(v)), rel=1e-4)
    with pytest.raises(InputError):
        ProcessConfig(weight_schedule="wavy")
    with pytest.raises(InputError):
        bump.shift(torch.tensor([1]), [torch.zeros(1, 2)])  # two modalities expected


def test_v_target_is_diffusers_velocity_and_both_predictions_give_back_z0():
    """With w = 0 the v target equals ``DDPMScheduler.get_velocity``; with any encodings, feeding the true noise
    (epsilon) or the true v back through ``predicted_z0`` returns z_0."""
    from diffusers import DDPMScheduler

    g = torch.Generator().manual_seed(0)
    x0, noise = torch.randn(6, 1, 4, 4, generator=g), torch.randn(6, 1, 4, 4, generator=g)
    t = torch.tensor([0, 1, 100, 500, 900, 999])
    plain = MultimodalForward(ProcessConfig(weight_schedule="zero"))
    want = DDPMScheduler(**plain.config.scheduler_kwargs()).get_velocity(x0, noise, t)
    assert torch.allclose(plain.target(x0, t, noise, "v_prediction"), want, atol=1e-5)  # float64 vs float32 abar
    proc = MultimodalForward(ProcessConfig(gammas=[1.5, -0.5]))
    enc = [torch.randn(6, 1, 4, 4, generator=g), torch.randn(6, 1, 4, 4, generator=g)]
    z = proc.sample(x0, t, enc, noise)
    for pt in ("epsilon", "v_prediction"):
        back = proc.predicted_z0(z, t, proc.target(x0, t, noise, pt), enc, pt)
        assert torch.allclose(back[:-1], x0[:-1], atol=1e-3), pt  # t = 999: epsilon's 1/sqrt(abar) ~ 150
    assert torch.allclose(proc.predicted_z0(z, t, proc.target(x0, t, noise, "v_prediction"), enc, "v_prediction"),
                          x0, atol=1e-5)
    with pytest.raises(InputError):
        proc.target(x0, t, noise, "sample")
