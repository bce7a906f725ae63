"""Every kind of corpus argument becomes the same [batch, ctx] token windows, packed as sae_lens packs them."""

import json

import datasets
import pytest
import torch

from sae_gd_labeler.data.corpus import iter_token_batches
from sae_gd_labeler.toyworld.tokenizer import word_level_tokenizer
from tests.builders import WORDS, random_texts

CTX = 8


@pytest.fixture(scope="module")
def tok():
    return word_level_tokenizer(WORDS)


def windows(*args, **kwargs) -> torch.Tensor:
    return torch.cat(list(iter_token_batches(*args, **kwargs)))


def test_texts_are_packed_into_bos_windows(tok):
    texts = random_texts(20, seed=0)
    out = windows(texts, tok, CTX, 4, prepend_bos=True)  # [n, CTX]
    assert out.dtype == torch.long and out.shape[1] == CTX
    assert (out[:, 0] == tok.bos_token_id).all()
    # Without BOS markers, the windows are the texts' tokens in order (the last partial window is dropped).
    stream = [t for text in texts for t in tok(text, add_special_tokens=False)["input_ids"]]
    content = out[out != tok.bos_token_id].tolist()
    assert content == stream[: len(content)] and len(stream) - len(content) < CTX


def test_without_bos_the_first_window_starts_with_text(tok):
    texts = ["cat dog bird fish tree house car road river city"]
    out = windows(texts, tok, CTX, 4, prepend_bos=False)
    assert out[0].tolist() == tok(texts[0], add_special_tokens=False)["input_ids"][:CTX]


def test_batches_and_max_tokens(tok):
    texts = random_texts(40, seed=1)
    batches = list(iter_token_batches(texts, tok, CTX, 3))
    assert all(b.shape[0] == 3 for b in batches[:-1]) and 1 <= batches[-1].shape[0] <= 3
    capped = windows(texts, tok, CTX, 3, max_tokens=5 * CTX - 1)
    assert capped.shape[0] == 5


def test_token_tensor_and_token_lists(tok):
    tokens = torch.randint(4, len(tok), (5, 12))
    assert torch.equal(windows(tokens, tok, CTX, 2), tokens[:, :CTX])
    assert torch.equal(windows(tokens[:, :6], None, CTX, 2), tokens[:, :6])  # shorter rows kept as they are
    assert torch.equal(windows(tokens.tolist(), None, CTX, 2), tokens[:, :CTX])


def test_datasets_objects_and_columns(tok):
    texts = random_texts(10, seed=2)
    expected = windows(texts, tok, CTX, 4)
    assert torch.equal(windows(datasets.Dataset.from_dict({"text": texts}), tok, CTX, 4), expected)
    named = datasets.Dataset.from_dict({"body": texts, "id": list(range(10))})
    assert torch.equal(windows(named, tok, CTX, 4, text_column="body"), expected)
    with pytest.raises(ValueError, match=r"no 'tokens', 'input_ids'.*\['body', 'id'\]"):
        windows(named, tok, CTX, 4)
    with pytest.raises(ValueError, match="text_column 'nope'"):
        windows(named, tok, CTX, 4, text_column="nope")
    ids = torch.randint(4, len(tok), (6, CTX))
    pretokenised = datasets.Dataset.from_dict({"input_ids": ids.tolist(), "text": ["x"] * 6})
    assert torch.equal(windows(pretokenised, tok, CTX, 4), ids)  # token column wins, as in sae_lens


def test_local_files_and_saved_datasets(tok, tmp_path):
    texts = random_texts(10, seed=3)
    expected = windows(texts, tok, CTX, 4)
    path = tmp_path / "corpus.jsonl"
    path.write_text("".join(json.dumps({"text": t}) + "\n" for t in texts))
    assert torch.equal(windows(str(path), tok, CTX, 4), expected)  # streamed, not loaded whole
    (tmp_path / "corpus.txt").write_text("\n".join(texts) + "\n")
    assert torch.equal(windows(str(tmp_path / "corpus.txt"), tok, CTX, 4), expected)
    datasets.Dataset.from_dict({"text": texts}).save_to_disk(str(tmp_path / "saved"))
    assert torch.equal(windows(str(tmp_path / "saved"), tok, CTX, 4), expected)


@pytest.mark.parametrize("corpus", [[], [""], torch.zeros(0, CTX, dtype=torch.long),
                                    datasets.Dataset.from_dict({"text": []})],
                         ids=["list", "blank", "tensor", "dataset"])
def test_empty_corpus(tok, corpus):
    with pytest.raises(ValueError, match="empty"):
        windows(corpus, tok, CTX, 2)


def test_bad_inputs(tok):
    with pytest.raises(ValueError, match="fewer than context_size"):
        windows([[5, 6, 7]], tok, CTX, 2)
    with pytest.raises(ValueError, match="integer tensor"):
        windows(torch.zeros(2, CTX), tok, CTX, 2)
    with pytest.raises(ValueError, match="cannot read a corpus"):
        windows(42, tok, CTX, 2)
    with pytest.raises(ValueError, match="corpus row 1 is a int"):
        windows(["cat dog", 3], tok, CTX, 2)
    with pytest.raises(ValueError, match="needs a tokenizer"):
        windows(["cat dog"], None, CTX, 2)
