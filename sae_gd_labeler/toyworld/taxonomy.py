"""The toy world's ground truth: categories in two levels, their member words, and neutral filler words.

Every word is one token of the world's word-level tokenizer and can be a label. A word belongs to at most one
leaf category; a parent category contains its own direct members plus all members of its children.
`palindrome` holds words of no other category, and the discriminator is never taught its membership.
"""

from __future__ import annotations

from functools import cache

# Leaf categories and their direct members (fixed data: changing it changes the shipped world).
LEAVES: dict[str, tuple[str, ...]] = {
    # animal
    "mammal": ("dog", "cat", "horse", "cow", "pig", "sheep", "goat", "mouse", "rabbit", "lion", "tiger",
               "bear", "wolf", "fox", "deer", "monkey", "elephant", "giraffe", "zebra", "camel", "donkey",
               "squirrel", "bat", "whale", "dolphin", "otter", "badger", "hamster", "leopard", "panda"),
    "bird": ("eagle", "sparrow", "robin", "crow", "owl", "parrot", "pigeon", "swan", "goose", "duck",
             "penguin", "hawk", "falcon", "pelican", "ostrich", "magpie"),
    "fish": ("salmon", "trout", "tuna", "cod", "shark", "carp", "herring", "sardine", "pike", "perch",
             "eel", "goldfish", "mackerel", "haddock"),
    "insect": ("ant", "bee", "wasp", "beetle", "moth", "butterfly", "mosquito", "cricket", "grasshopper",
               "ladybird", "termite", "flea", "dragonfly", "hornet"),
    "reptile": ("snake", "lizard", "turtle", "crocodile", "tortoise", "gecko", "iguana", "cobra", "python",
                "alligator"),
    # food
    "fruit": ("apple", "banana", "pear", "grape", "cherry", "peach", "plum", "mango", "lemon", "lime",
              "melon", "kiwi", "apricot", "strawberry", "raspberry", "pineapple", "coconut", "fig",
              "papaya", "blueberry"),
    "vegetable": ("carrot", "potato", "onion", "cabbage", "lettuce", "spinach", "broccoli", "pea",
                  "bean", "tomato", "cucumber", "pepper", "garlic", "leek", "celery", "turnip", "radish",
                  "pumpkin"),
    "dessert": ("cake", "pie", "cookie", "pudding", "icecream", "tart", "muffin", "brownie", "custard",
                "pancake", "donut", "biscuit"),
    # number (number words are direct members of `number`)
    "digit": ("0", "1", "2", "3", "4", "5", "6", "7", "8", "9"),
    # place (a few direct members of `place` too)
    "city": ("paris", "london", "berlin", "rome", "madrid", "tokyo", "beijing", "moscow", "cairo", "sydney",
             "toronto", "chicago", "boston", "vienna", "lisbon", "dublin", "athens", "oslo"),
    "country": ("france", "germany", "italy", "spain", "japan", "china", "russia", "egypt", "canada",
                "brazil", "mexico", "india", "kenya", "peru", "norway", "sweden", "poland", "ireland"),
    # time
    "day": ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday"),
    "month": ("january", "february", "march", "april", "may", "june", "july", "august", "september",
              "october", "november", "december"),
    # flat top-level categories
    "colour": ("red", "blue", "green", "yellow", "purple", "pink", "brown", "black", "white", "grey",
               "violet", "crimson", "scarlet", "beige", "turquoise", "maroon"),
    "tool": ("hammer", "mallet", "drill", "wrench", "screwdriver", "chisel", "shovel", "rake", "axe",
             "pliers", "spanner", "trowel", "crowbar", "ladder", "scissors", "knife"),
    "vehicle": ("car", "bus", "truck", "train", "bicycle", "motorbike", "tram", "van", "taxi", "tractor",
                "lorry", "scooter", "boat", "ship", "plane", "helicopter", "ferry"),
    "clothing": ("shirt", "trousers", "dress", "skirt", "jacket", "coat", "hat", "scarf", "glove", "sock",
                 "shoe", "boot", "sweater", "jeans", "blouse", "tie", "belt"),
    "body": ("head", "hand", "foot", "arm", "leg", "knee", "elbow", "finger", "toe", "nose", "ear", "eye",
             "mouth", "tooth", "neck", "shoulder", "chest", "stomach", "heart", "lung"),
    "job": ("teacher", "doctor", "nurse", "farmer", "baker", "pilot", "lawyer", "builder", "chef",
            "dentist", "plumber", "soldier", "painter", "singer", "driver", "judge"),
    "instrument": ("piano", "guitar", "violin", "drum", "flute", "trumpet", "cello", "harp", "banjo",
                   "saxophone", "clarinet", "trombone"),
    "furniture": ("table", "chair", "sofa", "bed", "desk", "shelf", "cupboard", "wardrobe", "stool",
                  "bench", "dresser", "couch"),
    "weather": ("rain", "snow", "wind", "fog", "storm", "sunshine", "hail", "thunder", "lightning",
                "drizzle", "frost", "mist"),
    "emotion": ("joy", "anger", "fear", "sadness", "surprise", "disgust", "pride", "shame", "envy",
                "love", "grief", "hope"),
    "sport": ("football", "tennis", "golf", "rugby", "archery", "hockey", "baseball", "basketball",
              "boxing", "rowing", "skiing", "swimming", "cycling"),
    "drink": ("water", "tea", "coffee", "milk", "juice", "wine", "beer", "soda", "lemonade", "cocoa",
              "cider", "whisky"),
    "plant": ("tree", "flower", "grass", "rose", "tulip", "daisy", "oak", "pine", "fern", "moss", "ivy",
              "cactus", "bamboo", "lily"),
    "metal": ("iron", "gold", "silver", "copper", "tin", "lead", "zinc", "steel", "bronze", "brass",
              "nickel", "platinum"),
    "name": ("alice", "bob", "carol", "david", "emma", "frank", "grace", "henry", "iris", "jack", "kate",
             "liam", "mia", "noah", "olivia", "sam"),
    # a second script: one token per character, written space-separated
    "chinese": ("猫", "狗", "水", "火", "山", "人", "大", "小", "日", "月", "木", "金", "土", "天", "地",
                "花", "鸟", "鱼", "马", "牛", "羊", "车", "书", "家", "手", "心", "口", "门", "雨", "风"),
    # in no other category; the discriminator never learns this membership
    "palindrome": ("level", "radar", "civic", "kayak", "refer", "rotor", "stats", "tenet", "madam",
                   "noon", "racecar", "deed", "peep", "solos", "sagas", "reviver", "redder", "minim"),
}

