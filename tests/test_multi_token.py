"""K-token labels (LabelerConfig.label_tokens = K): a K-slot one-hot label is exactly the K-token text on real
architectures (with and without the prefix cache and the shared-prefix layout), the searches are deterministic
and batch-invariant, every reported loss is exact, and a compound concept of the toy world ("red fruit", a
two-word label that no single token matches) is recovered."""

import copy

import pytest
import torch

from sae_gd_labeler import Example, LabelerConfig, PromptTemplate, label_examples
from sae_gd_labeler.readout.discriminator import Discriminator
from sae_gd_labeler.readout.vocab import candidate_token_ids, round_trips
from sae_gd_labeler.search.answer_search import label_score, target_of
from sae_gd_labeler.search.calibration import fit_calibration
from sae_gd_labeler.search.discrete_search import starts
from sae_gd_labeler.search.feature_batch import FeatureBatch
from sae_gd_labeler.search.label_length import balanced_mean, paired_excess
from sae_gd_labeler.search.labeler import split_examples
from sae_gd_labeler.search.objective import prediction_loss
from sae_gd_labeler.search.soft_search import soft_loss
from tests.builders import ARCHITECTURES, WORDS, tiny_model
from tests.test_answer_readout import CONTEXT_TEMPLATE, EXAMPLES
from tests.test_labeler import FAST, FEATURES
from tests.test_vocab import gpt2_disc  # noqa: F401  (a fixture: a tiny model with GPT-2's tokenizer)

TEMPLATE = PromptTemplate("{context} . is {token} a {label} ? answer :", " yes", " no")
EXTRA = ("is", "a", "?", "answer", ":", "yes", "no", ".")
ANSWER_EXTRA = ("word", ":", "category", "is", "a", "n/a", "?", "yes", "no")
ANSWER_TEMPLATE = CONTEXT_TEMPLATE  # the answer readout's test template, with a context slot
PAIRS = [("big", "cat"), ("red", "road"), ("old", "king"), ("cat", "cat")]  # label 0 is "big cat"


pytestmark = pytest.mark.usefixtures("one_thread")  # tiny models: see tests/conftest.py


def one_hots(disc: Discriminator, ids: torch.Tensor) -> torch.Tensor:
    """[..., K] token ids -> [..., K, d_vocab] one-hot probability labels."""
    return torch.nn.functional.one_hot(ids, disc.d_vocab).float()


def pair_ids(disc: Discriminator) -> torch.Tensor:
    """PAIRS as token ids, [Q, 2]."""
    return torch.tensor([[disc.label_ids(w)[0] for w in pair] for pair in PAIRS])


@pytest.mark.parametrize("arch,overrides", [("gpt2", {}), ("llama", {}), ("gemma2", {"window_size": 64}),
                                            ("gemma2", {})])  # the default tiny window (8): plain fallback
def test_two_slot_one_hot_label_equals_the_two_token_string(arch, overrides):
    disc = Discriminator(tiny_model(arch, WORDS + EXTRA, **overrides), TEMPLATE)
    # independent reference: the rendered prompt tokenized as one text, one forward, no padding or cache
    want = []
    for ex in EXAMPLES:
        logits = disc.model(disc.model.to_tokens(TEMPLATE.render(ex.context, ex.token, "big cat")))[0, -1]
        want.append(logits[disc.yes_id] - logits[disc.no_id])
    want = torch.stack(want).detach()
    ids = pair_ids(disc)  # [Q, 2]
    p = one_hots(disc, ids[0])  # [2, d_vocab]
    for use_cache in (False, True):
        torch.testing.assert_close(disc.yes_no_logit(EXAMPLES, "big cat", use_cache=use_cache), want, atol=1e-4, rtol=0)
        torch.testing.assert_close(disc.yes_no_logit(EXAMPLES, p, use_cache=use_cache), want, atol=1e-4, rtol=0)
    # the search's layout: Q two-token labels side by side after each cached prefix, hard and one-hot
    cache = disc.cache_prefixes(EXAMPLES)
    n, q = len(EXAMPLES), len(PAIRS)
    labels = ids.expand(n, -1, -1)  # [N, Q, 2]
    with torch.no_grad():
        hard = disc.answer_grid(cache, labels)  # [N, Q]
        soft = disc.answer_grid(cache, label_embeds=one_hots(disc, labels) @ disc.W_E)
        rows = torch.arange(n).repeat_interleave(q)
        alone = disc.answer_logits(cache.select(rows), label_tokens=labels.reshape(-1, 2))
    torch.testing.assert_close(hard[:, 0], want, atol=1e-4, rtol=0)
    torch.testing.assert_close(soft, hard, atol=1e-5, rtol=0)
    torch.testing.assert_close(hard, alone.view(n, q), atol=1e-5, rtol=0)
    assert all(not hp._forward_hooks for hp in disc.model.hook_dict.values())


