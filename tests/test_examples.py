"""The examples run (offline, on the shipped toy world), so they never rot."""

import importlib.util
from pathlib import Path

from sae_gd_labeler import LabelerConfig

EXAMPLES = Path(__file__).parent.parent / "examples"
QUICK = LabelerConfig(restarts=2, discrete_max_iters=4, start_probes=16)


def load(name):
    spec = importlib.util.spec_from_file_location(name, EXAMPLES / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_label_toy_features(capsys):
    labels = load("label_toy_features").main(categories=("fruit", "colour"), config=QUICK)
    assert set(labels) == {"fruit", "colour"} and all(lab.ok for lab in labels.values())
    assert "fruit ->" in capsys.readouterr().out


def test_label_sae_features(capsys):
    labels = load("label_sae_features").main(feature_ids=[0, 1, 2], config=QUICK)
    assert [lab.feature for lab in labels] == [0, 1, 2]
    assert "feature" in capsys.readouterr().out
