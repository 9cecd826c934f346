"""Benchmark: blocked uniformity and Gram-based RankMe against the standard formulas.

(a) Uniformity (Wang & Isola) of N = 65,536 unit vectors in d = 128 with
    ``dynamics.metrics.uniformity`` (blockwise, never materialises the N x N matrix), with its
    peak extra memory (analytic estimate; measured on CUDA). Then, at a size where the standard
    formula of the official code fits (``--pdist-n``, default 16,384: its pair vector alone is
    N(N-1)/2 floats = 0.5 GiB), blocked vs

        torch.pdist(x, p=2).pow(2).mul(-t).exp().mean().log()

    timed in the same run, ratio and agreement printed.
(b) RankMe of a 65,536 x 128 matrix with ``dynamics.metrics.rankme`` (float64 Gram matrix +
    eigvalsh) against RankMe from ``numpy.linalg.svd(full_matrices=False)`` and from
    ``torch.linalg.svdvals``, same run, ratios and agreement printed.

Times are the best of ``--repeats`` runs after one warm-up call (the pdist reference: best of
``min(2, repeats)``).

    python benchmarks/bench_metrics.py [--n 65536] [--d 128] [--pdist-n 16384] [--threads 1]
                                       [--device cuda] [--json out.json]
"""

from __future__ import annotations

import argparse
import json
import math
import resource
import time

import numpy as np
import torch

from dynamics.metrics.alignment_uniformity import _auto_block, uniformity
from dynamics.metrics.rank import rankme


def _sync(dev: torch.device) -> None:
    if dev.type == "cuda":
        torch.cuda.synchronize()


def best_time(fn, repeats: int, dev: torch.device):
    out = fn()  # warm-up (and the value)
    best = math.inf
    for _ in range(repeats):
        _sync(dev)
        t0 = time.perf_counter()
        out = fn()
        _sync(dev)
        best = min(best, time.perf_counter() - t0)
    return best, out


def rankme_from_sigma(s: np.ndarray, eps: float = 1e-7) -> float:
    p = s / s.sum() + eps
    return float(np.exp(-(p * np.log(p)).sum()))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=65_536)
    ap.add_argument("--d", type=int, default=128)
    ap.add_argument("--t", type=float, default=2.0)
    ap.add_argument("--pdist-n", type=int, default=16_384)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--threads", type=int, help="torch.set_num_threads (CPU)")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--json", help="also write the results to this JSON file")
    args = ap.parse_args()

    dev = torch.device(args.device)
    if args.threads:
        torch.set_num_threads(args.threads)
    g = torch.Generator().manual_seed(args.seed)
    x = torch.nn.functional.normalize(torch.randn(args.n, args.d, generator=g), dim=1).to(dev)
    res: dict = {"device": str(dev), "torch": torch.__version__,
                 "threads": torch.get_num_threads(), "n": args.n, "d": args.d, "t": args.t}
    if dev.type == "cuda":
        res["gpu"] = torch.cuda.get_device_name(dev)
    where = res.get("gpu", f"{res['threads']} CPU threads")
    print(f"device {dev} ({where}), torch {torch.__version__}")

    # (a) uniformity at N = n
    bs = _auto_block(args.n, None)
    # the reused block buffer + the (d, N) transposed copy + O(N) vectors + the triangle mask
    est = (bs + args.d) * args.n * x.element_size() + 6 * args.n * 8 + bs * bs
    if dev.type == "cuda":
        torch.cuda.reset_peak_memory_stats(dev)
        base = torch.cuda.memory_allocated(dev)
    else:  # the process's peak RSS (KiB on Linux) so far: x and the libraries
        base = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    t_big, u_big = best_time(lambda: uniformity(x, args.t), args.repeats, dev)
    if dev.type == "cuda":
        measured = torch.cuda.max_memory_allocated(dev) - base
    else:
        measured = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024 - base
    res["uniformity_big"] = {"seconds": t_big, "value": u_big, "block_size": bs,
                             "peak_extra_bytes_estimate": est,
                             "peak_extra_bytes_measured": measured,
                             "full_matrix_bytes": args.n * args.n * x.element_size()}
    print(f"(a) uniformity N={args.n} d={args.d} t={args.t:g}: {t_big:.3f} s, value "
          f"{u_big:.6f}; block {bs} rows; peak extra memory: estimate {est / 2**20:.0f} MiB, "
          f"measured {measured / 2**20:.0f} MiB "
          f"({'CUDA max allocated' if dev.type == 'cuda' else 'growth of peak RSS'}); "
          f"the N x N matrix would be {args.n**2 * x.element_size() / 2**30:.1f} GiB")

    # (a') blocked vs pdist where pdist fits
    xs = x[: args.pdist_n]
    t = args.t

    def pdist_ref():
        return float(torch.pdist(xs, p=2).pow(2).mul(-t).exp().mean().log())

    t_ours, u_ours = best_time(lambda: uniformity(xs, t), args.repeats, dev)
    t_pd, u_pd = best_time(pdist_ref, min(2, args.repeats), dev)
    res["uniformity_vs_pdist"] = {"n": args.pdist_n, "ours_s": t_ours, "pdist_s": t_pd,
                                  "speedup": t_pd / t_ours, "ours": u_ours, "pdist": u_pd,
                                  "abs_diff": abs(u_ours - u_pd)}
    print(f"    N={args.pdist_n}: blocked {t_ours:.3f} s vs pdist {t_pd:.3f} s -> "
          f"{t_pd / t_ours:.2f}x; values {u_ours:.8f} vs {u_pd:.8f} "
          f"(|diff| {abs(u_ours - u_pd):.1e})")

    # (b) RankMe
    z = torch.randn(args.n, args.d, generator=g) * torch.linspace(0.01, 1, args.d)
    z = z.to(dev)
    t_rm, r_ours = best_time(lambda: rankme(z), args.repeats, dev)
    zn = z.cpu().numpy()
    t_np, s_np = best_time(lambda: np.linalg.svd(zn, full_matrices=False)[1], args.repeats, dev)
    t_tv, s_tv = best_time(lambda: torch.linalg.svdvals(z), args.repeats, dev)
    r_np, r_tv = rankme_from_sigma(s_np.astype(np.float64)), rankme_from_sigma(
        s_tv.double().cpu().numpy())
    # accuracy reference: a float64 SVD of the same matrix
    r_64 = rankme_from_sigma(torch.linalg.svdvals(z.double()).cpu().numpy())
    res["rankme"] = {"ours_s": t_rm, "numpy_svd_s": t_np, "torch_svdvals_s": t_tv,
                     "speedup_vs_numpy": t_np / t_rm, "speedup_vs_svdvals": t_tv / t_rm,
                     "ours": r_ours, "numpy_svd": r_np, "torch_svdvals": r_tv,
                     "float64_svd_reference": r_64}
    print(f"(b) RankMe {args.n}x{args.d} ({z.dtype}): ours {t_rm:.3f} s; "
          f"numpy.linalg.svd(full_matrices=False) {t_np:.3f} s -> {t_np / t_rm:.1f}x; "
          f"torch.linalg.svdvals {t_tv:.3f} s -> {t_tv / t_rm:.1f}x")
    print(f"    values: float64-SVD reference {r_64:.10f}; ours |diff| {abs(r_ours - r_64):.1e}, "
          f"numpy {abs(r_np - r_64):.1e}, svdvals {abs(r_tv - r_64):.1e}")

    if args.json:
        with open(args.json, "w") as fh:
            json.dump(res, fh, indent=2)


if __name__ == "__main__":
    main()