@pytest.mark.parametrize("arch", ARCHITECTURES)
def test_search_scores_two_token_labels_exactly(arch):
    """FeatureBatch's hard answers of two-token labels equal the text labels in a plain forward; its
    differentiable loss at their one-hot rows equals their hard loss; exact_loss adds the mean naturalness."""
    disc = Discriminator(tiny_model(arch, WORDS + EXTRA), TEMPLATE)
    config = FAST.replace(label_tokens=2)
    data = [split_examples(f, ex, config) for f, ex in FEATURES.items()]
    batch = FeatureBatch(disc, data, candidate_token_ids(disc, config.candidate_vocab), config)
    feature = torch.tensor([2, 0, 2, 1])
    token = torch.tensor([[5, 3], [3, 9], [1, 1], [7, 2]])  # candidate indices [Q, 2]
    answers = batch.hard_answers(feature, token, "eval")
    offsets = [sum(len(d.train) for d in batch.features[:f]) for f in range(len(batch))]
    for f, t, (rows, got) in zip(feature.tolist(), token, answers):
        examples = [batch.features[f].train[int(r) - offsets[f]] for r in rows]
        text = disc.tokenizer.decode(batch.candidate_ids[t].tolist()).strip()
        torch.testing.assert_close(got, disc.yes_no_logit(examples, text, use_cache=False), atol=1e-4, rtol=0)
    losses = batch.exact_loss(feature, token, "eval")
    for f, t, (rows, got), loss in zip(feature.tolist(), token, answers, losses):
        pos = batch.positive[rows]
        pred = prediction_loss(got, batch.targets[rows])
        natural = -batch.log_q[f, t].mean()
        assert float(loss) == pytest.approx(float(0.5 * pred[pos].mean() + 0.5 * pred[~pos].mean()
                                                  + config.kl_weight * natural), abs=1e-5)
    rows = batch.fixed_rows("eval", 6)  # [F, 6]
    with torch.no_grad():
        step = batch.step_loss(feature, batch.W_cand[token], rows)  # one-hot rows: W_cand[t] = onehot @ W_cand
        for f, t, s in zip(feature.tolist(), token, step):
            hard = disc.answer_logits(batch.cache.select(rows[f]), label_tokens=batch.candidate_ids[t].expand(6, -1))
            assert float(s) == pytest.approx(float(prediction_loss(hard, batch.targets[rows[f]]).mean()), abs=1e-5)


@pytest.fixture(scope="module")
def disc():
    return Discriminator(tiny_model("llama", WORDS + EXTRA), TEMPLATE)


@pytest.mark.parametrize("method,k,changes", [("discrete", 2, {}), ("soft", 2, {}), ("hybrid", 2, {}),
                                               ("discrete", 3, {}), ("discrete", 2, {"restarts": 4, "start_scan": 7})])
def test_k_token_search_is_deterministic_and_batch_invariant(disc, method, k, changes):
    cfg = FAST.replace(method=method, feature_batch_size=3, label_tokens=k, **changes)
    together = label_examples(FEATURES, disc, cfg)
    again = label_examples(FEATURES, disc, cfg)
    alone = {f: label_examples({f: ex}, disc, cfg)[f] for f, ex in FEATURES.items()}
    for f in FEATURES:
        lab = together[f]
        assert lab.labeled and len(lab.token_ids) == k
        assert lab.to_dict() == again[f].to_dict()
        assert lab.label == alone[f].label and lab.token_ids == alone[f].token_ids
        assert [c.token_ids for c in lab.candidates] == [c.token_ids for c in alone[f].candidates]
        for a, b in zip(lab.candidates, alone[f].candidates):
            assert a.loss == pytest.approx(b.loss, abs=1e-4)
        assert all(len(c.token_ids) == k for c in lab.candidates)
        losses = [c.loss for c in lab.candidates]
        assert losses == sorted(losses) and lab.candidates[0].token_ids == lab.token_ids
        # the label is its text: it tokenizes back to its tokens
        assert disc.label_ids(lab.label) == list(lab.token_ids) and lab.search_history["label_round_trips"]
        if method != "discrete":  # the soft phase's curves are named by position
            assert {name.split(":")[0] for name in lab.trajectory if name != "_steps"} == {str(i + 1) for i in range(k)}


