r"""Speed of the cells: the fused kernels against the reference loop, a hand-written PyTorch
loop and ``torch.nn`` — side by side in one process, interleaved.

One implementation serves ``rnnkit bench`` and ``benchmarks/bench_cells.py``. For each shape
(B, T, I, H) and cell it times, alternating between implementations on every repeat (so that
machine noise hits all of them alike) and reporting the best run (on a shared machine the
least disturbed one; the median is printed too):

* ``train``: forward, ``ys.sum()`` and backward (gradients of the input and every parameter);
* ``forward``: forward only, under ``torch.no_grad()``.

Implementations: ``fused`` (rnnkit, fused kernels), ``auto`` (rnnkit's default route: the
fused kernels or torch's op, whichever it measured faster), ``native`` (rnnkit through torch's
own op, for the cells torch has), ``reference`` (rnnkit, reference loop), ``loop`` (a
hand-written PyTorch loop with the input projection hoisted, for the cells torch has) and
``torch`` (the ``torch.nn`` module of equal hidden size: LSTM for the LSTM variants, GRU for
GRU, RNN for Elman and Jordan). ``ratio`` is time / time of that torch module.

FLOP counts follow DeepBench: a forward pass costs :math:`2 G H (I + H) B T` (G gates: LSTM 4,
GRU 3, Elman 1; Jordan :math:`2 (H I + H O + O H) B T`), training three times that. GFLOP/s are
compared with a measured sgemm rate (1024³ float32 ``torch.mm``).

Example (the FLOP count of one LSTM forward pass; timings belong in BENCHMARKS.md, not here):
    >>> flops("lstm", (32, 100, 128, 128)) / 1e9
    0.8388608
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import asdict, dataclass

import torch
from torch import Tensor, nn

from ..cells import VARIANTS, ElmanCell, GRUCell, LSTMCell, RecurrentCell
from ..recurrent import Recurrent
from ._dispatch import mode
from ._native import native_op

Shape = tuple[int, int, int, int]  # (B, T, I, H)

SHAPES: tuple[Shape, ...] = (
    (32, 100, 128, 128),
    (64, 50, 256, 256),
    (32, 100, 512, 512),
    (1, 1000, 64, 64),
    (4, 1000, 64, 64),
    (1, 1000, 32, 32),
)

# name -> (cell factory (I, H), torch.nn module class of equal size, gates for the FLOP count)
# bench's short names for two registry variants (BENCHMARKS.md's commands use them)
_SHORT_NAMES = {"gru": "gru_after", "jordan": "jordan_identity"}
_BENCHED = ("lstm", "lstm_peephole", "lstm_identity", "gru", "gru_before", "elman_tanh",
            "elman_sigmoid", "jordan")  # fmt: skip


def _entry(name: str) -> tuple[Callable[[int, int], RecurrentCell], type[nn.Module], int]:
    variant = VARIANTS[_SHORT_NAMES.get(name, name)]
    # torch.nn layer of equal hidden size; Jordan, which torch lacks, runs against nn.RNN
    torch_layer = variant.spec.torch_layer or nn.RNN
    return (lambda i, h: variant.build(i, h)), torch_layer, max(variant.spec.gates, 1)


#: cell name -> (builder (I, H) -> cell, the torch.nn layer it is timed against, gate count)
CELLS: dict[str, tuple[Callable[[int, int], RecurrentCell], type[nn.Module], int]] = {
    name: _entry(name) for name in _BENCHED
}
IMPLS = ("fused", "auto", "native", "reference", "loop", "torch")
MODES = ("train", "forward")


@dataclass
class Row:
    """One timing: milliseconds per call (best and median), the best's ratio to the best of
    torch.nn, and GFLOP/s of the best."""

    shape: Shape
    cell: str
    impl: str
    mode: str
    ms: float
    median_ms: float
    ratio: float | None
    gflops: float
    sgemm_fraction: float

    def as_dict(self) -> dict:
        return asdict(self)


def flops(cell: str, shape: Shape) -> float:
    """Forward FLOPs of one sequence batch, DeepBench convention."""
    batch, steps, n_in, hidden = shape
    if cell == "jordan":  # O = H: input, feedback and output products
        return 2.0 * (hidden * n_in + 2 * hidden * hidden) * batch * steps
    return 2.0 * CELLS[cell][2] * hidden * (n_in + hidden) * batch * steps


def sgemm_gflops(n: int = 1024, repeats: int = 20) -> float:
    """The measured float32 matrix-product rate (best of ``repeats``: the machine's rate, not
    its noise), GFLOP/s."""
    a, b = torch.randn(n, n), torch.randn(n, n)
    torch.mm(a, b)
    best = min(_timed(lambda: torch.mm(a, b)) for _ in range(repeats))
    return 2.0 * n**3 / best / 1e9


def _timed(fn: Callable[[], object]) -> float:
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def _hand_loop(cell: RecurrentCell) -> Callable[[Tensor], Tensor] | None:
    """What a user writes in PyTorch: hoisted input projection, then a Python loop over time."""
    b_ih, b_hh = cell.bias_ih, cell.bias_hh
    if b_ih is None or b_hh is None:  # the hand-written loops are for cells with biases
        return None
    if type(cell) is LSTMCell and not cell.peephole and cell.cell_activation == "tanh":

        def lstm(x: Tensor) -> Tensor:
            gx = torch.nn.functional.linear(x, cell.weight_ih, b_ih + b_hh)
            h = x.new_zeros(x.shape[0], cell.hidden_size)
            c = torch.zeros_like(h)
            ys = []
            for t in range(x.shape[1]):
                gates = torch.addmm(gx[:, t], h, cell.weight_hh.t())
                i, f, g, o = gates.chunk(4, 1)
                c = torch.sigmoid(f) * c + torch.sigmoid(i) * torch.tanh(g)
                h = torch.sigmoid(o) * torch.tanh(c)
                ys.append(h)
            return torch.stack(ys, 1)

        return lstm
    if type(cell) is GRUCell and cell.reset == "after":

        def gru(x: Tensor) -> Tensor:
            gx = torch.nn.functional.linear(x, cell.weight_ih, b_ih)
            h = x.new_zeros(x.shape[0], cell.hidden_size)
            ys = []
            for t in range(x.shape[1]):
                gh = torch.addmm(b_hh, h, cell.weight_hh.t())
                xr, xz, xn = gx[:, t].chunk(3, 1)
                hr, hz, hn = gh.chunk(3, 1)
                r, z = torch.sigmoid(xr + hr), torch.sigmoid(xz + hz)
                n = torch.tanh(xn + r * hn)
                h = n + z * (h - n)
                ys.append(h)
            return torch.stack(ys, 1)

        return gru
    if type(cell) is ElmanCell and cell.activation == "tanh":

        def elman(x: Tensor) -> Tensor:
            gx = torch.nn.functional.linear(x, cell.weight_ih, b_ih + b_hh)
            h = x.new_zeros(x.shape[0], cell.hidden_size)
            ys = []
            for t in range(x.shape[1]):
                h = torch.tanh(torch.addmm(gx[:, t], h, cell.weight_hh.t()))
                ys.append(h)
            return torch.stack(ys, 1)

        return elman
    return None


def _runners(cell_name: str, shape: Shape, impls: Sequence[str]) -> dict[str, Callable]:
    """For each implementation, a function ``x -> outputs`` (B, T, ·)."""
    n_in, hidden = shape[2], shape[3]
    factory, torch_cls, _ = CELLS[cell_name]
    cell = factory(n_in, hidden)
    layer = Recurrent(cell)
    out: dict[str, Callable] = {}
    for impl in impls:
        if impl in ("fused", "auto", "reference") or (impl == "native" and native_op(cell)):

            def through_rnnkit(x, layer=layer, impl=impl):
                with mode(impl):
                    return layer(x)[0]

            out[impl] = through_rnnkit
        elif impl == "loop":
            loop = _hand_loop(cell)
            if loop is not None:
                out[impl] = loop
        elif impl == "torch":
            module = torch_cls(n_in, hidden, batch_first=True)
            out[impl] = lambda x, m=module: m(x)[0]
    return out


def run(
    shapes: Iterable[Shape] = SHAPES,
    cells: Iterable[str] = tuple(CELLS),
    impls: Iterable[str] = IMPLS,
    modes: Iterable[str] = MODES,
    repeats: int = 5,
    *,
    report: Callable[[Row], None] | None = None,
    sgemm: float | None = None,
) -> list[Row]:
    """Time every (shape, cell, mode) with the chosen implementations, interleaved.

    ``report`` is called with each row as soon as it is measured. Returns all rows.
    """
    impls, modes = tuple(impls), tuple(modes)
    sgemm = sgemm_gflops() if sgemm is None else sgemm
    rows: list[Row] = []
    for shape in shapes:
        for cell_name in cells:
            torch.manual_seed(0)
            runners = _runners(cell_name, shape, impls)
            x = torch.randn(*shape[:3])  # (B, T, I)
            for m in modes:
                samples = _interleaved(runners, x, m, repeats)
                base = min(samples["torch"]) if "torch" in samples else None
                work = flops(cell_name, shape) * (3.0 if m == "train" else 1.0)
                for impl, times in samples.items():
                    seconds = min(times)
                    row = Row(
                        shape=shape,
                        cell=cell_name,
                        impl=impl,
                        mode=m,
                        ms=seconds * 1e3,
                        median_ms=statistics.median(times) * 1e3,
                        ratio=None if base is None else seconds / base,
                        gflops=work / seconds / 1e9,
                        sgemm_fraction=work / seconds / 1e9 / sgemm,
                    )
                    rows.append(row)
                    if report is not None:
                        report(row)
    return rows


def _interleaved(
    runners: dict[str, Callable], x: Tensor, m: str, repeats: int
) -> dict[str, list[float]]:
    xs = x.detach().requires_grad_(m == "train")

    def once(fn: Callable) -> float:
        if m == "forward":
            with torch.no_grad():
                return _timed(lambda: fn(xs))

        def step() -> None:
            fn(xs).sum().backward()

        return _timed(step)

    for fn in runners.values():  # warm-up: first-call costs (and the kernels' build) excluded
        once(fn)
    samples: dict[str, list[float]] = {name: [] for name in runners}
    for _ in range(repeats):
        for name, fn in runners.items():
            samples[name].append(once(fn))
    return samples


def format_row(row: Row) -> str:
    """One line of the table printed by ``rnnkit bench``."""
    ratio = "     -" if row.ratio is None else f"{row.ratio:6.2f}"
    shape = "x".join(str(d) for d in row.shape)
    return (
        f"{shape:>16} {row.cell:>14} {row.mode:>7} {row.impl:>9} {row.ms:10.2f} ms "
        f"{row.median_ms:10.2f} ms {ratio}x {row.gflops:8.2f} GFLOP/s "
        f"{100 * row.sgemm_fraction:5.1f}% sgemm"
    )


HEADER = (
    f"{'B x T x I x H':>16} {'cell':>14} {'mode':>7} {'impl':>9} {'best':>13} {'median':>13} "
    f"{'vs torch':>7} {'rate (best)':>16} {'of sgemm':>11}"
)

__all__ = ["CELLS", "HEADER", "IMPLS", "MODES", "SHAPES", "Row", "flops", "format_row", "run",
           "sgemm_gflops"]  # fmt: skip
