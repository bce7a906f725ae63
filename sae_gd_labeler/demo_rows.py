"""The demo's output, shared by the toy-world demo (`demo`) and the real-model one (`demo_real`): which SAE
features to show, one table row per labeled feature (label, status, held-out score, candidates, top
contexts) and the report's feature page for all of them.

    out = DemoOutput()
    out.add_synthetic("animal", "animal", labels["animal"], examples)
    out.add_sae_feature(hook, lab, records[lab.feature], top_tokens[lab.feature], texts)
    rows, html = out.rows, out.html(title, intro)
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field

from sae_gd_labeler.data.example import Example
from sae_gd_labeler.report import FeatureData, report_html

N_TOP_CONTEXTS = 5  # per row; the page shows all the records hold
N_TOP_TOKENS = 8  # a feature's highest activations whose tokens decide whether it is about words
MIN_CONTENT_TOKENS = 4  # of those, at least this many must be content words


@dataclass
class DemoOutput:
    """Rows and feature pages, in the order the features were added."""

    rows: list[dict] = field(default_factory=list)
    pages: list[FeatureData] = field(default_factory=list)

    def add_synthetic(self, name: str, expected: str, lab, examples: list[Example]) -> None:
        record = synthetic_record(examples)
        self.pages.append(FeatureData({**lab.to_dict(), "feature": name}, record))
        self.rows.append(feature_row(name, expected, lab, record))

    def add_sae_feature(self, hook: str, lab, record, top_tokens: Sequence[str], texts) -> None:
        """`record`: the feature's FeatureRecord; `texts`: a runs.example_records.TokenTexts."""
        from sae_gd_labeler.runs.example_records import example_record  # imports torch

        name = f"{hook} #{lab.feature}"
        page_record = example_record(record, texts, hook, [], [])
        self.rows.append(feature_row(name, "top tokens: " + " ".join(sorted(set(top_tokens))), lab, page_record))
        self.pages.append(FeatureData({**lab.to_dict(), "feature": name, "hook_name": hook}, page_record))

    def html(self, title: str, intro: str) -> str:
        return report_html(self.pages, title, intro=intro)


def top_token_texts(records: Mapping, decode: Callable[[list[int]], str]) -> dict[int, list[str]]:
    """Each feature's N_TOP_TOKENS highest-activation tokens, as text without surrounding spaces."""
    return {f: [decode([int(t)]).strip() for t in records[f].top.token_id[:N_TOP_TOKENS]] for f in records}


def choose_features(records: Mapping, top_tokens: Mapping[int, list[str]], is_content: Callable[[str], bool],
                    n: int, min_content: int = MIN_CONTENT_TOKENS) -> list[int]:
    """The `n` most active alive features with at least `min_content` content words among their top tokens:
    a label word cannot describe a feature of "." or "the"."""
    wordy = [f for f in records if not records[f].dead and sum(map(is_content, top_tokens[f])) >= min_content]
    return sorted(wordy, key=lambda f: -records[f].n_fired)[:n]


def synthetic_record(examples: list[Example]) -> dict:
    """The examples.jsonl record of a synthetic feature: its positives as top contexts (activation 1 by
    construction, so no histogram)."""
    positives = sorted((ex for ex in examples if ex.activation > 0), key=lambda ex: -ex.activation)
    top = [{"tokens": [ex.context[: len(ex.context) - len(ex.token)], ex.token], "activation": ex.activation}
           for ex in positives[:16] if ex.context.endswith(ex.token)]
    return {"top": top, "max_activation": max((ex.activation for ex in positives), default=None)}


def feature_row(name: str, expected: str, lab, record: dict) -> dict:
    top = [{"context": "".join(c["tokens"][:-1]), "token": c["tokens"][-1], "activation": c["activation"]}
           for c in record.get("top", [])[:N_TOP_CONTEXTS] if c["tokens"]]
    return {"feature": name, "expected": expected, "label": lab.label, "status": lab.status,
            "balanced_accuracy": lab.metrics.get("balanced_accuracy"),
            "candidates": [{"label": c.label, "loss": c.loss} for c in lab.candidates], "top_contexts": top}