@pytest.mark.parametrize("restarts,scan", [(4, 4096), (3, 4096), (4, 9)])
def test_half_the_k_token_starts_are_the_best_pairs_of_the_best_one_token_labels(disc, restarts, scan):
    """The last restarts // 2 starts of a two-token search are, by brute force, the best pairs (by exact loss on
    the evaluation rows) of the 12 best one-token labels (by exact loss on the probe rows) among every candidate
    (or the scanned ones), less the pairs the other starts already hold; one-token starts do not change."""
    cfg = FAST.replace(label_tokens=2, restarts=restarts, start_scan=scan)
    data = [split_examples(f, ex, cfg) for f, ex in FEATURES.items()]
    candidates = candidate_token_ids(disc, cfg.candidate_vocab)
    n_cand = len(candidates)
    start = starts(FeatureBatch(disc, data, candidates, cfg))  # [F, R, 2]
    assert start.shape == (len(data), restarts, 2)
    n_pairs, n_old = restarts // 2, restarts - restarts // 2
    batch = FeatureBatch(disc, data, candidates, cfg)  # fresh generators: replay the draws of `starts`
    for f in range(len(data)):
        torch.randperm(n_cand, generator=batch.generators[f])  # the random probes of the start pool
        scanned = (torch.arange(n_cand) if scan >= n_cand
                   else torch.randperm(n_cand, generator=batch.generators[f])[:scan].sort().values)
        one = batch.exact_loss(torch.full((len(scanned),), f), scanned, rowset="probe")
        best = [int(scanned[i]) for i in sorted(range(len(scanned)), key=lambda i: (float(one[i]), i))][:12]
        pairs = [(a, b) for a in best for b in best]
        two = batch.exact_loss(torch.full((len(pairs),), f), torch.tensor(pairs)).tolist()
        old = {tuple(t) for t in start[f, :n_old].tolist()}
        ranked = sorted((v, t) for v, t in zip(two, pairs) if t not in old)
        assert [tuple(t) for t in start[f, n_old:].tolist()] == [t for _, t in ranked[:n_pairs]]
        assert (best[0], best[1]) in pairs and len(set(pairs)) == min(12, len(scanned)) ** 2
    one_token = starts(FeatureBatch(disc, data, candidates, cfg.replace(label_tokens=1)))
    assert one_token.shape == (len(data), restarts)


def test_start_scan_must_be_positive():
    with pytest.raises(ValueError, match="start_scan must be an integer >= 1"):
        LabelerConfig(start_scan=0)


def test_discrete_history_and_candidates_hold_exact_losses(disc):
    """Every K-token label a restart held is reported with its exact loss on the evaluation rows, and every
    candidate with its exact loss on all training rows."""
    cfg = FAST.replace(label_tokens=2, discrete_max_iters=4)
    lab = label_examples({"animals": FEATURES["animals"]}, disc, cfg)["animals"]
    batch = FeatureBatch(disc, [split_examples("animals", FEATURES["animals"], cfg)],
                         candidate_token_ids(disc, cfg.candidate_vocab), cfg)
    index = {int(t): i for i, t in enumerate(batch.candidate_ids.tolist())}

    def indices(text):
        return [index[t] for t in disc.label_ids(text)]

    for restart in lab.search_history["restarts"]:
        token = torch.tensor([indices(text) for text in restart["tokens"]])  # [S, 2]
        exact = batch.exact_loss(torch.zeros(len(token), dtype=torch.long), token)
        assert restart["losses"] == pytest.approx(exact.tolist(), abs=1e-5)
    token = torch.tensor([[index[t] for t in c.token_ids] for c in lab.candidates])
    exact = batch.exact_loss(torch.zeros(len(token), dtype=torch.long), token, "train")
    assert [c.loss for c in lab.candidates] == pytest.approx(exact.tolist(), abs=1e-5)


def test_bfloat16_two_token_soft_step_is_float32_and_close_to_float32():
    losses, grads = [], []
    model = tiny_model("llama", WORDS + EXTRA)
    for m in (model, tiny_model("llama", WORDS + EXTRA).to(torch.bfloat16)):
        d = Discriminator(m, TEMPLATE)
        cfg = FAST.replace(label_tokens=2, restarts=2, entropy_warmup_steps=0)
        batch = FeatureBatch(d, [split_examples("a", FEATURES["animals"], cfg)], torch.arange(d.d_vocab), cfg)
        v = torch.randn(1, 2, 2, d.d_vocab, generator=torch.Generator().manual_seed(0)).requires_grad_(True)
        with d.frozen():
            loss = soft_loss(batch, v, batch.sample_rows(), step=1)  # [F, R]
            loss.sum().backward()
        assert loss.shape == (1, 2) and loss.dtype == torch.float32 and v.grad.dtype == torch.float32
        losses.append(loss.detach())
        grads.append(v.grad.flatten())
    torch.testing.assert_close(losses[1], losses[0], atol=0.02, rtol=0.02)
    assert torch.nn.functional.cosine_similarity(grads[0], grads[1], dim=0) > 0.99


