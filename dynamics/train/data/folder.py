"""Image-folder reader: ``root/<class>/*.{jpg,jpeg,png}`` on disk or inside a ``.tar``/``.tar.gz``.

Layout rules (the same for a folder and an archive; member paths are compared with ``/``):

* An image's class is the first folder below the *base*. Deeper sub-folders belong to that class.
* ``split="train"`` takes the base to be the first ``train/`` folder on the path, at any depth, so
  ``train/cat/1.jpg`` and ``cifar10/train/cat/1.jpg`` both give class ``cat``; images outside a
  ``train/`` folder are skipped. ``split`` may have several components (``"a/train"``).
* Without ``split`` the base is the longest folder prefix all images share (so a single wrapping
  folder such as ``cifar10/`` is skipped). If the classes found that way are all split-like names
  (``train``, ``test``, ``val``, ...) a :class:`ConfigError` asks for ``split``.
* Files directly in the base, hidden files and ``__MACOSX`` entries are ignored.

``subset=n`` keeps ``n`` images chosen uniformly at random over the whole split, independent of
the order of the archive: each path gets a pseudo-random key ``blake2b(seed, path)`` and the ``n``
smallest keys are kept (bottom-k sampling). A ``.tar.gz`` is read in ONE streaming pass (no
extraction to disk, no seeking): only the bytes of the current n best candidates are held.
Decoding (PIL) runs in a thread pool over contiguous chunks; Pillow releases the GIL while it
decodes and resizes, which pays off for larger images (for 32x32 JPEGs it is neutral).

Class names (and hence labels) come from all images of the split, not only the sampled ones, so
labels are the same for every subset.
"""

from __future__ import annotations

import hashlib
import heapq
import io
import os
import tarfile
from collections.abc import Iterable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import torch

from dynamics.errors import ConfigError

IMAGE_EXTENSIONS = (".jpg", ".jpeg", ".png")
SPLIT_NAMES = frozenset({"train", "test", "val", "valid", "validation", "unlabeled", "unlabelled"})
TAR_SUFFIXES = (".tar", ".tar.gz", ".tgz", ".tar.bz2", ".tar.xz")


def is_archive(path: str | os.PathLike) -> bool:
    """Whether ``path`` names a tar archive (by its suffix, see ``TAR_SUFFIXES``)."""
    return str(path).lower().endswith(TAR_SUFFIXES)


def _is_image(name: str) -> bool:
    parts = name.split("/")
    if any(p.startswith(".") or p == "__MACOSX" for p in parts):
        return False
    return name.lower().endswith(IMAGE_EXTENSIONS)


def _normalize(name: str) -> str:
    name = name.replace("\\", "/")
    while name.startswith("./"):
        name = name[2:]
    return name.lstrip("/")


def _split_class(parts: list[str], split: list[str]) -> str | None:
    """Class of a path under the first occurrence of the split components, else None."""
    k = len(split)
    for i in range(len(parts) - k - 1):  # leave at least <class>/<file> after the split
        if parts[i : i + k] == split:
            return parts[i + k]
    return None


def _classify(names: list[str], split: str | None, where: str) -> dict[str, str]:
    """Map each usable image path to its class name (see the module docstring)."""
    if split is not None:
        sp = [p for p in split.strip("/").split("/") if p]
        out = {}
        for n in names:
            c = _split_class(n.split("/"), sp)
            if c is not None:
                out[n] = c
        if not out:
            tops = sorted({n.split("/")[0] for n in names})[:8]
            raise ConfigError("split", f"no images in <class> folders under a {split!r} "
                                            f"folder in {where}; top-level entries: "
                                            f"{', '.join(tops) or '(none)'}")
        return out
    parts = [n.split("/") for n in names if n.count("/") >= 1]
    if not parts:
        raise ConfigError("data.root", f"no images in class folders in {where}; expected "
                                       f"<root>/<class>/*.jpg|jpeg|png")
    common = os.path.commonprefix([p[:-1] for p in parts])
    depth = min(len(common), min(len(p) for p in parts) - 2)
    # paths too shallow for the common base are loose files: drop them
    out = {"/".join(p): p[depth] for p in parts if len(p) >= depth + 2}
    tops = set(out.values())
    if tops <= SPLIT_NAMES and all(len(p) >= depth + 3 for p in parts):
        raise ConfigError("split", f"{where} holds split folders {', '.join(sorted(tops))}; "
                                        f"choose one, e.g. split={sorted(tops)[-1]!r}")
    return out


