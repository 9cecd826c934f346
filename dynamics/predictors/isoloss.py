"""IsoLoss (Halvagal, Laborieux & Zenke, NeurIPS 2023, arXiv 2212.04858), as implemented in
their repository (fmi-basel/implicit-var-reg, ``solo/losses/isoloss.py``).

With a closed-form symmetric PSD predictor Wp = U diag(p) U^T (any spectral rule of
:mod:`dynamics.predictors.spectral`), p = z Wp for a row batch z (B, d) of online projector
outputs and z_t the target outputs of the other view, the ordinary BYOL gradient w.r.t. z
carries a factor Wp (each eigenmode's learning rate is multiplied by p_j). IsoLoss removes it:

- Euclidean: L = mean_b || z - SG(z_t + z - p) ||^2, so dL/dz_b = 2 (p_b - z_t,b) / B
  (the Euclidean BYOL gradient is 2 (p - z_t) Wp / B).
- Cosine: L = -2 mean_b [ z.SG(z_t)/SG(||p|| ||z_t||) - 1/2 SG(p.z_t/(||p||^3 ||z_t||))
  ||z Wp^{1/2}||^2 ], so dL/dz_b = -(2/B) d cos(p_b, z_t,b)/d p_b: the gradient of the cosine
  w.r.t. the prediction, routed to z unchanged (needs p_sqrt = z Wp^{1/2}, build it with
  ``predictor_from_spectrum(U, p.sqrt())``).

The loss *values* are not the BYOL values (only the gradients matter); z_t is detached; no
gradient reaches p through these losses (Wp is set, not learned).
"""

from __future__ import annotations

import torch

from dynamics.errors import ConfigError


def _check(**tensors: torch.Tensor) -> None:
    ref_name, ref = next(iter(tensors.items()))
    for name, t in tensors.items():
        if not isinstance(t, torch.Tensor):
            raise ConfigError(name, f"must be a torch tensor, got {type(t).__name__}")
        if t.ndim != 2 or t.shape != ref.shape:
            raise ConfigError(name, f"must be a (B, d) batch shaped like {ref_name} "
                                    f"{tuple(ref.shape)}, got {tuple(t.shape)}")


def isoloss_euclidean(z: torch.Tensor, z_target: torch.Tensor, p: torch.Tensor) -> torch.Tensor:
    """Euclidean IsoLoss, mean over the batch of || z - SG(z_t + z - p) ||^2 (sum over dims).
    Its gradient w.r.t. z is 2 (p - z_t) / B; ``p`` = z Wp enters only as a value."""
    _check(z=z, z_target=z_target, p=p)
    return ((z - (z_target + z - p).detach()) ** 2).sum(dim=1).mean()


def isoloss_cosine(z: torch.Tensor, z_target: torch.Tensor, p: torch.Tensor,
                   p_sqrt: torch.Tensor) -> torch.Tensor:
    """Cosine IsoLoss (their ``isoloss_func``), -2 mean_b sim_b with

        sim = z.SG(z_t) / SG(||p|| ||z_t||) - 1/2 SG(p.z_t / (||p||^3 ||z_t||)) ||p_sqrt||^2,

    p = z Wp and p_sqrt = z Wp^{1/2} (Wp symmetric PSD). Gradient w.r.t. z: -(2/B) times the
    gradient of cos(p, z_t) w.r.t. p."""
    _check(z=z, z_target=z_target, p=p, p_sqrt=p_sqrt)
    zt = z_target.detach()
    p_norm = torch.linalg.vector_norm(p, dim=1).detach()
    zt_norm = torch.linalg.vector_norm(zt, dim=1)
    coef = ((p.detach() * zt).sum(dim=1) / (p_norm ** 3 * zt_norm))
    sim = (z * zt).sum(dim=1) / (p_norm * zt_norm) - 0.5 * coef * (p_sqrt ** 2).sum(dim=1)
    return -2 * sim.mean()
