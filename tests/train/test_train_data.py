"""Data layer of the training side: data sets, folder/tar reader, augmentations, loaders.

Every test makes its own data (random images written to tmp_path); nothing is downloaded.
"""

from __future__ import annotations

import io
import tarfile

import numpy as np
import pytest
import torch
from PIL import Image

from dynamics.errors import ConfigError
from dynamics.train.data.augment import (
    RECIPES,
    ColorJitter,
    GaussianBlur,
    RandomGrayscale,
    RandomHorizontalFlip,
    RandomResizedCrop,
    TwoViewAugment,
    adjust_hue,
    eval_transform,
    get_recipe,
    resized_crop,
)
from dynamics.train.data.datasets import (
    DATASETS,
    ImageDataset,
    load_dataset,
    load_digits,
    load_folder,
    load_synthetic,
)
from dynamics.train.data.loader import DeviceBatchLoader, torchvision_loader, torchvision_pipeline

CLASSES = ("cat", "dog", "emu")
COLORS = {"cat": (200, 10, 10), "dog": (10, 200, 10), "emu": (10, 10, 200)}


def _png(color, size=(12, 12), noise=0, rng=None) -> bytes:
    arr = np.empty((size[1], size[0], 3), np.uint8)
    arr[:] = color
    if noise:
        arr[0, 0] = rng.integers(0, 256, 3)  # make files distinct
    buf = io.BytesIO()
    Image.fromarray(arr).save(buf, format="PNG")
    return buf.getvalue()


def _members(per_class=(6, 4), prefix=""):
    """{path: bytes}: train/ and test/ splits, class by class, lossless solid-colour PNGs."""
    rng = np.random.default_rng(0)
    out = {}
    for split, n in zip(("train", "test"), per_class, strict=True):
        for c in CLASSES:
            for i in range(n):
                out[f"{prefix}{split}/{c}/{i:03d}.png"] = _png(COLORS[c], noise=1, rng=rng)
    return out


def _write_tar(path, members, mode="w:gz"):
    with tarfile.open(path, mode) as tf:
        for name, data in members.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tf.addfile(info, io.BytesIO(data))
    return path


def _write_folder(root, members):
    for name, data in members.items():
        p = root / name
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_bytes(data)
    return root


def _check_labels(ds):
    # each image's centre colour must be its class colour
    for img, y in zip(ds.images, ds.labels, strict=True):
        assert tuple(img[:, 6, 6].tolist()) == COLORS[ds.classes[y]]


# --------------------------------------------------------------------------- folder / tar
@pytest.fixture(scope="module")
def archive(tmp_path_factory):
    root = tmp_path_factory.mktemp("arch")
    members = _members()
    return {
        "members": members,
        "tgz": _write_tar(root / "data.tar.gz", members),
        "tar": _write_tar(root / "data.tar", members, "w"),
        "folder": _write_folder(root / "folder", members),
    }


@pytest.mark.parametrize("kind", ["tgz", "tar", "folder"])
def test_folder_reader_splits_classes_labels(archive, kind):
    train = load_folder(archive[kind], split="train")
    test = load_folder(archive[kind], split="test")
    assert train.classes == test.classes == list(CLASSES)
    assert len(train) == 18 and len(test) == 12
    assert train.images.shape == (18, 3, 12, 12) and train.images.dtype == torch.uint8
    assert train.labels.dtype == torch.int64
    assert torch.bincount(train.labels).tolist() == [6, 6, 6]
    _check_labels(train)
    _check_labels(test)


def test_tar_and_folder_agree_and_subset_is_seeded_uniform(archive):
    a = load_folder(archive["tgz"], split="train", subset=7, seed=3)
    b = load_folder(archive["folder"], split="train", subset=7, seed=3)
    assert a.meta["files"] == b.meta["files"]
    assert torch.equal(a.images, b.images) and torch.equal(a.labels, b.labels)
    assert len(a) == 7 and a.classes == list(CLASSES)  # classes from the whole split
    _check_labels(a)
    # the archive is stored class by class, yet subsets mix classes
    n_classes = [len(set(load_folder(archive["tgz"], split="train", subset=6, seed=s)
                         .labels.tolist())) for s in range(5)]
    assert max(n_classes) == 3 and min(n_classes) >= 2
    again = load_folder(archive["tgz"], split="train", subset=7, seed=3)
    other = load_folder(archive["tgz"], split="train", subset=7, seed=4)
    assert again.meta["files"] == a.meta["files"] != other.meta["files"]


