"""The run directory's parts, without a model: feature specs, the crash-safe JSON-lines log, config checks."""

import json
import os

import pytest

from sae_gd_labeler.runs.feature_spec import parse_feature_spec
from sae_gd_labeler.runs.jsonl_log import JsonlLog
from sae_gd_labeler.runs.run_dir import RunDirectory, RunDirectoryError, config_differences


@pytest.mark.parametrize("text, d_sae, ids", [
    ("0:4", 10, [0, 1, 2, 3]),
    ("3,17,9", 20, [3, 17, 9]),
    ("0:2,5,8:10", 10, [0, 1, 5, 8, 9]),
    (":3", 10, [0, 1, 2]),
    ("7:", 10, [7, 8, 9]),
    ("all", 5, [0, 1, 2, 3, 4]),
    ("alive", 3, [0, 1, 2]),
])
def test_feature_specs_name_the_ids(text, d_sae, ids):
    assert parse_feature_spec(text).resolve(d_sae) == ids


@pytest.mark.parametrize("text, words", [
    ("5:3", "empty"), ("-3", "not a feature id"), ("1,x", "not a feature id"), ("", "empty"),
    ("1,1", "twice"), ("0:4,2", "twice"), ("2:,3", "twice"), ("1.5", "not a feature id"),
])
def test_malformed_feature_specs_say_what_is_wrong(text, words):
    with pytest.raises(ValueError, match=words):
        parse_feature_spec(text)


def test_feature_ids_beyond_d_sae_are_refused():
    with pytest.raises(ValueError, match=r"beyond this SAE's d_sae=8.*0 to 7"):
        parse_feature_spec("6:10").resolve(8)


def test_a_write_cut_short_loses_only_its_unterminated_line(tmp_path):
    log = JsonlLog(tmp_path / "labels.jsonl")
    log.append([{"feature": 0}, {"feature": 1}])
    with open(log.path, "ab") as f:  # what a process killed in the middle of a write leaves
        f.write(b'{"feature": 2, "lab')
    assert [r["feature"] for r in log.read()] == [0, 1]
    assert log.repair() == len(b'{"feature": 2, "lab')
    log.append([{"feature": 2}])
    assert [r["feature"] for r in log.read()] == [0, 1, 2]
    assert log.path.read_bytes().count(b"\n") == 3


def test_a_corrupt_complete_line_is_reported_with_its_number(tmp_path):
    path = tmp_path / "labels.jsonl"
    path.write_text('{"feature": 0}\nnot json\n{"feature": 2}\n')
    with pytest.raises(ValueError, match=r"labels.jsonl, line 2: not valid JSON"):
        JsonlLog(path).read()


def _config(**changes):
    config = {"format_version": 1, "sae": {"hook_name": "h", "d_sae": 8}, "features": "0:4", "device": "cpu",
              "labeler_config": {"restarts": 4, "max_rows_per_forward": 1024}, "package_version": "0.1.0"}
    return {**config, **changes}


def test_settings_that_change_no_record_do_not_count_as_another_config():
    new = _config(features="0:8", device="cuda", package_version="0.2.0",
                  labeler_config={"restarts": 4, "max_rows_per_forward": 64})
    assert config_differences(_config(), new) == []
    assert config_differences(_config(), _config(labeler_config={"restarts": 2, "max_rows_per_forward": 1024})) \
        == [("labeler_config.restarts", 4, 2)]


def test_a_directory_with_another_run_is_refused_and_left_as_it_was(tmp_path):
    run = RunDirectory(tmp_path / "run")
    run.start(_config(), overwrite=False)
    run.labels.append([{"feature": 0, "label": "x", "status": "ok"}])
    before = {p.name: p.read_bytes() for p in run.path.iterdir()}
    with pytest.raises(RunDirectoryError, match=r"another config \(labeler_config.restarts: 4 -> 2\).*--overwrite"):
        run.check_config(_config(labeler_config={"restarts": 2}), overwrite=False)
    assert {p.name: p.read_bytes() for p in run.path.iterdir()} == before
    run.start(_config(labeler_config={"restarts": 2}), overwrite=True)  # --overwrite starts over
    assert run.finished() == set()
    assert json.loads((run.path / "run_config.json").read_text())["labeler_config"] == {"restarts": 2}


