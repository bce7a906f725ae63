"""How well does each discriminator readout tell a concept's members from other words, on a real LM?

20 hand-written concepts x 20 member words. Positives are (member, its concept); negatives are (member, another
concept drawn at random). `readout_accuracy` scores every pair with one readout (label = the concept, example =
the word alone, its own context) and reports the AUROC over all pairs, `top1` (the share of words whose own
concept scores highest among their pairs) and the cost in seconds per 100 pairs:

    yes_no   logit(Yes) - logit(No) of "is <word> an example of <concept>?" (`PromptTemplate.default_for`: the
             chat template when the tokenizer has one, the base-model prompt otherwise); each word's prefix
             runs once and every concept is scored on top of it
    answer   log P(concept | "...Word: <word>\\nCategory:") - the same after the neutral "N/A" (`AnswerTemplate()`);
             one forward per word gives every one-token concept, a concept of several tokens runs a row per word
    cause    log P(word | "...Category: <concept>\\nWord:") - the same under the neutral label "word"
             (`CauseTemplate()`, few-shot); single-token words share one row per concept

    sae-gd-labeler bench-readouts --model smollm2-135m-instruct --threads 1 --json smollm2.json
    sae-gd-labeler bench-readouts --model gemma-3-270m --threads 1 --json gemma.json
    sae-gd-labeler bench-readouts --model NAME --readouts answer,cause --negatives 19 --threads 1  # both models

Measured with those commands (float32, one thread of a 2-core CPU that other jobs shared, so the times are upper
bounds; they include building each scorer, not loading the model). 1,600 pairs: 400 positives, 3 negatives a word
(`--negatives 3`, the default); the last columns, answer and cause only, 8,000 pairs (all 19 negatives a word):

                                      1,600 pairs                 8,000 pairs
    model                   readout   AUROC   top1   s / 100    AUROC   top1   s / 100
    SmolLM2-135M-Instruct   yes_no    0.555   0.31   10.0       -       -      -
    (yes_no: chat template) answer    0.988   0.97    1.0       0.986   0.87   0.54
                            cause     0.992   0.99    1.9       0.991   0.93   0.93
    Gemma-3-270M            yes_no    0.585   0.35    5.6       -       -      -
    (yes_no: base template) answer    0.988   0.95    1.6       0.990   0.86   0.46
                            cause     0.996   0.99    3.3       0.996   0.98   1.24

Cause minus answer AUROC, 95% interval of a bootstrap over words (pairs resampled a word at a time, from the
--json scores): SmolLM2 -0.0001 to 0.008 (1,600 pairs), 0.002 to 0.009 (8,000); Gemma 0.005 to 0.013 (1,600),
0.004 to 0.008 (8,000). The yes / no question is near chance on both models: its logit(Yes) - logit(No) barely
moves with the word or the concept (the scores were checked against a plain forward of the rendered prompt).
The answer readout's cost is per word (one forward gives every one-token concept; only "body part" is several
tokens on both tokenizers), so it falls per pair as the negatives grow; the yes / no cost is mostly each word's
prefix (SmolLM2's chat prompt, with its system turn, is 45 tokens).

Earlier cause-readout measurements (SmolLM2-135M-Instruct, neutral "word", all 19 negatives a word, 8,000 pairs;
the context row 1,600 pairs, each word in a two-word text from `two_word_contexts`); a row is
`readout_accuracy(model, "cause", concept_pairs(), CAUSE_TEMPLATES[name](model, "word"), contexts=...)`:

    cause template      AUROC   without neutral   top1    s / 100 pairs
    zero-shot           0.952   0.813             0.79    1.0
    few-shot (default)  0.991   0.961             0.93    1.2
    chat                0.906   0.740             0.65    3.9
    context             0.764   0.652             0.67    9.9

Few-shot with neutral "thing" / "N/A" / "category": AUROC 0.989 / 0.991 / 0.992 (SmolLM2 without BOS). Rows are
shared between single-token words (one forward per concept); 94 of the 400 words are several tokens and need a
row each per concept, which is most of the cost; the chat template puts no space before the word, so most words
are several tokens there, and a template with {context} runs one row per pair.
"""

from __future__ import annotations

import random
import time
from collections import defaultdict
from collections.abc import Callable, Sequence

import torch
from torch import Tensor
from transformer_lens import HookedTransformer

