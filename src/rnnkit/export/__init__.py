r"""Export rnnkit networks to ONNX, exactly: native recurrent operators where the cell has one.

:func:`to_onnx` writes a ``Recurrent``, ``Bidirectional``, ``Stack``, ``RNN``, ``Readout`` or a
task model (``CharLanguageModel``, ``Forecaster``, ``SequenceClassifier``) as an ONNX graph
built node by node, so that every cell keeps its exact function:

=================================  ===================================================
rnnkit                             ONNX
=================================  ===================================================
``LSTMCell`` (gates i|f|g|o)        ``LSTM`` (W, R, B in i|o|f|c order)
peepholes ``weight_ch`` p_i|p_f|p_o  input ``P`` in ONNX's order i|o|f
``cell_activation="identity"``     ``activations`` Sigmoid, Tanh, Affine (α=1, β=0)
``GRUCell`` (gates r|z|n)          ``GRU`` (z|r|h); reset after/before ->
                                   ``linear_before_reset`` 1/0
``ElmanCell`` tanh/sigmoid/relu    ``RNN`` with ``activations`` Tanh/Sigmoid/Relu
``JordanCell``                     a ``Scan`` over its step (ONNX has no Jordan op)
``reverse=True`` / Bidirectional   ``direction`` reverse / bidirectional
``lengths``                        ``sequence_lens``
=================================  ===================================================

``bias=False`` writes zero biases. Batch and time are dynamic; the graph's inputs and outputs
are batch-first like the module (the time-first ONNX operators sit between transposes:
onnxruntime rejects ``layout=1``). :func:`verify` runs a written file in onnxruntime next to the
module and returns the largest difference; ``rnnkit export RUN --onnx PATH`` does both for a
trained run.

Needs the ``onnx`` extra (``pip install rnnkit[onnx]``: onnx and onnxruntime).
"""

from ._onnx import DEFAULT_OPSET, to_onnx
from ._verify import reference, reference_step, run, verify

__all__ = ["DEFAULT_OPSET", "reference", "reference_step", "run", "to_onnx", "verify"]
