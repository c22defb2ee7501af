"""`import cnntrain` is a small library API: names resolve on first use, and torch loads only then."""

import subprocess
import sys

import pytest

import cnntrain


def test_import_cnntrain_does_not_import_torch_until_a_name_needs_it():
    code = (
        "import sys, cnntrain\n"
        "assert 'torch' not in sys.modules, 'import cnntrain imported torch'\n"
        "config = cnntrain.load_config('configs/cnn.yaml', ['train.epochs=1'])\n"
        "assert 'torch' not in sys.modules, 'reading a config imported torch'\n"
        "assert config.train.epochs == 1\n"
        "model = cnntrain.build_model(config, num_classes=6).model\n"
        "assert 'torch' in sys.modules\n"
        "print(type(model).__name__)\n"
    )
    from conftest import ROOT

    done = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "Sequential"


@pytest.mark.parametrize("name", cnntrain.__all__)
def test_every_public_name_resolves(name):
    assert getattr(cnntrain, name) is not None
    assert name in dir(cnntrain)


def test_an_unknown_name_is_an_attribute_error():
    with pytest.raises(AttributeError, match="no attribute 'trian'"):
        cnntrain.trian  # noqa: B018
