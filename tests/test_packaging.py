"""The wheel carries the shipped weights, icons and examples, and works outside the clone."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tomllib
import zipfile
from pathlib import Path

import pytest
from PIL import Image

from sketchpad import paths

REPO = Path(__file__).resolve().parent.parent
PYPROJECT = tomllib.loads((REPO / "pyproject.toml").read_text(encoding="utf-8"))["tool"]["setuptools"]
DATA_PACKAGES = {"sketchpad._data.weights": "weights", "sketchpad._data.resources": "resources"}


def test_every_package_folder_is_listed_in_pyproject():
    """pyproject lists the packages (the data mapping rules out `find`): a new one must be added there."""
    on_disk = {
        ".".join(init.parent.relative_to(REPO).parts)
        for top in ("models", "sketchpad")
        for init in (REPO / top).rglob("__init__.py")
        if "__pycache__" not in init.parts
    }
    listed = set(PYPROJECT["packages"])
    missing = sorted(on_disk - listed)
    assert not missing, f"add to [tool.setuptools] packages in pyproject.toml: {missing}"
    assert listed - on_disk == set(DATA_PACKAGES)
    assert PYPROJECT["package-dir"] == DATA_PACKAGES


def test_shipped_folders_resolve_in_the_clone():
    assert paths.WEIGHTS_DIR.is_dir() and any(paths.WEIGHTS_DIR.glob("*.safetensors"))
    assert (paths.RESOURCES_DIR / "icons" / "app.svg").is_file()
    assert (paths.RESOURCES_DIR / "examples").is_dir()


def test_shipped_checkpoint_names(tmp_path, monkeypatch):
    assert paths.shipped_checkpoint("faces") == str(paths.WEIGHTS_DIR / "faces.safetensors")
    assert paths.shipped_checkpoint("faces-live") == str(paths.WEIGHTS_DIR / "faces-live.safetensors")
    for not_a_name in ("no-such-model", "faces.safetensors", str(tmp_path / "faces"), "sub/faces"):
        assert paths.shipped_checkpoint(not_a_name) == not_a_name
    monkeypatch.chdir(tmp_path)
    (tmp_path / "faces").write_bytes(b"a file of that name wins over the shipped model")
    assert paths.shipped_checkpoint("faces") == "faces"


def _sketch(path: Path, size=(200, 250)) -> Path:
    im = Image.new("L", size, 255)
    for x in range(30, 170):
        im.putpixel((x, 60), 0)
        im.putpixel((x, 190), 0)
    im.save(path)
    return path


def _pip(*args: str, cwd: Path) -> None:
    r = subprocess.run(
        [sys.executable, "-m", "pip", *args, "--no-deps", "--no-index", "--disable-pip-version-check", "-q"],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert r.returncode == 0, r.stdout + r.stderr


@pytest.mark.slow
def test_wheel_carries_the_models_and_runs_outside_the_clone(tmp_path):
    # Build from a copy: an in-tree build would leave build/ in the clone, and a stale build/lib ships
    # files that no longer exist.
    src = tmp_path / "src"
    skip = shutil.ignore_patterns("__pycache__", "*.pyc")
    for name in ("models", "sketchpad", "weights", "resources"):
        shutil.copytree(REPO / name, src / name, ignore=skip)
    for name in ("pyproject.toml", "README.md"):
        shutil.copy2(REPO / name, src / name)
    _pip("wheel", ".", "--no-build-isolation", "-w", str(tmp_path / "dist"), cwd=src)
    (wheel,) = (tmp_path / "dist").glob("sketchpad-*.whl")

    names = set(zipfile.ZipFile(wheel).namelist())
    shipped = {p.name for p in (REPO / "weights").glob("*.safetensors")}
    assert {n.rsplit("/", 1)[-1] for n in names if n.startswith("sketchpad/_data/weights/")} >= shipped
    icons = {p.name for p in (REPO / "resources" / "icons").glob("*.svg")}
    assert {n.rsplit("/", 1)[-1] for n in names if n.startswith("sketchpad/_data/resources/icons/")} == icons
    assert any(n.startswith("sketchpad/_data/resources/examples/faces/") for n in names)
    assert not [n for n in names if "/screenshots/" in n or "/val_strips/" in n]

    site = tmp_path / "site"
    _pip("install", "--target", str(site), str(wheel), cwd=tmp_path)
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    _sketch(elsewhere / "sketch.png", size=(200, 250))
    # Dependencies come from this venv; the installed wheel goes first on the path, ahead of the clone.
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(site), os.environ.get("PYTHONPATH", "")])}
    where = subprocess.run(
        [sys.executable, "-c", "from sketchpad import paths; print(paths.WEIGHTS_DIR, paths.RESOURCES_DIR)"],
        cwd=elsewhere,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert where.returncode == 0, where.stderr
    weights_dir, resources_dir = (Path(p) for p in where.stdout.split())
    assert weights_dir == site / "sketchpad" / "_data" / "weights"
    assert (resources_dir / "icons" / "app.svg").is_file()

    r = subprocess.run(
        [sys.executable, "-m", "sketchpad", "translate", "faces", "sketch.png", "-o", "out.png"],
        cwd=elsewhere,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert r.returncode == 0, r.stdout + r.stderr
    with Image.open(elsewhere / "out.png") as out:
        assert out.size == (200, 250) and out.mode == "RGB"
