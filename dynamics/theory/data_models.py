"""Generative models of data and augmentations for the linear theory, with exact statistics.

Each model samples view pairs (x1, x2) of the same x and knows the two statistics the theory needs
(Tian, Chen & Ganguli 2021, Sec. 2 and Appendix D):

    X  = E_x[xbar xbar^T]          (Sigma^d: augmentation-averaged data correlation)
    X' = E_x[Var[x' | x]]          (augmentation covariance), so Sigma^s = X + X' = E[x1 x1^T].

The same object feeds the ODE (through ``X``, ``Xprime``) and the discrete SGD simulation (through
``sample``), so theory and training see the same data distribution.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from dynamics.errors import ConfigError, check_psd, check_range


def _sqrt_psd(M: np.ndarray) -> np.ndarray:
    lam, U = np.linalg.eigh((M + M.T) / 2)
    return (U * np.sqrt(np.clip(lam, 0, None))) @ U.T


@dataclass
class AdditiveGaussian:
    """x ~ N(0, Sigma_x), views x' = x + n with n ~ N(0, Sigma_n) drawn independently per view.

    X = Sigma_x, X' = Sigma_n (Appendix D, "additive noise"). Isotropic A2 is
    ``AdditiveGaussian(np.eye(d), sigma2 * np.eye(d))``.
    """

    Sigma_x: np.ndarray
    Sigma_n: np.ndarray
    _Lx: np.ndarray = field(init=False, repr=False)
    _Ln: np.ndarray = field(init=False, repr=False)

    def __post_init__(self):
        self.Sigma_x = check_psd("Sigma_x", self.Sigma_x)
        self.Sigma_n = check_psd("Sigma_n", self.Sigma_n, self.Sigma_x.shape[0])
        self._Lx, self._Ln = _sqrt_psd(self.Sigma_x), _sqrt_psd(self.Sigma_n)

    @classmethod
    def isotropic(cls, dim: int, sigma2: float) -> AdditiveGaussian:
        """Assumption A2: X = I, X' = sigma2 I."""
        check_range("sigma2", sigma2, low=0)
        return cls(np.eye(dim), sigma2 * np.eye(dim))

    @property
    def dim(self) -> int:
        """Input dimension d."""
        return self.Sigma_x.shape[0]

    @property
    def X(self) -> np.ndarray:
        """X = E[xbar xbar^T] = Sigma_x."""
        return self.Sigma_x

    @property
    def Xprime(self) -> np.ndarray:
        """X' = E[Var[x' | x]] = Sigma_n."""
        return self.Sigma_n

    def sample(self, batch: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
        """Two views, each of shape (dim, batch) (columns are samples)."""
        d = self.dim
        x = self._Lx @ rng.standard_normal((d, batch))
        return (x + self._Ln @ rng.standard_normal((d, batch)),
                x + self._Ln @ rng.standard_normal((d, batch)))


@dataclass
class MultiplicativeScrambling:
    """Appendix D's scrambling augmentation: x' = A x with A = P^c + U B U^T, P^c = I - U U^T,
    U (d x k) orthonormal, B (k x k) i.i.d. N(0, b_std^2) drawn afresh for every view.

    Exact statistics (derived from E[B] = 0, E[B m m^T B^T] = b_std^2 ||m||^2 I):
        X  = P^c Sigma_x P^c,
        X' = b_std^2 tr(U^T Sigma_x U) U U^T.
    If P^c commutes with Sigma_x, X (X + X')^{-1} = P^c on range(P^c): the network learns the
    preserved subspace regardless of its variance.
    """

    Sigma_x: np.ndarray
    U: np.ndarray
    b_std: float = 1.0
    _Lx: np.ndarray = field(init=False, repr=False)

    def __post_init__(self):
        self.Sigma_x = check_psd("Sigma_x", self.Sigma_x)
        U = np.asarray(self.U, dtype=float)
        if U.ndim != 2 or U.shape[0] != self.Sigma_x.shape[0] or U.shape[1] > U.shape[0]:
            raise ConfigError("U", f"must be a d x k matrix with k <= d = {self.Sigma_x.shape[0]},"
                                   f" got shape {U.shape}")
        if not np.allclose(U.T @ U, np.eye(U.shape[1]), atol=1e-8):
            raise ConfigError("U", "must have orthonormal columns (U^T U = I)")
        check_range("b_std", self.b_std, low=0, low_open=True)
        self.U = U
        self._Lx = _sqrt_psd(self.Sigma_x)

    @property
    def dim(self) -> int:
        """Input dimension d."""
        return self.Sigma_x.shape[0]

    @property
    def Pc(self) -> np.ndarray:
        """P^c = I - U U^T, the projector onto the preserved subspace."""
        return np.eye(self.dim) - self.U @ self.U.T

    @property
    def X(self) -> np.ndarray:
        """X = P^c Sigma_x P^c."""
        return self.Pc @ self.Sigma_x @ self.Pc

    @property
    def Xprime(self) -> np.ndarray:
        """X' = b_std^2 tr(U^T Sigma_x U) U U^T."""
        tr = float(np.trace(self.U.T @ self.Sigma_x @ self.U))
        return self.b_std**2 * tr * (self.U @ self.U.T)

    def _view(self, x: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        k, batch = self.U.shape[1], x.shape[1]
        m = self.U.T @ x  # (k, batch)
        B = self.b_std * rng.standard_normal((batch, k, k))
        scrambled = np.einsum("bij,jb->ib", B, m)
        return self.Pc @ x + self.U @ scrambled

    def sample(self, batch: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
        """Two scrambled views of the same x, each of shape (dim, batch) (columns are samples)."""
        x = self._Lx @ rng.standard_normal((self.dim, batch))
        return self._view(x, rng), self._view(x, rng)


DATA_MODELS = {"additive": AdditiveGaussian, "scrambling": MultiplicativeScrambling}
