"""`sae-gd-labeler score`: any labels on a run's own held-out examples, with the run's discriminator."""

import json
import math

import pytest

from sae_gd_labeler.cli import main

HOOK = "blocks.1.hook_resid_post"


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory):
    out = tmp_path_factory.mktemp("score") / "run"
    assert main(["-q", "label", "--toy-world", HOOK, "--features", "0:4", "--n-tokens", "4000", "--no-progress",
                 "--out", str(out)]) == 0
    return out


def _ours(run_dir):
    return {r["feature"]: r for r in map(json.loads, (run_dir / "labels.jsonl").read_text().splitlines())}


def test_scoring_our_own_labels_reproduces_their_held_out_metrics(run_dir, tmp_path):
    out = tmp_path / "score.json"
    assert main(["-q", "score", str(run_dir), "--labels", str(run_dir / "labels.jsonl"), "--out", str(out)]) == 0
    result = json.loads(out.read_text())
    ours = _ours(run_dir)
    assert result["n_scored"] == len(ours) == 4
    for row in result["features"]:
        expected = ours[row["feature"]]["metrics"]
        for name, value in row["given"]["metrics"].items():
            if expected[name] is None:
                assert value is None
            else:
                assert math.isclose(value, expected[name], abs_tol=1e-6), (row["feature"], name)


def test_external_label_files_of_every_kind_are_scored(run_dir, tmp_path):
    texts = {0: "animal", 1: "fruit", 2: "colour", 3: "tool"}
    (tmp_path / "labels.json").write_text(json.dumps({str(f): t for f, t in texts.items()}))
    (tmp_path / "neuronpedia.jsonl").write_text("".join(
        json.dumps({"modelId": "toy", "layer": "1-res", "index": str(f), "description": t}) + "\n"
        for f, t in texts.items()))
    delphi = tmp_path / "explanations"
    delphi.mkdir()
    for f, t in texts.items():
        (delphi / f"{HOOK}_latent{f}.txt").write_text(json.dumps(t))
    results = []
    for path in ("labels.json", "neuronpedia.jsonl", "explanations"):
        out = tmp_path / f"{path}.score.json"
        assert main(["-q", "score", str(run_dir), "--labels", str(tmp_path / path), "--out", str(out)]) == 0
        result = json.loads(out.read_text())
        assert result["n_scored"] == 4
        assert {r["feature"]: r["given"]["label"] for r in result["features"]} == texts
        results.append([r["given"]["metrics"]["auroc"] for r in result["features"]])
    assert results[0] == results[1] == results[2]  # the same labels whatever the file format


def test_a_bad_label_file_exits_2_naming_the_line(run_dir, tmp_path, capsys):
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"feature": 0, "label": "a"}\n{"feature": 1, "label": \n')
    assert main(["score", str(run_dir), "--labels", str(bad)]) == 2
    err = capsys.readouterr().err
    assert "line 2" in err and len(err.strip().splitlines()) == 1


def test_a_folder_that_is_no_run_exits_2(tmp_path, capsys):
    (tmp_path / "labels.json").write_text("{}")
    assert main(["score", str(tmp_path), "--labels", str(tmp_path / "labels.json")]) == 2
    assert "not a run directory" in capsys.readouterr().err
