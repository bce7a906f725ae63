"""Baseline labels: the most frequent firing token and the output projection, scored beside ours."""

import pytest
import torch

from sae_gd_labeler import Discriminator, LabelerConfig, label_features
from sae_gd_labeler.data.activations import FeatureRecord, Occurrences, collect_activations
from sae_gd_labeler.data.sampling import sample_examples
from sae_gd_labeler.scoring.baselines import most_frequent_token, output_projection_tokens
from sae_gd_labeler.scoring.metrics import classification_metrics
from sae_gd_labeler.scoring.text_score import labeler_split
from sae_gd_labeler.toyworld import load_toy_world
from tests.builders import random_sae, tiny_model


def occurrences(keys, tokens, acts):
    n = len(keys)
    long = dict(dtype=torch.long)
    return Occurrences(torch.tensor([k[0] for k in keys], **long), torch.tensor([k[1] for k in keys], **long),
                       torch.tensor(tokens, **long), torch.tensor(acts, dtype=torch.float32), torch.zeros(n, 2, **long))


def record(top, positives):
    empty = occurrences([], [], [])
    return FeatureRecord(0, 100, 10, 5.0, 0.0, top, positives, empty, empty)


@pytest.fixture(scope="module")
def tok():
    return tiny_model("gpt2").tokenizer


def test_most_frequent_token_counts_each_occurrence_once(tok):
    cat, dog, red = (tok.convert_tokens_to_ids(w) for w in ("cat", "dog", "red"))
    # "cat" appears 3 times but twice at the same (seq, pos): it counts 2, "dog" 3
    top = occurrences([(0, 1), (0, 2), (1, 1)], [cat, cat, dog], [5.0, 4.0, 3.0])
    positives = occurrences([(0, 1), (2, 3), (3, 3)], [cat, dog, dog], [5.0, 1.0, 1.0])
    assert most_frequent_token(record(top, positives), tok) == "dog"
    # a tie (2 and 2) goes to the larger summed activation
    tie = occurrences([(0, 1), (0, 2), (1, 1), (1, 2)], [cat, red, red, cat], [1.0, 2.0, 2.0, 1.0])
    assert most_frequent_token(record(tie, occurrences([], [], [])), tok) == "red"
    assert most_frequent_token(record(occurrences([], [], []), occurrences([], [], [])), tok) == ""


def test_most_frequent_token_leaves_out_the_held_out_occurrences(tok):
    cat, dog = (tok.convert_tokens_to_ids(w) for w in ("cat", "dog"))
    top = occurrences([(0, 1), (1, 1), (2, 1)], [dog, dog, cat], [5.0, 4.0, 3.0])
    positives = occurrences([(3, 1), (0, 1)], [cat, dog], [1.0, 5.0])
    assert most_frequent_token(record(top, positives), tok) == "dog"
    # the two "dog" occurrences are held out: only "cat" (twice) is left to count
    assert most_frequent_token(record(top, positives), tok, exclude=[(0, 1), (1, 1)]) == "cat"
    assert most_frequent_token(record(top, positives), tok, exclude=[(0, 1), (1, 1), (2, 1), (3, 1)]) == ""


def test_output_projection_ranks_the_unembedding_of_the_decoder_direction():
    """Independent: logits of the residual direction through the real final norm and unembedding, taken
    as a finite difference around a point where the norm is the identity map of that direction."""
    model = tiny_model("llama")  # RMSNorm with a gain
    sae = random_sae("standard", model, "blocks.1.hook_resid_post", d_sae=8)
    with torch.no_grad():
        model.ln_final.w.copy_(1.0 + 0.5 * torch.rand(model.cfg.d_model))
    tok = model.tokenizer
    for f in range(8):
        got = output_projection_tokens(sae, model, f, k=5)
        direction = sae.W_dec[f].float()
        logits = (direction * model.ln_final.w) @ model.W_U  # RMSNorm is a positive scale times the gain
        order = [tok.decode([t]).strip() for t in logits.argsort(descending=True).tolist()
                 if t not in tok.all_special_ids]
        assert got == [t for t in order if t][:5]
    dog = tok.convert_tokens_to_ids("dog")
    with torch.no_grad():
        sae.W_dec[3] = model.W_U[:, dog] / model.ln_final.w
    assert output_projection_tokens(sae, model, 3)[0] == "dog"


def test_output_projection_of_hook_z_and_layernorm_models():
    model = tiny_model("gpt2")  # LayerNorm: the mean is removed
    z = random_sae("standard", model, "blocks.0.attn.hook_z", d_sae=4)
    resid = torch.einsum("hd,hdm->m", z.W_dec[2].view(model.cfg.n_heads, -1), model.W_O[0])
    resid = (resid - resid.mean()) * model.ln_final.w
    tok = model.tokenizer
    want = [tok.decode([t]).strip() for t in (resid @ model.W_U).argsort(descending=True).tolist()
            if t not in tok.all_special_ids]
    assert output_projection_tokens(z, model, 2, k=3) == [t for t in want if t][:3]
    with pytest.raises(ValueError, match="outside"):
        output_projection_tokens(z, model, 99)


@pytest.fixture(scope="module")
def toy_run():
    world = load_toy_world()
    sae = world.saes["blocks.1.hook_resid_post"]
    disc = Discriminator(world.model, world.template)
    config = LabelerConfig(restarts=2, discrete_max_iters=4)
    features = [3, 17, 40, 101]
    labels = label_features(sae, features, model=world.model, discriminator=disc, dataset=world.corpus[:1500],
                            config=config, example_fn=world.within_sentence)
    return world, sae, disc, config, features, labels


def test_label_features_scores_both_baselines_on_the_labels_examples(toy_run):
    world, sae, disc, config, features, labels = toy_run
    records = collect_activations(world.model, sae, world.corpus[:1500], features)
    sampled = sample_examples(records, world.model.tokenizer, config)
    assert any(lab.labeled for lab in labels)
    for f, lab in zip(features, labels):
        if not lab.labeled:
            assert lab.baselines is None
            continue
        assert set(lab.baselines) == {"most_frequent_token", "output_projection"}
        mft, proj = lab.baselines["most_frequent_token"], lab.baselines["output_projection"]
        s = sampled[f]
        assert mft["label"] == most_frequent_token(records[f], world.model.tokenizer, exclude=s.heldout_keys)
        assert proj["top_tokens"] == output_projection_tokens(sae, world.model, f)
        assert proj["label"] == proj["top_tokens"][0]
        train = [world.within_sentence(ex) for ex in s.train]
        heldout = [world.within_sentence(ex) for ex in s.heldout]
        held = labeler_split({f: train}, config, heldout={f: heldout})[f][1]
        truth = torch.tensor([ex.activation > 0 for ex in held])
        for baseline in (mft, proj):  # independent: plain forward passes, no cache
            want = classification_metrics(disc.yes_no_logit(held, baseline["label"], use_cache=False), truth)
            assert baseline["metrics"]["auroc"] == pytest.approx(want["auroc"], abs=1e-6)
            assert baseline["metrics"]["balanced_accuracy"] == pytest.approx(want["balanced_accuracy"], abs=1e-6)


def test_baselines_can_be_left_out(toy_run):
    world, sae, disc, config, features, labels = toy_run
    again = label_features(sae, features, model=world.model, discriminator=disc, dataset=world.corpus[:1500],
                           config=config, example_fn=world.within_sentence, baselines=False)
    for lab, base in zip(again, labels):
        assert lab.label == base.label and lab.status == base.status
        assert lab.baselines is None