# -- the label-as-answer readout: an exhaustive first token, then a beam --------------------------------------
@pytest.fixture(scope="module")
def answer_disc():
    return Discriminator(tiny_model("llama", WORDS + ANSWER_EXTRA), ANSWER_TEMPLATE)


@pytest.mark.parametrize("arch", ARCHITECTURES)
def test_next_label_token_log_probs_match_plain_forward_passes(arch):
    disc = Discriminator(tiny_model(arch, WORDS + ANSWER_EXTRA), ANSWER_TEMPLATE)
    first = [disc.label_ids("big")[0], disc.label_ids("red")[0], disc.label_ids("big")[0]]
    got = disc.label_slot_log_probs_after(EXAMPLES, [[t] for t in first])  # [N, d_vocab]
    neutral = disc.label_slot_log_probs_after([], [first[:1], first[1:2]], neutral=True)  # [2, d_vocab]
    cat = disc.label_ids("cat")[0]
    prefixes = [ANSWER_TEMPLATE.prefix(ex.context, ex.token) for ex in EXAMPLES]
    prefixes += [ANSWER_TEMPLATE.neutral_prefix()] * 2
    for row, (prefix, t) in zip(torch.cat([got, neutral]), zip(prefixes, first + first[:2])):
        tokens = disc.model.to_tokens(prefix + ANSWER_TEMPLATE.label_lead + disc.tokenizer.decode([t]).strip())
        with torch.no_grad():
            want = disc.model(tokens)[0, -1].log_softmax(-1)
        assert float(row[cat]) == pytest.approx(float(want[cat]), abs=1e-4)


def test_answer_beam_is_deterministic_batch_invariant_and_exact(answer_disc):
    disc = answer_disc
    cfg = FAST.replace(label_tokens=2, feature_batch_size=3)
    together = label_examples(FEATURES, disc, cfg)
    again = label_examples(FEATURES, disc, cfg)
    assert {f: v.to_dict() for f, v in together.items()} == {f: v.to_dict() for f, v in again.items()}
    for f, examples in FEATURES.items():
        lab = together[f]
        alone = label_examples({f: examples}, disc, cfg)[f]
        assert lab.to_dict() == alone.to_dict()
        assert len(lab.token_ids) == 2 and lab.search_history["method"] == "beam"
        assert disc.label_ids(lab.label) == list(lab.token_ids)
        # each candidate's loss, recomputed from its text's score (teacher forcing) and a fresh calibration
        data = split_examples(f, examples, cfg)
        positive = torch.tensor([ex.activation > 0 for ex in data.train])
        for c in lab.candidates[:3]:
            calibration = fit_calibration(label_score(disc, data.train, c.token_ids)[:, None], target_of(data, cfg))
            positives = [ex for ex, p in zip(data.train, positive) if p]
            natural = -disc.text_log_prob(positives, list(c.token_ids)).mean() / 2  # per token
            assert c.loss == pytest.approx(float(calibration.loss[0] + cfg.kl_weight * natural), abs=1e-4)


def test_a_wider_answer_beam_never_finds_a_worse_two_token_label(answer_disc):
    """A wider beam keeps every first token a narrower one keeps, so with K = 2 its best label is at least as
    good; a beam of every candidate is the exhaustive two-token search. K = 1 stays the exhaustive readout."""
    one = label_examples({"animals": FEATURES["animals"]}, answer_disc, FAST)["animals"]
    assert one.search_history["method"] == "exhaustive" and len(one.token_ids) == 1
    best = [label_examples({"animals": FEATURES["animals"]}, answer_disc,
                           FAST.replace(label_tokens=2, answer_beam=width))["animals"].candidates[0].loss
            for width in (1, 8, 10_000)]
    assert best[2] <= best[1] + 1e-5 and best[1] <= best[0] + 1e-5


# -- round trips -----------------------------------------------------------------------------------------------
def test_round_trips_on_a_real_subword_tokenizer(gpt2_disc):  # noqa: F811
    disc = gpt2_disc

    def encode(text):
        return disc.tokenizer(text, add_special_tokens=False)["input_ids"]

    assert round_trips(disc, encode(" red fruit"))
    assert round_trips(disc, encode(" sea") + encode(" animal"))
    assert not round_trips(disc, encode(" the") + encode("re"))  # " there" is one token
    assert not round_trips(disc, encode(" ")[:1] * 2)  # whitespace only: no text at all


