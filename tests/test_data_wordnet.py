"""The WordNet noun-database reader, on a hand-written snippet in the wndb(5WN) format and on the real files."""

from pathlib import Path

import pytest

from sae_gd_labeler.data.wordnet import find_wordnet, load_wordnet, parse_data_line

# A tiny noun database: licence header lines (two leading spaces), then one synset a line:
# offset lexfile pos word_count(hex) [word lex_id]... pointer_count [symbol offset pos source/target]... | gloss
DATA_NOUN = """\
  1 This software and database is being provided to you, the LICENSEE, by
  2 Princeton University under the following license.
00001740 03 n 01 entity 0 003 ~ 00015388 n 0000 ~ 07555863 n 0000 ~ 08544813 n 0000 | that which exists
00015388 03 n 03 animal 0 animate_being 0 beast 0 003 @ 00001740 n 0000 ~ 01861778 n 0000 ~ 01503061 n 0000 \
| a living organism characterized by voluntary movement
01861778 05 n 02 mammal 0 mammalian 0 005 @ 00015388 n 0000 ~ 02084071 n 0000 ~ 02374451 n 0000 \
~ 01887787 n 0000 ~ 01887900 n 0000 | any warm-blooded vertebrate having the skin more or less covered with hair
02084071 05 n 03 dog 0 domestic_dog 0 Canis_familiaris 0 001 @ 01861778 n 0000 | a member of the genus Canis; \
"the dog barked all night"; "a dog is a good friend"
02374451 05 n 01 horse 0 001 @ 01861778 n 0000 | solid-hoofed herbivorous quadruped
01887787 05 n 02 cattle 0 cows 0 001 @ 01861778 n 0000 | domesticated bovine animals
01887900 05 n 01 cow 0 001 @ 01861778 n 0000 | mature female of mammals
01503061 05 n 01 bird 0 002 @ 00015388 n 0000 ~ 01846331 n 0000 | warm-blooded egg-laying vertebrates
01846331 05 n 01 duck 0 001 @ 01503061 n 0000 | small wild or domesticated web-footed broad-billed swimming bird
07555863 13 n 02 food 0 solid_food 0 002 @ 00001740 n 0000 ~ 07776866 n 0000 | any solid substance used as food
07776866 13 n 01 duck 0 001 @ 07555863 n 0000 | flesh of a duck (domestic or wild)
08544813 15 n 03 country 0 state 0 land 0 002 @ 00001740 n 0000 ~i 08860123 n 0000 | the territory of a nation
08860123 15 n 02 France 0 French_Republic 0 001 @i 08544813 n 0000 | a republic in western Europe
"""
# lemma pos synset_count pointer_count [symbol]... sense_count tagged_sense_count offset... (most frequent first)
INDEX_NOUN = """\
  1 This software and database is being provided to you, the LICENSEE, by
animal n 1 2 @ ~ 1 1 00015388
bird n 1 2 @ ~ 1 1 01503061
cattle n 1 1 @ 1 1 01887787
country n 1 2 @ ~ 1 1 08544813
cow n 1 1 @ 1 1 01887900
cows n 1 1 @ 1 1 01887787
dog n 1 1 @ 1 1 02084071
domestic_dog n 1 1 @ 1 0 02084071
duck n 2 1 @ 2 1 01846331 07776866
entity n 1 1 ~ 1 1 00001740
food n 1 2 @ ~ 1 1 07555863
france n 1 1 @ 1 1 08860123
horse n 1 1 @ 1 0 02374451
mammal n 1 2 @ ~ 1 1 01861778
"""
INDEX_VERB = "  1 licence\nduck v 1 1 @ 1 1 01234567\n"


def write_tiny_wordnet(folder: Path) -> Path:
    (folder / "data.noun").write_text(DATA_NOUN, encoding="utf-8")
    (folder / "index.noun").write_text(INDEX_NOUN, encoding="utf-8")
    (folder / "index.verb").write_text(INDEX_VERB, encoding="utf-8")
    return folder


@pytest.fixture
def tiny(tmp_path):
    return load_wordnet(write_tiny_wordnet(tmp_path))


@pytest.fixture(scope="module")
def real():
    try:
        return load_wordnet()
    except FileNotFoundError as e:
        pytest.skip(f"WordNet 3.0 is not installed here ({e})")


def test_parse_line_reads_lemmas_pointers_gloss_and_examples():
    line = DATA_NOUN.splitlines()[5] + DATA_NOUN.splitlines()[6]
    s = parse_data_line(line)
    assert s.offset == 2084071
    assert s.lemmas == ("dog", "domestic dog", "Canis familiaris")
    assert s.hypernyms == (1861778,) and s.hyponyms == ()
    assert s.gloss == "a member of the genus Canis"
    assert s.examples == ("the dog barked all night", "a dog is a good friend")


def test_tiny_database(tiny):
    assert len(tiny.synsets) == 13  # the header lines are skipped
    dog = tiny.synsets_of("dog")[0]
    assert tiny.synset(2084071) == dog
    assert tiny.synsets_of("Domestic_Dog") == [dog]  # any case, underscores or spaces
    assert [s.offset for s in tiny.synsets_of("duck")] == [1846331, 7776866]  # index.noun's frequency order
    assert tiny.hyponym_closure(tiny.synset(15388)) >= {"dog", "Canis familiaris", "horse", "duck", "mammalian"}
    assert "animal" not in tiny.hyponym_closure(tiny.synset(15388))
    assert tiny.synset(8860123).hypernyms == (8544813,)  # instance hypernym
    assert "France" in tiny.hyponym_closure(tiny.synset(8544813))  # instance hyponym
    assert tiny.primary_path(dog) == [2084071, 1861778, 15388, 1740]
    assert 15388 in tiny.ancestors(dog)
    assert tiny.tagged >= {"dog", "duck"} and "horse" not in tiny.tagged
    assert "duck" in tiny.other_pos and "dog" not in tiny.other_pos


def test_unknown_offset_and_lemma(tiny):
    with pytest.raises(KeyError, match="00000042"):
        tiny.synset(42)
    assert tiny.synsets_of("unicorn") == []


def test_missing_database_says_how_to_install(tmp_path):
    with pytest.raises(FileNotFoundError, match="apt-get install wordnet-base"):
        find_wordnet(tmp_path)
    with pytest.raises(FileNotFoundError, match="apt-get install wordnet-base"):
        load_wordnet(tmp_path / "nowhere")


def test_without_index_the_data_order_is_used(tmp_path):
    (tmp_path / "data.noun").write_text(DATA_NOUN, encoding="utf-8")
    wn = load_wordnet(tmp_path)
    assert [s.offset for s in wn.synsets_of("duck")] == [1846331, 7776866]
    assert wn.tagged == set()


def test_real_dog_is_an_animal(real):
    dog = real.synsets_of("dog")[0]
    assert dog.lemmas[0] == "dog"
    assert "the dog barked all night" in dog.examples
    above = {lemma for o in real.ancestors(dog) for lemma in real.synset(o).lemmas}
    assert {"mammal", "animal", "entity"} <= above
    animal = real.synsets_of("animal")[0]
    assert {"dog", "cat", "sparrow"} <= real.hyponym_closure(animal)
    assert len(real.synsets) > 80_000
