"""Exports of a run directory (delphi, Neuronpedia, CSV): each parses back with one entry per labeled
feature (every feature for CSV) holding exactly the run's text, and bad input fails in one line."""

from __future__ import annotations

import csv
import json
import math
import subprocess
import sys
import types
from pathlib import Path

import pytest

from sae_gd_labeler.export import FORMATS, ExportError, export_run
from sae_gd_labeler.export import common as export_common
from sae_gd_labeler.export.delphi import explanation_bytes
from sae_gd_labeler.export.neuronpedia import layer_from_hook
from sae_gd_labeler.search.result import Candidate, FeatureLabel

HOOK = "blocks.6.hook_resid_pre"
# labels that break naive writers: separators, quotes, line breaks, escapes, non-ASCII, leading space
TRICKY = {
    0: "apples, pears",
    1: 'say "hi"',
    3: "café 東京 😀",
    4: "line one\nline two\r\n\ttab",
    7: " back\\slash,\"both\"\n",
}


def _label(feature, label, status="ok", **kw):
    if label is None:
        return FeatureLabel.without_label(feature, status, n_positive=kw.get("n_positive", 0))
    metrics = {"balanced_accuracy": 0.5 + feature / 100, "precision": math.nan, "recall": 0.25,
               "f1": 0.4, "auroc": 0.75}
    cands = [Candidate(label, (feature,), 0.1), Candidate(f"alt {feature}, b", (1,), 0.2)]
    return FeatureLabel(feature, label, token_ids=(feature,), candidates=cands, metrics=metrics,
                        n_positive=24, n_negative=30, steps=5, status=status)


def _record(label: FeatureLabel, hook=HOOK) -> dict:
    return {**label.to_dict(), "hook_name": hook}


def _write_run(path: Path, labels: list[FeatureLabel], shard: list[FeatureLabel] = (), *,
               neuronpedia_id="gpt2-small/6-res-jb", model="gpt2-small") -> Path:
    path.mkdir(parents=True, exist_ok=True)
    config = {"format_version": 1, "package_version": "0.1.0",
              "sae": {"release": "gpt2-small-res-jb", "sae_id": HOOK, "path": None, "toy_world": None,
                      "hook_name": HOOK, "d_sae": 24576, "architecture": "standard",
                      "neuronpedia_id": neuronpedia_id},
              "model": model, "discriminator": "smollm2-135m-instruct", "dataset": "corpus.jsonl",
              "n_tokens": None, "features": "0:10", "seed": 0, "dtype": None, "labeler_config": {}}
    (path / "run_config.json").write_text(json.dumps(config), encoding="utf-8")
    with open(path / "labels.jsonl", "w", encoding="utf-8") as f:
        for lab in labels:
            f.write(json.dumps(_record(lab), ensure_ascii=False) + "\n")
    if shard:  # a rank's records not merged yet: the exports must see them too
        (path / "shards").mkdir(exist_ok=True)
        with open(path / "shards" / "labels-rank1.jsonl", "w", encoding="utf-8") as f:
            for lab in shard:
                f.write(json.dumps(_record(lab), ensure_ascii=False) + "\n")
    return path


def _handmade_labels():
    return ([_label(0, TRICKY[0]), _label(1, TRICKY[1], "weak"), _label(2, None, "dead"),
             _label(3, TRICKY[3]), _label(4, TRICKY[4]), _label(5, None, "too_rare", n_positive=3),
             _label(7, TRICKY[7])],
            [_label(9, "nine"), _label(8, None, "too_few_examples")])


@pytest.fixture
def run(tmp_path):
    main, shard = _handmade_labels()
    return _write_run(tmp_path / "run", main, shard)


EXPECTED_LABELED = {**TRICKY, 9: "nine"}  # ok and weak; not 2 (dead), 5 (too rare), 8 (too few examples)
ALL_FEATURES = [0, 1, 2, 3, 4, 5, 7, 8, 9]
STATUS = {0: "ok", 1: "weak", 2: "dead", 3: "ok", 4: "ok", 5: "too_rare", 7: "ok", 8: "too_few_examples", 9: "ok"}