# -- recovery: a compound concept of the shipped toy world ----------------------------------------------------
COMPOUND = "red fruit"  # the discriminator was trained on it; no single word names it


@pytest.fixture(scope="module")
def toy():
    from sae_gd_labeler.toyworld import load_toy_world

    world = load_toy_world()
    return world, Discriminator(world.model, world.template)


@pytest.mark.parametrize("seed", [0, 1])
@pytest.mark.parametrize("method", ["discrete", "hybrid"])
def test_compound_two_token_label_is_recovered_and_beats_every_single_token(toy, seed, method):
    """The best single token ("fruit") says half of it: held-out balanced accuracy 0.79 and 0.88 on seeds 0 and 1
    against the pair's 1.0, and a training loss about 0.9 nats worse (1.06 and 1.15 against 0.18 and 0.17)."""
    world, disc = toy
    examples = {COMPOUND: world.examples_for(COMPOUND, n=96, seed=seed)}
    two = label_examples(examples, disc, LabelerConfig(label_tokens=2, seed=seed, method=method))[COMPOUND]
    one = label_examples(examples, disc, LabelerConfig(seed=seed))[COMPOUND]
    assert two.label == COMPOUND and two.metrics["balanced_accuracy"] == 1.0
    assert one.metrics["balanced_accuracy"] <= two.metrics["balanced_accuracy"] - 0.1
    assert two.candidates[0].loss < one.candidates[0].loss - 0.5


def test_bfloat16_discriminator_recovers_the_compound(toy):
    world, disc = toy
    examples = {COMPOUND: world.examples_for(COMPOUND, n=96, seed=0)}
    low = Discriminator(copy.deepcopy(world.model).to(torch.bfloat16), world.template)
    lab = label_examples(examples, low, LabelerConfig(label_tokens=2))[COMPOUND]
    assert lab.label == COMPOUND and lab.metrics["balanced_accuracy"] > 0.9


# -- label_tokens="auto": the shortest label not meaningfully worse on held-out examples ----------------------
def test_paired_excess_is_the_balanced_mean_difference_and_its_standard_error():
    positive = torch.tensor([True, True, True, False, False])
    reference = torch.tensor([0.1, 0.2, 0.3, 0.4, 0.5])
    loss = reference + torch.tensor([1.0, 2.0, 3.0, 0.0, 0.0])
    excess, error = paired_excess(loss, reference, positive)
    assert excess == pytest.approx(0.5 * 2.0 + 0.5 * 0.0)
    assert error == pytest.approx((0.25 * 1.0 / 3) ** 0.5)  # positives' differences: variance 1, 3 of them
    assert balanced_mean(loss, positive) == pytest.approx(0.5 * 2.2 + 0.5 * 0.45)


def test_auto_keeps_one_token_for_a_category_and_two_for_a_compound(toy):
    world, disc = toy
    features = {"fruit": world.examples_for("fruit", n=64, seed=0),
                COMPOUND: world.examples_for(COMPOUND, n=96, seed=0)}
    config = LabelerConfig(label_tokens="auto")
    labels = label_examples(features, disc, config)
    assert labels["fruit"].label == "fruit" and labels[COMPOUND].label == COMPOUND
    for lab, chosen in ((labels["fruit"], 1), (labels[COMPOUND], 2)):
        info = lab.search_history["label_length"]
        assert info["chosen"] == chosen and info["lengths"] == [1, 2] and info["rule"] == "one standard error"
        k = chosen - 1
        assert info["excess"][k] <= max(info["standard_error"][k], info["negligible"])
    # the compound beats one token by far more than the noise; the category's second token adds nothing
    info = labels[COMPOUND].search_history["label_length"]
    assert info["excess"][0] > 2 * info["standard_error"][0]
    again = label_examples(features, disc, config)
    assert {f: v.to_dict() for f, v in labels.items()} == {f: v.to_dict() for f, v in again.items()}


def test_auto_with_the_answer_readout_and_a_feature_without_enough_examples(answer_disc):
    few = [Example("the cat", "cat", 1.0), Example("the dog", "dog", 1.0), Example("the car", "car", 0.0)]
    features = {"animals": FEATURES["animals"], "few": few}
    labels = label_examples(features, answer_disc, FAST.replace(label_tokens="auto", max_label_tokens=3))
    assert labels["few"].status == "too_few_examples"
    info = labels["animals"].search_history["label_length"]
    assert info["lengths"] == [1, 2, 3] and len(labels["animals"].token_ids) == info["chosen"]
    assert labels["animals"].calibration is not None
