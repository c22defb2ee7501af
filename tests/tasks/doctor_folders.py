"""Image folders for the doctor's tests: a clean one, and a copy with known defects injected.

Clean: train/ and test/ folders of four classes that a tiny CNN tells apart in seconds (a red circle, a
green square, a blue triangle, a purple cross, all of the same mean brightness), each image on its own
background (a gradient in a random direction, grey strokes, noise) so that no two are near copies.
"""

from __future__ import annotations

import io
import shutil
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw

CLASSES = ("circle", "cross", "square", "triangle")
COLOURS = {"circle": (200, 0, 0), "square": (0, 200, 0), "triangle": (0, 0, 200), "cross": (100, 0, 100)}
SIZE = 32


def draw(name: str, rng: np.random.Generator, size: int = SIZE) -> Image.Image:
    yy, xx = np.mgrid[0:size, 0:size] / size
    angle, slope = rng.uniform(0, 2 * np.pi), rng.uniform(20, 80)
    background = 60 + slope * (np.cos(angle) * xx + np.sin(angle) * yy - 0.5) + rng.normal(0, 6, (size, size))
    image = Image.fromarray(np.repeat(background[..., None], 3, 2).clip(0, 255).astype(np.uint8))
    pen = ImageDraw.Draw(image)
    for _ in range(6):  # strokes anywhere: each background its own
        grey = int(rng.uniform(20, 140))
        pen.line(list(rng.uniform(0, size, 4)), fill=(grey,) * 3, width=int(rng.integers(1, 3)))
    r = rng.uniform(size / 6, size / 3)
    cx, cy = rng.uniform(r + 1, size - 1 - r, 2)
    colour = tuple(int(v * rng.uniform(0.7, 1.2)) for v in COLOURS[name])
    box = [cx - r, cy - r, cx + r, cy + r]
    if name == "circle":
        pen.ellipse(box, fill=colour)
    elif name == "square":
        pen.rectangle(box, fill=colour)
    elif name == "triangle":
        pen.polygon([(cx, cy - r), (cx - r, cy + r), (cx + r, cy + r)], fill=colour)
    else:
        w = max(2.0, r / 2.5)
        pen.rectangle([cx - r, cy - w, cx + r, cy + w], fill=colour)
        pen.rectangle([cx - w, cy - r, cx + w, cy + r], fill=colour)
    return image


def write_clean(root: Path, train: int = 40, test: int = 10, seed: int = 0) -> Path:
    """root/train/<class>/<class>_NNN.png and root/test/<class>/..., `train` and `test` per class."""
    rng = np.random.default_rng(seed)
    for name in CLASSES:
        for split, count in (("train", train), ("test", test)):
            folder = root / split / name
            folder.mkdir(parents=True, exist_ok=True)
            for i in range(count):
                draw(name, rng).save(folder / f"{name}_{i:03d}.png")
    return root


@dataclass
class Defects:
    """What was injected, by path: each copy -> the file it copies."""

    exact: dict[str, str] = field(default_factory=dict)
    near: dict[str, str] = field(default_factory=dict)
    flipped: dict[str, str] = field(default_factory=dict)  # new path -> its true class
    corrupt: list[str] = field(default_factory=list)
    cut: str = ""


def inject(clean: Path, root: Path) -> Defects:
    """A copy of `clean` with copies across train/test, near copies (JPEG at another quality, a few pixels
    larger or smaller), 5% of one class's labels flipped, three corrupt files and one class cut to 10 images."""
    shutil.copytree(clean, root, ignore=shutil.ignore_patterns(".cnntrain-cache"))
    defects = Defects(cut="cross")
    for name in CLASSES:  # one exact copy of a training image in test/, per class
        source = root / "train" / name / f"{name}_001.png"
        copy = root / "test" / name / f"copy_of_{name}_001.png"
        shutil.copyfile(source, copy)
        defects.exact[str(copy)] = str(source)
    nears = [("circle", 70, SIZE + 2, "test"), ("square", 80, SIZE - 2, "test"), ("triangle", 75, SIZE + 3, "train"),
             ("circle", 85, SIZE - 3, "train")]  # (class, JPEG quality, size, split of the copy)
    for i, (name, quality, size, split) in enumerate(nears):
        source = root / "train" / name / f"{name}_{10 + i:03d}.png"
        near = root / split / name / f"near_{i}.jpg"
        buffer = io.BytesIO()
        Image.open(source).resize((size, size), Image.Resampling.BILINEAR).save(buffer, "JPEG", quality=quality)
        near.write_bytes(buffer.getvalue())
        defects.near[str(near)] = str(source)
    circles = sorted((root / "train" / "circle").glob("circle_*.png"))
    for path in circles[20:20 + round(0.05 * 50 + 0.5)]:  # 5% of the circles' 50 images: 3 of them
        moved = root / "train" / "square" / path.name
        path.rename(moved)
        defects.flipped[str(moved)] = "circle"
    crosses = sorted((root / "train" / "cross").glob("*.png"))[8:] + sorted((root / "test" / "cross").glob("*.png"))[2:]
    for path in crosses:
        path.unlink()  # 10 crosses left
    corrupt = {"truncated.png": (root / "train" / "square" / "square_030.png").read_bytes()[:60],
               "notes.png": b"not an image at all\n", "empty.jpg": b""}
    for (name, content), split in zip(corrupt.items(), ("train", "train", "test")):
        path = root / split / "triangle" / name
        path.write_bytes(content)
        defects.corrupt.append(str(path))
    return defects
