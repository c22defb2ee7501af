"""1-NN baselines on a UCR/UEA table pair, the figures the archive publishes beside every data set.

    python scripts/nearest_neighbour.py .../GunPoint/GunPoint_TRAIN.ts .../GunPoint/GunPoint_TEST.ts

Each test series takes the label of its nearest training series, by Euclidean distance and by dynamic
time warping with a full window (the squared-difference DTW of the UCR archive's summary table). The
series are read by cnntrain's own reader (data/tables.py), so the baseline sees what `train` sees.
Equal-length univariate series only; numpy, seconds on GunPoint.
"""

from __future__ import annotations

import sys

import numpy as np

from cnntrain.data.tables import read_table


def series(path: str) -> tuple[np.ndarray, np.ndarray]:
    table = read_table(path)
    return np.stack([row[0] for row in table.rows]).astype(np.float64), np.asarray(table.labels)


def dtw_to_each(query: np.ndarray, train: np.ndarray) -> np.ndarray:
    """DTW distance from `query` (L,) to every row of `train` (N, L), all rows at once."""
    n, length = train.shape
    cost = np.full((n, length + 1, length + 1), np.inf)
    cost[:, 0, 0] = 0.0
    for i in range(1, length + 1):
        step = (query[i - 1] - train) ** 2  # (N, L): this query sample against every training sample
        for j in range(1, length + 1):
            best = np.minimum(np.minimum(cost[:, i - 1, j], cost[:, i, j - 1]), cost[:, i - 1, j - 1])
            cost[:, i, j] = step[:, j - 1] + best
    return cost[:, length, length]


def accuracy(train_x, train_y, test_x, test_y, distance) -> tuple[int, int]:
    right = sum(train_y[distance(q, train_x).argmin()] == y for q, y in zip(test_x, test_y))
    return int(right), len(test_y)


def main(train_path: str, test_path: str) -> None:
    train_x, train_y = series(train_path)
    test_x, test_y = series(test_path)
    for name, distance in (("1-NN Euclidean", lambda q, x: ((x - q) ** 2).sum(1)),
                           ("1-NN DTW, full window", dtw_to_each)):
        right, total = accuracy(train_x, train_y, test_x, test_y, distance)
        print(f"{name}: {right}/{total} = {right / total:.1%} (error {1 - right / total:.4f})")


if __name__ == "__main__":
    main(*sys.argv[1:3])