from sae_gd_labeler.data.example import Example
from sae_gd_labeler.readout.cause_readout import CONTEXT_TEXT, FEW_SHOT_TEXT, ZERO_SHOT_TEXT, CauseScorer, CauseTemplate
from sae_gd_labeler.readout.discriminator import Discriminator
from sae_gd_labeler.readout.template import AnswerTemplate, PromptTemplate
from sae_gd_labeler.scoring.metrics import auroc

Pair = tuple[str, str, bool]  # (word, concept, the word is a member of the concept)

# Disjoint by construction: no word is a member of two concepts (no "orange", "violet", "turkey", "lead"); none
# is a category of the cause template's shots (planet, shape, month, number). AnswerTemplate's shots are three
# of these pairs (hammer tool, piano instrument, apple fruit): they stay, a slight help to that readout on 3 words.
CONCEPTS: dict[str, str] = {
    "animal": "dog cat horse cow pig sheep goat lion tiger bear wolf fox rabbit deer elephant monkey zebra giraffe "
              "camel mouse",
    "fruit": "apple banana pear grape cherry peach plum mango lemon lime melon strawberry pineapple apricot kiwi "
             "papaya coconut fig raspberry blueberry",
    "vegetable": "carrot potato onion cabbage lettuce spinach broccoli celery cucumber pea bean garlic pumpkin "
                 "turnip radish leek cauliflower asparagus beet kale",
    "tool": "hammer saw drill wrench screwdriver chisel pliers axe shovel rake spade hoe crowbar mallet trowel clamp "
            "hacksaw vise sander awl",
    "vehicle": "car bus truck train bicycle motorcycle van taxi tractor tram scooter jeep ambulance lorry wagon "
               "limousine minivan sedan bulldozer airplane",
    "color": "red blue green yellow purple pink brown black white grey beige crimson scarlet turquoise magenta cyan "
             "maroon indigo teal lavender",
    "country": "France Germany Spain Italy Japan China India Brazil Canada Mexico Egypt Kenya Peru Chile Norway "
               "Sweden Poland Greece Russia Argentina",
    "city": "Paris London Berlin Madrid Rome Tokyo Moscow Chicago Boston Sydney Toronto Cairo Dublin Vienna Prague "
            "Lisbon Athens Mumbai Seattle Amsterdam",
    "instrument": "piano guitar violin cello flute trumpet drum harp saxophone clarinet trombone oboe banjo accordion "
                  "ukulele tuba harmonica xylophone bagpipes viola",
    "furniture": "chair table sofa bed desk shelf cabinet wardrobe stool bench couch dresser bookcase armchair "
                 "cupboard ottoman recliner futon nightstand sideboard",
    "clothing": "shirt jacket coat dress skirt trousers jeans sweater scarf sock glove hat blouse vest hoodie shorts "
                "pajamas tuxedo cardigan raincoat",
    "sport": "football tennis golf hockey baseball basketball rugby volleyball boxing swimming skiing cycling "
             "wrestling badminton archery fencing rowing surfing karate handball",
    "profession": "doctor teacher lawyer nurse engineer farmer pilot chef baker plumber carpenter dentist pharmacist "
                  "architect journalist electrician accountant firefighter mechanic librarian",
    "emotion": "joy anger fear sadness love hate envy pride shame guilt grief hope disgust surprise jealousy anxiety "
               "happiness sorrow rage delight",
    "drink": "water coffee tea milk juice beer wine soda lemonade whiskey vodka cocoa champagne cider rum gin brandy "
             "smoothie espresso tequila",
    "metal": "iron copper gold silver tin zinc nickel aluminum steel titanium platinum bronze brass mercury cobalt "
             "chromium tungsten magnesium uranium lithium",
    "weather": "rain snow hail fog wind storm thunder lightning drizzle sleet blizzard hurricane tornado sunshine "
               "frost mist drought monsoon breeze heatwave",
    "body part": "arm leg hand foot head nose ear eye mouth knee elbow shoulder finger toe neck chin ankle wrist hip "
                 "thumb",
    "flower": "rose tulip daisy lily orchid sunflower daffodil poppy carnation marigold jasmine lotus peony dahlia "
              "magnolia hyacinth geranium begonia petunia azalea",
    "building": "house church school hospital castle tower barn temple museum library palace cottage factory "
                "warehouse skyscraper mosque cathedral stadium hotel prison",
}

READOUTS = ("yes_no", "answer", "cause")


