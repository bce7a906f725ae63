import pytest

from sae_gd_labeler import FeatureLabel, LabelerConfig
from sae_gd_labeler.search.result import Candidate


@pytest.mark.parametrize("field, value, match", [
    ("method", "adam", "method must be one of"),
    ("restarts", 0, "restarts must be an integer >= 1"),
    ("batch_examples", 7, "even"),
    ("heldout_fraction", 1.0, r"heldout_fraction must be in \(0, 1\)"),
    ("lr", 0.0, "lr must be > 0"),
    ("kl_weight", -1.0, "kl_weight must be >= 0"),
    ("candidate_vocab", [], "candidate_vocab"),
    ("candidate_vocab", "nouns", "candidate_vocab must be one of"),
    ("label_tokens", 0, "label_tokens must be an integer >= 1"),
    ("label_tokens", 1.5, "label_tokens must be an integer >= 1"),
    ("label_tokens", True, "label_tokens must be an integer >= 1"),
    ("label_tokens", "longest", "label_tokens must be an integer >= 1 .* or 'auto'"),
    ("max_label_tokens", 0, "max_label_tokens must be an integer >= 1"),
    ("answer_beam", 0, "answer_beam must be an integer >= 1"),
    ("readout", "logits", "readout must be one of"),
    ("dtype", "fp8", "dtype must be one of"),
    ("feature_batch_size", "max", "feature_batch_size must be 'auto' or an integer >= 1"),
    ("feature_batch_size", 0, "feature_batch_size must be 'auto' or an integer >= 1"),
    ("discrete_confirm", 0, "discrete_confirm must be an integer >= 1"),
    ("start_prior", -1, "start_prior must be an integer >= 0"),
    ("start_guided", 1.5, "start_guided must be an integer >= 0"),
])
def test_invalid_values_name_the_field(field, value, match):
    with pytest.raises(ValueError, match=match):
        LabelerConfig(**{field: value})


def test_round_trip_and_unknown_fields():
    cfg = LabelerConfig(method="hybrid", candidate_vocab=("cat", 5))
    assert LabelerConfig.from_dict(cfg.to_dict()) == LabelerConfig(method="hybrid", candidate_vocab=["cat", 5])
    with pytest.raises(ValueError, match="unknown LabelerConfig fields"):
        LabelerConfig.from_dict({"stepz": 3})


def test_feature_label_json_round_trip():
    label = FeatureLabel(feature=("blocks.0.hook_resid_post", 7), label="animal", token_ids=(12,),
                         candidates=[Candidate("animal", (12,), 0.5)],
                         metrics={"balanced_accuracy": 1.0, "precision": float("nan")},
                         n_positive=3, n_negative=4, steps=9)
    data = label.to_dict()
    assert data["metrics"]["precision"] is None
    back = FeatureLabel.from_dict(data)
    assert back.feature == label.feature and back.candidates == label.candidates and back.token_ids == (12,)
    with pytest.raises(ValueError, match="status must be one of"):
        FeatureLabel(feature=1, label=None, status="lost")
