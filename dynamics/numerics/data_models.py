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

    Attributes:
        Sigma_x: data covariance, a symmetric PSD (d, d) array (array-like or torch tensor in;
            stored as a float numpy array; :class:`~dynamics.errors.ConfigError` otherwise).
        Sigma_n: noise covariance of each view, a symmetric PSD (d, d) array, same d.

    Example:
        >>> import numpy as np
        >>> model = AdditiveGaussian(np.diag([2.0, 1.0]), 0.1 * np.eye(2))
        >>> model.dim, np.diag(model.X), np.diag(model.Xprime)
        (2, array([2., 1.]), array([0.1, 0.1]))
        >>> x1, x2 = model.sample(4, np.random.default_rng(0))
        >>> x1.shape, x2.shape
        ((2, 4), (2, 4))
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
        """Assumption A2: X = I, X' = sigma2 I.

        Args:
            dim: input dimension d (a positive int).
            sigma2: augmentation noise variance per coordinate, >= 0 (ConfigError otherwise).

        Returns:
            AdditiveGaussian: the model with ``Sigma_x = I_d`` and ``Sigma_n = sigma2 I_d``.

        Example:
            >>> model = AdditiveGaussian.isotropic(3, 0.5)
            >>> model.dim, model.Xprime.diagonal()
            (3, array([0.5, 0.5, 0.5]))
        """
        check_range("sigma2", sigma2, low=0)
        return cls(np.eye(dim), sigma2 * np.eye(dim))

    @property
    def dim(self) -> int:
        """Input dimension d."""
        return self.Sigma_x.shape[0]

    @property
    def X(self) -> np.ndarray:
        """X = E[xbar xbar^T] = Sigma_x, a (d, d) numpy array."""
        return self.Sigma_x

    @property
    def Xprime(self) -> np.ndarray:
        """X' = E[Var[x' | x]] = Sigma_n, a (d, d) numpy array."""
        return self.Sigma_n

    def sample(self, batch: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
        """Two views, each of shape (dim, batch) (columns are samples).

        Args:
            batch: number of samples x (columns), a non-negative int.
            rng: numpy random generator (``np.random.default_rng(seed)``); the only source of
                randomness, so a seeded generator makes the draw reproducible.

        Returns:
            tuple[np.ndarray, np.ndarray]: ``(x1, x2)``, two float arrays of shape
            (dim, batch): column b of each is the same x_b plus its own noise draw.
        """
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

    Attributes:
        Sigma_x: data covariance, a symmetric PSD (d, d) array (stored as a float numpy array).
        U: (d, k) matrix with orthonormal columns (k <= d) spanning the scrambled subspace;
            ConfigError when the shape or U^T U = I (atol 1e-8) fails.
        b_std: standard deviation of the entries of B, > 0 (default 1.0).

    Example:
        >>> import numpy as np
        >>> model = MultiplicativeScrambling(np.eye(3), np.array([[0.0], [0.0], [1.0]]), 0.5)
        >>> np.diag(model.Pc), np.diag(model.X), np.diag(model.Xprime)
        (array([1., 1., 0.]), array([1., 1., 0.]), array([0.  , 0.  , 0.25]))
        >>> x1, x2 = model.sample(5, np.random.default_rng(0))
        >>> x1.shape, bool(np.allclose(x1[:2], x2[:2]))  # the preserved part is shared
        ((3, 5), True)
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
        """P^c = I - U U^T, the projector onto the preserved subspace ((d, d) numpy array)."""
        return np.eye(self.dim) - self.U @ self.U.T

    @property
    def X(self) -> np.ndarray:
        """X = P^c Sigma_x P^c, a (d, d) numpy array."""
        return self.Pc @ self.Sigma_x @ self.Pc

    @property
    def Xprime(self) -> np.ndarray:
        """X' = b_std^2 tr(U^T Sigma_x U) U U^T, a (d, d) numpy array."""
        tr = float(np.trace(self.U.T @ self.Sigma_x @ self.U))
        return self.b_std**2 * tr * (self.U @ self.U.T)

    def _view(self, x: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        k, batch = self.U.shape[1], x.shape[1]
        m = self.U.T @ x  # (k, batch)
        B = self.b_std * rng.standard_normal((batch, k, k))
        scrambled = np.einsum("bij,jb->ib", B, m)
        return self.Pc @ x + self.U @ scrambled

    def sample(self, batch: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
        """Two scrambled views of the same x, each of shape (dim, batch) (columns are samples).

        Args:
            batch: number of samples x (columns), a non-negative int.
            rng: numpy random generator; draws x and a fresh B per sample and per view.

        Returns:
            tuple[np.ndarray, np.ndarray]: ``(x1, x2)``, float arrays of shape (dim, batch)
            with equal P^c components (P^c x) and independently scrambled U-components.
        """
        x = self._Lx @ rng.standard_normal((self.dim, batch))
        return self._view(x, rng), self._view(x, rng)


DATA_MODELS = {"additive": AdditiveGaussian, "scrambling": MultiplicativeScrambling}
