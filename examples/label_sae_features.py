"""Label features of an sae_lens SAE from their real activations on a corpus (offline: the toy world).

    python examples/label_sae_features.py

With the model hub reachable, the same call labels a real dictionary, e.g. GPT-2 small:

    from sae_lens import SAE
    sae = SAE.from_pretrained("gpt2-small-res-jb", "blocks.8.hook_resid_pre")
    labels = label_features(sae, range(32))   # loads metadata.model_name and metadata.dataset_path

or with a model and corpus of your own: label_features(sae, ids, model=model, dataset="corpus.jsonl").
"""

from sae_gd_labeler import Discriminator, LabelerConfig, label_features
from sae_gd_labeler.toyworld import load_toy_world


def main(hook: str = "blocks.1.hook_resid_post", feature_ids=range(8), config: LabelerConfig | None = None):
    world = load_toy_world()
    sae = world.saes[hook]
    disc = Discriminator(world.model, world.template)  # the subject model, asked in the world's template
    labels = label_features(sae, feature_ids, model=world.model, discriminator=disc, dataset=world.corpus,
                            config=config or LabelerConfig(), example_fn=world.within_sentence)
    for lab in labels:
        if lab.labeled:  # a weak label is kept, and said to be weak
            print(f"feature {lab.feature:>4}: {lab.label:<12} held-out balanced accuracy "
                  f"{lab.metrics['balanced_accuracy']:.2f} ({lab.n_positive} positive / {lab.n_negative} negative)"
                  + ("  [weak: not to be believed]" if lab.status == "weak" else ""))
        else:
            print(f"feature {lab.feature:>4}: no label ({lab.status})")
    return labels


if __name__ == "__main__":
    main()
