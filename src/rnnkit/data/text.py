r"""Text as characters: corpora, a vocabulary, a held-out split and batches for truncated BPTT.

The built-in corpus is the English prose of Python's documentation topics (``pydoc_data.topics``,
shipped with every Python, about 466 KB), so a language model can be trained on any machine
without downloading anything. Any UTF-8 file, or folder of UTF-8 files, can replace it.

Truncated BPTT over a long text cuts the training part into ``B`` contiguous streams and walks
along all of them together, ``T`` characters at a time: chunk ``k`` of stream ``b`` starts
where chunk ``k - 1`` ended, so the recurrent state at the end of one batch is the right state
to start the next one with (the trainer carries it over, detached from the graph).
"""

from __future__ import annotations

import dataclasses
import hashlib
import lzma
import os
import stat
import zlib
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

import torch
from torch import Tensor

from .. import _checks

DEFAULT_CORPUS = "pydoc_data.topics"


@dataclass(frozen=True)
class Corpus:
    """A text and where it came from.

    Attributes:
        text: the characters.
        source: ``"pydoc_data.topics"`` or the path that was read.
        sha256: hex digest of the UTF-8 text; a resumed run checks that its corpus did not change.
        skipped: entries of a folder left out (non-text files, FIFOs, devices, repeats).
    """

    text: str
    source: str
    sha256: str
    skipped: int = 0


def _corpus(text: str, source: str) -> Corpus:
    return Corpus(text, source, hashlib.sha256(text.encode("utf-8")).hexdigest())


def default_corpus() -> Corpus:
    """The built-in corpus: Python's documentation topics, sorted by name, joined by blank lines.

    Example:
        >>> corpus = default_corpus()
        >>> corpus.source, len(corpus.text) > 400_000
        ('pydoc_data.topics', True)
    """
    from pydoc_data.topics import topics

    text = "\n\n".join(topics[name].strip("\n") for name in sorted(topics)) + "\n"
    return _corpus(text, DEFAULT_CORPUS)


def _decode(data: bytes, path: Path) -> str:
    if b"\x00" in data:
        raise ValueError(f"text file {path} must be UTF-8 text, got binary data (a NUL byte)")
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as err:
        raise ValueError(
            f"text file {path} must be UTF-8 text, got an invalid byte at offset {err.start}"
        ) from None


def _files(folder: Path) -> tuple[list[Path], int]:
    """``(files, skipped)``: every regular file under ``folder`` in a fixed (sorted) order, and
    how many entries were passed over.

    Hidden entries are left out; FIFOs, sockets and devices are skipped unopened (reading a
    FIFO waits forever); a file reached twice (through symlinks) is read once; symlinked
    folders are not entered, so a symlink loop cannot recurse.
    """
    found: list[Path] = []
    seen: set[tuple[int, int]] = set()
    skipped = 0
    for root, dirs, names in os.walk(folder):
        dirs[:] = sorted(d for d in dirs if not d.startswith("."))
        for name in sorted(names):
            if name.startswith("."):
                continue
            path = Path(root) / name
            try:
                info = path.stat()
            except OSError:  # a dangling symlink
                skipped += 1
                continue
            if not stat.S_ISREG(info.st_mode) or (info.st_dev, info.st_ino) in seen:
                skipped += 1
                continue
            seen.add((info.st_dev, info.st_ino))
            found.append(path)
    return found, skipped


