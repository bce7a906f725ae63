"""How well does a readout tell a concept's members from other words, on a real LM? (the label-as-cause readout)

20 hand-written concepts x 20 member words. Positives are (member, its concept); negatives are (member, another
concept), every other one by default. `cause_readout_auroc` scores every pair with `CauseScorer` (label =
the concept, example = the word) and reports the AUROC over all pairs, the share of words whose own concept
scores highest among their pairs, and the cost.

    python -m sae_gd_labeler.bench.readout_accuracy --model smollm2-135m-instruct --templates zero-shot,few-shot,chat
    python -m sae_gd_labeler.bench.readout_accuracy --templates context --negatives 3

Measured on SmolLM2-135M-Instruct (float32, one thread of a 2-core CPU that other jobs shared, so the times are
upper bounds), neutral label "word"; 8,000 pairs (400 positives), the context row 1,600 pairs (3 negatives a
word, each word in a two-word text):

    template            AUROC   without neutral   top1    s / 100 pairs
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

import argparse
import json
import random
import time
from collections import defaultdict
from collections.abc import Callable, Sequence

import torch
from transformer_lens import HookedTransformer

from sae_gd_labeler.cause_readout import CONTEXT_TEXT, FEW_SHOT_TEXT, ZERO_SHOT_TEXT, CauseScorer, CauseTemplate
from sae_gd_labeler.example import Example
from sae_gd_labeler.metrics import auroc

# Disjoint by construction: no word is a member of two concepts (no "orange", "violet", "turkey", "lead"); none
# is a category of the few-shot template's shots (planet, shape, month, number).
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

CHAT_USER_TEXT = "Name one example of this category: {label}"


def chat_text(tokenizer, prepends_bos: bool) -> str:
    """The question as a user turn of the tokenizer's chat template; the assistant answers with the word."""
    messages = [{"role": "user", "content": CHAT_USER_TEXT}]
    text = tokenizer.apply_chat_template(messages, tokenize=False, add_generation_prompt=True)
    bos = tokenizer.bos_token
    if prepends_bos and bos and text.startswith(bos):  # the scorer adds BOS itself
        text = text[len(bos):]
    return text + "{token}"


# name -> (model, neutral label) -> template
TEMPLATES: dict[str, Callable[[HookedTransformer, str], CauseTemplate]] = {
    "zero-shot": lambda model, neutral: CauseTemplate(ZERO_SHOT_TEXT, neutral),
    "few-shot": lambda model, neutral: CauseTemplate(FEW_SHOT_TEXT, neutral),
    "chat": lambda model, neutral: CauseTemplate(chat_text(model.tokenizer, model.cfg.default_prepend_bos), neutral),
    # with two_word_contexts: rows cannot be shared between words, and the label must pick its member
    "context": lambda model, neutral: CauseTemplate(CONTEXT_TEXT, neutral),
}


def concept_pairs(negatives_per_word: int | None = None, seed: int = 0) -> list[tuple[str, str, bool]]:
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


def cause_readout_auroc(model: HookedTransformer, pairs: Sequence[tuple[str, str, bool]],
                        template: CauseTemplate | None = None, max_rows: int = 256,
                        contexts: dict[str, str] | None = None) -> dict:
    """Score every (word, concept, is_member) pair by the cause readout; the example is the word in
    `contexts[word]` (default: the word alone, its own context).

    Returns the AUROC over all pairs (and of the raw log-probs, without the neutral baseline), `top1` (the
    share of words whose own concept scores highest among that word's pairs), and the cost: seconds for
    everything (the head, the neutral baseline of every word, the pairs), per 100 pairs."""
    start = time.perf_counter()
    scorer = CauseScorer(model, template)
    by_concept: dict[str, list[int]] = defaultdict(list)
    for i, (_, concept, _) in enumerate(pairs):
        by_concept[concept].append(i)
    scores, neutral = torch.empty(len(pairs)), torch.empty(len(pairs))
    with torch.no_grad():
        for concept, idx in by_concept.items():
            words = [pairs[i][0] for i in idx]
            examples = [Example(contexts[w] if contexts else w, w, 0.0) for w in words]
            scores[idx] = scorer.score_text(examples, concept, max_rows=max_rows).cpu()
            neutral[idx] = scorer.neutral_log_probs(examples).cpu()  # remembered: no forward
    seconds = time.perf_counter() - start
    positive = torch.tensor([p[2] for p in pairs])
    best: dict[str, tuple[float, bool]] = {}
    for (word, _, is_member), s in zip(pairs, scores.tolist()):
        if word not in best or s > best[word][0]:
            best[word] = (s, is_member)
    return {
        "template": scorer.template.text,
        "neutral": scorer.template.neutral,
        "pairs": len(pairs),
        "positives": int(positive.sum()),
        "auroc": auroc(scores, positive),
        "auroc_without_neutral": auroc(scores + neutral, positive),  # raw log P(word | label): what the baseline buys
        "top1": sum(hit for _, hit in best.values()) / len(best),
        "seconds": seconds,
        "seconds_per_100_pairs": 100 * seconds / len(pairs),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", default="smollm2-135m-instruct", help="a name load_packaged_model knows")
    parser.add_argument("--templates", default="zero-shot,few-shot,chat", help=f"comma-separated, of {list(TEMPLATES)}")
    parser.add_argument("--neutral", default=CauseTemplate.neutral, help="the baseline label")
    parser.add_argument("--negatives", type=int, default=None, help="other concepts per word (default: all 19)")
    parser.add_argument("--dtype", default="float32", choices=["float32", "bfloat16"])
    parser.add_argument("--threads", type=int, default=None, help="torch CPU threads")
    args = parser.parse_args(argv)
    unknown = set(args.templates.split(",")) - set(TEMPLATES)
    if unknown:
        parser.error(f"unknown templates {sorted(unknown)}; choose from {list(TEMPLATES)}")
    if args.threads:
        torch.set_num_threads(args.threads)
    from sae_gd_labeler.models import load_packaged_model  # the real model: only this command needs it

    model = load_packaged_model(args.model, dtype=args.dtype)
    pairs = concept_pairs(args.negatives)
    for name in args.templates.split(","):
        template = TEMPLATES[name](model, args.neutral)
        contexts = two_word_contexts() if template.uses_context else None
        result = cause_readout_auroc(model, pairs, template, contexts=contexts)
        print(json.dumps({"name": name, **result}))  # noqa: T201
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
