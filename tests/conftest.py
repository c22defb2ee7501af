"""Shared fixtures: writing small configs, the shipped configs, and a real forward pass to check against."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

import cnntrain  # noqa: F401  before anything imports torch: cnntrain sets OMP_WAIT_POLICY, read as torch loads

ROOT = Path(__file__).resolve().parents[1]
CONFIGS = sorted((ROOT / "configs").glob("*.yaml"))


@pytest.fixture
def write_config(tmp_path):
    """write_config(text, name="c.yaml") -> path of a YAML file holding the dedented text."""

    def write(text: str, name: str = "c.yaml") -> Path:
        path = tmp_path / name
        path.write_text(textwrap.dedent(text).lstrip("\n"), encoding="utf-8")
        return path

    return write


@pytest.fixture
def load(write_config):
    """load(text, *overrides) -> the resolved Config of a YAML text."""
    from cnntrain.config.loader import load_config

    def load_text(text: str, *overrides: str):
        return load_config(write_config(text), list(overrides))

    return load_text


@pytest.fixture
def summary_of(load):
    """summary_of(text, *overrides) -> the summary_dict of a YAML text (as `summary --json` prints it)."""
    from cnntrain.model.summary import summarize, summary_dict

    def summarize_text(text: str, *overrides: str) -> dict:
        return summary_dict(summarize(load(text, *overrides)))

    return summarize_text


def forward_shapes(model, input_shape, batch: int = 2) -> tuple[list, list]:
    """Per-sample output shape of each top-level module and of the model, from a real forward pass."""
    import torch

    shapes = []
    hooks = [m.register_forward_hook(lambda _m, _i, out: shapes.append(list(out.shape[1:])))
             for m in model.children()]
    model.eval()
    try:
        with torch.no_grad():
            out = model(torch.randn(batch, *input_shape))
    finally:
        for hook in hooks:
            hook.remove()
    return shapes, list(out.shape[1:])


@pytest.fixture
def real_forward():
    return forward_shapes


# --- training: a model and data small enough that an epoch takes a fraction of a second ---------

TINY_TRAIN = """
name: tiny
data: {dataset: shapes, channels: 1, image_size: 16, train_size: 256, val_size: 128, test_size: 64}
model:
  layers:
    - conv2d: {name: conv1, out_channels: 8, kernel_size: 3, padding: 1}
    - relu
    - maxpool2d: 2
    - conv2d: {name: conv2, out_channels: 8, kernel_size: 3, padding: 1}
    - relu
    - adaptivemaxpool2d: 1
    - flatten
    - linear: {name: output, out_features: num_classes}
train: {epochs: 2, batch_size: 32, lr: 0.01, device: cpu, featuremap_every: 0}
"""


@pytest.fixture(scope="session")
def tiny_yaml() -> str:
    """TINY_TRAIN's text, for module-scoped fixtures that write it themselves."""
    return textwrap.dedent(TINY_TRAIN).lstrip("\n")


@pytest.fixture
def tiny_config(write_config):
    """Path of TINY_TRAIN: a two-layer CNN on 256 16x16 shapes, two epochs, on the CPU."""
    return write_config(TINY_TRAIN, "tiny.yaml")


@pytest.fixture
def cli(capsys, monkeypatch):
    """cli(*args) -> (exit status, stdout, stderr) of `cnntrain ARGS` run in this process, as main() runs it."""
    import sys

    def run(*args) -> tuple[int, str, str]:
        from cnntrain.cli.app import main

        monkeypatch.setattr(sys, "argv", ["cnntrain", *map(str, args)])
        try:
            main()
            code = 0
        except SystemExit as exit_:
            code = exit_.code if isinstance(exit_.code, int) else (0 if exit_.code is None else 1)
        captured = capsys.readouterr()
        return code, captured.out, captured.err

    return run


@pytest.fixture
def same_weights():
    """same_weights(a, b): two model state dicts hold the same keys and torch.equal tensors."""
    import torch

    def equal(a: dict, b: dict) -> bool:
        return a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)

    return equal


@pytest.fixture(scope="session")
def trained_run(tmp_path_factory):
    """One TINY_TRAIN run (one epoch), trained once per test session and shared by the evaluate,
    predict and featuremaps tests: its TrainResult (run_dir, summary). Treat it as read-only."""
    from cnntrain.run.train import train

    folder = tmp_path_factory.mktemp("trained_run")
    config = folder / "tiny.yaml"
    config.write_text(TINY_TRAIN.lstrip("\n"), encoding="utf-8")
    return train(config, overrides=["train.epochs=1"], out=folder / "run")


@pytest.fixture(scope="module")
def one_thread():
    """Train on one CPU thread: on a machine whose cores other processes share, two OpenMP threads wait
    on each other at every op and tiny models train ten times slower (or worse)."""
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


# --- a real browser for the pages (headless Debian chromium driven by Selenium) ---------------


class Page:
    """A page opened from disk in headless Chromium, with what it logged and what it fetched."""

    def __init__(self, driver):
        self.driver = driver

    def open(self, path: Path):
        self.driver.get(Path(path).resolve().as_uri())
        self.driver.execute_script("return document.readyState")
        return self

    def console_errors(self) -> list[str]:
        return [e["message"] for e in self.driver.get_log("browser") if e["level"] == "SEVERE"]

    def requested_urls(self) -> list[str]:
        """Every URL the page asked for, from the DevTools network log."""
        import json

        urls = []
        for entry in self.driver.get_log("performance"):
            message = json.loads(entry["message"])["message"]
            if message["method"] == "Network.requestWillBeSent":
                urls.append(message["params"]["request"]["url"])
        return urls

    def network_urls(self) -> list[str]:
        """Requests that left the machine: anything but file:, data: and blob: URLs."""
        return [u for u in self.requested_urls() if not u.startswith(("file:", "data:", "blob:", "about:"))]

    def broken_images(self) -> list[str]:
        return self.driver.execute_script(
            "return [...document.images].filter(i => !(i.complete && i.naturalWidth > 0)).map(i => i.src)")


@pytest.fixture(scope="session")
def _chromium():
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = "/usr/bin/chromium"
    for flag in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync",
                 "--no-first-run", "--disable-quic", "--window-size=1300,1000"):
        options.add_argument(flag)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL", "performance": "ALL"})
    driver = webdriver.Chrome(service=Service("/usr/bin/chromedriver"), options=options)
    driver.set_page_load_timeout(60)
    yield driver
    driver.quit()


@pytest.fixture
def page(_chromium) -> Page:
    """page.open(path) loads a file in headless Chromium; logs are cleared between tests."""
    _chromium.get("about:blank")
    _chromium.get_log("browser")
    _chromium.get_log("performance")
    return Page(_chromium)