def _key(seed: int, name: str) -> int:
    h = hashlib.blake2b(f"{seed}:{name}".encode(), digest_size=8)
    return int.from_bytes(h.digest(), "little")


def _check_subset(subset: int | None, available: int, where: str) -> None:
    if subset is None:
        return
    if not isinstance(subset, (int, np.integer)) or isinstance(subset, bool) or subset < 1:
        raise ConfigError("data.subset", f"must be a positive integer or None, got {subset!r}")
    if subset > available:
        raise ConfigError("data.subset", f"asks for {subset} images but {where} has only "
                                         f"{available}")


def _read_archive(path: Path, split: str | None, subset: int | None, seed: int
                  ) -> tuple[dict[str, str], dict[str, bytes]]:
    """One streaming pass: all image names (for classes) + the bytes of the selected members."""
    sp = None if split is None else [p for p in split.strip("/").split("/") if p]
    names: list[str] = []
    blobs: dict[str, bytes] = {}
    heap: list[tuple[int, str, bytes]] = []  # max-heap on key via negation
    try:
        with tarfile.open(path, mode="r|*") as tf:
            for m in tf:
                if not m.isfile():
                    continue
                name = _normalize(m.name)
                if not _is_image(name) or "/" not in name:
                    continue
                if sp is not None and _split_class(name.split("/"), sp) is None:
                    continue
                names.append(name)
                if subset is None:
                    blobs[name] = tf.extractfile(m).read()
                    continue
                key = _key(seed, name)
                if len(heap) < subset:
                    heapq.heappush(heap, (-key, name, tf.extractfile(m).read()))
                elif key < -heap[0][0]:
                    heapq.heapreplace(heap, (-key, name, tf.extractfile(m).read()))
    except (tarfile.TarError, OSError, EOFError) as exc:
        raise ConfigError("data.root", f"cannot read archive {path}: {exc}") from None
    classes = _classify(names, split, str(path))
    _check_subset(subset, len(classes), f"{path}" + (f" (split {split!r})" if split else ""))
    if subset is not None:
        blobs = {name: data for _, name, data in heap}
    blobs = {n: blobs[n] for n in sorted(blobs) if n in classes}
    return classes, blobs


def _list_folder(root: Path) -> list[str]:
    out = []
    for dirpath, dirnames, filenames in os.walk(root, followlinks=True):
        dirnames[:] = [d for d in dirnames if not d.startswith(".") and d != "__MACOSX"]
        rel = os.path.relpath(dirpath, root)
        for f in filenames:
            name = _normalize(f if rel == "." else f"{rel}/{f}")
            if _is_image(name):
                out.append(name)
    return sorted(out)


def _decode(data: bytes, mode: str, resize: int | tuple[int, int] | None) -> np.ndarray:
    from PIL import Image

    with Image.open(io.BytesIO(data)) as im:
        if resize is not None:
            target = (resize, resize) if isinstance(resize, int) else (resize[1], resize[0])
            im.draft(mode, target)  # JPEG: decode at a reduced DCT scale when possible
        im = im.convert(mode)
        if isinstance(resize, int):  # shorter side -> resize, then centre crop resize x resize
            w, h = im.size
            s = resize / min(w, h)
            nw, nh = max(resize, round(w * s)), max(resize, round(h * s))
            if (nw, nh) != (w, h):
                im = im.resize((nw, nh), Image.Resampling.BILINEAR, reducing_gap=None)
            left, top = (nw - resize) // 2, (nh - resize) // 2
            im = im.crop((left, top, left + resize, top + resize))
        elif resize is not None:
            im = im.resize((resize[1], resize[0]), Image.Resampling.BILINEAR)
        arr = np.asarray(im, dtype=np.uint8)
    return arr[:, :, None] if arr.ndim == 2 else arr


def _check_resize(resize) -> int | tuple[int, int] | None:
    if resize is None:
        return None
    if isinstance(resize, (int, np.integer)) and not isinstance(resize, bool) and resize > 0:
        return int(resize)
    if (isinstance(resize, (tuple, list)) and len(resize) == 2
            and all(isinstance(v, (int, np.integer)) and v > 0 for v in resize)):
        return (int(resize[0]), int(resize[1]))
    raise ConfigError("data.image_size", f"must be None, a positive int (shorter side + centre "
                                         f"crop) or (height, width), got {resize!r}")


