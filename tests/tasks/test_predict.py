"""Tests for cnntrain.tasks.predict and cnntrain.data.files: a user's image files into a trained model."""

from __future__ import annotations

import json

import numpy as np
import pytest
from PIL import Image

from cnntrain.config import DataSettings
from cnntrain.data.files import Preprocessing, image_files, load_image
from cnntrain.errors import DataError


def _save(path, array):
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(array).save(path)
    return path


@pytest.fixture
def photos(tmp_path):
    """An RGB photo, a grey one in a nested folder, and files a walk must skip."""
    rng = np.random.default_rng(0)
    _save(tmp_path / "in" / "rgb.jpg", rng.integers(0, 255, (30, 40, 3), dtype=np.uint8))
    _save(tmp_path / "in" / "deep" / "grey.PNG", rng.integers(0, 255, (16, 16), dtype=np.uint8))
    _save(tmp_path / "in" / ".hidden" / "skip.png", np.zeros((4, 4), np.uint8))
    (tmp_path / "in" / "notes.txt").write_text("not an image")
    return tmp_path / "in"


def test_folders_are_walked_for_images(photos):
    files = image_files([photos])
    assert [f.name for f in files] == ["grey.PNG", "rgb.jpg"]


@pytest.mark.parametrize("channels,size,shape", [(1, 16, (1, 16, 16)), (3, [8, 12], (3, 8, 12)),
                                                 (1, None, (1, 30, 40))])
def test_images_follow_the_config_preprocessing(photos, channels, size, shape):
    prep = Preprocessing.of(DataSettings(channels=channels, image_size=size))
    pixels = load_image(photos / "rgb.jpg", prep)
    assert pixels.shape == shape and pixels.dtype == np.uint8


def test_image_errors_are_clear(tmp_path):
    prep = Preprocessing.of(DataSettings(channels=1, image_size=16))
    with pytest.raises(DataError, match="not found"):
        load_image(tmp_path / "missing.png", prep)
    (tmp_path / "bad.png").write_bytes(b"\x89PNG not really")
    with pytest.raises(DataError, match="not a readable image"):
        load_image(tmp_path / "bad.png", prep)
    with pytest.raises(DataError, match="no such image file or folder"):
        image_files([tmp_path / "nowhere"])
    with pytest.raises(DataError, match="3D volumes"):
        Preprocessing.of(DataSettings(channels=1, image_size=[8, 8, 8]))


@pytest.fixture(scope="module")
def best(trained_run):
    return trained_run.run_dir / "checkpoints" / "best.pt"


def test_predict_top_k(best, photos):
    from cnntrain.tasks.predict import predict

    results = predict(best, [photos, photos / "rgb.jpg"], top_k=3)
    assert [r.path for r in results] == [str(photos / "deep" / "grey.PNG"), str(photos / "rgb.jpg"),
                                         str(photos / "rgb.jpg")]
    for r in results:
        probs = [p for _, p in r.predictions]
        assert len(probs) == 3 and probs == sorted(probs, reverse=True) and 0 < sum(probs) <= 1 + 1e-6
    assert results[1].predictions == results[2].predictions  # same file, same answer
    everything = predict(best, [photos / "rgb.jpg"], top_k=100)[0]
    assert len(everything.predictions) == 6  # capped at the number of classes
    assert sum(p for _, p in everything.predictions) == pytest.approx(1, abs=1e-5)


def test_cli_json_is_a_list_per_image(best, photos, cli):
    code, out, err = cli("predict", "--checkpoint", best, photos / "rgb.jpg", "--top-k", "2", "--json")
    assert code == 0, err
    (item,) = json.loads(out)
    assert item["path"] == str(photos / "rgb.jpg")
    assert [set(p) for p in item["predictions"]] == [{"class", "probability"}] * 2


def test_cli_table_and_errors(best, photos, tmp_path, cli):
    code, out, _ = cli("predict", "--checkpoint", best, photos)
    assert code == 0 and "grey.PNG" in out.replace("\n", "").replace("│", "").replace(" ", "")
    code, _, err = cli("predict", "--checkpoint", best, tmp_path / "missing.png")
    assert code == 2 and "missing.png" in err
