"""Labels that need no search, scored beside ours on the same held-out examples.

- most frequent token: the token the feature fires on most often (among its kept firing occurrences, less
  those held out for scoring: a baseline must not see the examples it is scored on);
- output projection: the top tokens of the feature's decoder direction read through the unembedding,
  W_dec[i] @ W_U (the "output-centric" descriptions of arXiv 2501.08319), the first of them as the label.

Both are text in the subject model's tokenizer, stripped of the whitespace around them: the
discriminator's template puts its own space before a label (see template.PromptTemplate.label_lead).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Collection, Mapping
from typing import Any

import torch

from sae_gd_labeler.data.activations import FeatureRecord, Occurrences
from sae_gd_labeler.data.example import Example
from sae_gd_labeler.readout.discriminator import Discriminator
from sae_gd_labeler.scoring.text_score import labeler_split, score_label_sets
from sae_gd_labeler.search.config import LabelerConfig
from sae_gd_labeler.search.result import FeatureLabel

MOST_FREQUENT, OUTPUT_PROJECTION = "most_frequent_token", "output_projection"


def most_frequent_token(record: FeatureRecord, tokenizer, exclude: Collection[tuple[int, int]] = ()) -> str:
    """The most frequent token among the feature's firing occurrences (`record.top` and `record.positives`,
    each (seq, pos) once, those whose (seq, pos) is in `exclude` left out), as stripped text; ties go to the
    larger summed activation, then the lower id. Tokens that are only whitespace are passed over; "" when
    nothing is left (a dead feature)."""
    count: dict[int, int] = defaultdict(int)
    mass: dict[int, float] = defaultdict(float)
    seen: set[tuple[int, int]] = set(exclude)
    occ = Occurrences.cat([record.top, record.positives])
    for key, token, act in zip(occ.keys(), occ.token_id.tolist(), occ.activation.tolist()):
        if key not in seen and act > record.firing_threshold:
            seen.add(key)
            count[token] += 1
            mass[token] += act
    for token in sorted(count, key=lambda t: (-count[t], -mass[t], t)):
        text = tokenizer.decode([token]).strip()
        if text:
            return text
    return ""


@torch.no_grad()
def output_projection_tokens(sae, model, feature: int, k: int = 5) -> list[str]:
    """The k tokens whose logits the feature's decoder direction raises most, W_dec[feature] @ W_U, as
    distinct stripped texts (special and whitespace-only tokens skipped). The direction is first carried to
    the residual stream (through W_O for an SAE on hook_z, W_out for one on mlp.hook_post) and through the
    final norm's linear part (mean removal of LayerNorm, its gain when not folded into W_U)."""
    if not 0 <= feature < sae.W_dec.shape[0]:
        raise ValueError(f"feature {feature} is outside the SAE's {sae.W_dec.shape[0]} features")
    resid = _to_residual(sae, model, sae.W_dec[feature].float().to(model.W_U.device))  # [d_model]
    if model.cfg.normalization_type in ("LN", "LNPre"):
        resid = resid - resid.mean()
    gain = getattr(getattr(model, "ln_final", None), "w", None)
    if gain is not None:
        resid = resid * gain.float()
    logits = resid @ model.W_U.float()  # [d_vocab]
    tokenizer = model.tokenizer
    special = set(tokenizer.all_special_ids)
    out: list[str] = []
    for token in logits[:len(tokenizer)].argsort(descending=True).tolist():
        text = tokenizer.decode([token]).strip() if token not in special else ""
        if text and text not in out:
            out.append(text)
            if len(out) == k:
                break
    return out


def _to_residual(sae, model, direction: torch.Tensor) -> torch.Tensor:
    """A decoder direction [d_in] as the residual-stream vector it writes, [d_model]."""
    d_model = model.cfg.d_model
    hook = sae.cfg.metadata.hook_name or ""
    layer = _layer(hook)
    if hook.endswith("hook_z") and layer is not None:  # [n_heads * d_head] (or one head's d_head) through W_O
        W_O = model.W_O[layer].float()  # [n_heads, d_head, d_model]
        head = sae.cfg.metadata.hook_head_index
        if head is not None:
            return direction @ W_O[head]
        return torch.einsum("hd,hdm->m", direction.view(W_O.shape[0], W_O.shape[1]), W_O)
    if hook.endswith("mlp.hook_post") and layer is not None:  # [d_mlp] through W_out
        return direction @ model.W_out[layer].float()
    if direction.shape[0] != d_model:
        raise ValueError(f"the SAE's decoder directions have {direction.shape[0]} dimensions at {hook!r}, not "
                         f"the model's d_model={d_model}; the output projection needs a residual-stream, "
                         "attention / MLP output, hook_z or mlp.hook_post SAE")
    return direction


def _layer(hook: str) -> int | None:
    parts = hook.split(".")
    return int(parts[1]) if len(parts) > 2 and parts[0] == "blocks" and parts[1].isdigit() else None


def add_baselines(labels: dict[int, FeatureLabel], examples: Mapping[int, tuple[list[Example], list[Example]]],
                  records: Mapping[int, FeatureRecord], sae, model, disc: Discriminator,
                  config: LabelerConfig, heldout_keys: Mapping[int, Collection[tuple[int, int]]] | None = None,
                  ) -> None:
    """Fill `label.baselines` of every labeled feature with the two baselines above, each scored by
    `score_text_labels` on the examples its label was scored on (examples: the (train, heldout) pairs given
    to label_examples; heldout_keys: the (seq, pos) of each feature's held-out examples, which the most
    frequent token does not count). In place. The weak rule (scoring.weak) does not involve them: statuses
    stay."""
    heldout_keys = heldout_keys or {}
    features = [f for f, lab in labels.items() if lab.labeled]
    split = labeler_split({f: examples[f][0] for f in features}, config,
                          heldout={f: examples[f][1] for f in features})
    mft = {f: most_frequent_token(records[f], model.tokenizer, heldout_keys.get(f, ())) for f in features}
    tops = {f: output_projection_tokens(sae, model, f) for f in features}
    texts = {MOST_FREQUENT: mft, OUTPUT_PROJECTION: {f: (t[0] if t else "") for f, t in tops.items()}}
    scorable = [{f: text for f, text in texts[name].items() if text and f in split} for name in texts]
    scored = score_label_sets(disc, split, scorable, config)  # both at once: one read of each example
    found: dict[str, dict[int, dict[str, Any]]] = {
        name: {f: {"label": texts[name][f], "metrics": metrics.get(f, {})} for f in features}
        for name, metrics in zip(texts, scored)}
    for f in features:
        lab = labels[f]
        lab.baselines = {**(lab.baselines or {}), MOST_FREQUENT: found[MOST_FREQUENT][f],
                         OUTPUT_PROJECTION: {**found[OUTPUT_PROJECTION][f], "top_tokens": tops[f]}}