def test_an_unwritable_output_folder_is_found_before_any_work(tmp_path):
    locked = tmp_path / "locked"
    locked.mkdir()
    os.chmod(locked, 0o500)
    try:
        if os.access(locked, os.W_OK):
            pytest.skip("running as a user who can write anywhere (root): permissions cannot be tested")
        with pytest.raises(RunDirectoryError, match="not writable"):
            RunDirectory(locked / "run").check_writable()
    finally:
        os.chmod(locked, 0o700)


def test_an_output_path_that_is_a_file_is_refused(tmp_path):
    (tmp_path / "file").write_text("x")
    with pytest.raises(RunDirectoryError, match="is a file, not a folder"):
        RunDirectory(tmp_path / "file" / "run").check_writable()


def test_shards_merge_into_one_file_each_feature_once(tmp_path):
    run = RunDirectory(tmp_path)
    run.start(_config(), overwrite=False)
    run.labels.append([{"feature": 4, "status": "ok"}])
    run.shard("labels", 0).append([{"feature": 0, "status": "ok"}, {"feature": 2, "status": "dead"}])
    run.shard("labels", 1).append([{"feature": 1, "status": "ok"}, {"feature": 4, "status": "ok"}])
    run.shard("examples", 1).append([{"feature": 1, "n": 1}, {"feature": 1, "n": 2}])
    assert run.finished() == {0, 1, 2, 4}
    run.merge_shards()
    assert [r["feature"] for r in run.labels.read()] == [0, 1, 2, 4]
    assert run.example_records()[1]["n"] == 2  # a resumed batch's examples replace the earlier ones
    assert not (tmp_path / "shards").exists()


def test_a_bare_integer_as_feature_ids_is_refused_with_both_readings():
    from sae_gd_labeler.data.activations import _check_feature_ids

    with pytest.raises(ValueError, match=r"give \[12\] for feature 12 alone or range\(12\)"):
        _check_feature_ids(12, 100)
    assert _check_feature_ids([12], 100) == [12]


def test_a_context_s_token_texts_join_into_the_text_the_tokenizer_decodes():
    from sae_gd_labeler.runs.example_records import TokenTexts
    from sae_gd_labeler.toyworld import load_toy_world

    tokenizer = load_toy_world().model.tokenizer  # word-level: decode([id]) alone loses the spaces
    texts = TokenTexts(tokenizer)
    for sentence in ("the cat sat on the mat .", "liam wore a purple tie in may ."):  # "sat", "mat": <unk>
        ids = tokenizer.encode(sentence, add_special_tokens=False)
        assert "".join(texts.context(ids)).strip() == tokenizer.decode(ids).strip()
    bos = tokenizer.bos_token_id
    ids = tokenizer.encode("the cat", add_special_tokens=False)
    assert texts.context([bos, *ids]) == texts(ids)  # BOS inside a context is left out


def test_a_labels_jsonl_line_reads_back_as_the_feature_label(tmp_path):
    from sae_gd_labeler.runs.bulk import label_record
    from sae_gd_labeler.search.config import LabelerConfig
    from sae_gd_labeler.search.result import Candidate, FeatureLabel

    label = FeatureLabel(7, "dog", (3,), [Candidate("dog", (3,), 0.5)], {"balanced_accuracy": 0.6, "auroc": 0.55},
                         status="weak")
    record = json.loads(json.dumps(label_record(label, "blocks.1.hook_resid_post", LabelerConfig())))
    assert record["hook_name"] == "blocks.1.hook_resid_post" and "below" in record["weak_reason"]
    assert FeatureLabel.from_dict(record) == label
