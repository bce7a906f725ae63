"""The real-model quality bench, run on a tiny model: its bookkeeping, not a real model's quality."""

import math

import pytest

from sae_gd_labeler import Example, LabelerConfig
from sae_gd_labeler.bench.real_quality import run_features, summarize_real
from sae_gd_labeler.cli import main
from sae_gd_labeler.readout.discriminator import Discriminator
from sae_gd_labeler.readout.template import AnswerTemplate
from tests.builders import WORDS, tiny_model

TEMPLATE = AnswerTemplate("word : cat category : animal word : {token} category : {label}", neutral="n/a")


def test_run_features_reports_label_baseline_and_summary():
    disc = Discriminator(tiny_model("llama", WORDS + ("word", ":", "category", "animal", "n/a")), TEMPLATE)
    pos = ["dog", "dog", "bird", "fish", "king"]
    examples = [Example(w, w, 1.0) for w in pos * 3] + [Example(w, w, 0.0) for w in ["red", "blue", "runs", "and"] * 4]
    runs = run_features(disc, {"f": (("animal",), examples)}, "wordnet", 0, LabelerConfig())
    (run,) = runs
    assert run.recovered == (run.label == "animal") and run.label == run.top5[0]
    assert run.baseline_label == "dog"  # the most frequent activating token
    assert 0.0 <= run.balanced_accuracy <= 1.0 and 0.0 <= run.baseline_balanced_accuracy <= 1.0
    assert run.peak_mb >= 0 or math.isnan(run.peak_mb)
    summary = summarize_real(runs)["wordnet"]
    assert summary["runs"] == 1 and summary["recovered"] == int(run.recovered)


def test_unknown_model_is_refused_before_any_work():
    with pytest.raises(SystemExit, match="unknown"):
        main(["bench-quality", "--model", "gpt5"])
