"""An LLM-written explanation of a feature, prompted as delphi's default explainer prompts it: the baseline
users run today (EleutherAI's auto-interp library), here with a small local chat model as the explainer.

    from sae_gd_labeler.models import load_packaged_model
    from sae_gd_labeler.scoring.explainer import explain_features

    explainer = load_packaged_model("smollm2-135m-instruct")
    labels = explain_features(explainer, records, [3, 7], tokenizer=subject_model.tokenizer)  # {3: "...", 7: "..."}

The explanation is a text label: `score_text_labels` scores it beside ours on the same held-out examples.

The prompt follows delphi's `DefaultExplainer` as its pipeline builds it (`delphi/__main__.py`: threshold
0.3, activations shown, no chain of thought; temperature 0), read at EleutherAI/delphi commit 3c2e139:

- kept verbatim: the system prompt `SYSTEM` of `delphi/explainers/default/prompts.py`; its three few-shot
  turns with activations (`EXAMPLE_{1,2,3}_ACTIVATIONS` as user turns, `EXAMPLE_{1,2,3}_EXPLANATION` as
  assistant turns, `delphi/explainers/default/prompt_builder.py`); the highlighting rule of `Explainer._highlight`
  (`delphi/explainers/explainer.py`): a token is marked when its activation is above 0.3 x its context's
  highest, and consecutive marked tokens share one `<<...>>`; the `Activations:` line after each context
  (`Explainer._join_activations`: each marked token with its activation scaled to 0-10 by the highest
  activation of all contexts, rounded up as `delphi/latents/samplers.py` does, at most 11 per context);
  the user turn `"\\n" + contexts joined by "\\n" + "\\n"`; the parsing (the text after "[EXPLANATION]:").
- changed: each context is numbered "Example i: " (delphi's `_highlight` wrote this prefix until commit
  46bfcb9, Feb. 2025, which dropped it; its few-shot turns and `ContrastiveExplainer` still number them): a
  135M model copies the format it was shown. The answer is cut at its first line and stripped of quotes and
  trailing punctuation (delphi keeps everything after the marker: a large model writes one line there, a
  small one may go on); with no marker, its first non-empty line (delphi: "Explanation could not be
  parsed."). Greedy decoding stands for temperature 0.
- shortened, for a 135M model on CPU: the 15 top contexts (delphi: 40, `SamplerConfig.n_examples_train`,
  drawn from activation quantiles), at most `max_new_tokens` (32) generated tokens. Delphi's contexts are
  32-token windows, as ours (`ActivationConfig.context_tokens`).

What SmolLM2-135M-Instruct makes of it (4 synthetic features of real text, 15 contexts each): it answers in
the form of the second few-shot answer with a marked token put in, e.g. 'The token "red" at the end of a
comparative adjective describing size'; without the few-shot turns (`few_shot=False`) it writes no
"[EXPLANATION]:" line and describes the text instead ("The text is a list of examples of ..."). Cost: a
prompt of about 1,500 tokens; the system and few-shot turns (717 tokens) are computed once per
`explain_features` call (`shared_prefix`). On shared CPU cores `torch.set_num_threads(1)` is several times
faster than two threads that wait on each other.

Per-token activations. Our records keep, per occurrence, its context (the window ending at the firing
token) and the activation of that last token only. `record_contexts` fills in the activations of the other
positions of a window that the record kept too (top and positive sample occurrences of the same sequence),
0 elsewhere, and shows a window once: a top occurrence already inside a higher one's window is marked
there, not shown again (delphi's windows do not overlap either).

Never empty: when the answer has no text, the explanation is the most frequent marked token of the shown
contexts (the "most frequent firing token" baseline), else the text of the highest context's last token.
"""

from __future__ import annotations

import math
import re
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import torch
from transformer_lens.cache.key_value_cache import TransformerLensKeyValueCache
from transformer_lens.cache.key_value_cache_entry import TransformerLensKeyValueCacheEntry

from sae_gd_labeler.data.activations import FeatureRecord
from sae_gd_labeler.runs.example_records import TokenTexts

