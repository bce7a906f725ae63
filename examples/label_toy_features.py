"""Label synthetic features of the shipped toy world, where the right answer is known (offline).

    python examples/label_toy_features.py

A feature here fires on the members of a category ("animal", "fruit", ...); the labeler is given
balanced examples of where it fires and where it does not, and should return the category's name.
"""

from sae_gd_labeler import Discriminator, LabelerConfig, label_examples
from sae_gd_labeler.toyworld import load_toy_world


def main(categories=("animal", "fruit", "colour", "mammal"), config: LabelerConfig | None = None):
    world = load_toy_world()
    disc = Discriminator(world.model, world.template)
    features = {c: world.examples_for(c, n=64, seed=0) for c in categories}
    labels = label_examples(features, disc, config or LabelerConfig())
    for category, lab in labels.items():
        runners_up = ", ".join(c.label for c in lab.candidates[1:4])
        print(f"{category:>10} -> {lab.label:<10} held-out balanced accuracy "
              f"{lab.metrics['balanced_accuracy']:.2f}  (runners-up: {runners_up})")
    return labels


if __name__ == "__main__":
    main()