def test_folder_reader_layout_errors_and_wrapping_dir(tmp_path, archive):
    with pytest.raises(ConfigError, match=r"^split: .*split=.train."):
        load_folder(archive["tgz"])  # train/ and test/ present: must choose
    with pytest.raises(ConfigError, match="data.subset"):
        load_folder(archive["tgz"], split="test", subset=13)
    with pytest.raises(ConfigError, match="split"):
        load_folder(archive["tgz"], split="val")
    with pytest.raises(ConfigError, match="does not exist"):
        load_folder(tmp_path / "nope.tar.gz")
    wrapped = _write_tar(tmp_path / "w.tgz", _members(prefix="cifar/"))
    ds = load_folder(wrapped, split="test")
    assert ds.classes == list(CLASSES) and len(ds) == 12
    only_train = {k: v for k, v in _members().items() if k.startswith("train/")}
    ds = load_folder(_write_tar(tmp_path / "t.tar.gz", only_train))  # single split: no choice
    assert ds.classes == list(CLASSES) and len(ds) == 18


def test_folder_reader_sizes_and_resize(tmp_path):
    members = {"a/1.jpg": _jpeg((20, 10)), "a/2.png": _png((1, 2, 3), (12, 12)),
               "b/3.JPEG": _jpeg((16, 16)), "b/readme.txt": b"x", "loose.png": _png((0, 0, 0))}
    root = _write_folder(tmp_path / "mixed", members)
    with pytest.raises(ConfigError, match="data.image_size"):
        load_folder(root)
    ds = load_folder(root, resize=8)
    assert ds.images.shape == (3, 3, 8, 8) and ds.classes == ["a", "b"]
    assert load_folder(root, resize=(6, 10)).images.shape == (3, 3, 6, 10)
    assert load_folder(root, resize=8, mode="L").images.shape == (3, 1, 8, 8)


def _jpeg(size) -> bytes:
    buf = io.BytesIO()
    Image.fromarray(np.full((size[1], size[0], 3), 128, np.uint8)).save(buf, format="JPEG")
    return buf.getvalue()


# --------------------------------------------------------------------------- other data sets
def test_digits_shapes_range_and_fixed_split():
    tr, te = load_digits("train"), load_digits("test")
    assert len(tr) + len(te) == 1797 and abs(len(te) - 0.2 * 1797) < 10
    assert tr.images.shape[1:] == (1, 8, 8) and tr.images.dtype == torch.uint8
    assert int(tr.images.min()) == 0 and int(tr.images.max()) == 255
    assert tr.classes == [str(i) for i in range(10)]
    assert set(te.labels.tolist()) == set(range(10))
    again = load_digits("train")
    assert torch.equal(again.images, tr.images) and torch.equal(again.labels, tr.labels)
    assert isinstance(load_dataset("digits", split="test"), ImageDataset)


@pytest.mark.parametrize("model", ["additive", "scrambling"])
def test_synthetic_views_match_data_model_statistics(model):
    rng = np.random.default_rng(1)
    A = rng.standard_normal((4, 4))
    kw = {"Sigma_x": A @ A.T / 4 + 0.2 * np.eye(4)}
    if model == "additive":
        B = rng.standard_normal((4, 4))
        kw["Sigma_n"] = 0.3 * B @ B.T / 4
    ds = load_synthetic(model, dim=4, k=2, **kw)
    n = 200_000
    v1, v2 = ds.sample_views(n, torch.Generator().manual_seed(0))
    assert v1.shape == v2.shape == (n, 4) and v1.dtype == torch.float32
    v1, v2 = v1.double().numpy(), v2.double().numpy()
    cross, auto = v1.T @ v2 / n, v1.T @ v1 / n
    scale = np.abs(ds.X + ds.Xprime).max()
    assert np.abs(cross - ds.X).max() < 0.03 * scale
    assert np.abs(auto - (ds.X + ds.Xprime)).max() < 0.03 * scale
    a = ds.sample_views(5, torch.Generator().manual_seed(7))
    b = ds.sample_views(5, torch.Generator().manual_seed(7))
    assert torch.equal(a[0], b[0]) and torch.equal(a[1], b[1])