HIGHLIGHT_THRESHOLD = 0.3  # delphi's Explainer.threshold, as its pipeline sets it
N_CONTEXTS = 15  # top contexts shown (delphi: 40)
MAX_NEW_TOKENS = 32  # an explanation is one short line
MAX_SHOWN_ACTIVATIONS = 11  # delphi's _join_activations stops after 11 marked tokens
EXPLANATION_MARKER = "[EXPLANATION]:"
QUOTE_PAIRS = {'"': '"', "'": "'", "`": "`", "“": "”", "‘": "’"}
PREFILL_CHUNK = 256  # prompt tokens per forward: 1,500 tokens at once take twice as long on CPU (measured)

# -- delphi/explainers/default/prompts.py, verbatim (commit 3c2e139) ------------------------------------------
DELPHI_SYSTEM = """You are a meticulous AI researcher conducting an important investigation into patterns found in language. Your task is to analyze text and provide an explanation that thoroughly encapsulates possible patterns found in it.
Guidelines:

You will be given a list of text examples on which special words are selected and between delimiters like <<this>>. If a sequence of consecutive tokens all are important, the entire sequence of tokens will be contained between delimiters <<just like this>>. How important each token is for the behavior is listed after each example in parentheses.

- Try to produce a concise final description. Simply describe the text latents that are common in the examples, and what patterns you found.
- If the examples are uninformative, you don't need to mention them. Don't focus on giving examples of important tokens, but try to summarize the patterns found in the examples.
- Do not mention the marker tokens (<< >>) in your explanation.
- Do not make lists of possible explanations. Keep your explanations short and concise.
- The last line of your response must be the formatted explanation, using [EXPLANATION]:


"""  # noqa: E501  (SYSTEM.format(prompt=""): no chain of thought)

DELPHI_FEW_SHOT = [  # (EXAMPLE_n_ACTIVATIONS, EXAMPLE_n_EXPLANATION), n = 1, 2, 3
    ("""
Example 1:  and he was <<over the moon>> to find
Activations: ("over", 5), (" the", 6), (" moon", 9)
Example 2:  we'll be laughing <<till the cows come home>>! Pro
Activations: ("till", 5), (" the", 5), (" cows", 8), (" come", 8), (" home", 8)
Example 3:  thought Scotland was boring, but really there's more <<than meets the eye>>! I'd
Activations: ("than", 5), (" meets", 7), (" the", 6), (" eye", 8)
""", """
[EXPLANATION]: Common idioms in text conveying positive sentiment.
"""),
    ("""
Example 1:  a river is wide but the ocean is wid<<er>>. The ocean
Activations: ("er", 8)
Example 2:  every year you get tall<<er>>," she
Activations: ("er", 2)
Example 3:  the hole was small<<er>> but deep<<er>> than the
Activations: ("er", 9), ("er", 9)
""", """
[EXPLANATION]: The token "er" at the end of a comparative adjective describing size.
"""),
    ("""
Example 1:  something happening inside my <<house>>", he
Activations: ("house", 7)
Example 2:  presumably was always contained in <<a box>>", according
Activations: ("a", 5), ("box", 9)
Example 3:  people were coming into the <<smoking area>>".

However he
Activations: ("smoking", 2), ("area", 4)
Example 4:  Patrick: "why are you getting in the << way?>>" Later,
Activations: ("way", 4), ("?", 2)
""", """
[EXPLANATION]: Nouns representing a distinct objects that contains something, sometimes preciding a quotation mark.
"""),  # noqa: E501
]


@dataclass(frozen=True)
class Context:
    """One activating context: token ids in text order and the feature's activation on each token."""

    ids: tuple[int, ...]  # [T]
    activations: tuple[float, ...]  # [T]

    def __post_init__(self):
        if len(self.ids) != len(self.activations):
            raise ValueError(f"a context has {len(self.ids)} token ids but {len(self.activations)} activations")


