"""label_features as the README calls it, on the toy world: no discriminator, no example_fn, progress shown."""

from sae_gd_labeler import Discriminator, label_features
from sae_gd_labeler.toyworld import load_toy_world

HOOK = "blocks.1.hook_resid_post"


def test_the_readme_call_needs_no_discriminator_or_example_fn_and_progress_changes_no_label():
    world = load_toy_world()
    sae, ids, corpus = world.saes[HOOK], [3, 8], world.corpus[:400]
    explicit = label_features(sae, ids, model=world.model, dataset=corpus, baselines=False,
                              discriminator=Discriminator(world.model, world.template),
                              example_fn=world.within_sentence)
    default = label_features(sae, ids, model=world.model, dataset=corpus, baselines=False, progress=True)
    assert [lab.label for lab in default] == [lab.label for lab in explicit]
    assert [lab.metrics for lab in default] == [lab.metrics for lab in explicit]
    # and without the sentence cut the examples differ (so the default above really applied it)
    raw = label_features(sae, ids, model=world.model, dataset=corpus, baselines=False,
                         example_fn=lambda ex: ex)
    assert [lab.metrics for lab in raw] != [lab.metrics for lab in explicit]
