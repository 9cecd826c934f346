"""The one atomic writer, output-path checks, folder locks, and error hints that can only name
options that exist."""

import ast
import os
import re
from pathlib import Path

import pytest

from dynamics import io
from dynamics.errors import ConfigError
from dynamics.locks import FolderLock, check_unlocked

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.parametrize("umask", [0o022, 0o077, 0o002])
def test_atomic_writes_get_the_mode_open_would_give(tmp_path, umask):
    old = os.umask(umask)
    try:
        paths = [io.atomic_write_text(tmp_path / "a.txt", "x"),
                 io.save_arrays(tmp_path / "b.npz", {"t": [1, 2]}),
                 io.atomic_copy(tmp_path / "a.txt", tmp_path / "c.txt")]
        with open(tmp_path / "plain.txt", "w") as fh:
            fh.write("x")
    finally:
        os.umask(old)
    want = (tmp_path / "plain.txt").stat().st_mode & 0o777
    assert want == 0o666 & ~umask
    assert [p.stat().st_mode & 0o777 for p in paths] == [want] * 3


def test_interrupted_write_leaves_old_file_and_no_temp(tmp_path):
    target = tmp_path / "f.txt"
    io.atomic_write_text(target, "old")
    with pytest.raises(KeyboardInterrupt), io.atomic_writer(target) as fh:
        fh.write(b"half")
        raise KeyboardInterrupt
    assert target.read_text() == "old" and sorted(os.listdir(tmp_path)) == ["f.txt"]


def test_atomic_copy_is_independent(tmp_path):
    a = io.atomic_write_text(tmp_path / "a", "data")
    b = io.atomic_copy(a, tmp_path / "b")
    a.write_text("changed")
    assert b.read_text() == "data" and a.stat().st_ino != b.stat().st_ino


def test_output_checks(tmp_path):
    afile = tmp_path / "afile"
    afile.write_text("x")
    with pytest.raises(ConfigError, match="^out: .* is a file, but a folder is needed"):
        io.check_output_dir("out", afile)
    with pytest.raises(ConfigError, match="^out: cannot create .* is a file, not a folder"):
        io.check_output_dir("out", afile / "sub" / "deeper")
    with pytest.raises(ConfigError, match="^out: "):
        io.check_output_dir("out", "/proc/ssl_dynamics_test")
    with pytest.raises(ConfigError, match="^out: .* is a folder, but a file is needed"):
        io.check_output_file("out", tmp_path)
    with pytest.raises(ConfigError, match="^out: must end in one of .json"):
        io.check_output_path("out", tmp_path / "x.txt")
    made = io.check_output_dir("out", tmp_path / "new" / "folder")
    assert made.is_dir() and os.listdir(made) == []  # the write probe leaves nothing
    assert io.check_output_file("out", tmp_path / "n2" / "f.json").parent.is_dir()


def test_folder_lock_names_the_holder(tmp_path):
    with FolderLock(tmp_path / "d", field="out", what="output folder"):
        with pytest.raises(ConfigError) as exc:
            FolderLock(tmp_path / "d", field="out").acquire()
        assert f"process {os.getpid()}" in str(exc.value) and "\n" not in str(exc.value)
        with pytest.raises(ConfigError, match="is in use"):
            check_unlocked(tmp_path / "d")
    check_unlocked(tmp_path / "d")  # released
    check_unlocked(tmp_path / "never-made")  # nothing to check, nothing created
    assert not (tmp_path / "never-made").exists()


# --------------------------------------------------------------------------------------------
# error hints come from the schema


def _config_keys() -> set[str]:
    from dataclasses import fields, is_dataclass

    from dynamics.train.config import TrainConfig

    keys: set[str] = set()

    def walk(cls, prefix):
        for f in fields(cls):
            sub = f.default_factory if callable(f.default_factory) else None
            if sub is not None and is_dataclass(sub):
                walk(sub, f"{prefix}{f.name}.")
            else:
                keys.add(prefix + f.name)

    walk(TrainConfig, "")
    return keys


def _error_texts(path: Path):
    """(line, text) of every string in a ConfigError(...) call of ``path``."""
    tree = ast.parse(path.read_text())
    for node in ast.walk(tree):
        if isinstance(node, ast.Call) and getattr(node.func, "id", None) == "ConfigError":
            for arg in node.args:
                for sub in ast.walk(arg):
                    if isinstance(sub, ast.Constant) and isinstance(sub.value, str):
                        yield sub.lineno, sub.value


def test_training_errors_only_name_keys_and_flags_that_exist():
    import argparse

    from dynamics.cli.train import add_compare_arguments, add_eval_arguments, add_train_arguments

    keys = _config_keys()
    sections = {k.split(".")[0] for k in keys if "." in k}
    flags = {"--nproc_per_node"}  # torchrun's, named in the multi-process errors
    for add in (add_train_arguments, add_eval_arguments, add_compare_arguments):
        p = argparse.ArgumentParser()
        add(p)
        flags |= {o for a in p._actions for o in a.option_strings}
    dotted = re.compile(r"(?<![\w./-])(" + "|".join(sorted(sections)) + r")\.([a-z_]+)")
    flag = re.compile(r"(?<![\w-])--[a-z][a-z_-]+")
    bad = []
    files = [*(ROOT / "dynamics" / "train").rglob("*.py"), ROOT / "dynamics" / "cli" / "train.py"]
    for path in files:
        for line, text in _error_texts(path):
            for m in dotted.finditer(text):
                if m.group(0) not in keys:
                    bad.append(f"{path.name}:{line} {m.group(0)}")
            for m in flag.finditer(text):
                if m.group(0) not in flags:
                    bad.append(f"{path.name}:{line} {m.group(0)}")
    assert not bad, bad
    assert len(keys) > 50  # the walk saw the whole schema
