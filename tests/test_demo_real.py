"""`sae-gd-labeler demo --model NAME`: the name is checked before anything loads, the SAE features shown are
alive and about words, and runs on the real SmolLM2 give labeled rows with top contexts and write the page."""

import functools
import html
import importlib.util
import json
import subprocess
import sys

import pytest

from sae_gd_labeler.cli import main
from sae_gd_labeler.demo_real import REAL_DEMOS, is_content_word
from sae_gd_labeler.demo_rows import choose_features, top_token_texts
from tests.test_models import SMOL, needs_smollm2

SYNTHETIC = ("animal", "mammal_balanced", "mammal_natural", "number", "chinese", "palindrome")


def test_an_unknown_model_is_refused_with_the_valid_names_before_anything_loads(tmp_path):
    out = tmp_path / "out"
    code = ("import sys\nfrom sae_gd_labeler.cli import main\n"
            f"try:\n    main(['demo', '--model', 'gpt2', '--out', {str(out)!r}])\n"
            "except SystemExit as e:\n    print(e.code, 'torch' in sys.modules)\n")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert done.stdout.split() == ["2", "False"]  # exit 2, and torch was never imported
    assert "invalid choice: 'gpt2'" in done.stderr and SMOL in done.stderr
    assert not out.exists()


def test_a_missing_model_package_gives_the_install_command(tmp_path, capsys, monkeypatch):
    import sae_gd_labeler.readout.discriminator  # noqa: F401  (torch and transformers imported before find_spec is faked)
    from sae_gd_labeler.models import PACKAGED_MODELS

    monkeypatch.setattr(importlib.util, "find_spec", lambda *args, **kwargs: None)
    assert main(["demo", "--model", SMOL, "--out", str(tmp_path / "out")]) == 2
    err = capsys.readouterr().err
    assert PACKAGED_MODELS[SMOL].install in err and "Traceback" not in err
    assert not (tmp_path / "out").exists()


def test_content_words_are_whole_words_of_any_script_not_punctuation_function_words_or_fragments():
    assert all(map(is_content_word, ["cat", "Lord", "running", "狗"]))
    assert not any(map(is_content_word, [".", ",", "!", "'s", "42", "", "the", "The", "of", "s", "os", "ine", "gh"]))


def test_the_sae_features_shown_are_the_most_active_alive_ones_about_words():
    vocab = [".", ",", " the", " cat", " dog", " horse", " fox", "!", " s"]
    records = {
        0: _record([0, 1, 0, 7, 0, 1, 3, 0], n_fired=900),  # punctuation, the most active
        1: _record([2, 2, 2, 3, 2, 2], n_fired=800),  # "the"
        2: _record([3, 4, 0, 5, 1, 6], n_fired=300),  # animals, among some punctuation
        3: _record([], n_fired=0),  # dead
        4: _record([5, 5, 6, 6, 3], n_fired=100),
        5: _record([8, 8, 8, 8, 3, 8], n_fired=500),  # the "s" of "'s"
    }
    top = top_token_texts(records, lambda ids: vocab[ids[0]])
    assert top[2] == ["cat", "dog", ".", "horse", ",", "fox"]  # spaces stripped
    assert choose_features(records, top, is_content_word, 5) == [2, 4]
    assert choose_features(records, top, is_content_word, 1) == [2]
    assert choose_features(records, top, is_content_word, 5, min_content=5) == [4]  # the real demo's stricter bar


def _record(token_ids: list[int], n_fired: int):
    from types import SimpleNamespace

    return SimpleNamespace(top=SimpleNamespace(token_id=token_ids), n_fired=n_fired, dead=n_fired == 0)


@needs_smollm2
def test_a_reduced_demo_on_smollm2_labels_its_features_and_writes_the_page(tmp_path, monkeypatch):
    """1 SAE feature over 1,024 corpus tokens, 16 examples per synthetic feature (about 20 s on 2 cores)."""
    import sae_gd_labeler.demo_real as demo_real

    monkeypatch.setattr(demo_real, "real_demo", functools.partial(demo_real.real_demo, n_examples=16))
    rows = _run_demo(tmp_path, ["--sae-features", "1", "--n-tokens", "1024"], n_sae=1)
    assert [r["feature"] for r in rows[:len(SYNTHETIC)]] == list(SYNTHETIC)


@needs_smollm2
@pytest.mark.slow
def test_the_demo_on_smollm2_recovers_animal_and_number(tmp_path):
    """The command as users run it (about 2 minutes on 2 shared cores)."""
    rows = _run_demo(tmp_path, [], n_sae=6)
    labels = {r["feature"]: r["label"] for r in rows}
    assert labels["animal"] == "animal" and labels["number"] == "number"  # as bench-quality finds them


def _run_demo(tmp_path, flags: list[str], n_sae: int) -> list[dict]:
    """Run the command into tmp_path/out; check its rows and page; return the rows."""
    out = tmp_path / "out"
    assert main(["demo", "--model", SMOL, "--out", str(out), *flags]) == 0
    rows = json.loads((out / "labels.json").read_text())
    page = (out / "report.html").read_text()
    hook = REAL_DEMOS[SMOL]
    assert len(rows) == len(SYNTHETIC) + n_sae
    assert sum(r["feature"].startswith(f"{hook} #") for r in rows) == n_sae
    for row in rows:
        assert row["label"] and row["status"] in ("ok", "weak") and row["candidates"]
        assert row["top_contexts"] and all(c["token"] for c in row["top_contexts"])
        assert f"<q>{html.escape(row['label'])}</q>" in page
    return rows