# -- delphi ---------------------------------------------------------------------------------------------

def read_delphi(folder: Path) -> dict[str, str]:
    """delphi's layout read back as delphi does: a JSON string per file, the index after 'latent'."""
    out = {}
    for path in sorted(folder.iterdir()):
        assert path.suffix == ".txt", path
        out[path.stem] = json.loads(path.read_bytes())
    return out


def test_delphi_one_file_per_labeled_feature_with_the_label(run):
    folder = export_run(run, "delphi")
    assert folder == run / "export" / "delphi" / "explanations"
    got = read_delphi(folder)
    assert got == {f"{HOOK}_latent{i}": label for i, label in EXPECTED_LABELED.items()}
    for stem in got:  # delphi's result loader: int(stem.split("latent")[-1])
        assert int(stem.split("latent")[-1]) in EXPECTED_LABELED


def test_delphi_files_are_what_orjson_writes(run):
    folder = export_run(run, "delphi")
    for i, label in EXPECTED_LABELED.items():
        data = (folder / f"{HOOK}_latent{i}.txt").read_bytes()
        assert data == explanation_bytes(label)
        assert b"\n" not in data and "東京".encode() in explanation_bytes(TRICKY[3])  # raw UTF-8, one line
    orjson = pytest.importorskip("orjson")  # delphi writes with orjson
    for i, label in EXPECTED_LABELED.items():
        assert (folder / f"{HOOK}_latent{i}.txt").read_bytes() == orjson.dumps(label)


def test_delphi_reexport_removes_its_stale_files_only(run, tmp_path):
    out = tmp_path / "delphi_results"
    export_run(run, "delphi", out=out)
    (out / "explanations" / "layers.5_latent0.txt").write_bytes(b'"delphi\'s own"')  # another module's file
    main, shard = _handmade_labels()
    main[0] = _label(0, None, "dead")  # the run was redone and feature 0 lost its label
    _write_run(run, main, shard)
    export_run(run, "delphi", out=out)
    got = read_delphi(out / "explanations")
    assert f"{HOOK}_latent0" not in got
    assert got.pop("layers.5_latent0") == "delphi's own"
    assert set(got) == {f"{HOOK}_latent{i}" for i in EXPECTED_LABELED if i != 0}


# -- Neuronpedia ------------------------------------------------------------------------------------------

def read_jsonl(path: Path) -> list[dict]:
    text = path.read_text(encoding="utf-8")
    assert text.endswith("\n")
    return [json.loads(line) for line in text.split("\n")[:-1]]


def test_neuronpedia_one_line_per_labeled_feature(run):
    path = export_run(run, "neuronpedia")
    assert path == run / "export" / "neuronpedia.jsonl"
    lines = read_jsonl(path)
    assert [line["index"] for line in lines] == [str(i) for i in sorted(EXPECTED_LABELED)]
    for line in lines:
        i = int(line["index"])
        assert line["description"] == EXPECTED_LABELED[i]
        assert (line["modelId"], line["layer"]) == ("gpt2-small", "6-res-jb")
        assert line["typeName"] == "sae-gd-labeler"
        assert line["explanationModelName"] == "smollm2-135m-instruct"
        assert line["sae_gd_labeler_status"] == STATUS[i]
        metrics = line["sae_gd_labeler_metrics"]
        assert metrics["balanced_accuracy"] == pytest.approx(0.5 + i / 100)
        assert metrics["precision"] is None  # undefined (NaN) stays null, never NaN in JSON


def test_neuronpedia_without_neuronpedia_id_falls_back_to_model_and_hook(tmp_path):
    main, _ = _handmade_labels()
    run = _write_run(tmp_path / "run", main, neuronpedia_id=None, model="google/Gemma-2-2b")
    lines = read_jsonl(export_run(run, "neuronpedia", out=tmp_path / "np.jsonl"))
    assert {(line["modelId"], line["layer"]) for line in lines} == {("gemma-2-2b", "6-resid-pre")}


