"""`sae-gd-labeler label` end to end on the toy world: kill and resume, torchrun, bad input."""

import json
import os
import shutil
import signal
import subprocess
import sys
import time

import pytest

from sae_gd_labeler.cli import main

HOOK = "blocks.1.hook_resid_post"
# 6 features, one per batch (so a kill lands between batches), on a short corpus
ARGS = ["label", "--toy-world", HOOK, "--features", "0:6", "--n-tokens", "4000", "--batch-features", "1",
        "--no-progress"]


def _records(run_dir):
    lines = (run_dir / "labels.jsonl").read_text().splitlines()
    return sorted((json.loads(line) for line in lines), key=lambda r: r["feature"])


def _command(*args):
    return [sys.executable, "-m", "sae_gd_labeler", "-q", *args]


@pytest.fixture(scope="module")
def uninterrupted(tmp_path_factory):
    out = tmp_path_factory.mktemp("runs") / "whole"
    assert main(["-q", *ARGS, "--out", str(out)]) == 0
    return out


def test_an_uninterrupted_run_records_every_feature_once(uninterrupted):
    records = _records(uninterrupted)
    assert [r["feature"] for r in records] == list(range(6))
    assert all(r["hook_name"] == HOOK for r in records)
    summary = json.loads((uninterrupted / "summary.json").read_text())
    assert summary["n_recorded"] == 6 and sum(summary["counts"].values()) == 6
    examples = [json.loads(line) for line in (uninterrupted / "examples.jsonl").read_text().splitlines()]
    assert sorted(e["feature"] for e in examples) == list(range(6))
    config = json.loads((uninterrupted / "run_config.json").read_text())
    assert config["sae"]["toy_world"] == HOOK and config["n_tokens"] == 4000