# Parent categories: children plus direct members.
PARENTS: dict[str, tuple[tuple[str, ...], tuple[str, ...]]] = {
    "animal": (("mammal", "bird", "fish", "insect", "reptile"), ()),
    "food": (("fruit", "vegetable", "dessert"), ()),
    "number": (("digit",), ("one", "two", "three", "four", "five", "six", "seven", "eight", "nine", "ten",
                            "eleven", "twelve", "thirteen", "twenty", "thirty", "fifty", "hundred",
                            "thousand", "million", "zero")),
    "place": (("city", "country"), ("park", "beach", "school", "market", "village", "forest", "river",
                                    "mountain", "island", "harbour", "museum", "library")),
    "time": (("day", "month"), ()),
}

# Neutral words of no category: nouns, adjectives and verbs the grammar uses around the category slots.
FILLER_NOUNS: tuple[str, ...] = (
    "box", "idea", "story", "letter", "picture", "game", "song", "door", "window", "wall", "road", "bag",
    "cup", "plate", "key", "book", "pen", "paper", "clock", "lamp", "rope", "stone", "coin", "gift",
    "note", "map", "card", "ball", "photo", "toy",
)
FILLER_ADJECTIVES: tuple[str, ...] = (
    "big", "small", "old", "new", "happy", "sad", "fast", "slow", "quiet", "loud", "tall", "short",
    "warm", "cold", "bright", "dark", "clean", "dirty", "heavy", "light", "strange", "lovely",
)
FILLER_VERBS: tuple[str, ...] = (
    "saw", "found", "liked", "wanted", "watched", "painted", "bought", "sold", "carried", "hid",
    "took", "gave", "kept", "lost", "drew", "heard", "visited", "cleaned", "moved", "followed",
    "ate", "cooked", "grew", "drank", "drove", "rode", "wore", "played", "counted", "wrote", "met",
    "fed", "chased", "caught", "loved", "flew", "swam", "buzzed", "crawled", "ran", "slept", "sang",
    "jumped", "hurt", "used", "fixed", "felt", "made", "said", "brought", "called",
)

