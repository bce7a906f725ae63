"""The demo on a real packaged model: the seed paper's synthetic features in real words and features of a
real SAE of that model, each with its top contexts beside its label.

    sae-gd-labeler demo --model smollm2-135m-instruct

The model (loaded with `models.load_packaged_model`) is the subject and the discriminator, with its default
readout (label-as-answer). Synthetic features (truth known): those of the real-model benchmark
(`data.real_synthetic`: animal; mammal on balanced and natural data; number; Chinese; palindrome). SAE
features: the packaged SAE at `REAL_DEMOS[model]` (`saes.load_packaged_saes`) is read over the first
`max_tokens` tokens of the real corpus (`data.real_corpus`, built once into the user cache), and its most
active features whose top tokens are mostly content words (not punctuation, not "the") are labeled with
`label_features`. Torch and the model load inside `real_demo`, so the CLI can check names against
`REAL_DEMOS` at once.
"""

from __future__ import annotations

from typing import Any

from sae_gd_labeler.data.english_words import FUNCTION_WORDS, english_words

REAL_DEMOS = {"smollm2-135m-instruct": "blocks.7.hook_resid_post"}  # model -> the hook of the SAE shown
DEMO_TOKENS = 16_384  # corpus tokens read for the SAE features: the whole demo takes about 2 minutes on 2 cores
N_EXAMPLES = 96  # per synthetic feature, as in bench-quality
# of a feature's 8 top tokens, at least this many content words (the toy demo asks 4): real top lists mix in
# punctuation and word fragments, and with fewer the most active features shown read as "?", ")", "Dep"
MIN_CONTENT_TOKENS = 6


def real_demo(model_name: str, n_sae_features: int = 6, max_tokens: int = DEMO_TOKENS, seed: int = 0, *,
              n_examples: int = N_EXAMPLES, sae=None, corpus: Any = None) -> tuple[list[dict], str]:
    """Label the demo features of `model_name`; returns (table rows, HTML feature page), as `demo.demo` does.

    `sae`: another SAE of the model (default: the packaged one at `REAL_DEMOS[model_name]`); `corpus`: any
    dataset `label_features` reads (default: the real corpus, `data.real_corpus.cached_corpus`). Raises, before any
    labeling: ValueError for a name not in REAL_DEMOS, models.PackagedModelNotInstalled when the model's
    package is missing, FileNotFoundError when the SAE's files or the corpus's Debian packages are.
    """
    from sae_gd_labeler.data.real_corpus import cached_corpus
    from sae_gd_labeler.demo_rows import DemoOutput
    from sae_gd_labeler.models import load_packaged_model
    from sae_gd_labeler.readout.discriminator import Discriminator
    from sae_gd_labeler.search.config import LabelerConfig

    hook = _demo_hook(model_name)
    model = load_packaged_model(model_name)  # first: a missing package fails here, with the install command
    if sae is None:
        from sae_gd_labeler.saes import load_packaged_saes

        sae = load_packaged_saes(model_name, [hook])[hook]
    disc = Discriminator(model)
    config = LabelerConfig(seed=seed)
    out = DemoOutput()
    # built (once) before any labeling: missing Debian packages fail at once, naming the apt-get command
    dataset = corpus if corpus is not None else str(cached_corpus())
    _add_synthetic(out, disc, config, n_examples)
    _add_sae_features(out, sae, model, disc, dataset, config, n_sae_features, max_tokens)
    intro = (f"<p>{model_name} as subject and discriminator ({disc.readout} readout): the seed paper's "
             f"synthetic features in real words (truth known) and the most active content-word features of its "
             f"SAE {sae.cfg.metadata.hook_name}, read over {max_tokens:,} corpus tokens.</p>")
    return out.rows, out.html(f"sae-gd-labeler demo: {model_name}", intro)


def is_content_word(text: str) -> bool:
    """A token's text (spaces stripped) is a content word: a word of another script, or a whole English word
    of the shipped word list (not a fragment such as "ine") of three letters or more (not "s" or "os") that
    is not a closed-class word ("the", "of")."""
    if not text.isalpha():
        return False
    if not text.isascii():
        return True
    word = text.lower()
    return len(word) >= 3 and word not in FUNCTION_WORDS and word in english_words()


def _demo_hook(model_name: str) -> str:
    if model_name not in REAL_DEMOS:
        raise ValueError(f"no real-model demo for {model_name!r}; valid names: {', '.join(REAL_DEMOS)}")
    return REAL_DEMOS[model_name]


def _add_synthetic(out, disc, config, n_examples: int) -> None:
    from sae_gd_labeler.data.real_synthetic import synthetic_features
    from sae_gd_labeler.search.labeler import label_examples

    features = synthetic_features(n=n_examples, seed=config.seed)
    labels = label_examples({name: f.examples for name, f in features.items()}, disc, config)
    for name, feature in features.items():
        out.add_synthetic(name, " / ".join(feature.labels[:3]), labels[name], feature.examples)


def _add_sae_features(out, sae, model, disc, dataset, config, n_features: int, max_tokens: int) -> None:
    """Choose the features from one pass over `max_tokens` tokens, then label them with label_features over
    the same tokens (the same records: a feature's samples do not depend on which others are read)."""
    from sae_gd_labeler.data.activations import ActivationConfig, collect_activations
    from sae_gd_labeler.demo_rows import choose_features, top_token_texts
    from sae_gd_labeler.runs.example_records import TokenTexts
    from sae_gd_labeler.sae_labeling import label_features

    reading = ActivationConfig(max_tokens=max_tokens)
    records = collect_activations(model, sae, dataset, range(sae.cfg.d_sae), reading)
    top_tokens = top_token_texts(records, model.tokenizer.decode)
    chosen = choose_features(records, top_tokens, is_content_word, n_features, min_content=MIN_CONTENT_TOKENS)
    texts = TokenTexts(model.tokenizer)
    hook = records.hook_name
    for lab in label_features(sae, chosen, model=model, discriminator=disc, dataset=dataset, config=config,
                              activation_config=reading):
        out.add_sae_feature(hook, lab, records[lab.feature], top_tokens[lab.feature], texts)

