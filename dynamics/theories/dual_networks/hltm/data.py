"""The HLTM generative model: a binary latent tree, its samples, positive pairs and negatives (Tian,
Yu, Chen & Ganguli 2020, arXiv 2010.00578; official code luckmatters ``ssl/hltm``).
Public face: :mod:`dynamics.theories.dual_networks.hltm`. Also home of the argument checks shared by
the other ``hltm_`` modules.

A complete tree of depth L and branching C; every node carries a binary latent z in {0, 1}.
Levels are numbered top-down: level 0 is the root, level L the C^L leaves, and node i of level l
has the children C*i, ..., C*i + C - 1 of level l + 1 (heap order, so a level's values are one
array). The root is uniform; every parent -> child edge has a polarity delta = s*u drawn once per
tree (u ~ U[delta_lower, delta_upper], s = +-1 with probability 1/2) and P(child = parent) =
(1 + delta)/2. The input x is the vector of leaf values as floats. A *positive pair* regenerates
the whole tree twice from the same root value (only z_0 is shared); a *negative* is an independent
sample (its root resampled, so it has the anchor's root label with probability 1/2).

The tree polarities come from ``HLTM(seed)`` (the uniforms and signs are drawn before scaling, so
trees with the same seed, depth and branching but different delta ranges have the same signs and
ranks).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from dynamics.errors import ConfigError, check_range


def _check_int(field_name: str, value: Any, low: int) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
        try:
            fvalue = float(value)
        except (TypeError, ValueError):
            raise ConfigError(field_name, f"must be an integer >= {low}, got {value!r}") from None
        if not fvalue.is_integer():
            raise ConfigError(field_name, f"must be an integer >= {low}, got {value!r}")
        value = int(fvalue)
    if int(value) < low:
        raise ConfigError(field_name, f"must be an integer >= {low}, got {value}")
    return int(value)


def _as_rng(rng: np.random.Generator | int | None) -> np.random.Generator:
    if isinstance(rng, np.random.Generator):
        return rng
    return np.random.default_rng(rng)


@dataclass
class HLTMSample:
    """``n`` draws of the tree: ``x`` (n, C^L) float32 leaf values and ``z[l]`` (n, C^l) uint8
    latent values of every level l = 0 (root) ... L (leaves; ``z[L]`` equals ``x``).

    Attributes:
        x: the leaf values as float32, (n, C^L).
        z: the L + 1 levels' latent values, ``z[l]`` uint8 (n, C^l).
    """

    x: np.ndarray
    z: list[np.ndarray]

    @property
    def root(self) -> np.ndarray:
        """The root values, shape (n,)."""
        return self.z[0][:, 0]

    def __len__(self) -> int:
        return self.x.shape[0]


class HLTM:
    """Complete binary-latent tree of depth ``depth`` and branching ``num_children``.

    ``deltas[l]`` (shape (C^(l+1),)) holds the polarities of the edges from level l to level l+1
    (edge k joins child k of level l+1 to its parent k // C); ``p_same[l] = (1 + deltas[l]) / 2``.

    Args:
        depth: L >= 1, the levels below the root.
        num_children: C >= 2, the branching (C^L <= 2^20 leaves).
        delta_lower: lower end of |delta|, in [0, delta_upper].
        delta_upper: upper end of |delta|, in [delta_lower, 1].
        seed: seed of the polarities (None: fresh entropy).

    Example:
        >>> tree = HLTM(depth=3, seed=0)
        >>> tree.level_sizes, tree.n_leaves, [d.shape for d in tree.deltas]
        ([1, 2, 4, 8], 8, [(2,), (4,), (8,)])
    """

    def __init__(
        self,
        depth: int = 5,
        num_children: int = 2,
        delta_lower: float = 0.7,
        delta_upper: float = 1.0,
        seed: int | None = 0,
    ):
        self.depth = _check_int("depth", depth, 1)
        self.num_children = _check_int("num_children", num_children, 2)
        check_range("delta_lower", delta_lower, low=0.0, high=1.0)
        check_range("delta_upper", delta_upper, low=0.0, high=1.0)
        if delta_lower > delta_upper:
            raise ConfigError(
                "delta_lower", f"must be <= delta_upper ({delta_upper:g}), got {delta_lower:g}"
            )
        if self.num_children**self.depth > 2**20:
            raise ConfigError(
                "depth",
                f"num_children**depth must be <= 2^20 leaves, got {self.num_children}^{self.depth}",
            )
        self.delta_lower = float(delta_lower)
        self.delta_upper = float(delta_upper)
        self.seed = seed
        C, L = self.num_children, self.depth
        n_edges = sum(C ** (l + 1) for l in range(L))
        rng = np.random.default_rng(seed)
        u01 = rng.random(n_edges)
        sign = np.where(rng.random(n_edges) < 0.5, 1.0, -1.0)
        delta = sign * (self.delta_lower + (self.delta_upper - self.delta_lower) * u01)
        bounds = np.cumsum([0] + [C ** (l + 1) for l in range(L)])
        self.deltas: list[np.ndarray] = [delta[bounds[l] : bounds[l + 1]] for l in range(L)]
        self.p_same: list[np.ndarray] = [(1.0 + d) / 2.0 for d in self.deltas]

    # -- shapes
    @property
    def level_sizes(self) -> list[int]:
        """Number of nodes per level, root (1) to leaves (C^L)."""
        return [self.num_children**l for l in range(self.depth + 1)]

    @property
    def n_leaves(self) -> int:
        """Number of leaves C^L (the input dimension)."""
        return self.num_children**self.depth

    def __repr__(self) -> str:
        return (
            f"HLTM(depth={self.depth}, num_children={self.num_children}, "
            f"delta_lower={self.delta_lower:g}, delta_upper={self.delta_upper:g}, "
            f"seed={self.seed})"
        )

    # -- sampling
    def sample(
        self,
        n: int,
        rng: np.random.Generator | int | None = None,
        root: int | np.ndarray | None = None,
    ) -> HLTMSample:
        """``n`` independent trees (vectorised over samples and nodes). ``root``: None (uniform),
        0/1 for all samples, or an array (n,) of root values to condition on.

        Args:
            n: number of samples, >= 1.
            rng: a numpy Generator, a seed or None.
            root: None, 0 or 1, or an array (n,) of 0/1 (else ConfigError).

        Returns:
            An :class:`HLTMSample` of ``n`` trees.

        Example:
            >>> s = HLTM(depth=3, seed=0).sample(4, rng=0)
            >>> s.x.shape, [z.shape for z in s.z], s.root.tolist()
            ((4, 8), [(4, 1), (4, 2), (4, 4), (4, 8)], [0, 1, 1, 1])
        """
        n = _check_int("n", n, 1)
        rng = _as_rng(rng)
        if root is None:
            z0 = rng.integers(0, 2, size=n, dtype=np.uint8)
        else:
            z0 = np.broadcast_to(np.asarray(root), (n,)).astype(np.uint8)
            if np.any(z0 > 1) or np.any(np.asarray(root) < 0):
                raise ConfigError("root", "must be 0 or 1 (or an array of them)")
        z = [z0[:, None].copy()]
        C = self.num_children
        for l in range(self.depth):
            parent = np.repeat(z[-1], C, axis=1)
            same = rng.random(parent.shape) < self.p_same[l]
            z.append(np.where(same, parent, 1 - parent).astype(np.uint8))
        return HLTMSample(x=z[-1].astype(np.float32), z=z)

    def positive_pairs(
        self, n: int, rng: np.random.Generator | int | None = None
    ) -> tuple[HLTMSample, HLTMSample]:
        """Two trees per pair generated from the same (uniform) root value; nothing else shared.

        Args:
            n: number of pairs, >= 1.
            rng: a numpy Generator, a seed or None.

        Returns:
            (first, second), two :class:`HLTMSample` of ``n`` trees with equal roots.

        Example:
            >>> a, p = HLTM(depth=3, seed=0).positive_pairs(5, rng=0)
            >>> bool((a.root == p.root).all())
            True
        """
        rng = _as_rng(rng)
        root = rng.integers(0, 2, size=_check_int("n", n, 1), dtype=np.uint8)
        return self.sample(n, rng, root=root), self.sample(n, rng, root=root)

    def negatives(self, n: int, rng: np.random.Generator | int | None = None) -> HLTMSample:
        """Independent samples (root resampled).

        Args:
            n: number of samples, >= 1.
            rng: a numpy Generator, a seed or None.

        Returns:
            An :class:`HLTMSample` (the same as :meth:`sample` with a uniform root).
        """
        return self.sample(n, rng)

    def triplets(
        self, n: int, rng: np.random.Generator | int | None = None
    ) -> tuple[HLTMSample, HLTMSample, HLTMSample]:
        """(anchor, positive, negative), as one ``__getitem__`` batch of the official code.

        Args:
            n: number of triplets, >= 1.
            rng: a numpy Generator, a seed or None.

        Returns:
            Three :class:`HLTMSample` of ``n`` trees: a positive pair and independent negatives.

        Example:
            >>> a, p, neg = HLTM(depth=3, seed=0).triplets(5, rng=0)
            >>> a.x.shape, p.x.shape, neg.x.shape
            ((5, 8), (5, 8), (5, 8))
        """
        rng = _as_rng(rng)
        a, p = self.positive_pairs(n, rng)
        return a, p, self.negatives(n, rng)
