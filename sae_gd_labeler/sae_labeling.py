"""`label_features(sae, ids)`: labels for sae_lens SAE features, from their real activations on a corpus.

    labels = label_features(sae, [12, 345, 6789], model=model, dataset="path/to/corpus.jsonl")

The subject model runs up to the SAE's hook over the corpus (streamed, memory bounded by the number of
features); each feature gets balanced positive / negative examples with a disjoint held-out set; the
discriminator (the subject model unless another is given, possibly with another tokenizer: examples
travel as text) is then asked about them while the label is optimised.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

from transformer_lens import HookedTransformer

from sae_gd_labeler.data.activations import ActivationConfig, FeatureRecord, collect_activations
from sae_gd_labeler.data.example import Example
from sae_gd_labeler.data.sampling import FeatureExamples, SamplingConfig, sample_examples
from sae_gd_labeler.models.defaults import default_example_fn
from sae_gd_labeler.readout.discriminator import Discriminator
from sae_gd_labeler.runs.progress import RunProgress
from sae_gd_labeler.scoring.baselines import add_baselines
from sae_gd_labeler.search.config import LabelerConfig
from sae_gd_labeler.search.labeler import label_examples
from sae_gd_labeler.search.result import FeatureLabel

PROGRESS_BATCH = 64  # with progress=True, features labeled together between two updates of the display


def label_features(
    sae,
    feature_ids,
    *,
    model: HookedTransformer | None = None,
    discriminator: Discriminator | HookedTransformer | None = None,
    dataset: Any = None,
    config: LabelerConfig | None = None,
    activation_config: ActivationConfig | None = None,
    sampling: SamplingConfig | None = None,
    text_column: str | None = None,
    example_fn: Callable[[Example], Example] | None = None,
    baselines: bool = True,
    progress: bool = False,
) -> list[FeatureLabel]:
    """One FeatureLabel per id, in the order of `feature_ids` (a list, range or tensor of ints).

    model: the subject model; None loads `sae.cfg.metadata.model_name` from the model hub.
    discriminator: a Discriminator or a model; None uses the subject model with its default template.
    dataset: a hub dataset name or local path (streamed), a datasets.Dataset, a list of strings or a
        token tensor; None uses `sae.cfg.metadata.dataset_path`.
    baselines: score the most frequent token and the output projection beside every label, on the same
        examples (`FeatureLabel.baselines`, see scoring.baselines).
    example_fn: how each example is adapted for the discriminator; None uses the discriminator's default
        (see models.defaults.default_example_fn: the toy world's cuts contexts to one sentence), else as is.
    progress: a progress display (corpus tokens read, features labeled, features per minute, ETA); the features
        are then labeled a batch at a time, which gives the same labels.
    Dead and too-rare features come back with that status and no label, never silently dropped.
    """
    config = config if config is not None else LabelerConfig()
    meta = sae.cfg.metadata
    if model is None:
        model = load_subject_model(sae)
    if dataset is None:
        dataset = meta.dataset_path
        if dataset is None:
            raise ValueError("the SAE's metadata names no dataset_path; pass dataset= (a dataset name or "
                             "path, a datasets.Dataset, a list of strings or a token tensor)")
    if discriminator is None:
        discriminator = model
    disc = discriminator if isinstance(discriminator, Discriminator) else Discriminator(discriminator)

    if example_fn is None:
        example_fn = default_example_fn(disc.model)
    prepare = example_fn if example_fn is not None else (lambda ex: ex)
    labels = {}
    with RunProgress(progress) as shown:
        shown.start_corpus(None if activation_config is None else activation_config.max_tokens)
        records = collect_activations(model, sae, dataset, feature_ids, activation_config, text_column=text_column,
                                      on_batch=shown.tokens_read)
        sampled = sample_examples(records, model.tokenizer, config, sampling)
        ready = [f for f, s in sampled.items() if s.ok]
        shown.start_features(len(ready))
        step = len(ready) if not progress else PROGRESS_BATCH
        for at in range(0, len(ready), max(step, 1)):
            chunk = ready[at:at + step]
            found, _ = label_sampled(chunk, sampled, records, sae=sae, model=model, disc=disc, config=config,
                                     prepare=prepare, baselines=baselines)
            labels.update(found)
            shown.features_done(len(chunk))
    return [
        labels[f] if f in labels else FeatureLabel.without_label(f, s.status, s.n_positive, s.n_negative)
        for f, s in sampled.items()
    ]


def label_sampled(features: Sequence[int], sampled: Mapping[int, FeatureExamples],
                  records: Mapping[int, FeatureRecord], *, sae, model: HookedTransformer, disc: Discriminator,
                  config: LabelerConfig, prepare: Callable[[Example], Example], baselines: bool = True,
                  ) -> tuple[dict[int, FeatureLabel], dict[int, tuple[list[Example], list[Example]]]]:
    """Label `features` from their sampled examples, adapted by `prepare`, all in one label_examples call:
    a FeatureLabel for each (those without enough examples get their sampling status), with the baselines
    when asked; and the (train, heldout) examples each was given. Shared by label_features and bulk runs."""
    examples = {f: ([prepare(ex) for ex in sampled[f].train], [prepare(ex) for ex in sampled[f].heldout])
                for f in features}
    ready = [f for f in features if sampled[f].ok]
    labels = {}
    if ready:
        labels = label_examples({f: examples[f][0] for f in ready}, disc, config,
                                heldout={f: examples[f][1] for f in ready})
        if baselines:
            add_baselines(labels, examples, records, sae, model, disc, config,
                          heldout_keys={f: sampled[f].heldout_keys for f in ready})
    for f in features:
        if f not in labels:
            s = sampled[f]
            labels[f] = FeatureLabel.without_label(f, s.status, s.n_positive, s.n_negative)
    return labels, examples


def load_subject_model(sae) -> HookedTransformer:
    """The model an SAE was trained on, loaded as sae_lens does (needs the model hub)."""
    meta = sae.cfg.metadata
    if not meta.model_name:
        raise ValueError("the SAE's metadata names no model_name; pass model= (a HookedTransformer)")
    kwargs = dict(meta.model_from_pretrained_kwargs or {})
    return HookedTransformer.from_pretrained_no_processing(meta.model_name, device=str(sae.device), **kwargs)
