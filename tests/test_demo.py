"""The demo's rows carry each feature's top contexts and status, and its page is the report's."""

from __future__ import annotations

import json

import pytest

from sae_gd_labeler.data.example import Example
from sae_gd_labeler.demo_rows import feature_row, synthetic_record
from sae_gd_labeler.search.result import Candidate, FeatureLabel


def test_a_synthetic_feature_shows_its_positives_as_contexts():
    examples = [Example("the red fox", "fox", 1.0), Example("a cat", "cat", 0.0), Example("my dog", "dog", 1.0)]
    record = synthetic_record(examples)
    assert [c["tokens"] for c in record["top"]] == [["the red ", "fox"], ["my ", "dog"]]
    lab = FeatureLabel("animal", "animal", (1,), [Candidate("animal", (1,), 0.3)], {"balanced_accuracy": 0.9},
                       status="weak")
    row = feature_row("animal", "animal", lab, record)
    assert row["status"] == "weak"
    assert row["top_contexts"] == [{"context": "the red ", "token": "fox", "activation": 1.0},
                                   {"context": "my ", "token": "dog", "activation": 1.0}]
    json.dumps(row)  # the command writes the rows as JSON


@pytest.mark.slow
def test_the_demo_rows_and_page():
    from sae_gd_labeler.demo import PAPER_FEATURES, demo

    rows, page = demo(n_sae_features=2)
    assert len(rows) == len(PAPER_FEATURES) + 2
    for row in rows:
        assert row["status"] in ("ok", "weak") and row["top_contexts"]
        assert all(c["token"] for c in row["top_contexts"])
        assert f"<q>{row['label']}</q>" in page
    assert 'id="plotly-gz"' in page and "<svg" not in page  # plotly, not the old hand-written SVG
