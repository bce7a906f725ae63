"""`sae-gd-labeler steer`, in process: side-by-side samples on the toy world, flow-graph steering, errors."""

import argparse
import json
import subprocess
import sys

import pytest

from sae_gd_labeler.steering.command import add_steer_parser, parse_steer_feature, run_steer

FEATURE = "blocks.1.hook_resid_post:178:4"


def parse(argv):
    p = argparse.ArgumentParser()
    sub = p.add_subparsers(dest="command")
    add_steer_parser(sub)
    return p.parse_args(["steer", *argv])


def test_parsing_does_not_import_torch():
    code = ("import argparse, sys; from sae_gd_labeler.steering.command import add_steer_parser; "
            "p = argparse.ArgumentParser(); add_steer_parser(p.add_subparsers()); "
            "assert 'torch' not in sys.modules, 'torch was imported'")
    subprocess.run([sys.executable, "-c", code], check=True)


def test_side_by_side_seeds(tmp_path, capsys):
    rc = run_steer(parse(["--toy-world", "--feature", FEATURE, "--seeds", "0,1", "--max-new-tokens", "12",
                          "--json", str(tmp_path / "s.json")]))
    out = capsys.readouterr().out
    assert rc == 0
    kinds = [line.split()[2] for line in out.splitlines() if line.startswith("seed ")]
    assert kinds == ["unsteered", "steered", "unsteered", "steered"]
    data = json.loads((tmp_path / "s.json").read_text())
    assert [s["seed"] for s in data["samples"]] == [0, 1]
    assert data["features"] == [["blocks.1.hook_resid_post", 178, 4.0]]
    # the unsteered text of a seed is the unsteered model's own sample: run again, same text
    assert run_steer(parse(["--toy-world", "--feature", FEATURE, "--seeds", "0", "--max-new-tokens", "12"])) == 0
    assert data["samples"][0]["unsteered"]["text"] in capsys.readouterr().out


def test_graph_steering_with_a_schedule(capsys):
    rc = run_steer(parse(["--toy-world", "--feature", "blocks.1.hook_resid_post:459:4", "--graph", "--schedule",
                          "exponential", "--up-to-layer", "0", "--seeds", "0", "--max-new-tokens", "8",
                          "--prompt", "the"]))
    out = capsys.readouterr().out
    assert rc == 0 and "blocks.0.hook_resid_post#431" in out and "blocks.1.hook" not in out.splitlines()[0]


@pytest.mark.parametrize("argv, message", [
    (["--toy-world", "--feature", "blocks.1.hook_resid_post:178"], "HOOK:INDEX:STRENGTH"),
    (["--toy-world", "--feature", "blocks.1.hook_resid_post:600:4"], "outside [0, 512)"),
    (["--toy-world", "--feature", "blocks.5.hook_resid_post:1:4"], "no SAE at hook"),
    (["--feature", FEATURE], "either --toy-world or SAEs"),
    (["--toy-world", "--feature", FEATURE, "--seeds", ""], "at least one seed"),
    (["--sae", "gemma-scope-2b-pt-res-canonical:layer_99/width_16k/canonical", "--feature", FEATURE], "close ids"),
])
def test_input_errors(argv, message, capsys):
    assert run_steer(parse(argv)) == 2
    assert message in capsys.readouterr().err


def test_parse_feature():
    assert parse_steer_feature("blocks.2.hook_resid_post:7:-3.5") == ("blocks.2.hook_resid_post", 7, -3.5)
