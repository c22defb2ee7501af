"""`cnntrain doctor`: on an image folder with injected defects it finds the duplicates (exact, near, across
splits), the corrupt files, the flipped labels (3-fold cross-validation + cleanlab) and the imbalance; on the
clean original it finds nothing. Plus the train warning, the page in Chromium, arrays, and usage errors."""

from __future__ import annotations

import contextlib
import io
import json
import shutil
import sys

import numpy as np
import pytest
from doctor_folders import CLASSES, draw, inject, write_clean
from PIL import Image

HOSTILE = "<img src=x onerror=\"document.title='owned'\">&amp;"  # a class folder: no slash, so a valid name


def _cli(*args) -> tuple[int, str]:
    """(exit status, stdout) of `cnntrain ARGS` in this process: for module fixtures, where `cli` cannot go."""
    from cnntrain.cli.app import main

    stdout = io.StringIO()
    with pytest.MonkeyPatch.context() as patch, contextlib.redirect_stdout(stdout):
        patch.setattr(sys, "argv", ["cnntrain", *map(str, args)])
        try:
            main()
            code = 0
        except SystemExit as exit_:
            code = exit_.code if isinstance(exit_.code, int) else 1
    return code, stdout.getvalue()


@pytest.fixture(scope="module")
def folders(tmp_path_factory):
    root = tmp_path_factory.mktemp("doctor")
    clean = write_clean(root / "clean")
    defects = inject(clean, root / "sick")
    return clean, root / "sick", defects


@pytest.fixture(scope="module")
def sick(folders, one_thread):
    """`doctor --data SICK --folds 3 --json`, run once: (exit status, its JSON, the out folder, defects)."""
    _, root, defects = folders
    out = root.parent / "sick-doctor"
    code, text = _cli("doctor", "--data", root, "--folds", "3", "--json", "--out", out)
    return code, json.loads(text), out, defects


def _group_with(report: dict, a: str, b: str) -> dict | None:
    return next((g for g in report["duplicates"] if a in g["paths"] and b in g["paths"]), None)


def test_the_doctor_finds_the_injected_defects(sick):
    code, report, out, defects = sick
    assert code == 1
    assert json.loads((out / "doctor.json").read_text()) == report
    assert set(defects.corrupt) <= set(report["corrupt"]) and len(report["corrupt"]) == 3
    assert "truncated" in report["corrupt_reasons"][defects.corrupt[0]]  # its header reads; its pixels do not
    found = 0
    for kind, copies in (("exact", defects.exact), ("near", defects.near)):
        for copy, source in copies.items():
            group = _group_with(report, copy, source)
            found += group is not None and group["kind"] == kind
    assert found / (len(defects.exact) + len(defects.near)) >= 0.95
    leak = _group_with(report, *next(iter(defects.exact.items())))
    assert leak["splits"] == ["train", "test"] and leak["across_splits"] and not leak["conflicting_labels"]
    suspects = {i["path"]: i for i in report["label_issues"]}
    caught = [p for p in defects.flipped if p in suspects]
    assert len(caught) / len(defects.flipped) >= 0.8
    assert all(suspects[p]["given"] == "square" and suspects[p]["suggested"] == "circle" for p in caught)
    assert report["label_check"]["method"] == "folds" and report["label_check"]["scored"] == sum(
        report["samples"].values())
    balance = report["balance"]
    assert balance["imbalance_ratio"] >= 3 and "class_weights" in balance["advice"] and balance["few"] == ["cross"]
    assert balance["train"]["cross"] + balance["val"]["cross"] + balance["test"]["cross"] == 10
    assert report["sizes"]["resized"] == len(defects.near)  # the near copies' other sizes, read at 32x32
    assert not report["clean"] and any("label errors" in line for line in report["findings"])


def test_the_clean_original_raises_nothing(folders, cli, one_thread, tmp_path):
    clean, _, _ = folders
    code, text, err = cli("doctor", "--data", clean, "--folds", "3", "--json", "--out", tmp_path)
    assert code == 0, err
    report = json.loads(text)
    assert report["clean"] and report["findings"] == [] and report["label_check"]["accuracy"] > 0.9
    assert report["duplicates"] == [] and report["corrupt"] == [] and report["label_issues"] == []
    assert report["intensity"]["giveaway"] == [] and report["balance"]["imbalance_ratio"] == 1.0
    # without --folds or --checkpoint the labels go unchecked, which is said, not an error
    code, text, err = cli("doctor", "--data", clean, "--out", tmp_path)
    assert code == 0 and "nothing found" in text and "labels not checked: give --folds K" in text