def read_text(path: str | os.PathLike | None = None) -> Corpus:
    """Read a corpus: the built-in one (``path=None``), a UTF-8 file, or a folder of them.

    The files of a folder (recursively, hidden files skipped) are joined in sorted order with
    a blank line between them.

    Raises:
        FileNotFoundError: ``path`` does not exist.
        ValueError: a file is binary or not UTF-8, or the text is empty.

    Example:
        >>> import tempfile, pathlib
        >>> folder = pathlib.Path(tempfile.mkdtemp())
        >>> _ = (folder / "b.txt").write_text("world"); _ = (folder / "a.txt").write_text("hello")
        >>> read_text(folder).text
        'hello\\n\\nworld'
    """
    if path is None:
        return default_corpus()
    path = Path(path)
    skipped = 0
    if path.is_dir():
        files, skipped = _files(path)
        parts = []
        for file in files:
            try:
                parts.append(_decode(file.read_bytes(), file))
            except ValueError:  # a .pyc, an image: a folder of sources holds such files
                skipped += 1
        if not parts:
            others = f", {skipped} other entries skipped" if skipped else ""
            raise ValueError(f"text folder {path} must hold UTF-8 text files, got no files{others}")
        text = "\n\n".join(parts)
    elif path.exists():
        if not stat.S_ISREG(path.stat().st_mode):  # a FIFO or device would block or never end
            raise ValueError(f"text {path} must be a regular file or a folder, got a special file")
        text = _decode(path.read_bytes(), path)
    else:
        raise FileNotFoundError(f"text {path} must be an existing file or folder, got no such path")
    if not text.strip():
        raise ValueError(f"text {path} must hold some characters, got an empty text")
    return dataclasses.replace(_corpus(text, str(path)), skipped=skipped)


def compression_bits(text: str) -> dict[str, float]:
    """Bits per character of ``text`` under zlib (level 9) and lzma (preset 9, extreme).

    The yardsticks of a character model: a model that predicts held-out text in fewer bits per
    character than a general-purpose compressor needs for the whole text has learnt something
    about it.

    Example:
        >>> bits = compression_bits("abc" * 1000)
        >>> sorted(bits), bits["zlib"] < 0.2
        (['lzma', 'zlib'], True)
    """
    data = text.encode("utf-8")
    n = max(len(text), 1)
    return {
        "zlib": 8 * len(zlib.compress(data, 9)) / n,
        "lzma": 8 * len(lzma.compress(data, preset=9 | lzma.PRESET_EXTREME)) / n,
    }


class Vocabulary:
    """The characters a model knows, each with an index (sorted by code point).

    Args:
        chars: the characters, without repeats.

    Example:
        >>> vocab = Vocabulary.from_text("hello")
        >>> vocab.chars, vocab.encode("hole").tolist(), vocab.decode([3, 2, 1])
        ('ehlo', [1, 3, 2, 0], 'olh')
    """

    def __init__(self, chars: Iterable[str]) -> None:
        chars = list(chars)
        if not chars or not all(isinstance(c, str) and len(c) == 1 for c in chars):
            raise ValueError(f"chars must be single characters, at least one, got {chars[:5]!r}")
        if len(set(chars)) != len(chars):
            raise ValueError("chars must not repeat, got a repeated character")
        self.chars = "".join(chars)
        self.index = {c: i for i, c in enumerate(chars)}

    @classmethod
    def from_text(cls, text: str) -> Vocabulary:
        return cls(sorted(set(text)))

    def __len__(self) -> int:
        return len(self.chars)

    def unknown(self, text: str) -> list[str]:
        """The characters of ``text`` outside the vocabulary, sorted."""
        return sorted(set(text) - self.index.keys())

    def encode(self, text: str, *, name: str = "text") -> Tensor:
        """Indices (N,) as int64; a character outside the vocabulary raises ValueError."""
        missing = self.unknown(text)
        if missing:
            shown = "".join(missing[:10])
            raise ValueError(
                f"{name} must use only the model's {len(self)} characters, got {len(missing)} "
                f"others: {shown!r}"
            )
        return torch.tensor([self.index[c] for c in text], dtype=torch.long)

    def decode(self, ids: Iterable[int] | Tensor) -> str:
        if isinstance(ids, Tensor):
            ids = ids.tolist()
        return "".join(self.chars[i] for i in ids)