def concept_pairs(negatives_per_word: int | None = None, seed: int = 0) -> list[Pair]:
    """(word, concept, is_member) pairs: every member with its concept, and with `negatives_per_word` other
    concepts drawn at random (None: all of them)."""
    rng = random.Random(seed)
    pairs = []
    for concept, words in CONCEPTS.items():
        others = [c for c in CONCEPTS if c != concept]
        for word in words.split():
            pairs.append((word, concept, True))
            drawn = others if negatives_per_word is None else rng.sample(others, negatives_per_word)
            pairs += [(word, other, False) for other in drawn]
    return pairs


def two_word_contexts(seed: int = 0) -> dict[str, str]:
    """word -> "the <word> and the <other>" (or the other way round), the other word from another concept: for a
    template with {context}, the label has to pick its member out of the text."""
    rng = random.Random(seed)
    concept_of = {w: c for c, words in CONCEPTS.items() for w in words.split()}
    contexts = {}
    for word, concept in concept_of.items():
        other = rng.choice([w for w, c in concept_of.items() if c != concept])
        contexts[word] = f"the {word} and the {other}" if rng.random() < 0.5 else f"the {other} and the {word}"
    return contexts


CHAT_USER_TEXT = "Name one example of this category: {label}"


def chat_text(tokenizer, prepends_bos: bool) -> str:
    """A cause template as a user turn of the tokenizer's chat template; the assistant answers with the word."""
    messages = [{"role": "user", "content": CHAT_USER_TEXT}]
    text = tokenizer.apply_chat_template(messages, tokenize=False, add_generation_prompt=True)
    bos = tokenizer.bos_token
    if prepends_bos and bos and text.startswith(bos):  # the scorer adds BOS itself
        text = text[len(bos):]
    return text + "{token}"


# The cause templates of the earlier table: name -> (model, neutral label) -> template
CAUSE_TEMPLATES: dict[str, Callable[[HookedTransformer, str], CauseTemplate]] = {
    "zero-shot": lambda model, neutral: CauseTemplate(ZERO_SHOT_TEXT, neutral),
    "few-shot": lambda model, neutral: CauseTemplate(FEW_SHOT_TEXT, neutral),
    "chat": lambda model, neutral: CauseTemplate(chat_text(model.tokenizer, model.cfg.default_prepend_bos), neutral),
    # with two_word_contexts: rows cannot be shared between words, and the label must pick its member
    "context": lambda model, neutral: CauseTemplate(CONTEXT_TEXT, neutral),
}

Template = PromptTemplate | AnswerTemplate | CauseTemplate


def default_template(model: HookedTransformer, readout: str) -> Template:
    """The template each readout is measured with unless one is given."""
    if readout == "yes_no":
        return PromptTemplate.default_for(model.tokenizer)
    if readout == "answer":
        return AnswerTemplate()
    if readout == "cause":
        return CauseTemplate()
    raise ValueError(f"unknown readout {readout!r}; expected one of {READOUTS}")


def _by_concept(pairs: Sequence[Pair]) -> dict[str, list[int]]:
    groups: dict[str, list[int]] = defaultdict(list)
    for i, (_, concept, _) in enumerate(pairs):
        groups[concept].append(i)
    return groups


def _examples(words: Sequence[str], contexts: dict[str, str] | None) -> list[Example]:
    return [Example(contexts[w] if contexts else w, w, 0.0) for w in words]


def yes_no_scores(model: HookedTransformer, pairs: Sequence[Pair], template: PromptTemplate,
                  contexts: dict[str, str] | None = None, max_rows: int = 256) -> dict[str, Tensor]:
    """logit(yes) - logit(no) per pair, as `Discriminator.yes_no_logit` gives it: each word's prefix runs once
    (cache_prefixes) and every concept of that word runs only its label + suffix tokens on top."""
    disc = Discriminator(model, template)
    words = sorted({w for w, _, _ in pairs})
    row_of = {w: i for i, w in enumerate(words)}
    prefixes = disc.cache_prefixes(_examples(words, contexts), max_rows=max_rows)
    scores = torch.empty(len(pairs))
    for concept, idx in _by_concept(pairs).items():
        ids = torch.tensor(disc.label_ids(concept), device=disc.device)
        for s in range(0, len(idx), max_rows):
            chunk = idx[s:s + max_rows]
            rows = torch.tensor([row_of[pairs[i][0]] for i in chunk], device=disc.device)
            scores[chunk] = disc.answer_logits(prefixes.select(rows), label_tokens=ids.expand(len(chunk), -1)).cpu()
    return {"scores": scores}