@pytest.mark.parametrize("hook, layer", [("blocks.6.hook_resid_pre", "6-resid-pre"),
                                         ("blocks.0.hook_mlp_out", "0-mlp-out"),
                                         ("blocks.3.attn.hook_z", "3-attn-z"),
                                         ("blocks.12.mlp.hook_post", "12-mlp-post"),
                                         ("hook_embed", "embed")])
def test_layer_from_hook(hook, layer):
    assert layer_from_hook(hook) == layer


# -- CSV ------------------------------------------------------------------------------------------------------

def test_csv_one_row_per_feature_with_exact_text(run):
    path = export_run(run, "csv")
    assert path == run / "export" / "labels.csv"
    with open(path, newline="", encoding="utf-8") as f:
        reader = csv.DictReader(f)
        rows = list(reader)
    assert reader.fieldnames == ["feature", "hook_name", "label", "status", "n_positive", "n_negative",
                                 "balanced_accuracy", "f1", "auroc", "precision", "recall",
                                 "candidate_1", "candidate_2", "candidate_3"]
    assert [int(r["feature"]) for r in rows] == ALL_FEATURES
    for r in rows:
        i = int(r["feature"])
        assert r["status"] == STATUS[i]
        assert r["hook_name"] == HOOK
        assert r["label"] == EXPECTED_LABELED.get(i, "")  # exact, commas / quotes / line breaks included
        if i in EXPECTED_LABELED:
            assert float(r["balanced_accuracy"]) == pytest.approx(0.5 + i / 100)
            assert r["precision"] == ""  # undefined
            assert (r["candidate_1"], r["candidate_2"], r["candidate_3"]) == (EXPECTED_LABELED[i], f"alt {i}, b", "")
            assert (r["n_positive"], r["n_negative"]) == ("24", "30")
        else:
            assert r["balanced_accuracy"] == r["candidate_1"] == ""
    assert next(r for r in rows if r["feature"] == "5")["n_positive"] == "3"


def test_out_may_be_a_folder_or_a_file(run, tmp_path):
    folder = tmp_path / "exports"
    folder.mkdir()
    assert export_run(run, "csv", out=folder) == folder / "labels.csv"
    assert export_run(run, "neuronpedia", out=folder) == folder / "neuronpedia.jsonl"
    assert export_run(run, "csv", out=tmp_path / "new" / "mine.csv") == tmp_path / "new" / "mine.csv"
    assert (tmp_path / "new" / "mine.csv").is_file()
    assert export_run(run, "delphi", out=folder / "d") == folder / "d" / "explanations"


# -- errors ------------------------------------------------------------------------------------------------------

@pytest.mark.parametrize("fmt", sorted(FORMATS))
def test_not_a_run_directory(tmp_path, fmt):
    for path, missing in ((tmp_path / "nowhere", "no such folder"), (tmp_path, "run_config.json")):
        with pytest.raises(ValueError) as e:
            export_run(path, fmt)
        message = str(e.value)
        assert "\n" not in message and missing in message and "--out" in message
    (tmp_path / "run_config.json").write_text("{}")
    with pytest.raises(ValueError, match="labels.jsonl"):
        export_run(tmp_path, fmt)
    assert not (tmp_path / "export").exists()


def test_unknown_format(run):
    with pytest.raises(ValueError) as e:
        export_run(run, "parquet")
    assert "'parquet'" in str(e.value) and "delphi, neuronpedia, csv" in str(e.value)
    assert not (run / "export").exists()


def test_never_replaces_the_runs_own_files(run):
    before = (run / "labels.jsonl").read_bytes()
    with pytest.raises(ExportError, match="own labels.jsonl"):
        export_run(run, "neuronpedia", out=run / "labels.jsonl")
    assert (run / "labels.jsonl").read_bytes() == before


