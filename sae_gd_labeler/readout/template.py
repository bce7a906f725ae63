"""What the discriminator is asked: a yes / no question about the label (`PromptTemplate`), or a cloze
prompt whose answer is the label itself (`AnswerTemplate`)."""

from __future__ import annotations

import re
from dataclasses import dataclass

CONTEXT, TOKEN, LABEL = "{context}", "{token}", "{label}"
_SLOT = re.compile(r"\{context\}|\{token\}")

BASE_TEXT = '{context}\n\nQuestion: in the text above, is "{token}" an example of {label}?\nAnswer:'
CHAT_USER_TEXT = (
    "Text: {context}\n\nIn the text above, is the word \"{token}\" an example of the concept {label}? "
    "Answer Yes or No."
)


def label_lead(text: str) -> str:
    """The whitespace just before `{label}` in a template text."""
    head = text[: text.index(LABEL)]
    return head[len(head.rstrip()):]


def filled_prefix(text: str, context: str, token: str) -> str:
    """A template text up to `{label}` (less the label's lead whitespace), with the example filled in."""
    head = text[: text.index(LABEL)].rstrip()
    return _SLOT.sub(lambda m: context if m.group(0) == CONTEXT else token, head)


@dataclass(frozen=True)
class PromptTemplate:
    """Prompt text with `{context}`, `{token}` and `{label}` slots and single-token yes / no answers.

    The label comes after the context and the token, so everything before it (the prefix) depends only
    on the example and is computed once. Whitespace right before `{label}` belongs to the label: with
    "of {label}?" the label "animal" is read as the token " animal", as a tokenizer would split it.
    """

    text: str = BASE_TEXT
    yes: str = " Yes"
    no: str = " No"

    def __post_init__(self):
        for slot in (CONTEXT, TOKEN, LABEL):
            n = self.text.count(slot)
            if n != 1:
                raise ValueError(f"PromptTemplate.text must contain {slot} exactly once, found it {n} "
                                 f"times in {self.text!r}")
        label_at = self.text.index(LABEL)
        if self.text.index(CONTEXT) > label_at or self.text.index(TOKEN) > label_at:
            raise ValueError("PromptTemplate.text must put {label} after {context} and {token} "
                             f"(so the example prefix can be cached); got {self.text!r}")
        if self.yes == self.no:
            raise ValueError(f"PromptTemplate.yes and .no must differ, both are {self.yes!r}")

    # -- pieces -------------------------------------------------------------------------------------
    @property
    def label_lead(self) -> str:
        """The whitespace just before `{label}`, which is tokenized together with the label."""
        return label_lead(self.text)

    @property
    def suffix(self) -> str:
        """Everything after the label; the answer is read at its last token."""
        return self.text[self.text.index(LABEL) + len(LABEL):]

    def prefix(self, context: str, token: str) -> str:
        """Everything before the label (less `label_lead`), with the example filled in."""
        return filled_prefix(self.text, context, token)

    def render(self, context: str, token: str, label: str) -> str:
        return self.prefix(context, token) + self.label_lead + label + self.suffix

    # -- checks against a tokenizer ---------------------------------------------------------------
    def answer_ids(self, tokenizer) -> tuple[int, int]:
        """The token ids of the yes and no answers; ValueError unless each is exactly one token."""
        ids = []
        for name, answer in (("yes", self.yes), ("no", self.no)):
            toks = tokenizer(answer, add_special_tokens=False)["input_ids"]
            if len(toks) != 1:
                raise ValueError(f"PromptTemplate.{name}={answer!r} is {len(toks)} tokens for this "
                                 f"tokenizer ({toks}); choose an answer that is a single token, e.g. "
                                 "with or without a leading space")
            ids.append(toks[0])
        if ids[0] == ids[1]:
            raise ValueError(f"PromptTemplate yes {self.yes!r} and no {self.no!r} are the same token (id {ids[0]}) in "
                             "this tokenizer, which probably lacks both words; give the discriminator a template "
                             "whose answers are two distinct single tokens of its vocabulary, e.g. "
                             "Discriminator(model, PromptTemplate(text, yes=' yes', no=' no')) (for the toy world: "
                             "Discriminator(world.model, world.template))")
        return ids[0], ids[1]

    def validate(self, tokenizer) -> None:
        if tokenizer is None:
            raise ValueError("the discriminator model has no tokenizer; build it with one "
                             "(HookedTransformer(cfg, tokenizer=...)) or call model.set_tokenizer(...)")
        self.answer_ids(tokenizer)
        if not tokenizer(self.suffix, add_special_tokens=False)["input_ids"]:
            raise ValueError("PromptTemplate.text needs at least one token after {label} (e.g. '?' or "
                             "'Answer:'), where the yes / no answer is read")

    # -- defaults ---------------------------------------------------------------------------------
    @classmethod
    def for_base_model(cls) -> PromptTemplate:
        return cls(BASE_TEXT, " Yes", " No")

    @classmethod
    def for_chat_model(cls, tokenizer) -> PromptTemplate:
        """The question as a user turn in the tokenizer's chat template, answered by the assistant."""
        messages = [{"role": "user", "content": CHAT_USER_TEXT}]
        text = tokenizer.apply_chat_template(messages, tokenize=False, add_generation_prompt=True)
        bos = tokenizer.bos_token
        if bos and text.startswith(bos):  # the discriminator adds BOS itself
            text = text[len(bos):]
        return cls(text, "Yes", "No")

    @classmethod
    def default_for(cls, tokenizer) -> PromptTemplate:
        """The chat template when the tokenizer has one, the base-model template otherwise."""
        if getattr(tokenizer, "chat_template", None):
            return cls.for_chat_model(tokenizer)
        return cls.for_base_model()