def answer_scores(model: HookedTransformer, pairs: Sequence[Pair], template: AnswerTemplate,
                  contexts: dict[str, str] | None = None, max_rows: int = 256) -> dict[str, Tensor]:
    """log P(concept | example) - log P(concept | neutral) per pair, as `Discriminator.answer_score` gives it: the
    one-token concepts all come from one forward per word (`label_slot_log_probs`), the others by answer_score."""
    disc = Discriminator(model, template)
    groups = _by_concept(pairs)
    single = {c: ids[0] for c in groups if len(ids := disc.label_ids(c)) == 1}
    scores = torch.empty(len(pairs))
    if single:
        words = sorted({pairs[i][0] for c in single for i in groups[c]})
        row_of, col_of = {w: i for i, w in enumerate(words)}, {c: j for j, c in enumerate(single)}
        token_ids = torch.tensor(list(single.values()))
        table = (disc.label_slot_log_probs(_examples(words, contexts), token_ids, max_rows=max_rows)
                 - disc.label_slot_log_probs([], token_ids, neutral=True)).cpu()  # [words, concepts]
        for c in single:
            idx = groups[c]
            scores[idx] = table[[row_of[pairs[i][0]] for i in idx], col_of[c]]
    for c in groups.keys() - single.keys():
        idx = groups[c]
        scores[idx] = disc.answer_score(_examples([pairs[i][0] for i in idx], contexts), c).cpu()
    return {"scores": scores}


def cause_scores(model: HookedTransformer, pairs: Sequence[Pair], template: CauseTemplate,
                 contexts: dict[str, str] | None = None, max_rows: int = 256) -> dict[str, Tensor]:
    """log P(word | concept) - log P(word | neutral label) per pair (`CauseScorer.score_text`), and the raw
    log-probs without the neutral baseline (remembered by the scorer: no extra forward)."""
    scorer = CauseScorer(model, template)
    scores, neutral = torch.empty(len(pairs)), torch.empty(len(pairs))
    for concept, idx in _by_concept(pairs).items():
        examples = _examples([pairs[i][0] for i in idx], contexts)
        scores[idx] = scorer.score_text(examples, concept, max_rows=max_rows).cpu()
        neutral[idx] = scorer.neutral_log_probs(examples).cpu()
    return {"scores": scores, "without_neutral": scores + neutral}


# readout -> (model, pairs, template, contexts, max_rows) -> {"scores": [P], optional other scorings [P]}
SCORERS: dict[str, Callable[..., dict[str, Tensor]]] = {
    "yes_no": yes_no_scores, "answer": answer_scores, "cause": cause_scores,
}


def top1(pairs: Sequence[Pair], scores: Tensor) -> float:
    """The share of words whose highest-scoring pair is a member pair (on a tie, the first pair listed wins)."""
    best: dict[str, tuple[float, bool]] = {}
    for (word, _, is_member), s in zip(pairs, scores.tolist()):
        if word not in best or s > best[word][0]:
            best[word] = (s, is_member)
    return sum(hit for _, hit in best.values()) / len(best)


def readout_accuracy(model: HookedTransformer, readout: str, pairs: Sequence[Pair], template: Template | None = None,
                     contexts: dict[str, str] | None = None, max_rows: int = 256) -> dict:
    """Score every (word, concept, is_member) pair by `readout` ("yes_no", "answer" or "cause"; template: that
    readout's, default `default_template`); the example is the word in `contexts[word]` (default: the word alone).

    Returns the AUROC over all pairs (for cause also without its neutral baseline), `top1`, the scores, and the
    cost: seconds for everything (building the scorer, the neutral baselines, the pairs), per 100 pairs."""
    if readout not in SCORERS:
        raise ValueError(f"unknown readout {readout!r}; expected one of {list(SCORERS)}")
    if not pairs:
        raise ValueError("readout_accuracy needs at least one pair")
    template = template if template is not None else default_template(model, readout)
    start = time.perf_counter()
    with torch.no_grad():
        scored = SCORERS[readout](model, pairs, template, contexts, max_rows)
    seconds = time.perf_counter() - start
    positive = torch.tensor([p[2] for p in pairs])
    scores = scored["scores"]
    result = {
        "readout": readout,
        "template": template.text,
        "pairs": len(pairs),
        "positives": int(positive.sum()),
        "auroc": auroc(scores, positive),
        "top1": top1(pairs, scores),
        "seconds": seconds,
        "seconds_per_100_pairs": 100 * seconds / len(pairs),
    }
    if "without_neutral" in scored:  # what the cause readout's baseline buys
        result["auroc_without_neutral"] = auroc(scored["without_neutral"], positive)
    result["scores"] = scores.tolist()
    return result
