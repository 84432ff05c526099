r"""Fused whole-sequence kernels: every built-in cell, forward and backward, in C++.

:class:`~rnnkit.Recurrent` runs a whole sequence through one fused kernel whenever it can, and
through the reference loop (``cell.step`` once per time step) otherwise. The result is the same
function either way: the kernels are tested against the loop, forward and every gradient.

A kernel computes the input projection of all steps as one matrix product
:math:`X W_{ih}^\top` ((T·B, I) x (I, G)); per step one recurrent product (:math:`h W_{hh}^\top`)
and one fused elementwise pass; its backward collects the gate gradients of all steps in a
(T, B, G) buffer so that :math:`dW_{ih}`, :math:`dW_{hh}` and :math:`dX` are one matrix
product each after the loop. float32 products over the whole sequence go through oneDNN (the
library behind ``torch.nn.LSTM`` on the CPU), float64 ones through MKL.

The LSTM's time loop is its own engine: one OpenMP region for the whole sequence, the recurrent
weights packed once per call so that each SIMD block of hidden units has its four gates side by
side, and per register tile of rows the product and the cell update back to back (no BLAS call,
allocation or thread fork per step; bias and peephole gradients are summed inside the backward
loop). Its threads split the batch rows (no synchronisation at all) when :math:`W_{hh}` fits a
core's L2 cache or each thread has 16 rows or more, and otherwise the hidden units, meeting at a
spin barrier once per step; a step of at most 8K multiply-adds stays on one thread. GRU, Elman
and Jordan loops use a register-blocked product written for small batches and oneDNN's per-step
product for large ones. The float32 results can differ in the last bits between thread counts
and batch sizes (the order of the sums changes with the tiles), as with any BLAS.

The fused path is taken when all of these hold:

* the cell's class is exactly :class:`~rnnkit.ElmanCell`, :class:`~rnnkit.JordanCell`,
  :class:`~rnnkit.GRUCell` or :class:`~rnnkit.LSTMCell` (a subclass may change ``step``, so it
  gets the reference loop; so does a cell with parametrizations);
* input, state and parameters are CPU tensors of dtype float32 or float64;
* the C++ extension could be built: on first use, once per ISA level (avx512, avx2, portable) and
  source version, with one line on stderr while it compiles (about 45 s;
  ``RNNKIT_VERBOSE_BUILD=1`` shows the compiler), cached in torch's extensions directory
  (``$TORCH_EXTENSIONS_DIR``, default ``~/.cache/torch_extensions``) under a key of the ISA, the
  sources, the flags and torch's version, and later imported directly (see ``_ext``); without a
  compiler a single warning says so and torch's op or the loop is used.

Any lengths, ``reverse=True`` (run inside the kernel: each sequence from its last real step
back to its first, as torch's packed sequences), given or zero initial states, and
stacks/bidirectional layers are supported. Streams (:class:`~rnnkit.Stream`) run one step at a
time through each cell's step kernel. The fused backward is first-order only: differentiating
its gradients again (double backward after ``create_graph=True``) raises, so use :func:`mode`
``("reference")`` for that. ``torch.func`` transforms (vmap, jvp) are not supported on the
fused path either.

Switch (:func:`set_mode` for every thread, :func:`mode` in a ``with`` block for the current
thread or task only, or the environment variable ``RNNKIT_KERNELS`` read at import):

* ``"auto"`` (default): for the configurations torch has natively (LSTM without peepholes and
  with tanh, GRU with reset after, Elman tanh/relu) the faster of the fused kernels and torch's
  own op, measured once per configuration, shape class, dtype, threads and ISA and remembered in
  ``$RNNKIT_CACHE_DIR/dispatch.json`` (default ``~/.cache/rnnkit/``; delete it to measure
  again); the fused kernels for the others; the reference loop when neither can run; on CUDA,
  torch's op (cuDNN) where it has the cell, else the loop;
* ``"fused"``: fused, and a RuntimeError saying why if it is not possible;
* ``"native"``: torch's own op, and a RuntimeError if torch has no equivalent;
* ``"reference"``: always the reference loop.

Example:
    >>> import torch, rnnkit
    >>> from rnnkit import kernels
    >>> layer = rnnkit.Recurrent(rnnkit.LSTMCell(3, 8, peephole=True, dtype=torch.float64))
    >>> x = torch.randn(2, 5, 3, dtype=torch.float64)
    >>> with kernels.mode("reference"):
    ...     ys_ref, _ = layer(x)
    >>> ys, _ = layer(x)  # fused when the extension is available
    >>> bool(torch.allclose(ys, ys_ref, atol=1e-12))
    True
    >>> kernels.get_mode()
    'auto'
"""

from __future__ import annotations

from torch import Tensor

from .. import recurrent as _recurrent
from .._state import State
from ..cells import RecurrentCell
from ._dispatch import (
    MODES,
    available,
    extension_for,
    get_mode,
    mode,
    route,
    set_mode,
    unsupported_reason,
)
from ._functions import SPECS, FusedSpec
from ._native import unroll_native
from ._threads import recommended_threads


def fused_unroll(
    cell: RecurrentCell, x: Tensor, state: State, lengths: Tensor | None, *, reverse: bool = False
) -> tuple[Tensor, State] | None:
    """Run ``cell`` over ``x`` (B, T, I) from ``state`` in one fused kernel, or torch's own op
    where :func:`route` picks it.

    The same contract as :func:`rnnkit.recurrent.unroll` (checked arguments), in time order;
    with ``reverse`` each sequence runs from its last real step back to its first (inside the
    fused kernel; around torch's op by reversing each sequence within its length), and the
    outputs come back in time order. Returns None when the reference loop must run instead
    (mode ``"reference"``, or ``"auto"`` with an unsupported cell or input); raises RuntimeError
    in modes ``"fused"``/``"native"`` when that path cannot run.
    """

    def fused(ext, cell, x, state, lengths):
        # input_dropout and weight_drop act outside the time loop: m_x ⊙ x and M ⊙ W go in
        # (drawn as the reference loop draws them, so a seed gives the same masks).
        masks = cell.draw_masks(x.shape[0], x.shape[1], x)
        w_rec = None
        if masks is not None:
            if masks.input is not None:
                x = x * masks.input.unsqueeze(1)
            w_rec = masks.weight
        return SPECS[type(cell)].unroll(ext, cell, x, state, lengths, reverse, w_rec)

    path, ext = route(cell, x, lengths, fused)
    if path == "native":
        if not reverse:
            return unroll_native(cell, x, state, lengths)
        ys, final = unroll_native(cell, _recurrent.reverse_padded(x, lengths), state, lengths)
        return _recurrent.reverse_padded(ys, lengths), final
    return None if ext is None else fused(ext, cell, x, state, lengths)


# The one dispatch point: Recurrent asks this hook before running its reference loop.
_recurrent.set_fused_unroll(fused_unroll)

__all__ = [
    "MODES",
    "SPECS",
    "FusedSpec",
    "available",
    "extension_for",
    "fused_unroll",
    "get_mode",
    "mode",
    "recommended_threads",
    "route",
    "set_mode",
    "unsupported_reason",
]