@pytest.mark.parametrize("fmt", sorted(FORMATS))
def test_a_failed_export_leaves_the_old_file_whole(run, monkeypatch, fmt):
    good = export_run(run, fmt)
    old = {p: p.read_bytes() for p in ([good] if good.is_file() else list(good.iterdir()))}
    main, shard = _handmade_labels()
    _write_run(run, [_label(f.feature, f"changed {f.feature}") if f.label else f for f in main], shard)

    def disk_full(src, dst):  # the rename that would have put the new file in place
        raise OSError(28, "No space left on device", str(src))

    monkeypatch.setattr(export_common.os, "replace", disk_full)
    with pytest.raises(ExportError) as e:
        export_run(run, fmt)
    assert "No space left" in str(e.value) and "\n" not in str(e.value)
    folder = good if good.is_dir() else good.parent
    assert {p: p.read_bytes() for p in old} == old
    assert sorted(folder.iterdir()) == sorted(old)  # no temporary file left behind


def test_out_not_writable(run, tmp_path):
    blocker = tmp_path / "a_file"
    blocker.write_text("x")
    for fmt in FORMATS:
        with pytest.raises(ExportError) as e:
            export_run(run, fmt, out=blocker / "sub")
        assert "--out" in str(e.value) and "\n" not in str(e.value)


def test_export_imports_no_torch():
    # the command line answers `export` without loading torch
    code = "import sys, sae_gd_labeler.export; sys.exit('torch' in sys.modules)"
    assert subprocess.run([sys.executable, "-c", code]).returncode == 0


# -- a real run --------------------------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def toy_run(tmp_path_factory):
    """A real bulk run on the toy world's SAE: a few features, a short corpus."""
    from sae_gd_labeler.data.activations import ActivationConfig
    from sae_gd_labeler.runs.bulk import label_run
    from sae_gd_labeler.runs.feature_spec import parse_feature_spec
    from sae_gd_labeler.runs.run_dir import FORMAT_VERSION, RunDirectory
    from sae_gd_labeler.runs.sources import toy_world_sources

    hook = "blocks.1.hook_resid_post"
    args = types.SimpleNamespace(toy_world=hook, release=None, sae_id=None, sae_path=None, model=None,
                                 discriminator=None, dataset=None)
    sources = toy_world_sources(args)
    path = tmp_path_factory.mktemp("toy") / "run"
    spec = parse_feature_spec("0:4")
    label_run(RunDirectory(path), sources.sae, spec, model=sources.model, discriminator=sources.discriminator,
              dataset=sources.dataset, run_config={"format_version": FORMAT_VERSION, **sources.description,
                                                   "features": spec.text, "seed": 0},
              activation_config=ActivationConfig(max_tokens=3000), example_fn=sources.example_fn)
    return path, hook


def test_exports_of_a_real_toy_world_run(toy_run):
    path, hook = toy_run
    records = {json.loads(line)["feature"]: json.loads(line)
               for line in (path / "labels.jsonl").read_text(encoding="utf-8").splitlines()}
    assert sorted(records) == list(range(4))
    labeled = {i: r["label"] for i, r in records.items() if r["status"] in ("ok", "weak")}
    assert labeled and all(isinstance(label, str) for label in labeled.values())

    assert read_delphi(export_run(path, "delphi")) == {f"{hook}_latent{i}": s for i, s in labeled.items()}

    lines = read_jsonl(export_run(path, "neuronpedia"))
    assert {int(line["index"]): line["description"] for line in lines} == labeled
    assert {(line["modelId"], line["layer"], line["explanationModelName"]) for line in lines} == {
        ("toy-world", "1-resid-post", "toy-world")}

    with open(export_run(path, "csv"), newline="", encoding="utf-8") as f:
        rows = list(csv.DictReader(f))
    assert {int(r["feature"]): (r["label"], r["status"]) for r in rows} == {
        i: (r["label"] or "", r["status"]) for i, r in records.items()}