def test_missing_cifar_is_one_line_config_error(tmp_path):
    with pytest.raises(ConfigError) as exc:
        load_dataset("cifar10", root=str(tmp_path), split="train", download=False)
    msg = str(exc.value)
    assert "\n" not in msg and msg.startswith("data.root:")
    assert str(tmp_path) in msg and "cifar-10-batches-py" in msg
    assert "data.download=true" in msg and "data.root=" in msg and "data.dataset=folder" in msg
    with pytest.raises(ConfigError, match="data.dataset"):
        load_dataset("imagenet")
    assert set(DATASETS) == {"cifar10", "cifar100", "stl10", "folder", "digits", "synthetic"}


# --------------------------------------------------------------------------- augmentations
def _batch(B=6, C=3, H=32, W=32, seed=0):
    return torch.randint(0, 256, (B, C, H, W), generator=torch.Generator().manual_seed(seed),
                         dtype=torch.uint8)


@pytest.mark.parametrize("name,shape", [("cifar", (3, 32, 32)), ("stl", (3, 96, 96)),
                                        ("digits", (1, 8, 8)), ("none", (3, 20, 20))])
def test_recipes_shapes_dtypes_devices_determinism(name, shape):
    x = _batch(5, *shape)
    aug = TwoViewAugment(name)
    for inp in (x, x.float() / 255):
        v1, v2 = aug(inp, torch.Generator().manual_seed(0))
        assert v1.shape == v2.shape == (5, *shape)
        assert v1.dtype == torch.float32 and v1.device == x.device
        w1, w2 = aug(inp, torch.Generator().manual_seed(0))
        assert torch.equal(v1, w1) and torch.equal(v2, w2)
    if name != "none":
        assert not torch.allclose(v1, v2)  # two views differ
        u1, _ = aug(x, torch.Generator().manual_seed(1))
        assert not torch.allclose(u1, v1)


def test_recipe_registry_and_parameters():
    assert set(RECIPES) == {"cifar", "stl", "digits", "none"}
    cifar = get_recipe("cifar")
    names = [type(op).__name__ for op in cifar.ops]
    assert names == ["RandomResizedCrop", "RandomHorizontalFlip", "ColorJitter",
                     "RandomGrayscale", "Normalize"]
    cj = cifar.ops[2]
    assert cj.brightness == (0.6, 1.4) and cj.hue == (-0.1, 0.1) and cj.p == 0.8
    stl = get_recipe("stl")
    assert stl.ops[2].saturation == pytest.approx((0.2, 1.8)) and stl.ops[-1].kernel_size == 9
    with pytest.raises(ConfigError, match="augment.recipe"):
        get_recipe("imagenet")


def test_flip_crop_identity_and_match_torchvision():
    from torchvision.transforms.v2 import functional as TF

    x = torch.rand(4, 3, 32, 32)
    assert torch.equal(RandomHorizontalFlip(1.0)(x), x.flip(-1))
    assert torch.equal(RandomHorizontalFlip(0.0)(x), x)
    ident = RandomResizedCrop(32, scale=(1, 1), ratio=(1, 1))(x, torch.Generator())
    assert torch.allclose(ident, x, atol=1e-6)
    boxes = [(0, 0, 32, 32), (3, 5, 17, 23), (10, 2, 20, 30), (1, 1, 7, 9)]
    t, l, h, w = (torch.tensor(v) for v in zip(*boxes, strict=True))
    for size in (32, 16):  # up- and (antialiased) down-sampling
        ours = resized_crop(x, t, l, h, w, size)
        ref = torch.stack([TF.resized_crop(x[i], *boxes[i], [size, size], antialias=True)
                           for i in range(4)])
        assert torch.allclose(ours, ref, atol=1e-5)