def test_a_run_killed_after_its_first_batch_resumes_to_the_same_records(uninterrupted, tmp_path):
    out = tmp_path / "killed"
    proc = subprocess.Popen(_command(*ARGS, "--out", str(out)), stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    labels = out / "labels.jsonl"
    deadline = time.monotonic() + 300
    while not (labels.exists() and labels.read_bytes().count(b"\n") >= 1):
        assert proc.poll() is None, proc.stderr.read().decode()
        assert time.monotonic() < deadline, "the run wrote no batch in 300 s"
        time.sleep(0.02)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    n_before = labels.read_bytes().count(b"\n")
    assert 1 <= n_before < 6, "the kill came too late to test a resume"
    assert not (out / "summary.json").exists()
    subprocess.run(_command(*ARGS, "--out", str(out)), check=True, capture_output=True)
    assert _records(out) == _records(uninterrupted)
    # and once finished, running it again labels nothing and changes no record
    before = labels.read_bytes()
    assert main(["-q", *ARGS, "--out", str(out)]) == 0
    assert labels.read_bytes() == before


@pytest.mark.skipif(shutil.which("torchrun") is None, reason="torchrun is not on the PATH")
def test_torchrun_with_two_ranks_labels_the_same_features_the_same_way(uninterrupted, tmp_path):
    out = tmp_path / "two_ranks"
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    subprocess.run(["torchrun", "--nproc-per-node", "2", "--master-port", "29533", "-m", "sae_gd_labeler", "-q",
                    *ARGS, "--out", str(out)], check=True, capture_output=True, env=env, timeout=600)
    assert not (out / "shards").exists()  # merged
    assert _records(out) == _records(uninterrupted)


def _error(capsys, *args):
    code = main(list(args))
    err = capsys.readouterr().err.strip()
    return code, err


def test_a_malformed_feature_spec_exits_2_with_one_line(capsys, tmp_path):
    code, err = _error(capsys, "label", "--toy-world", HOOK, "--features", "4:2", "--out", str(tmp_path / "r"))
    assert code == 2 and len(err.splitlines()) == 1 and "STOP > START" in err
    assert not (tmp_path / "r").exists()


def test_features_beyond_d_sae_exit_2(capsys, tmp_path):
    code, err = _error(capsys, "label", "--toy-world", HOOK, "--features", "0:100000", "--out", str(tmp_path / "r"))
    assert code == 2 and "beyond this SAE's d_sae" in err
    assert not (tmp_path / "r").exists()


def test_an_output_folder_that_cannot_be_written_is_found_first(capsys, tmp_path):
    (tmp_path / "a_file").write_text("x")
    code, err = _error(capsys, "label", "--toy-world", HOOK, "--out", str(tmp_path / "a_file" / "run"))
    assert code == 2 and "is a file, not a folder" in err


def test_an_unknown_release_or_sae_id_lists_close_names(capsys, tmp_path):
    code, err = _error(capsys, "label", "--release", "gpt2-small-res-jbb", "--sae-id", "x", "--out", str(tmp_path))
    assert code == 2 and "gpt2-small-res-jb" in err and "close names" in err
    code, err = _error(capsys, "label", "--release", "gpt2-small-res-jb", "--sae-id", "blocks.8.hook_resid_pr",
                       "--out", str(tmp_path))
    assert code == 2 and "blocks.8.hook_resid_pre" in err


def test_a_run_directory_with_another_config_is_refused_untouched(capsys, uninterrupted):
    before = {p.name: p.read_bytes() for p in uninterrupted.iterdir()}
    code, err = _error(capsys, *ARGS, "--out", str(uninterrupted), "--restarts", "2")
    assert code == 2 and "another config" in err and "--overwrite" in err
    assert {p.name: p.read_bytes() for p in uninterrupted.iterdir()} == before


def test_a_missing_local_dataset_is_file_not_found_never_a_hub_lookup(capsys, tmp_path):
    code, err = _error(capsys, "label", "--sae-path", str(tmp_path), "--dataset", str(tmp_path / "corpus.jsonl"),
                       "--out", str(tmp_path / "r"))
    assert code == 2 and "file not found" in err


@pytest.fixture(scope="module")
def saved_sae(tmp_path_factory):
    from sae_gd_labeler.toyworld import load_toy_world

    folder = tmp_path_factory.mktemp("sae")
    load_toy_world().saes[HOOK].save_model(str(folder))
    corpus = folder / "corpus.jsonl"
    corpus.write_text("".join(json.dumps({"body": "the cat sat on the mat ."}) + "\n" for _ in range(20)))
    return folder, corpus


def test_a_missing_text_column_exits_2_before_anything_is_written(capsys, saved_sae, tmp_path):
    folder, corpus = saved_sae
    code, err = _error(capsys, "label", "--sae-path", str(folder), "--model", "toy-world", "--dataset", str(corpus),
                       "--text-column", "text", "--out", str(tmp_path / "r"))
    assert code == 2 and "text_column 'text' is not in the dataset" in err and "body" in err
    assert not (tmp_path / "r").exists()


def test_a_saved_sae_with_a_local_corpus_is_labeled(saved_sae, tmp_path):
    folder, corpus = saved_sae
    assert main(["-q", "label", "--sae-path", str(folder), "--model", "toy-world", "--dataset", str(corpus),
                 "--text-column", "body", "--features", "0:2", "--no-progress", "--out", str(tmp_path / "r")]) == 0
    records = _records(tmp_path / "r")
    assert [r["feature"] for r in records] == [0, 1]
    assert json.loads((tmp_path / "r" / "run_config.json").read_text())["sae"]["path"] == str(folder.resolve())


def test_help_answers_without_importing_torch():
    code = ("import sys; from sae_gd_labeler.cli import main\n"
            "try:\n    main(['label', '--help'])\nexcept SystemExit:\n    pass\n"
            "assert 'torch' not in sys.modules and 'sae_lens' not in sys.modules, 'imported'")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    assert "--features" in result.stdout and "(default: alive)" in result.stdout
    assert "--kl-weight" in result.stdout  # every LabelerConfig field has a flag


@pytest.mark.parametrize("args, words", [
    (["demo", "--sae-features", "-3"], "expected an integer >= 0"),
    (["bench-quality", "--seeds", "0"], "expected a positive integer"),
])
def test_existing_commands_refuse_nonsense_numbers_at_once(capsys, args, words):
    with pytest.raises(SystemExit) as exit_info:
        main(args)
    assert exit_info.value.code == 2 and words in capsys.readouterr().err


def test_demo_checks_its_output_folder_before_any_work(capsys, tmp_path):
    (tmp_path / "a_file").write_text("x")
    code, err = _error(capsys, "demo", "--out", str(tmp_path / "a_file" / "demo"))
    assert code == 2 and "is a file, not a folder" in err


def test_a_second_run_with_the_same_corpus_settings_reuses_the_cached_records(uninterrupted, tmp_path, monkeypatch):
    import sae_gd_labeler.runs.bulk as bulk

    cache = tmp_path / "cache"
    args = [*ARGS, "--cache-dir", str(cache)]
    assert main(["-q", *args, "--out", str(tmp_path / "first")]) == 0
    assert len(list(cache.glob("*/part-*.safetensors"))) == 1

    def no_corpus_pass(*a, **k):
        raise AssertionError("the corpus was read again")

    monkeypatch.setattr(bulk, "collect_activations", no_corpus_pass)
    assert main(["-q", *args, "--out", str(tmp_path / "second")]) == 0
    assert _records(tmp_path / "second") == _records(uninterrupted)


def test_the_sae_s_own_model_is_loaded_with_its_metadata_s_arguments(monkeypatch, saved_sae):
    """gpt2-small-res-jb needs center_writing_weights=True: without it the SAE reads other activations."""
    import argparse

    import torch
    from sae_lens import SAE
    from transformer_lens import HookedTransformer

    from sae_gd_labeler.readout.template import AnswerTemplate
    from sae_gd_labeler.runs import sources
    from sae_gd_labeler.toyworld import load_toy_world

    calls = []
    world_model = load_toy_world().model

    def from_hub(name, **kwargs):
        calls.append((name, kwargs))
        return world_model

    monkeypatch.setattr(HookedTransformer, "from_pretrained_no_processing", staticmethod(from_hub))
    folder, corpus = saved_sae
    sae = SAE.load_from_disk(str(folder))
    sae.cfg.metadata.model_name = "gpt2"
    sae.cfg.metadata.model_from_pretrained_kwargs = {"center_writing_weights": True}
    args = argparse.Namespace(model=None, discriminator=None, dataset=str(corpus), device="cpu", dtype=None)
    from sae_gd_labeler.search.config import LabelerConfig

    built = sources.hub_sources(args, sae, {}, LabelerConfig(readout="answer"))
    assert calls == [("gpt2", {"device": "cpu", "dtype": torch.float32, "center_writing_weights": True})]
    assert isinstance(built.discriminator.template, AnswerTemplate)  # --readout answer asks in its template


def test_label_tokens_takes_a_number_or_auto_from_the_command_line():
    from sae_gd_labeler.runs.command import InputError, _convert

    assert _convert("label_tokens", "2", int) == 2 and _convert("label_tokens", "auto", int) == "auto"
    with pytest.raises(InputError, match="--label-tokens 'two'"):
        _convert("label_tokens", "two", int)