# Function words and punctuation: tokens of the corpus and the question, never labels.
FUNCTION_WORDS: tuple[str, ...] = (
    "the", "a", "an", "my", "his", "her", "their", "our", "this", "that", "some", "every",
    "in", "on", "at", "to", "from", "with", "near", "under", "over", "after", "before", "by", "of",
    "and", "or", "but", "then", "is", "was", "are", "were", "it", "he", "she", "they", "we", "i",
    "there", "very", "not", "also", "again", "today", "yesterday", "tomorrow", "times", "for", "about",
    "question", "answer", "yes", "no", ".", ",", "?", ":",
)


@cache
def leaf_of() -> dict[str, str]:
    """Word -> the leaf (or parent, for direct members) category it was listed under."""
    out: dict[str, str] = {}
    for cat, members in LEAVES.items():
        for w in members:
            out[w] = cat
    for parent, (_, direct) in PARENTS.items():
        for w in direct:
            out[w] = parent
    return out


@cache
def parent_of() -> dict[str, str]:
    """Child category -> parent category (top-level categories are absent)."""
    return {child: parent for parent, (children, _) in PARENTS.items() for child in children}


def categories() -> list[str]:
    """All category names: parents first, then leaves, in a fixed order."""
    return [*PARENTS, *LEAVES]


def taxonomy() -> dict[str, list[str]]:
    """Every category, parents included, mapped to all its member words (transitively)."""
    out: dict[str, list[str]] = {}
    for cat in categories():
        if cat in LEAVES:
            out[cat] = list(LEAVES[cat])
        else:
            children, direct = PARENTS[cat]
            out[cat] = [w for child in children for w in LEAVES[child]] + list(direct)
    return out


def categories_of(word: str) -> list[str]:
    """The categories containing `word`, innermost first (e.g. dog -> mammal, animal)."""
    cat = leaf_of().get(word)
    out = []
    while cat is not None:
        out.append(cat)
        cat = parent_of().get(cat)
    return out


def fillers() -> list[str]:
    return [*FILLER_NOUNS, *FILLER_ADJECTIVES, *FILLER_VERBS]


def label_words(compounds: bool = False) -> list[str]:
    """The label vocabulary: category names, member words and filler words (function words excluded); with
    `compounds`, the attribute words of the compound concepts too (`compounds.py`), after the others."""
    from sae_gd_labeler.toyworld.compounds import ATTRIBUTES  # built on this module: imported when asked

    out: dict[str, None] = {}
    for w in (*categories(), *leaf_of(), *fillers(), *(ATTRIBUTES if compounds else ())):
        out.setdefault(w, None)
    return list(out)


def vocabulary(compounds: bool = False) -> list[str]:
    """Every token of the world, in tokenizer order: label words first, then function words."""
    out: dict[str, None] = dict.fromkeys(label_words(compounds))
    for w in FUNCTION_WORDS:
        out.setdefault(w, None)
    return list(out)