# -- contexts --------------------------------------------------------------------------------------------------
def record_contexts(record: FeatureRecord, n_contexts: int | None = None) -> list[Context]:
    """A record's top contexts, highest first, each window once, with every activation the record knows."""
    top = record.top
    known = _known_activations(record)
    shown: list[tuple[int, int, int]] = []  # (seq, first pos, last pos) of the windows kept
    out = []
    for i, (seq, pos) in enumerate(top.keys()):
        if any(s == seq and first <= pos <= last for s, first, last in shown):
            continue  # already marked inside a higher occurrence's window
        ids = top.context_ids(i)  # [T], ends with the token at `pos`
        first = pos - len(ids) + 1
        out.append(Context(tuple(ids), tuple(known.get((seq, first + j), 0.0) for j in range(len(ids)))))
        shown.append((seq, first, pos))
        if n_contexts is not None and len(out) == n_contexts:
            break
    return out


def _known_activations(record: FeatureRecord) -> dict[tuple[int, int], float]:
    """(seq, pos) -> activation, for every firing occurrence the record kept."""
    known: dict[tuple[int, int], float] = {}
    for occ in (record.positives, record.top):  # top last: its values win (they are the same occurrences)
        known.update(zip(occ.keys(), occ.activation.tolist()))
    return known


def _shown_tokens(context: Context, texts: TokenTexts) -> tuple[list[str], list[float]]:
    """A context's token texts and activations, separators (BOS, EOS, ...) left out but for the last token."""
    keep = [j for j, t in enumerate(context.ids) if t not in texts.separators or j == len(context.ids) - 1]
    strs = texts([context.ids[j] for j in keep])
    return strs, [context.activations[j] for j in keep]


# -- delphi's highlighting ---------------------------------------------------------------------------------------
def highlight(strs: Sequence[str], activations: Sequence[float], threshold: float = HIGHLIGHT_THRESHOLD) -> str:
    """The text with each run of consecutive tokens above threshold x the highest activation in <<...>>."""
    marked = _marked(activations, threshold)
    out, j = [], 0
    while j < len(strs):
        if not marked[j]:
            out.append(strs[j])
            j += 1
            continue
        run = []
        while j < len(strs) and marked[j]:
            run.append(strs[j])
            j += 1
        out.append("<<" + "".join(run) + ">>")
    return "".join(out)


def _marked(activations: Sequence[float], threshold: float) -> list[bool]:
    cut = max(activations, default=0.0) * threshold
    return [a > cut for a in activations]  # strict, as delphi: nothing is marked when all are 0


def activation_line(strs: Sequence[str], activations: Sequence[float], max_activation: float,
                    threshold: float = HIGHLIGHT_THRESHOLD) -> str:
    """delphi's `Activations: ("tok" : 7), ...`: the marked tokens, activations scaled to 0-10, at most 11."""
    pairs = [(s, _scaled(a, max_activation)) for s, a, m in zip(strs, activations, _marked(activations, threshold))
             if m][:MAX_SHOWN_ACTIVATIONS]
    return "Activations: " + "".join(f'("{s}" : {v}), ' for s, v in pairs)


def _scaled(activation: float, max_activation: float) -> int:
    if max_activation <= 0 or not math.isfinite(max_activation):
        return 0
    return int(min(max(math.ceil(activation * 10 / max_activation), 0), 10))


# -- the prompt ----------------------------------------------------------------------------------------------------
def explainer_prompt(contexts: Sequence[Context], tokenizer, *, n_contexts: int = N_CONTEXTS,
                     threshold: float = HIGHLIGHT_THRESHOLD, show_activations: bool = True,
                     few_shot: bool = True, texts: TokenTexts | None = None) -> list[dict[str, str]]:
    """delphi's default explainer messages (system, three few-shot turns, the user turn) for the first
    `n_contexts` contexts. `tokenizer` decodes the contexts (the subject model's); `texts` reuses a decoded
    vocabulary (`TokenTexts(tokenizer)`, built once per tokenizer)."""
    texts = texts if texts is not None else TokenTexts(tokenizer)
    messages = [{"role": "system", "content": DELPHI_SYSTEM}]
    if few_shot:
        for user, assistant in DELPHI_FEW_SHOT:
            messages += [{"role": "user", "content": user}, {"role": "assistant", "content": assistant}]
    messages.append({"role": "user", "content": "\n" + _examples_block(contexts[:n_contexts], texts, threshold,
                                                                          show_activations) + "\n"})
    return messages


