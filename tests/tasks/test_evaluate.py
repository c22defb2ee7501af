"""Tests for cnntrain.tasks.evaluate: metrics checked against a hand count, then the command end to end."""

from __future__ import annotations

import csv
import json
import subprocess
import sys

import numpy as np
import pytest
from PIL import Image

from cnntrain.run.metrics import confusion_matrix, metrics_from_confusion, top_k_accuracy

# Three classes, ten samples, counted by hand:
#                 predicted a  b  c
#   true a (3):             2  1  0
#   true b (3):             0  2  1
#   true c (4):             2  0  2
TRUE = [0, 0, 0, 1, 1, 1, 2, 2, 2, 2]
PRED = [0, 0, 1, 1, 2, 1, 2, 2, 0, 0]
MATRIX = [[2, 1, 0], [0, 2, 1], [2, 0, 2]]


def test_confusion_matrix_rows_are_true_classes():
    assert confusion_matrix(np.array(TRUE), np.array(PRED), 3).tolist() == MATRIX


def test_metrics_match_a_hand_count():
    m = metrics_from_confusion(np.array(MATRIX), ["a", "b", "c"])
    # precision = hits / column sum (4, 3, 3); recall = hits / row sum (3, 3, 4)
    expected = {"a": (1 / 2, 2 / 3, 4 / 7, 3), "b": (2 / 3, 2 / 3, 2 / 3, 3), "c": (2 / 3, 1 / 2, 4 / 7, 4)}
    for name, (precision, recall, f1, support) in expected.items():
        got = m["per_class"][name]
        assert got["precision"] == pytest.approx(precision, rel=1e-12)
        assert got["recall"] == pytest.approx(recall, rel=1e-12)
        assert got["f1"] == pytest.approx(f1, rel=1e-12)
        assert got["support"] == support
    assert m["accuracy"] == pytest.approx(6 / 10)
    assert m["macro"]["precision"] == pytest.approx((1 / 2 + 2 / 3 + 2 / 3) / 3)
    assert m["macro"]["f1"] == pytest.approx((4 / 7 + 2 / 3 + 4 / 7) / 3)
    assert m["weighted"]["precision"] == pytest.approx((3 * 1 / 2 + 3 * 2 / 3 + 4 * 2 / 3) / 10)
    assert m["weighted"]["recall"] == pytest.approx(6 / 10)  # weighted recall is accuracy


def test_metrics_with_nothing_to_count_are_zero():
    # class b has no samples and is predicted once: no recall, zero precision, and no NaN anywhere
    m = metrics_from_confusion(np.array([[1, 1], [0, 0]]), ["a", "b"])
    assert m["per_class"]["b"] == {"precision": 0.0, "recall": 0.0, "f1": 0.0, "support": 0}
    assert m["per_class"]["a"] == {"precision": 1.0, "recall": 0.5, "f1": pytest.approx(2 / 3), "support": 2}


def test_top_k_accuracy():
    logits = np.array([[4.0, 3.0, 2.0, 1.0], [1.0, 2.0, 3.0, 4.0], [0.0, 5.0, 1.0, 2.0]])
    labels = np.array([1, 0, 3])
    assert top_k_accuracy(logits, labels, 1) == 0.0
    assert top_k_accuracy(logits, labels, 2) == pytest.approx(2 / 3)
    assert top_k_accuracy(logits, labels, 4) == 1.0


# --- end to end on the shared tiny checkpoint ---------------------------------------------------


@pytest.fixture(scope="module")
def best(trained_run):
    return trained_run.run_dir / "checkpoints" / "best.pt"


def test_evaluate_agrees_with_training(trained_run, best, tmp_path):
    from cnntrain.tasks.evaluate import evaluate

    result = evaluate(best, out=tmp_path / "eval")
    d = result.as_dict()
    assert d["accuracy"] == pytest.approx(trained_run.summary["test"]["acc"], abs=1e-6)
    assert d["loss"] == pytest.approx(trained_run.summary["test"]["loss"], rel=1e-5)
    assert np.array(d["confusion_matrix"]).sum() == 64  # TINY_TRAIN's test_size
    assert sum(c["support"] for c in d["per_class"].values()) == 64
    assert d["top5_accuracy"] is not None  # shapes has 6 classes
    assert (tmp_path / "eval" / "confusion_matrix.png").is_file()
    assert (tmp_path / "eval" / "confusion_matrix_normalized.png").is_file()


