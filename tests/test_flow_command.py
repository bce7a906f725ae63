"""`sae-gd-labeler flow`, in process: the toy world end to end, saved SAEs, labels files, input errors."""

import argparse
import json
import subprocess
import sys

import pytest

from sae_gd_labeler.flow.command import add_flow_parser, expand_sae_specs, parse_feature, run_flow

FEATURE = "blocks.1.hook_resid_post:459"


def parse(argv):
    p = argparse.ArgumentParser()
    sub = p.add_subparsers(dest="command")
    add_flow_parser(sub)
    return p.parse_args(["flow", *argv])


def test_parsing_does_not_import_torch():
    code = ("import argparse, sys; from sae_gd_labeler.flow.command import add_flow_parser; "
            "p = argparse.ArgumentParser(); add_flow_parser(p.add_subparsers()); "
            "assert 'torch' not in sys.modules, 'torch was imported'")
    subprocess.run([sys.executable, "-c", code], check=True)


def test_toy_world_end_to_end(tmp_path, capsys):
    labels = tmp_path / "labels.jsonl"
    labels.write_text(json.dumps({"hook_name": "blocks.1.hook_resid_post", "feature": 459, "label": "body",
                                  "metrics": {"balanced_accuracy": 0.9}}) + "\n")
    rc = run_flow(parse(["--toy-world", "--feature", FEATURE, "--json", str(tmp_path / "g.json"),
                         "--html", str(tmp_path / "g.html"), "--labels", str(labels), "--deactivation",
                         "--max-tokens", "3000", "--firing-threshold", "1.0"]))
    out = capsys.readouterr().out
    assert rc == 0
    assert "flow graph of blocks.1.hook_resid_post #459" in out and "'body'" in out
    assert "blocks.0.hook_resid_post #431 -> blocks.1.hook_resid_post #459" in out
    assert "deactivation" in out and "mean over" in out and "all 3 sources -> blocks.1.hook_resid_post #459" in out
    data = json.loads((tmp_path / "g.json").read_text())
    assert {n["clerp"] for n in data["nodes"]} >= {"body"}
    assert "plotly" in (tmp_path / "g.html").read_text()[:5000].lower()


def test_saved_saes_and_direction(tmp_path, capsys):
    from sae_gd_labeler.toyworld import load_toy_world

    world = load_toy_world()
    paths = []
    for hook in ("blocks.0.hook_resid_post", "blocks.1.hook_resid_post"):
        world.saes[hook].save_model(str(tmp_path / hook))
        paths += ["--sae-path", str(tmp_path / hook)]
    rc = run_flow(parse([*paths, "--feature", FEATURE, "--direction", "backward"]))
    out = capsys.readouterr().out
    assert rc == 0 and "2 nodes, 1 edges" in out


@pytest.mark.parametrize("argv, message", [
    (["--toy-world", "--feature", "blocks.1.hook_resid_post"], "HOOK:INDEX"),
    (["--toy-world", "--feature", "blocks.7.hook_resid_post:1"], "no SAE at hook"),
    (["--toy-world", "--feature", "blocks.1.hook_resid_post:512"], "outside"),
    (["--feature", FEATURE], "either --toy-world or SAEs"),
    (["--toy-world", "--sae", "gpt2-small-res-jb:blocks.8.hook_resid_pre", "--feature", FEATURE], "not both"),
    (["--sae", "gpt2-small-res-jbb:blocks.8.hook_resid_pre", "--feature", FEATURE], "close names"),
    (["--sae", "gpt2-small-res-jb:blocks.{L}.hook_resid_pre", "--feature", FEATURE], "--layers"),
    (["--toy-world", "--feature", FEATURE, "--residual-threshold", "1.5"], "cosine"),
])
def test_input_errors(argv, message, capsys):
    assert run_flow(parse(argv)) == 2
    assert message in capsys.readouterr().err


def test_helpers():
    assert parse_feature("blocks.3.hook_resid_post:17") == ("blocks.3.hook_resid_post", 17)
    specs = expand_sae_specs(["gemma-scope-2b-pt-res-canonical:layer_{L}/width_16k/canonical"], "3:5")
    assert specs == [("gemma-scope-2b-pt-res-canonical", "layer_3/width_16k/canonical"),
                     ("gemma-scope-2b-pt-res-canonical", "layer_4/width_16k/canonical")]