def test_train_warns_in_one_line_about_leakage(folders, cli, write_config, tmp_path, one_thread):
    _, root, _ = folders
    config = write_config(f"""
        data: {{dataset: imagefolder, root: {root}, channels: 3, image_size: 32, on_corrupt: skip}}
        model: {{layers: [flatten, {{linear: {{out_features: num_classes}}}}]}}
        train: {{epochs: 1, device: cpu, featuremap_every: 0}}
    """)
    code, _, err = cli("train", "--config", config, "--out", tmp_path / "run", "--quiet")
    assert code == 0, err
    warning = [line for line in err.splitlines() if "cnntrain doctor" in line]
    assert len(warning) == 1 and "8 samples appear in more than one split (train/test)" in warning[0]
    assert f"cnntrain doctor --config {config}" in warning[0]


def test_the_page_shows_pairs_and_both_labels_offline(sick, page):
    _, report, out, defects = sick
    page.open(out / "doctor.html")
    driver = page.driver
    assert page.console_errors() == [] and page.network_urls() == [] and page.broken_images() == []
    groups = driver.find_elements("css selector", "#groups .group")
    assert len(groups) == len(report["duplicates"])
    assert all(len(g.find_elements("tag name", "img")) >= 2 for g in groups)  # a thumbnail of each copy
    rows = driver.find_elements("css selector", "#issues-table tr")[1:]
    assert len(rows) == len(report["label_issues"]) and rows[0].find_element("tag name", "img")
    given, suggested = (rows[0].find_elements("tag name", "td")[i].text for i in (3, 4))
    assert (given, suggested) == ("square", "circle")
    assert len(driver.find_elements("css selector", "#balance-chart .bar")) == len(CLASSES)
    assert all(src.startswith("data:image/png;base64,") for src in
               driver.execute_script("return [...document.images].map(i => i.src)"))


@pytest.fixture
def odd_folder(tmp_path):
    """A hostile class name, a grey image among colour ones, a .gif training skips, two sizes, a copy under
    two labels."""
    rng = np.random.default_rng(5)
    for name in (HOSTILE, "plain"):
        (tmp_path / name).mkdir()
        for i in range(12):
            draw("circle" if name == "plain" else "square", rng).save(tmp_path / name / f"{i}.png")
    draw("square", rng).convert("L").save(tmp_path / HOSTILE / "grey.png")
    draw("square", rng, size=40).save(tmp_path / HOSTILE / "big.png")
    draw("square", rng).save(tmp_path / HOSTILE / "skipped.gif")
    shutil.copyfile(tmp_path / "plain" / "0.png", tmp_path / HOSTILE / "relabelled.png")
    return tmp_path


def test_hostile_names_sizes_modes_and_skipped_files(odd_folder, write_config, tmp_path, page):
    from cnntrain.tasks.doctor import doctor

    config = write_config(f"""
        data: {{dataset: imagefolder, root: '{odd_folder}', channels: 3, image_size: null, test_fraction: 0.2}}
        model: {{layers: [flatten, {{linear: {{out_features: num_classes}}}}]}}
    """)
    result = doctor(config, out=tmp_path / "out")
    findings = " | ".join(result.findings)
    assert "2 sizes and data.image_size is null, so train refuses" in findings  # read at the usual 32x32
    assert "1 grey images among 26 colour ones" in findings
    assert list(result.skipped) == [str(odd_folder / HOSTILE / "skipped.gif")]
    twin = next(d for d in result.duplicates if d["conflicting_labels"])
    assert sorted(twin["labels"]) == sorted([HOSTILE, "plain"]) and twin["kind"] == "exact"
    page.open(result.files["html"])
    driver = page.driver
    assert page.console_errors() == [] and page.broken_images() == [] and driver.title == "cnntrain doctor"
    assert driver.execute_script("return document.querySelectorAll('img[src=x]').length") == 0
    assert HOSTILE in driver.find_element("id", "balance-chart").text  # shown as text, never parsed


def test_a_class_darker_than_the_rest_is_a_giveaway_and_shapes_are_not():
    import torch

    from cnntrain.config import load_config
    from cnntrain.data import load_data
    from cnntrain.data.intensity import brightness, image_means
    from conftest import ROOT

    shapes = load_data(load_config(ROOT / "configs" / "cnn.yaml", ["data.image_size=32", "data.train_size=600"]).data,
                       0).train
    assert brightness(image_means(shapes.x), shapes.y.numpy(), [str(k) for k in range(6)])["giveaway"] == []
    darker = shapes.x.clone()
    darker[shapes.y == 2] //= 3  # every image of class 2 at a third of its brightness
    found = brightness(image_means(darker), shapes.y.numpy(), [str(k) for k in range(6)])["giveaway"]
    assert [g["class"] for g in found] == ["2"] and found[0]["mean"] < found[0]["others"]
    assert torch.equal(shapes.x[shapes.y != 2], darker[shapes.y != 2])