CLOZE_TEXT = ("Word: hammer\nCategory: tool\n\nWord: piano\nCategory: instrument\n\nWord: apple\nCategory: fruit"
              "\n\nWord: {token}\nCategory: {label}")
# The same cloze with the example's text before its word. Measured on real SAE features of SmolLM2 (contexts cut
# to their last sentence): lower held-out balanced accuracy than the word alone under both packaged judges, for
# our labels and the most frequent token alike, at 4 to 6 times the time;
# `python -m sae_gd_labeler.bench.real_sae_labels --template context` reruns it.
CONTEXT_CLOZE_TEXT = ("Text: I fixed the shelf with a hammer\nWord: hammer\nCategory: tool\n\n"
                      "Text: She played the piano all evening\nWord: piano\nCategory: instrument\n\n"
                      "Text: For lunch he ate an apple\nWord: apple\nCategory: fruit\n\n"
                      "Text: {context}\nWord: {token}\nCategory: {label}")


@dataclass(frozen=True)
class AnswerTemplate:
    """A cloze prompt that ends in the label slot: the label is what the discriminator is asked to produce.

    score(example, label) = log P(label | prompt(example)) - log P(label | prompt(neutral)): how much more
    the discriminator expects the label after this example than after a neutral filler (`neutral` fills both
    `{context}` and `{token}`). One forward per example gives the score of every one-token label at once.
    `{context}` is optional (the few-shot cloze works on words alone).
    """

    text: str = CLOZE_TEXT
    neutral: str = "N/A"

    def __post_init__(self):
        for slot, allowed in ((TOKEN, (1,)), (LABEL, (1,)), (CONTEXT, (0, 1))):
            n = self.text.count(slot)
            if n not in allowed:
                raise ValueError(f"AnswerTemplate.text must contain {slot} {' or '.join(map(str, allowed))} "
                                 f"time(s), found it {n} times in {self.text!r}")
        if not self.text.endswith(LABEL):
            raise ValueError("AnswerTemplate.text must end with {label}: the label is the answer the discriminator "
                             f"is asked to produce; got {self.text!r}")
        if not self.neutral.strip():
            raise ValueError("AnswerTemplate.neutral must be a non-empty filler such as 'N/A'")

    @property
    def label_lead(self) -> str:
        """The whitespace just before `{label}`, tokenized together with the label."""
        return label_lead(self.text)

    @property
    def suffix(self) -> str:
        return ""

    @property
    def head(self) -> str:
        """The text before the first example slot (the few-shot part), the same for every example: it runs
        once. Its trailing whitespace goes with the example part, as a tokenizer would split it."""
        first = min(self.text.index(s) for s in (CONTEXT, TOKEN) if s in self.text)
        return self.text[:first].rstrip()

    def prefix(self, context: str, token: str) -> str:
        return filled_prefix(self.text, context, token)

    def neutral_prefix(self) -> str:
        return self.prefix(self.neutral, self.neutral)

    def render(self, context: str, token: str, label: str) -> str:
        return self.prefix(context, token) + self.label_lead + label

    def validate(self, tokenizer) -> None:
        if tokenizer is None:
            raise ValueError("the discriminator model has no tokenizer; build it with one "
                             "(HookedTransformer(cfg, tokenizer=...)) or call model.set_tokenizer(...)")