def split_ids(ids: Tensor, val_fraction: float) -> tuple[Tensor, Tensor]:
    """Cut ``ids`` (N,) into a training part and the held-out last ``val_fraction`` of it.

    The held-out part is one contiguous block at the end, so no held-out sentence leaks into
    training.

    Example:
        >>> train, val = split_ids(torch.arange(10), 0.2)
        >>> train.tolist(), val.tolist()
        ([0, 1, 2, 3, 4, 5, 6, 7], [8, 9])
    """
    _checks.non_negative_float("val_fraction", val_fraction, upper=0.5)
    n_val = round(len(ids) * val_fraction)
    return ids[: len(ids) - n_val], ids[len(ids) - n_val :]


class TextBatches:
    r"""Contiguous batches for truncated BPTT: ``B`` parallel streams walked ``T`` chars at a time.

    For epoch ``e`` the text is shifted by an offset ``o_e`` in [0, T) (a fixed function of ``seed``
    and ``e``, so that epochs see different cuts) and cut into ``B`` streams of ``L = K T``
    characters; step ``s`` is chunk ``k = s mod K`` of epoch ``e = s div K``:

    .. math::
        x_{b,t} = c[o_e + b L + k T + t],\qquad y_{b,t} = c[o_e + b L + k T + t + 1]

    The batch of a step depends only on the step, so a resumed run sees the same batches.

    Args:
        ids: the training characters (N,) as indices.
        batch_size: B streams.
        seq_len: T characters per chunk.
        seed: picks the per-epoch offsets.

    Shapes:
        ``batch(step)`` returns x (B, T), y (B, T) and ``fresh``, True at the first chunk of an
        epoch, where the carried state must restart from zeros.

    Example:
        >>> batches = TextBatches(torch.arange(30), batch_size=2, seq_len=4)
        >>> x, y, fresh = batches.batch(0)
        >>> x.tolist(), y[:, -1].tolist(), fresh, batches.chunks_per_epoch
        ([[0, 1, 2, 3], [12, 13, 14, 15]], [4, 16], True, 3)
        >>> batches.batch(1)[0][0].tolist()    # stream 0 goes on where it stopped
        [4, 5, 6, 7]
    """

    def __init__(self, ids: Tensor, batch_size: int, seq_len: int, *, seed: int = 0) -> None:
        self.batch_size = _checks.positive_int("batch_size", batch_size)
        self.seq_len = _checks.positive_int("seq_len", seq_len)
        if not isinstance(ids, Tensor) or ids.dim() != 1 or ids.dtype != torch.long:
            raise TypeError("ids must be a 1-D int64 tensor of character indices")
        needed = batch_size * seq_len + seq_len
        if len(ids) < needed:
            raise ValueError(
                f"training text must have at least batch_size × seq_len + seq_len = {needed} "
                f"characters for one batch, got {len(ids)}"
            )
        self.ids = ids
        self.seed = seed
        # The largest offset is T - 1, and every offset must leave B streams of K chunks.
        self.chunks_per_epoch = (len(ids) - seq_len) // batch_size // seq_len
        self.stream_len = self.chunks_per_epoch * seq_len

    def offset(self, epoch: int) -> int:
        """The shift of epoch ``epoch``: 0 for the first, then pseudo-random in [0, T)."""
        if epoch == 0:
            return 0
        gen = torch.Generator().manual_seed(self.seed * 1_000_003 + epoch)
        return int(torch.randint(0, self.seq_len, (1,), generator=gen))

    def batch(self, step: int) -> tuple[Tensor, Tensor, bool]:
        epoch, k = divmod(step, self.chunks_per_epoch)
        starts = self.offset(epoch) + torch.arange(self.batch_size) * self.stream_len
        index = (starts + k * self.seq_len).unsqueeze(1) + torch.arange(self.seq_len + 1)
        window = self.ids[index]  # (B, T + 1)
        return window[:, :-1], window[:, 1:], k == 0