def test_cli_json_and_predictions(best, tmp_path, cli):
    csv_path = tmp_path / "pred.csv"
    code, out, err = cli("evaluate", "--checkpoint", best, "--json", "--split", "val",
                         "--out", tmp_path / "e", "--predictions", csv_path)
    assert code == 0, err
    d = json.loads(out)  # stdout holds the JSON object and nothing else
    assert {"accuracy", "loss", "classes", "per_class", "confusion_matrix"} <= d.keys()
    assert set(d["per_class"]) == set(d["classes"])
    assert set(d["per_class"]["circle"]) == {"precision", "recall", "f1", "support"}
    assert len(d["confusion_matrix"]) == len(d["classes"]) and d["split"] == "val"
    rows = list(csv.DictReader(csv_path.open()))
    assert len(rows) == 128 and set(rows[0]) == {"path", "true", "predicted", "confidence"}
    assert rows[0]["path"] == "0"  # synthetic data: the index
    hits = sum(r["true"] == r["predicted"] for r in rows)
    assert hits / len(rows) == pytest.approx(d["accuracy"])
    _check_error_analysis(d, rows, best, tmp_path / "e")


def _check_error_analysis(d: dict, rows: list[dict], best, out) -> None:
    """roc_auc, ece and top_losses of `evaluate --json` on the val split, against the checkpoint's probabilities
    computed here and scikit-learn's multi-class AUC, a loop over the 15 bins, and the predictions CSV."""
    from sklearn.metrics import roc_auc_score

    from cnntrain.data import load_data
    from cnntrain.run.load import load_trained

    trained = load_trained(best, device="cpu")
    val = load_data(trained.config.data, trained.config.train.seed).val
    probs, labels = trained.logits(val.x).softmax(1).double().numpy(), val.y.numpy()
    assert d["roc_auc"]["macro"] == pytest.approx(roc_auc_score(labels, probs, multi_class="ovr"), abs=1e-6)
    for k, name in enumerate(d["classes"]):
        assert d["roc_auc"]["per_class"][name] == pytest.approx(roc_auc_score(labels == k, probs[:, k]), abs=1e-6)
    confidence, right = probs.max(1), probs.argmax(1) == labels
    ece = 0.0
    for low, high in zip(np.arange(15) / 15, np.arange(1, 16) / 15):
        inside = (confidence > low) & (confidence <= high)
        if inside.any():
            ece += inside.sum() / len(labels) * abs(right[inside].mean() - confidence[inside].mean())
    assert d["ece"] == pytest.approx(ece, abs=1e-6)
    wrong = sorted((r for r in rows if r["true"] != r["predicted"]), key=lambda r: (-float(r["confidence"]),
                                                                                    int(r["path"])))
    assert [(t["path"], t["true"], t["predicted"]) for t in d["top_losses"]] == \
        [(f"val[{r['path']}]", r["true"], r["predicted"]) for r in wrong[:16]]
    assert [t["probability"] for t in d["top_losses"]] == pytest.approx([float(r["confidence"]) for r in wrong[:16]],
                                                                       abs=1e-6)
    for name in ("calibration", "top_losses"):
        picture = Image.open(d["files"][name])
        assert d["files"][name] == str(out / f"{name}.png") and picture.format == "PNG"
        assert picture.width >= 400 and picture.height >= 200


def _png(path, value: int, size=(20, 24)):
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(np.full(size, value, np.uint8)).save(path)


def test_own_folder_of_class_subfolders(best, tmp_path, cli):
    for i in range(2):
        _png(tmp_path / "mine" / "circle" / f"{i}.png", 40 * i)
        _png(tmp_path / "mine" / "square" / "nested" / f"{i}.png", 200)
    _png(tmp_path / "mine" / ".cache" / "x.png", 0)  # hidden folders are not classes
    code, out, err = cli("evaluate", "--checkpoint", best, "--data", tmp_path / "mine", "--json",
                         "--predictions", tmp_path / "p.csv")
    assert code == 0, err
    d = json.loads(out)
    assert d["per_class"]["circle"]["support"] == 2 and d["per_class"]["square"]["support"] == 2
    assert d["per_class"]["star"]["support"] == 0
    paths = [r["path"] for r in csv.DictReader((tmp_path / "p.csv").open())]
    assert paths[0].endswith("0.png") and "nested" in paths[-1]
    assert {t["path"] for t in d["top_losses"]} <= set(paths)  # the files, not indices


def test_unknown_class_folder_is_a_clear_error(best, tmp_path, cli):
    _png(tmp_path / "mine" / "dog" / "0.png", 10)
    code, out, err = cli("evaluate", "--checkpoint", best, "--data", tmp_path / "mine")
    assert code == 2 and out == ""
    assert "dog" in err and "circle, square" in err and str(tmp_path / "mine") in err


def test_split_with_data_is_refused(best, tmp_path, cli):
    code, _, err = cli("evaluate", "--checkpoint", best, "--data", tmp_path, "--split", "val")
    assert code == 2 and "--split" in err


def test_missing_checkpoint_exits_2_without_traceback(tmp_path):
    proc = subprocess.run([sys.executable, "-m", "cnntrain", "evaluate", "--checkpoint", str(tmp_path / "no.pt")],
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 2
    assert "Traceback" not in proc.stderr and "no.pt" in proc.stderr