def _examples_block(contexts: Sequence[Context], texts: TokenTexts, threshold: float, show_activations: bool) -> str:
    max_activation = max((a for c in contexts for a in c.activations), default=0.0)
    lines = []
    for i, context in enumerate(contexts, start=1):
        strs, acts = _shown_tokens(context, texts)
        lines.append(f"Example {i}: " + highlight(strs, acts, threshold))  # delphi's until 46bfcb9
        if show_activations:
            lines.append(activation_line(strs, acts, max_activation, threshold))
    return "\n".join(lines)


def marked_spans(contexts: Sequence[Context], texts: TokenTexts, threshold: float = HIGHLIGHT_THRESHOLD) -> list[str]:
    """The stripped text of every <<...>> span of the contexts, in order."""
    spans = []
    for context in contexts:
        strs, acts = _shown_tokens(context, texts)
        spans += [s.strip() for s in re.findall(r"<<(.*?)>>", highlight(strs, acts, threshold), re.DOTALL)]
    return [s for s in spans if s]


# -- the answer ------------------------------------------------------------------------------------------------
def parse_explanation(answer: str) -> str:
    """The first line of text after the last "[EXPLANATION]:" (when nothing follows it, or it is absent: the
    answer's first non-empty line), without markdown bold, surrounding quotes or trailing punctuation; ""
    when the answer has no text."""
    _, marker, tail = answer.rpartition(EXPLANATION_MARKER)
    for text in (tail if marker else "", answer.replace(EXPLANATION_MARKER, "\n")):
        line = next((cleaned for ln in text.splitlines() if (cleaned := _clean(ln))), "")
        if line:
            return line
    return ""


def _clean(line: str) -> str:
    while True:
        before = line
        line = line.strip().strip("*").strip().rstrip(".,;:!").strip()
        if len(line) >= 2 and QUOTE_PAIRS.get(line[0]) == line[-1]:  # only a pair: keep 'er' in The token 'er'
            line = line[1:-1]
        if line == before:
            return line


def _fallback(contexts: Sequence[Context], texts: TokenTexts, threshold: float) -> str:
    """The most frequent marked span (ties: the first seen), else the highest context's last token."""
    spans = marked_spans(contexts, texts, threshold)
    if spans:
        return Counter(spans).most_common(1)[0][0]
    last = texts(list(contexts[0].ids[-1:])) if contexts and contexts[0].ids else []
    return (last[0].strip() if last else "") or "unexplained"


# -- generation ------------------------------------------------------------------------------------------------
def chat_ids(messages: list[dict[str, str]], tokenizer, *, open_answer: bool = True) -> list[int]:
    """The explainer's prompt ids: its chat template (with the assistant turn opened), tokenized without adding
    special tokens (the template writes SmolLM2's `<|im_start|>` itself: no second BOS)."""
    text = tokenizer.apply_chat_template(messages, tokenize=False, add_generation_prompt=open_answer)
    return tokenizer(text, add_special_tokens=False)["input_ids"]


@dataclass
class PromptPrefix:
    """Keys and values of prompt ids that many prompts start with (delphi's system and few-shot turns)."""

    ids: list[int]  # [P]
    cache: TransformerLensKeyValueCache

    @staticmethod
    @torch.no_grad()
    def build(model, ids: list[int]) -> PromptPrefix:
        cache = TransformerLensKeyValueCache.init_cache(model.cfg, model.cfg.device, batch_size=1)
        _extend(model, ids, cache)
        return PromptPrefix(list(ids), cache)

    def covers(self, ids: list[int]) -> bool:
        return len(ids) > len(self.ids) and ids[:len(self.ids)] == self.ids

    def fork(self) -> TransformerLensKeyValueCache:
        """A cache that starts with this prefix; appending to it leaves the prefix as it is (append concatenates
        into new tensors, it never writes into the shared ones)."""
        entries = [TransformerLensKeyValueCacheEntry(e.past_keys, e.past_values) for e in self.cache.entries]
        return TransformerLensKeyValueCache(entries, self.cache.previous_attention_mask)


