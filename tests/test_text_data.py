"""Text data: corpus reading, vocabulary, held-out split, contiguous batches for truncated BPTT."""

from __future__ import annotations

import hashlib

import pytest
import torch

from rnnkit.data.text import (
    TextBatches,
    Vocabulary,
    compression_bits,
    default_corpus,
    read_text,
    split_ids,
)


def test_default_corpus_is_the_pydoc_topics_joined_in_sorted_order():
    from pydoc_data.topics import topics

    corpus = default_corpus()
    first, second = sorted(topics)[:2]
    assert corpus.text.startswith(topics[first].strip("\n") + "\n\n" + topics[second].strip("\n"))
    assert 400_000 < len(corpus.text) < 600_000
    assert corpus.sha256 == hashlib.sha256(corpus.text.encode()).hexdigest()
    assert read_text(None) == corpus


def test_read_file_and_folder(tmp_path):
    (tmp_path / "b.txt").write_text("zwei", encoding="utf-8")
    (tmp_path / "a.txt").write_text("eins é", encoding="utf-8")
    (tmp_path / "sub").mkdir()
    (tmp_path / "sub" / "c.txt").write_text("drei", encoding="utf-8")
    (tmp_path / ".hidden").write_bytes(b"\x00\xff")  # skipped, not an error
    assert read_text(tmp_path / "a.txt").text == "eins é"
    corpus = read_text(tmp_path)
    assert corpus.text == "eins é\n\nzwei\n\ndrei"
    assert corpus.source == str(tmp_path)


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (b"", "empty"),
        (b"  \n\t ", "empty"),
        (b"abc\x00def", "binary"),
        (b"caf\xe9 latin-1", "UTF-8"),
    ],
)
def test_bad_text_files_raise_a_clear_error(tmp_path, content, message):
    path = tmp_path / "bad.txt"
    path.write_bytes(content)
    with pytest.raises(ValueError, match=message) as info:
        read_text(path)
    assert str(path) in str(info.value)


def test_missing_path_and_empty_folder(tmp_path):
    with pytest.raises(FileNotFoundError, match="no such path"):
        read_text(tmp_path / "nope.txt")
    (tmp_path / "empty").mkdir()
    with pytest.raises(ValueError, match="no files"):
        read_text(tmp_path / "empty")


def test_vocabulary_round_trip_and_unknown_characters():
    text = "Hallo, Welt! ünd 日本"
    vocab = Vocabulary.from_text(text)
    assert list(vocab.chars) == sorted(set(text))
    ids = vocab.encode(text)
    assert ids.dtype == torch.long and vocab.decode(ids) == text
    assert vocab.encode("Wa").tolist() == [vocab.chars.index("W"), vocab.chars.index("a")]
    with pytest.raises(ValueError, match=r"prompt must use only the model's .* 'Zx'"):
        vocab.encode("Zxa", name="prompt")
    with pytest.raises(ValueError, match="repeat"):
        Vocabulary("aba")


def test_split_holds_out_the_contiguous_end():
    ids = torch.arange(1000)
    train, val = split_ids(ids, 0.1)
    assert torch.equal(train, ids[:900]) and torch.equal(val, ids[900:])
    with pytest.raises(ValueError, match="val_fraction"):
        split_ids(ids, 0.9)


def test_batches_are_contiguous_streams_with_shifted_targets():
    ids = torch.arange(1000)
    B, T = 4, 10
    batches = TextBatches(ids, B, T, seed=3)
    K = batches.chunks_per_epoch
    assert K == (1000 - T) // B // T
    L = K * T
    for step in range(K):
        x, y, fresh = batches.batch(step)
        assert fresh == (step == 0)
        # With ids = arange, a character is its own position in the text.
        expected = torch.arange(B).unsqueeze(1) * L + step * T + torch.arange(T)
        assert torch.equal(x, expected)
        assert torch.equal(y, x + 1)
    # The next chunk of every stream starts right where the previous one ended.
    _, y0, _ = batches.batch(0)
    x1, _, _ = batches.batch(1)
    assert torch.equal(x1[:, 0], y0[:, -1])


def test_later_epochs_shift_by_a_deterministic_offset_within_the_text():
    ids = torch.arange(500)
    B, T = 3, 7
    a = TextBatches(ids, B, T, seed=1)
    b = TextBatches(ids, B, T, seed=1)
    K = a.chunks_per_epoch
    offsets = {a.offset(e) for e in range(1, 30)}
    assert offsets <= set(range(T)) and len(offsets) > 1  # varied, always in [0, T)
    for step in (K, 5 * K + 2, 29 * K + K - 1):
        xa, ya, fresh = a.batch(step)
        xb, yb, _ = b.batch(step)
        assert torch.equal(xa, xb) and torch.equal(ya, yb)
        assert fresh == (step % K == 0)
        epoch, k = divmod(step, K)
        assert int(xa[0, 0]) == a.offset(epoch) + k * T
        assert int(ya.max()) < len(ids)


def test_corpus_shorter_than_one_batch_is_refused():
    with pytest.raises(ValueError, match=r"at least .* = 44 characters for one batch, got 43"):
        TextBatches(torch.arange(43), batch_size=10, seq_len=4)
    TextBatches(torch.arange(44), batch_size=10, seq_len=4)  # exactly enough
    with pytest.raises(ValueError, match="batch_size"):
        TextBatches(torch.arange(100), batch_size=0, seq_len=4)


def test_compression_yardsticks_are_bits_per_character():
    import lzma
    import zlib

    text = "ünïcode counts as one character. " * 50
    bits = compression_bits(text)
    assert bits["zlib"] == 8 * len(zlib.compress(text.encode(), 9)) / len(text)
    assert bits["lzma"] == 8 * len(
        lzma.compress(text.encode(), preset=9 | lzma.PRESET_EXTREME)
    ) / len(text)
    assert bits["zlib"] < 1.0  # a repetitive text compresses far below 8 bits per character
