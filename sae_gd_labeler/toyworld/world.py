"""The shipped toy world: a trained discriminator, its SAEs, the taxonomy and ground-truth synthetic features."""

from __future__ import annotations

import dataclasses
import json
import random
import warnings
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path

import torch
from sae_lens import SAE
from safetensors.torch import load_file
from transformer_lens import HookedTransformer

from sae_gd_labeler.data.example import Example
from sae_gd_labeler.readout.template import PromptTemplate
from sae_gd_labeler.toyworld.accuracy import membership_accuracy
from sae_gd_labeler.toyworld.corpus import SentenceGenerator
from sae_gd_labeler.toyworld.discriminator import PromptEncoder, model_config
from sae_gd_labeler.toyworld.tokenizer import word_level_tokenizer

DATA_DIR = Path(__file__).parent / "data"
NEGATIVE_MODES = ("balanced", "natural")


@dataclass
class ToyWorld:
    """Everything of the toy world; `load_toy_world()` builds it from the shipped files.

    `taxonomy` maps every category (parents included) and every compound concept ("red fruit") to all its
    member words; `categories` are the one-word ones, `compounds` the two-word ones ({name: [attribute,
    category]}), `attributes` the words that carry each attribute; `words` is the label vocabulary (category
    names, member words, fillers, attribute words); `untaught` are the categories whose membership the
    discriminator never saw (`palindrome`).
    """

    model: HookedTransformer
    template: PromptTemplate
    taxonomy: dict[str, list[str]]
    parents: dict[str, str]  # child category -> parent category
    words: list[str]
    function_words: list[str]
    untaught: list[str]
    corpus: list[str]
    saes: dict[str, SAE]
    report: dict = field(default_factory=dict)
    path: Path | None = None
    compounds: dict[str, list[str]] = field(default_factory=dict)  # "red fruit" -> ["red", "fruit"]
    attributes: dict[str, list[str]] = field(default_factory=dict)  # "red" -> the words that carry it

    @property
    def categories(self) -> list[str]:
        """The one-word categories (each name is a token); the compound concepts are `compounds`."""
        return [c for c in self.taxonomy if c not in self.compounds]

    @cached_property
    def _attribute_sets(self) -> dict[str, frozenset[str]]:
        return {a: frozenset(ws) for a, ws in self.attributes.items()}

    @cached_property
    def encoder(self) -> PromptEncoder:
        return PromptEncoder(self.model.tokenizer, self.template)

    @cached_property
    def _members(self) -> dict[str, frozenset[str]]:
        return {cat: frozenset(ws) for cat, ws in self.taxonomy.items()}

    @staticmethod
    def within_sentence(example: Example) -> Example:
        """The example with its context cut to the sentence that holds the token: the discriminator was
        trained on one-sentence contexts, while corpus windows span several sentences."""
        head = example.context[: len(example.context) - len(example.token)]
        start = head.rfind(". ")
        context = example.context[start + 2:] if start >= 0 else example.context
        return dataclasses.replace(example, context=context.strip())

    def is_member(self, word: str, label: str) -> bool:
        """Ground truth of the membership question: the label is the word itself or a category holding it, or
        "<attribute> <label>" where the word carries the attribute and is a member of the one-word label."""
        if " " in label:
            attribute, head = label.split(" ", 1)
            return " " not in head and word in self._attribute_sets.get(attribute, ()) and self.is_member(word, head)
        return label == word or word in self._members.get(label, ())

    def _check_category(self, category: str) -> None:
        if category not in self.taxonomy:
            raise ValueError(f"unknown toy-world category {category!r}; valid categories: "
                             f"{', '.join(self.taxonomy)}")

    def _near_miss_pools(self, category: str) -> list[list[str]]:
        """Near misses in pools that examples_for draws from equally: for a compound, the category's words
        without the attribute and the attribute's words outside the category; otherwise one pool."""
        inside = self._members[category]
        if category in self.compounds:
            attribute, head = self.compounds[category]
            return [[w for w in self.taxonomy[head] if w not in inside],
                    [w for w in self.attributes[attribute] if w not in inside]]
        parent = self.parents.get(category)
        pool = self.taxonomy[parent] if parent else [w for c in self.categories for w in self.taxonomy[c]]
        return [sorted({w for w in pool if w not in inside})]

    # -- synthetic features -----------------------------------------------------------------------
    def near_miss_words(self, category: str) -> list[str]:
        """Words close to `category` without being in it: its siblings' words under the same parent, or for
        a top-level category the words of every other category; for a compound ("red fruit"), the words with
        one of its two parts only (banana, tomato)."""
        self._check_category(category)
        return sorted({w for pool in self._near_miss_pools(category) for w in pool})

    def examples_for(self, category: str, n: int = 64, seed: int = 0, negatives: str = "balanced") -> list[Example]:
        """A synthetic feature firing (1.0) on the category's members and 0.0 elsewhere: n // 2 positives,
        the rest negatives, each context a corpus sentence ending at the token.

        negatives="balanced": half the negatives are near misses (for mammal: birds, fish, insects,
        reptiles; for a compound, half of them words of its category without its attribute, half words with
        its attribute outside its category), half other label words. negatives="natural": the other tokens of
        the same corpus sentences that hold the positives, drawn as they occur (function words mostly, other
        animals rarely).
        """
        self._check_category(category)
        if negatives not in NEGATIVE_MODES:
            raise ValueError(f"negatives must be one of {NEGATIVE_MODES}, got {negatives!r}")
        if n < 2:
            raise ValueError(f"n must be at least 2 (one positive and one negative), got {n}")
        rng = random.Random(seed)
        n_pos, n_neg = n // 2, n - n // 2
        if negatives == "natural":
            return self._natural_examples(category, n_pos, n_neg, rng, seed)
        gen = SentenceGenerator(seed)
        members = self.taxonomy[category]
        pools = [p for p in self._near_miss_pools(category) if p]
        near_set = {w for p in pools for w in p}
        others = [w for w in self.words if not self.is_member(w, category) and w not in near_set] or sorted(near_set)
        pos_words = _cycle(members, n_pos, rng)
        n_near = n_neg // 2 if pools else 0
        shares = [n_near // len(pools) + (i < n_near % len(pools)) for i in range(len(pools))]
        neg_words = [w for p, k in zip(pools, shares) for w in _cycle(p, k, rng)]
        neg_words += _cycle(others, n_neg - n_near, rng)
        out = [_example(gen, w, 1.0) for w in pos_words] + [_example(gen, w, 0.0) for w in neg_words]
        rng.shuffle(out)
        return out

    def _natural_examples(self, category: str, n_pos: int, n_neg: int, rng: random.Random,
                          seed: int) -> list[Example]:
        inside = self._members[category]
        sentences = list(self.corpus)
        rng.shuffle(sentences)
        extra = SentenceGenerator(seed + 1_000_003)
        pos, neg_pool = [], []
        limit = len(sentences) + 200 * (n_pos + n_neg)  # rare categories: keep drawing corpus sentences
        for i in range(limit):
            if len(pos) >= n_pos and len(neg_pool) >= n_neg:
                break
            words = sentences[i].split() if i < len(sentences) else extra.sentence()
            if any(w in inside for w in words):
                for j, w in enumerate(words):
                    (pos if w in inside else neg_pool).append((" ".join(words[: j + 1]), w))
        else:
            raise ValueError(f"found only {len(pos)} occurrences of {category!r} in corpus sentences")
        pos = pos[:n_pos]
        negs = rng.sample(neg_pool, n_neg)  # uniform over token occurrences: the natural frequencies
        out = [Example(c, t, 1.0) for c, t in pos] + [Example(c, t, 0.0) for c, t in negs]
        rng.shuffle(out)
        return out

    # -- discriminator ----------------------------------------------------------------------------
    def discriminator_accuracy(self, labels: list[str] | None = None, words: list[str] | None = None,
                               seed: int = 12345) -> dict:
        """Balanced accuracy of the discriminator's yes / no over every (word, label) pair, on fresh contexts.

        Defaults: all label words, all labels but the untaught ones. Pass `labels` (e.g. one category) for a
        quick per-label check; the full sweep takes some tens of seconds on two CPU cores.
        """
        if labels is not None:  # one-word labels, or two-word ones ("red fruit")
            bad = [lab for lab in labels if not all(w in self.words for w in lab.split()) or len(lab.split()) > 2]
            if bad:
                raise ValueError(f"labels {bad} are not label words (or two of them) of the toy world")
        if labels is None:
            labels = [w for w in self.words if w not in self.untaught]
        return membership_accuracy(self.model, self.encoder, words or self.words, labels, seed=seed)


def _cycle(pool: list[str], k: int, rng: random.Random) -> list[str]:
    """k words from `pool`, each used once per pass, in a seeded order (even coverage of small pools)."""
    out: list[str] = []
    while len(out) < k and pool:
        batch = list(pool)
        rng.shuffle(batch)
        out += batch[: k - len(out)]
    return out


def _example(gen: SentenceGenerator, word: str, activation: float) -> Example:
    words, pos = gen.sentence_with(word)
    return Example(" ".join(words[: pos + 1]), word, activation)


def load_model(path: Path) -> HookedTransformer:
    """The discriminator (with its word-level tokenizer), in eval mode on CPU."""
    vocab = json.loads((path / "vocab.json").read_text())
    tokenizer = word_level_tokenizer(vocab["words"])
    if len(tokenizer.get_vocab()) != vocab["size"]:
        raise ValueError(f"{path / 'vocab.json'}: tokenizer has {len(tokenizer.get_vocab())} tokens, "
                         f"expected {vocab['size']}")
    arch = json.loads((path / "model_config.json").read_text())
    model = HookedTransformer(model_config(**arch), tokenizer=tokenizer)
    state = load_file(str(path / "model.safetensors"))
    model.load_state_dict(state, strict=False)  # strict=False: TL's mask / IGNORE buffers are rebuilt
    missing = {k for k in model.state_dict() if k not in state and not k.endswith((".mask", ".IGNORE"))}
    if missing:
        raise ValueError(f"{path / 'model.safetensors'} lacks weights {sorted(missing)[:5]}")
    return model.eval()


def load_saes(path: Path) -> dict[str, SAE]:
    """Every SAE under `path/saes/`, keyed by the hook name in its metadata."""
    out = {}
    root = path / "saes"
    for cfg in sorted(root.glob("*/cfg.json")) if root.exists() else []:
        with warnings.catch_warnings():  # its advice on model_from_pretrained_kwargs is for hub models
            warnings.filterwarnings("ignore", message=r"\s*This SAE has non-empty model_from_pretrained_kwargs")
            sae = SAE.load_from_disk(str(cfg.parent), device="cpu")
        sae.eval()
        out[sae.cfg.metadata.hook_name] = sae
    return out


def load_toy_world(path: str | Path | None = None) -> ToyWorld:
    """Load the toy world shipped in the package (or one written by `python -m ...toyworld.train --out DIR`)."""
    path = Path(path) if path is not None else DATA_DIR
    if not (path / "model.safetensors").exists():
        raise FileNotFoundError(f"no toy world at {path}: expected model.safetensors there; build one with "
                                "`python -m sae_gd_labeler.toyworld.train --out DIR`")
    tax = json.loads((path / "taxonomy.json").read_text())
    tmpl = json.loads((path / "template.json").read_text())
    report_path = path / "training_report.json"
    with torch.device("cpu"):
        model = load_model(path)
    return ToyWorld(
        model=model,
        template=PromptTemplate(tmpl["text"], tmpl["yes"], tmpl["no"]),
        taxonomy=tax["taxonomy"],
        parents=tax["parents"],
        words=tax["label_words"],
        function_words=tax["function_words"],
        untaught=tax["untaught"],
        corpus=(path / "corpus.txt").read_text(encoding="utf-8").splitlines(),
        saes=load_saes(path),
        report=json.loads(report_path.read_text()) if report_path.exists() else {},
        path=path,
        compounds=tax.get("compounds", {}),  # absent in worlds built before compound concepts
        attributes=tax.get("attributes", {}),
    )