def _extend(model, ids: list[int], cache: TransformerLensKeyValueCache) -> torch.Tensor:
    """Run `ids` after what `cache` holds (and append them to it); the next-token logits [d_vocab]."""
    for start in range(0, len(ids), PREFILL_CHUNK):
        tokens = torch.tensor([ids[start:start + PREFILL_CHUNK]], device=model.cfg.device)  # [1, n]
        # an explicit mask: TransformerLens would take a leading pad id (SmolLM2's pad is <|im_end|>) for padding
        logits = model(tokens, past_kv_cache=cache, attention_mask=torch.ones_like(tokens))  # [1, n, d_vocab]
    return logits[0, -1]


@torch.no_grad()
def generate_greedy(model, ids: list[int], max_new_tokens: int = MAX_NEW_TOKENS,
                    prefix: PromptPrefix | None = None) -> str:
    """Greedy continuation of `ids` (deterministic; the tokens of TransformerLens's `generate(do_sample=False)`),
    decoded without special tokens; stops at EOS. A `prefix` that `ids` start with is not recomputed."""
    if prefix is not None and prefix.covers(ids):
        cache, todo = prefix.fork(), ids[len(prefix.ids):]
    else:
        cache, todo = TransformerLensKeyValueCache.init_cache(model.cfg, model.cfg.device, batch_size=1), ids
    eos = model.tokenizer.eos_token_id
    new: list[int] = []
    for _ in range(max_new_tokens):
        token = int(_extend(model, todo, cache).argmax())
        if token == eos:
            break
        new.append(token)
        todo = [token]
    return model.tokenizer.decode(new, skip_special_tokens=True)


def explain_feature(model, contexts: Sequence[Context], *, max_new_tokens: int = MAX_NEW_TOKENS,
                    n_contexts: int = N_CONTEXTS, tokenizer=None, texts: TokenTexts | None = None,
                    threshold: float = HIGHLIGHT_THRESHOLD, show_activations: bool = True,
                    few_shot: bool = True, prefix: PromptPrefix | None = None) -> str:
    """The explainer `model`'s explanation of the feature whose top contexts are `contexts` (highest first).

    `model`: a HookedTransformer with a chat template (e.g. the packaged SmolLM2). `tokenizer` decodes the
    contexts (the subject model's; default the explainer's own), `texts` is its decoded vocabulary if one is
    at hand, `prefix` the cached shared turns (`shared_prefix`). Never empty (see the module docstring)."""
    texts = texts if texts is not None else TokenTexts(tokenizer or model.tokenizer)
    shown = list(contexts[:n_contexts])
    messages = explainer_prompt(shown, texts.tokenizer, n_contexts=n_contexts, threshold=threshold,
                                show_activations=show_activations, few_shot=few_shot, texts=texts)
    answer = generate_greedy(model, chat_ids(messages, model.tokenizer), max_new_tokens, prefix)
    return parse_explanation(answer) or _fallback(shown, texts, threshold)


def shared_prefix(model, *, few_shot: bool = True) -> PromptPrefix:
    """The cached turns that every feature's prompt starts with: delphi's system prompt and few-shot turns."""
    messages = explainer_prompt([], model.tokenizer, few_shot=few_shot)[:-1]  # the user turn left out
    return PromptPrefix.build(model, chat_ids(messages, model.tokenizer, open_answer=False))


def explain_features(model, records: Mapping[int, FeatureRecord], ids: Sequence[int], *, tokenizer=None,
                     n_contexts: int = N_CONTEXTS, few_shot: bool = True, **kwargs) -> dict[int, str]:
    """explain_feature of each feature in `ids` from its record's top contexts (`record_contexts`); dead
    features are left out. The shared turns are computed once for all features."""
    texts = TokenTexts(tokenizer or model.tokenizer)  # decoded once for all features
    prefix = shared_prefix(model, few_shot=few_shot)
    out = {}
    for feature in ids:
        contexts = record_contexts(records[feature], n_contexts)
        if contexts:
            out[feature] = explain_feature(model, contexts, n_contexts=n_contexts, texts=texts, few_shot=few_shot,
                                           prefix=prefix, **kwargs)
    return out