def _decode_all(items: Iterable[tuple[str, bytes | Path]], mode: str, resize, workers: int,
                where: str) -> tuple[list[str], np.ndarray]:
    items = list(items)

    def work(item):
        name, src = item
        try:
            data = src.read_bytes() if isinstance(src, Path) else src
            return _decode(data, mode, resize)
        except Exception as exc:  # noqa: BLE001 - any decoder error becomes one clear line
            raise ConfigError("data.root", f"cannot decode {name} in {where}: {exc}") from None

    if workers > 1 and len(items) > 64:
        # a few contiguous chunks per thread: one future per image costs more than decoding a
        # 32x32 JPEG (measured: 50k CIFAR images 3.2 s serial, 6 s with per-image futures)
        n = min(len(items), 4 * workers)
        bounds = np.linspace(0, len(items), n + 1).astype(int)
        chunks = [items[a:b] for a, b in zip(bounds[:-1], bounds[1:], strict=True)]
        with ThreadPoolExecutor(workers) as pool:
            arrays = [a for part in pool.map(lambda c: [work(it) for it in c], chunks)
                      for a in part]
    else:
        arrays = [work(it) for it in items]
    shapes = {a.shape for a in arrays}
    if len(shapes) > 1:
        a, b = sorted(shapes)[:2]
        raise ConfigError("data.image_size", f"images in {where} have different sizes (e.g. {a} "
                                             f"and {b}); set data.image_size=<int> to resize "
                                             f"them")
    return [n for n, _ in items], np.stack(arrays)


def read_image_folder(root: str | os.PathLike, split: str | None = None,
                      subset: int | None = None, seed: int = 0,
                      resize: int | tuple[int, int] | None = None, mode: str = "RGB",
                      workers: int | None = None):
    """Read an image folder or a tar archive of class folders into memory.

    Args:
        root: a folder, or a ``.tar``/``.tar.gz``/``.tgz``/``.tar.bz2``/``.tar.xz`` file.
        split: sub-folder to read (``"train"``, ``"test"``, ...), see the module docstring.
        subset: keep this many images, a seeded uniform random sample of the split.
        seed: seed of ``subset``.
        resize: ``None`` (all images must share one size), an int (shorter side to ``resize``
            with bilinear filtering, then a centre crop to ``resize x resize``) or
            ``(height, width)`` (plain resize, aspect ratio not kept).
        mode: PIL mode, ``"RGB"`` (3 channels) or ``"L"`` (grayscale, 1 channel).
        workers: decoding threads (default: ``min(8, os.cpu_count())``).

    Returns:
        ``(images, labels, classes, names)``: uint8 tensor (N, C, H, W), int64 labels, sorted
        class names and the member paths, in sorted path order.
    """
    root = Path(root).expanduser()
    resize = _check_resize(resize)
    if mode not in ("RGB", "L"):
        raise ConfigError("mode", f"must be one of RGB, L; got {mode!r}")
    workers = workers or min(8, os.cpu_count() or 1)
    if not root.exists():
        raise ConfigError("data.root", f"{root} does not exist; give a folder of class "
                                       f"sub-folders or a .tar/.tar.gz of them")
    if root.is_file():
        if not is_archive(root):
            raise ConfigError("data.root", f"{root} is a file but not a tar archive (allowed: "
                                           f"{', '.join(TAR_SUFFIXES)}) nor a folder")
        classes_of, blobs = _read_archive(root, split, subset, seed)
        items = list(blobs.items())
    else:
        names = _list_folder(root)
        classes_of = _classify(names, split, str(root))
        _check_subset(subset, len(classes_of),
                      f"{root}" + (f" (split {split!r})" if split else ""))
        chosen = sorted(classes_of)
        if subset is not None:
            chosen = sorted(heapq.nsmallest(subset, chosen, key=lambda n: _key(seed, n)))
        items = [(n, root / n) for n in chosen]
    names, arr = _decode_all(items, mode, resize, workers, str(root))
    classes = sorted(set(classes_of.values()))
    index = {c: i for i, c in enumerate(classes)}
    labels = torch.tensor([index[classes_of[n]] for n in names], dtype=torch.int64)
    images = torch.from_numpy(arr).permute(0, 3, 1, 2).contiguous()
    return images, labels, classes, names