def test_near_groups_chain_small_edits_and_skip_exact_copies():
    from cnntrain.data.duplicates import near_groups

    hashes = np.array([0b0, 0b111, 0b111111, 0b0, 2**64 - 1], dtype=np.uint64)  # 3 bits apart, then 3 more
    groups = near_groups(hashes, exact=[[0, 3]], confirm=lambda i, j: True, max_bits=3)
    assert groups == [([0, 1, 2], 3)]  # 3 stands in the exact group of 0; 4 is far from all


def test_arrays_duplicates_balance_and_a_corrupt_file(tmp_path, cli):
    x = np.random.default_rng(0).normal(size=(30, 1, 40)).astype(np.float32)
    y = np.array([0] * 20 + [1] * 10)
    x[25] = x[3]  # the same series under labels 0 and 1
    np.savez(tmp_path / "series.npz", x=x, y=y)
    code, text, err = cli("doctor", "--data", tmp_path / "series.npz", "--json", "--out", tmp_path / "out")
    report = json.loads(text)
    assert code == 1 and report["dataset"] == "arrays" and report["sizes"]["sizes"] == {"[1, 40]": 30}
    (group,) = report["duplicates"]
    assert group["kind"] == "exact" and group["conflicting_labels"]
    assert sorted(p.rsplit("[", 1)[1] for p in group["paths"]) == ["25]", "3]"]
    assert "images only" in report["intensity"]["note"]
    folder = tmp_path / "files"
    for label in ("a", "b"):
        (folder / label).mkdir(parents=True)
        for i in range(6):
            np.save(folder / label / f"{i}.npy", x[i])
    (folder / "b" / "5.npy").write_bytes(b"\x93NUMPY broken")
    code, text, err = cli("doctor", "--data", folder, "--json", "--out", tmp_path / "out2")
    report = json.loads(text)
    assert code == 1 and report["corrupt"] == [str(folder / "b" / "5.npy")]


def test_a_checkpoint_scores_only_what_it_did_not_train_on(trained_run, cli, tmp_path):
    code, text, err = cli("doctor", "--checkpoint", trained_run.run_dir, "--json", "--out", tmp_path)
    assert code in (0, 1), err
    check = json.loads(text)["label_check"]
    assert check["method"] == "checkpoint" and check["scored"] == 128 + 64  # its val and test splits
    assert "did not train on" in check["note"] and "--folds K checks every sample" in check["note"]


@pytest.mark.parametrize("args, message", [
    (["--config", "c.yaml", "--data", "."], "not both"),
    ([], "give --config C or --data ROOT"),
    (["--data", ".", "--folds", "1"], "at least 2 folds"),
    (["--data", ".", "--folds", "3", "--checkpoint", "x.pt"], "--folds K or --checkpoint"),
])
def test_usage_errors_exit_2_in_one_line(cli, args, message):
    code, _, err = cli("doctor", *args)
    assert code == 2 and message in err and len(err.strip().splitlines()) == 1


def test_grey_folders_are_read_grey_at_their_size(tmp_path):
    from cnntrain.tasks.doctor_target import doctor_target

    for name in ("a", "b"):
        (tmp_path / name).mkdir()
        for i in range(3):
            Image.new("L", (120, 90), 40 * i).save(tmp_path / name / f"{i}.png")
    data = doctor_target(data=tmp_path).config.data
    assert data.channels == 1 and data.image_size == [48, 64]  # the longer side at 64, the aspect kept


def test_trains_warning_names_a_missing_class_unless_the_split_is_too_small_for_all():
    import torch

    from cnntrain.data.leakage import data_warning
    from cnntrain.data.splits import Split, Splits

    def split(labels, offset):
        return Split(torch.arange(offset, offset + len(labels), dtype=torch.uint8).view(-1, 1, 1, 1),
                     torch.tensor(labels))

    train = split([0, 1, 2, 0, 1, 2], 0)
    missing = Splits(train, split([0, 1, 0], 10), split([0, 1], 20), ["a", "b", "c"], "f")
    warning = data_warning(missing, "c.yaml")
    assert "the val split has no samples of class c" in warning and "test split" not in warning  # 2 < 3 classes
    assert "cnntrain doctor --config c.yaml" in warning and "\n" not in warning
    assert data_warning(Splits(train, split([0, 1, 2], 10), split([2], 20), ["a", "b", "c"], "f"), "c.yaml") is None
