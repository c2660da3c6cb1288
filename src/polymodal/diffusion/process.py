"""The MT-Diffusion forward process: a DDPM chain whose transition mean also carries a time-weighted sum of the
modality encodings.

Notation (0-based steps, as ``diffusers``): betas b_t, a_t = 1 - b_t, abar_t = prod_{s<=t} a_s, t = 0..T-1; z_{-1}
is the clean latent z_0 of the diffusion space (the data); E_i(x_i), i = 1..N, are the modality encodings, each
shaped like z.

    transition   q(z_t | z_{t-1}, X) = N( sqrt(a_t) z_{t-1} + sum_i w_t(i) E_i(x_i),  b_t I )
    marginal     q(z_t | z_0, X)     = N( sqrt(abar_t) z_0 + m_t,  (1 - abar_t) I ),  m_t = sum_i lam_t(i) E_i(x_i)
                 lam_t(i) = sqrt(a_t) lam_{t-1}(i) + w_t(i),  lam_{-1}(i) = 0
    posterior    q(z_{t-1} | z_t, z_0, X) = N( m_{t-1} + c0_t z_0 + c1_t (z_t - m_t),  bt_t I )
                 c0_t = sqrt(abar_{t-1}) b_t / (1 - abar_t),  c1_t = sqrt(a_t) (1 - abar_{t-1}) / (1 - abar_t),
                 bt_t = (1 - abar_{t-1}) b_t / (1 - abar_t),  abar_{-1} = 1,  m_{-1} = 0

Why: u_t = z_t - m_t satisfies u_t = sqrt(a_t) u_{t-1} + noise (the recursion for lam makes the modality terms
cancel), so u is exactly the DDPM chain started at u_{-1} = z_0. The marginal and the posterior are DDPM's, shifted
by m_t and m_{t-1}; and any DDPM/DDIM sampler of ``diffusers`` runs unchanged on u (``sampling.py``).

The schedule is given by lam (N, T) (the marginal coefficients, what the model sees) or by w (N, T) (the per-step
weights); each determines the other. With one modality and w = 0 the process is plain DDPM.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass, field

import torch

from ..errors import InputError

WEIGHT_SCHEDULES = ("bump", "shift", "zero")
PREDICTIONS = ("epsilon", "v_prediction")  # what the denoiser outputs, named as in diffusers


@dataclass
class ProcessConfig:
    timesteps: int = 1000
    beta_schedule: str = "linear"  # as diffusers: linear | scaled_linear | squaredcos_cap_v2
    beta_start: float = 1e-4
    beta_end: float = 0.02
    weight_schedule: str = "bump"
    gammas: list[float] = field(default_factory=lambda: [1.0])  # one scale per modality

    def __post_init__(self):
        if self.timesteps < 2:
            raise InputError("need at least 2 diffusion steps")
        if self.weight_schedule not in WEIGHT_SCHEDULES:
            raise InputError(f"weight schedule must be one of {WEIGHT_SCHEDULES}, got {self.weight_schedule!r}")
        if not self.gammas:
            raise InputError("need at least one modality (gammas)")

    def to_dict(self) -> dict:
        return asdict(self)

    def scheduler_kwargs(self) -> dict:
        return {"num_train_timesteps": self.timesteps, "beta_schedule": self.beta_schedule,
                "beta_start": self.beta_start, "beta_end": self.beta_end}


def lam_schedule(name: str, alphas_cumprod: torch.Tensor, gammas: Sequence[float]) -> torch.Tensor:
    """lam (N, T) of a named schedule.

    bump : lam_t(i) = gamma_i 4 sqrt(abar_t) (1 - sqrt(abar_t)): zero at both ends, gamma_i where sqrt(abar_t) = 1/2;
           the modality signal is strongest mid-chain and has (almost) left z_T, which is then close to N(0, I)
           whatever the inputs (|lam_T| = 0.026 gamma for the linear 1e-4..0.02 schedule).
    shift: w_t(i) = gamma_i (1 - sqrt(a_t)), so lam_t(i) = gamma_i (1 - sqrt(abar_t)): z_T drifts to
           N(sum_i gamma_i E_i, (1 - abar_T) I), the inputs' mean (the shifted-diffusion reading of the paper).
    zero : lam = 0 (plain DDPM)."""
    g = torch.as_tensor(list(gammas), dtype=torch.float64)[:, None]
    s = alphas_cumprod.double().sqrt()[None]
    if name == "bump":
        return g * 4 * s * (1 - s)
    if name == "shift":
        return g * (1 - s)
    if name == "zero":
        return torch.zeros(len(g), s.shape[1], dtype=torch.float64)
    raise InputError(f"weight schedule must be one of {WEIGHT_SCHEDULES}, got {name!r}")


def weights_from_lam(lam: torch.Tensor, alphas: torch.Tensor) -> torch.Tensor:
    """w_t = lam_t - sqrt(a_t) lam_{t-1} (lam_{-1} = 0)."""
    prev = torch.cat([torch.zeros_like(lam[:, :1]), lam[:, :-1]], dim=1)
    return lam - alphas.double().sqrt()[None] * prev


def lam_from_weights(w: torch.Tensor, alphas: torch.Tensor) -> torch.Tensor:
    """lam_t = sqrt(a_t) lam_{t-1} + w_t (lam_{-1} = 0)."""
    lam = torch.zeros_like(w, dtype=torch.float64)
    sa = alphas.double().sqrt()
    acc = torch.zeros(w.shape[0], dtype=torch.float64)
    for t in range(w.shape[1]):
        acc = sa[t] * acc + w[:, t].double()
        lam[:, t] = acc
    return lam


def _expand(v: torch.Tensor, like: torch.Tensor) -> torch.Tensor:
    return v.to(like).view(-1, *([1] * (like.dim() - 1)))


class MultimodalForward:
    """The forward process of one :class:`ProcessConfig` (or explicit ``lam`` / ``weights``).

    ``encodings`` arguments are sequences of N tensors shaped like z (one per modality); ``t`` is a LongTensor of
    steps (B,) in 0..T-1, or -1 for the clean end."""

    def __init__(self, config: ProcessConfig | None = None, lam: torch.Tensor | None = None,
                 weights: torch.Tensor | None = None):
        from diffusers import DDPMScheduler  # the beta schedules, exactly as the samplers will use them

        self.config = config or ProcessConfig()
        sched = DDPMScheduler(**self.config.scheduler_kwargs())
        self.betas = sched.betas.double()
        self.alphas = 1 - self.betas
        self.alphas_cumprod = torch.cumprod(self.alphas, 0)  # in float64 (diffusers keeps float32)
        if lam is not None and weights is not None:
            raise InputError("give lam or weights, not both")
        if weights is not None:
            lam = lam_from_weights(torch.as_tensor(weights), self.alphas)
        if lam is None:
            lam = lam_schedule(self.config.weight_schedule, self.alphas_cumprod, self.config.gammas)
        lam = torch.as_tensor(lam, dtype=torch.float64)
        if lam.dim() != 2 or lam.shape[1] != self.config.timesteps:
            raise InputError(f"lam must be (modalities, {self.config.timesteps}), got {tuple(lam.shape)}")
        self.lam = lam
        self.weights = weights_from_lam(lam, self.alphas)

    @property
    def timesteps(self) -> int:
        return self.config.timesteps

    @property
    def modalities(self) -> int:
        return self.lam.shape[0]

    def _abar(self, t: torch.Tensor) -> torch.Tensor:
        t = torch.as_tensor(t).long().cpu()
        out = torch.ones(t.shape, dtype=torch.float64)
        ok = t >= 0
        out[ok] = self.alphas_cumprod[t[ok]]
        return out

    def shift(self, t: torch.Tensor, encodings: Sequence[torch.Tensor]) -> torch.Tensor:
        """m_t = sum_i lam_t(i) E_i (0 where t = -1)."""
        self._check(encodings)
        t = torch.as_tensor(t).long().cpu()  # the schedules live on the CPU; results follow the inputs' device
        ok = t >= 0
        out = torch.zeros_like(encodings[0])
        for i, e in enumerate(encodings):
            coef = torch.zeros(t.shape, dtype=torch.float64)
            coef[ok] = self.lam[i, t[ok]]
            out = out + _expand(coef, e) * e
        return out

    def _check(self, encodings):
        if len(encodings) != self.modalities:
            raise InputError(f"{len(encodings)} encodings for a process with {self.modalities} modalities")

    def transition(self, z_prev: torch.Tensor, t: torch.Tensor, encodings, noise: torch.Tensor) -> torch.Tensor:
        """One forward step z_{t-1} -> z_t."""
        self._check(encodings)
        t = torch.as_tensor(t).long().cpu()
        mean = _expand(self.alphas[t].sqrt(), z_prev) * z_prev
        for i, e in enumerate(encodings):
            mean = mean + _expand(self.weights[i, t], e) * e
        return mean + _expand(self.betas[t].sqrt(), z_prev) * noise

    def marginal(self, z0: torch.Tensor, t: torch.Tensor, encodings) -> tuple[torch.Tensor, torch.Tensor]:
        """Mean and variance (B,) of q(z_t | z_0, X)."""
        abar = self._abar(t)
        return _expand(abar.sqrt(), z0) * z0 + self.shift(t, encodings), (1 - abar).to(z0)

    def sample(self, z0: torch.Tensor, t: torch.Tensor, encodings, noise: torch.Tensor) -> torch.Tensor:
        """z_t drawn from the marginal with the given standard normal ``noise``."""
        mean, var = self.marginal(z0, t, encodings)
        return mean + _expand(var.sqrt(), z0) * noise

    def posterior(self, z_t: torch.Tensor, z0: torch.Tensor, t: torch.Tensor, encodings):
        """Mean and variance (B,) of q(z_{t-1} | z_t, z_0, X) for t >= 0 (t = 0 gives z_0, variance 0)."""
        t = torch.as_tensor(t).long().cpu()
        abar, abar_prev = self._abar(t), self._abar(t - 1)
        b = self.betas[t]
        c0 = abar_prev.sqrt() * b / (1 - abar)
        c1 = self.alphas[t].sqrt() * (1 - abar_prev) / (1 - abar)
        mean = (self.shift(t - 1, encodings) + _expand(c0, z0) * z0
                + _expand(c1, z_t) * (z_t - self.shift(t, encodings)))
        return mean, ((1 - abar_prev) * b / (1 - abar)).to(z0)

    def predicted_z0(self, z_t: torch.Tensor, t: torch.Tensor, pred: torch.Tensor, encodings,
                     prediction: str = "epsilon") -> torch.Tensor:
        """z_0 implied by a network prediction at (z_t, t), with u_t = z_t - m_t:
        epsilon: (u_t - sqrt(1 - abar_t) eps) / sqrt(abar_t);  v_prediction: sqrt(abar_t) u_t - sqrt(1 - abar_t) v."""
        abar = self._abar(t)
        u = z_t - self.shift(t, encodings)
        if prediction == "epsilon":
            return (u - _expand((1 - abar).sqrt(), z_t) * pred) / _expand(abar.sqrt(), z_t)
        if prediction == "v_prediction":
            return _expand(abar.sqrt(), z_t) * u - _expand((1 - abar).sqrt(), z_t) * pred
        raise InputError(f"prediction must be one of {PREDICTIONS}, got {prediction!r}")

    def target(self, z0: torch.Tensor, t: torch.Tensor, noise: torch.Tensor, prediction: str = "epsilon"):
        """What the network learns to predict: the noise, or v = sqrt(abar_t) eps - sqrt(1 - abar_t) z_0 (the
        ``diffusers`` v-prediction, taken in u coordinates where the process is DDPM)."""
        if prediction == "epsilon":
            return noise
        if prediction == "v_prediction":
            abar = self._abar(t)
            return _expand(abar.sqrt(), z0) * noise - _expand((1 - abar).sqrt(), z0) * z0
        raise InputError(f"prediction must be one of {PREDICTIONS}, got {prediction!r}")

    def prior_kl(self, z0: torch.Tensor, encodings) -> torch.Tensor:
        """KL(q(z_T | z_0, X) || N(0, I)) per example, averaged over dimensions (nats per dimension)."""
        t = torch.full((z0.shape[0],), self.timesteps - 1, dtype=torch.long)
        mean, var = self.marginal(z0, t, encodings)
        v = _expand(var, mean)
        return (0.5 * (v + mean**2 - 1 - v.log())).flatten(1).mean(1)