def test_crop_boxes_are_valid_and_per_sample():
    rrc = RandomResizedCrop(32)
    top, left, h, w = rrc.sample_boxes(4000, 40, 30, torch.Generator().manual_seed(0))
    assert bool(((top >= 0) & (left >= 0) & (top + h <= 40) & (left + w <= 30)).all())
    area = (h * w).double() / 1200
    assert area.min() >= 0.08 - 0.01 and area.max() <= 1.0
    from torchvision.transforms import v2  # same distribution as torchvision's get_params

    torch.manual_seed(0)
    ref = torch.tensor([v2.RandomResizedCrop.get_params(torch.zeros(1, 40, 30), [0.08, 1.0],
                                                        [3 / 4, 4 / 3]) for _ in range(4000)])
    assert abs(area.mean() - (ref[:, 2] * ref[:, 3]).double().mean() / 1200) < 0.03
    assert abs((h / w).double().mean() - (ref[:, 2] / ref[:, 3]).double().mean()) < 0.03
    same = _batch(1).expand(8, -1, -1, -1)  # identical images: outputs must still differ
    out = rrc(same, torch.Generator().manual_seed(0))
    assert len({o.sum().item() for o in out}) == 8


def test_color_jitter_semantics():
    from torchvision.transforms.v2 import functional as TF

    x = torch.rand(6, 3, 16, 16)
    assert torch.equal(ColorJitter(0, 0, 0, 0, p=1.0)(x, torch.Generator()), x)
    assert torch.equal(ColorJitter(0.4, 0.4, 0.4, 0.1, p=0.0)(x, torch.Generator()), x)
    f = torch.tensor([0.1, -0.2, 0.5, -0.5, 0.0, 0.3])
    ref = torch.stack([TF.adjust_hue(x[i], f[i].item()) for i in range(6)])
    assert torch.allclose(adjust_hue(x, f), ref, atol=1e-5)
    # one op with a fixed factor range == torchvision's functional op
    b = ColorJitter(brightness=(1.5, 1.5))(x, torch.Generator())
    c = ColorJitter(contrast=(0.3, 0.3))(x, torch.Generator())
    s = ColorJitter(saturation=(1.7, 1.7))(x, torch.Generator())
    assert torch.allclose(b, torch.stack([TF.adjust_brightness(i, 1.5) for i in x]), atol=1e-6)
    assert torch.allclose(c, torch.stack([TF.adjust_contrast(i, 0.3) for i in x]), atol=1e-6)
    assert torch.allclose(s, torch.stack([TF.adjust_saturation(i, 1.7) for i in x]), atol=1e-6)
    same = x[:1].expand(16, -1, -1, -1)
    out = ColorJitter(0.4, 0.4, 0.4, 0.1, p=1.0)(same, torch.Generator().manual_seed(0))
    assert len({round(o.sum().item(), 4) for o in out}) == 16  # per-sample factors
    assert float(out.min()) >= 0 and float(out.max()) <= 1


def test_grayscale_and_blur():
    x = torch.rand(5, 3, 24, 24)
    g = RandomGrayscale(1.0)(x)
    assert torch.equal(g[:, 0], g[:, 1]) and torch.equal(g[:, 1], g[:, 2])
    assert torch.equal(RandomGrayscale(0.0)(x), x)
    const = torch.full((4, 3, 24, 24), 0.37)
    blur = GaussianBlur(9, (0.1, 2.0))
    assert torch.allclose(blur(const, torch.Generator()), const, atol=1e-6)
    noise = torch.rand(4, 3, 24, 24)
    y = blur(noise, torch.Generator().manual_seed(0))
    assert torch.allclose(y.mean((1, 2, 3)), noise.mean((1, 2, 3)), atol=1e-2)
    strong = GaussianBlur(9, (1.5, 2.0))(noise, torch.Generator())
    assert bool((strong.var((1, 2, 3)) < 0.3 * noise.var((1, 2, 3))).all())
    assert torch.equal(GaussianBlur(9, (1.0, 2.0), p=0.0)(noise, torch.Generator()), noise)


