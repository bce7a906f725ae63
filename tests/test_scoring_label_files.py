"""read_label_file: every accepted format, and a one-line error naming the place for every kind of bad input."""

import json

import pytest

from sae_gd_labeler.scoring.label_files import read_label_file
from sae_gd_labeler.search.result import FeatureLabel


def write(tmp_path, text, name="labels.json"):
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def test_json_object(tmp_path):
    path = write(tmp_path, json.dumps({"3": "dogs", "12": " colour words ", "7": None}, indent=2))
    assert read_label_file(path) == {3: "dogs", 12: "colour words"}


def test_json_list_of_objects(tmp_path):
    path = write(tmp_path, json.dumps([{"latent": 1, "explanation": "a"}, {"id": "2", "description": "b"}]))
    assert read_label_file(path) == {1: "a", 2: "b"}


def test_our_own_labels_jsonl(tmp_path):
    labs = [FeatureLabel(4, "animal", (9,), metrics={"auroc": 0.9}, status="ok"),
            FeatureLabel(5, "a", (2,), status="weak"), FeatureLabel.without_label(6, "dead")]
    lines = [json.dumps({**lab.to_dict(), "hook_name": "blocks.1.hook_resid_post"}) for lab in labs]
    path = write(tmp_path, "\n".join(lines) + "\n\n", "labels.jsonl")
    assert read_label_file(path) == {4: "animal", 5: "a"}  # the dead feature has no label


def test_neuronpedia_export_lines(tmp_path):
    """Neuronpedia's lines carry the explanation's own "id" as well: "index" is the feature."""
    lines = [{"modelId": "gpt2-small", "layer": "8-res-jb", "index": "123", "description": " the word dog",
              "id": "clx1abc", "explanationModelName": "gpt-4o-mini"},
             {"modelId": "gpt2-small", "layer": "8-res-jb", "index": "7", "description": "numbers", "id": "clx2"}]
    path = write(tmp_path, "\n".join(json.dumps(x) for x in lines), "np.jsonl")
    assert read_label_file(path) == {123: "the word dog", 7: "numbers"}


def test_single_line_jsonl(tmp_path):
    assert read_label_file(write(tmp_path, '{"feature": 8, "label": "fruit"}\n', "one.jsonl")) == {8: "fruit"}


def test_delphi_explanations_folder(tmp_path):
    folder = tmp_path / "explanations"
    folder.mkdir()
    for i, text in ((0, "Dogs and cats"), (15, "Numbers written as words")):
        (folder / f".model.layers.5_latent{i}.txt").write_text(json.dumps(text))
    (folder / "notes.md").write_text("ignored")
    assert read_label_file(folder) == {0: "Dogs and cats", 15: "Numbers written as words"}
    (folder / "layers.6_latent3.txt").write_text(json.dumps("other layer"))
    with pytest.raises(ValueError, match="2 modules .*module="):
        read_label_file(folder)
    assert read_label_file(folder, module="layers.6") == {3: "other layer"}
    with pytest.raises(ValueError, match="no explanations of module 'x'"):
        read_label_file(folder, module="x")
    (folder / "layers.6_latent4.txt").write_text("not json")
    with pytest.raises(ValueError, match=r"layers\.6_latent4\.txt: not a JSON string"):
        read_label_file(folder, module="layers.6")
    (folder / "layers.6_latent4.txt").write_text(json.dumps({"a": 1}))
    with pytest.raises(ValueError, match=r"layers\.6_latent4\.txt: holds .*JSON string"):
        read_label_file(folder, module="layers.6")
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(ValueError, match="no delphi explanation files"):
        read_label_file(empty)


GOOD = '{"feature": 1, "label": "a"}'


@pytest.mark.parametrize("text, match", [
    ("", "the file is empty"),
    (GOOD + "\n{bad json\n", r"line 2: not valid JSON"),
    (GOOD + "\n\n" + '{"label": "b"}', r"line 3: no feature index; give it under one of feature, index, latent, id"),
    (GOOD + "\n" + '{"feature": 2}', r"line 2: no label text; give it under one of label, description, explanation"),
    (GOOD + "\n" + '{"feature": -2, "label": "b"}', r"line 2: the feature index under 'feature' is -2"),
    (GOOD + "\n" + '{"feature": "x1", "label": "b"}', r"line 2: the feature index under 'feature' is 'x1'"),
    (GOOD + "\n" + '{"feature": true, "label": "b"}', r"line 2: the feature index"),
    (GOOD + "\n" + '{"feature": 2, "label": 5}', r"line 2: the label under 'label' is a JSON int"),
    (GOOD + "\n" + '{"feature": 2, "label": "  "}', r"line 2: the label under 'label' is empty"),
    (GOOD + "\n" + '{"feature": 1, "label": "again"}', r"line 2: feature 1 has a label already \(line 1\)"),
    (GOOD + "\n" + '[1, 2]', r"line 2: a JSON list, expected an object"),
    ('{\n  "1": "a",\n  "2": "b",,\n}', r"line 3: not valid JSON"),
    ('{"x": "a"}', r"key 'x': the feature index under 'key' is 'x'"),
    ('{"1": ["a"]}', r"key '1': the label under 'value' is a JSON list"),
    ('[{"feature": 1, "label": "a"}, "b"]', r"item 2: a JSON str"),
    ('"just a string"', r"holds a JSON str"),
])
def test_bad_input_names_the_place_and_the_fix(tmp_path, text, match):
    path = write(tmp_path, text, "bad.jsonl")
    with pytest.raises(ValueError, match=match) as err:
        read_label_file(path)
    message = str(err.value)
    assert "\n" not in message and str(path) in message


def test_missing_path_and_non_utf8(tmp_path):
    with pytest.raises(ValueError, match="no such file or folder"):
        read_label_file(tmp_path / "nope.json")
    path = tmp_path / "latin1.jsonl"
    path.write_bytes('{"feature": 1, "label": "caf\xe9"}'.encode("latin-1"))
    with pytest.raises(ValueError, match="not UTF-8"):
        read_label_file(path)