def test_eval_transform_and_torchvision_fallback_ranges():
    x = _batch(4)
    ev = eval_transform("cifar")
    e = ev(x)
    assert e.shape == (4, 3, 32, 32) and abs(e.mean().item()) < 0.5
    assert eval_transform("stl")(x).shape == (4, 3, 96, 96)
    for name in ("cifar", "stl", "digits"):
        r = get_recipe(name)
        shape = (1, 8, 8) if name == "digits" else (3, 32, 32)
        img = _batch(1, *shape)[0]
        ours = TwoViewAugment(r)(img[None], torch.Generator())[0][0]
        torch.manual_seed(0)
        ref = torchvision_pipeline(r)(img)
        assert ref.shape == ours.shape and ref.dtype == ours.dtype == torch.float32
        if r.mean is None:
            lo, hi = torch.zeros(1), torch.ones(1)
        else:
            m, s = torch.tensor(r.mean), torch.tensor(r.std)
            lo, hi = (-m / s)[:, None, None], ((1 - m) / s)[:, None, None]
        for out in (ours, ref):
            assert bool((out >= lo - 1e-5).all() and (out <= hi + 1e-5).all())


# --------------------------------------------------------------------------- loaders
def _toy(n=50):
    return ImageDataset(_batch(n, 3, 8, 8), torch.arange(n), [str(i) for i in range(n)])


def test_device_loader_epochs_determinism_and_resume():
    ds = _toy()
    loader = DeviceBatchLoader(ds, 8, generator=5, drop_last=False)
    assert len(loader) == 7
    epoch0 = [y for _, y in loader]
    assert sorted(torch.cat(epoch0).tolist()) == list(range(50))  # a permutation
    epoch1 = [y for _, y in loader]
    assert loader.state_dict() == {"seed": 5, "epoch": 2, "step": 0}
    assert not torch.equal(torch.cat(epoch0), torch.cat(epoch1))
    aug = TwoViewAugment("cifar")
    a = DeviceBatchLoader(ds, 8, torch.Generator().manual_seed(5), transform=aug)
    full = list(a)
    b = DeviceBatchLoader(ds, 8, 5, transform=aug)
    it = iter(b)
    next(it), next(it)
    state = b.state_dict()
    assert state == {"seed": 5, "epoch": 0, "step": 2}
    c = DeviceBatchLoader(ds, 8, 5, transform=aug)
    c.load_state_dict(state)
    rest = list(c)
    assert len(full) == 6 and len(rest) == 4
    for (va, ya), (vc, yc) in zip(full[2:], rest, strict=True):
        assert torch.equal(ya, yc) and torch.equal(va[0], vc[0]) and torch.equal(va[1], vc[1])
    assert va[0].shape == (8, 3, 32, 32)
    shards = [torch.cat([y for _, y in DeviceBatchLoader(ds, 5, 5, rank=r, world_size=2)])
              for r in range(2)]
    assert not set(shards[0].tolist()) & set(shards[1].tolist())


def test_device_loader_rejects_non_image_data():
    with pytest.raises(ConfigError, match="sample_views"):
        DeviceBatchLoader(load_synthetic(), 4)


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_recipes_on_cuda_match_cpu_with_a_cpu_generator():
    x = _batch(8, 3, 96, 96)
    for name in ("cifar", "stl"):
        aug = TwoViewAugment(name)
        cpu = aug(x, torch.Generator().manual_seed(0))
        gpu = aug(x.cuda(), torch.Generator().manual_seed(0))
        assert gpu[0].device.type == "cuda"
        assert torch.allclose(gpu[0].cpu(), cpu[0], atol=2e-2)  # TF32 matmuls allowed
        g1 = aug(x.cuda(), torch.Generator(device="cuda").manual_seed(1))
        g2 = aug(x.cuda(), torch.Generator(device="cuda").manual_seed(1))
        assert torch.equal(g1[1], g2[1])
    loader = DeviceBatchLoader(_toy(), 8, 0, "cuda", transform=TwoViewAugment("cifar"))
    (v1, _), y = next(iter(loader))
    assert v1.device.type == y.device.type == "cuda"


def test_torchvision_loader_matches_structure():
    ds = _toy(12)
    (v1, v2), y = next(iter(torchvision_loader(ds, "cifar", 4, num_workers=0)))
    assert v1.shape == v2.shape == (4, 3, 32, 32) and y.shape == (4,)
    (w1, w2), z = next(iter(DeviceBatchLoader(ds, 4, 0, transform=TwoViewAugment("cifar"))))
    assert w1.shape == v1.shape and w1.dtype == v1.dtype and z.dtype == y.dtype
