r"""Which unit tracks what: simple features of a text and the units that correlate with them.

A feature gives one number per character, the value *after* reading it (what a unit that has
just read the character can know): inside double or single quotes (a quote opens or closes;
a line break closes), inside brackets (``()[]{}`` depth > 0), the column in the line and the
indentation of the line. :func:`correlate_units` finds, for each feature, the unit whose
activation has the largest Pearson correlation with it (Karpathy, Johnson & Fei-Fei 2015 found
such units by eye).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np
from torch import Tensor

from ._trace import Trace

#: feature name -> (what it is called in a sentence, whether it is on/off rather than a count).
FEATURES: dict[str, tuple[str, bool]] = {
    "double_quotes": ('inside "double quotes"', True),
    "single_quotes": ("inside 'single quotes'", True),
    "brackets": ("inside brackets", True),
    "column": ("position in the line", False),
    "indent": ("indentation depth", False),
}

_OPEN = {"(": ")", "[": "]", "{": "}"}


def text_features(text: str) -> dict[str, np.ndarray]:
    """Per-character features of ``text``: name of :data:`FEATURES` -> (len(text),) float64.

    Example:
        >>> f = text_features('a "b" (c)\\n  d')
        >>> f["double_quotes"].tolist()
        [0.0, 0.0, 1.0, 1.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0]
        >>> f["brackets"].tolist()[5:9], f["column"].tolist()[-3:], f["indent"].tolist()[-3:]
        ([0.0, 1.0, 1.0, 0.0], [1.0, 2.0, 3.0], [1.0, 2.0, 2.0])
    """
    if not isinstance(text, str):
        raise TypeError(f"text must be a str, got {type(text).__name__}")
    n = len(text)
    out = {name: np.zeros(n) for name in FEATURES}
    double = single = False
    depth = column = indent = 0
    at_start = True  # still in the line's leading spaces
    for k, ch in enumerate(text):
        if ch == "\n":
            double = single = False
            column, indent, at_start = 0, 0, True
        else:
            column += 1
            if at_start and ch == " ":
                indent += 1
            else:
                at_start = False
            if ch == '"' and not single:
                double = not double
            elif ch == "'" and not double:
                single = not single
            elif ch in _OPEN:
                depth += 1
            elif ch in _OPEN.values():
                depth = max(depth - 1, 0)
        out["double_quotes"][k] = double
        out["single_quotes"][k] = single
        out["brackets"][k] = depth > 0
        out["column"][k] = column
        out["indent"][k] = indent
    return out


@dataclass(frozen=True)
class UnitFinding:
    """The unit that best tracks one feature.

    Attributes:
        feature: a name of :data:`FEATURES`.
        source: where the unit is, e.g. ``"layer 0 c"`` (a state or gate of a traced layer).
        unit: its index.
        r: Pearson correlation of its activation with the feature.
    """

    feature: str
    source: str
    unit: int
    r: float

    def sentence(self) -> str:
        """E.g. ``unit 117 (layer 0 c) is on inside "double quotes", r = 0.81``."""
        what, binary = FEATURES[self.feature]
        if binary:
            verb = "is on" if self.r > 0 else "is off"
        else:
            verb = "grows with" if self.r > 0 else "falls with"
        return f"unit {self.unit} ({self.source}) {verb} {what}, r = {self.r:.2f}"


def correlate_units(
    activations: Mapping[str, Tensor | np.ndarray], features: Mapping[str, np.ndarray]
) -> list[UnitFinding]:
    """For each feature, the unit of all ``activations`` with the largest ``|r|``.

    Args:
        activations: source name -> (N, H) activations, one row per character.
        features: feature name -> (N,) values (e.g. from :func:`text_features`); a constant
            feature (nothing to correlate with) is skipped.

    Returns:
        one :class:`UnitFinding` per usable feature, strongest first.

    Example:
        >>> x = np.linspace(0, 1, 50)
        >>> acts = {"layer 0 h": np.stack([np.sin(9 * x), x ** 2], axis=1)}
        >>> [f"{f.unit} {f.r:.2f}" for f in correlate_units(acts, {"column": x})]
        ['1 0.97']
    """
    found = []
    for feature, values in features.items():
        if feature not in FEATURES:
            raise ValueError(f"features must be named among {', '.join(FEATURES)}, got {feature!r}")
        v = np.asarray(values, dtype=np.float64)
        v = v - v.mean()
        if not np.any(v):
            continue
        best: UnitFinding | None = None
        for source, acts in activations.items():
            a = acts.detach().cpu().double().numpy() if isinstance(acts, Tensor) else acts
            a = np.asarray(a, dtype=np.float64)
            if a.ndim != 2 or a.shape[0] != v.shape[0]:
                raise ValueError(
                    f"activations[{source!r}] must be ({v.shape[0]}, units), got {a.shape}"
                )
            a = a - a.mean(axis=0)
            denom = np.sqrt((a * a).sum(axis=0) * (v * v).sum())
            with np.errstate(invalid="ignore", divide="ignore"):
                r = np.where(denom > 0, (a * v[:, None]).sum(axis=0) / denom, 0.0)
            unit = int(np.argmax(np.abs(r)))
            if best is None or abs(r[unit]) > abs(best.r):
                best = UnitFinding(feature, source, unit, float(r[unit]))
        if best is not None:
            found.append(best)
    return sorted(found, key=lambda f: -abs(f.r))


def activations_of(tr: Trace, batch_index: int = 0) -> dict[str, Tensor]:
    """The states of every traced layer for one sequence of the batch, for
    :func:`correlate_units`: ``"layer K NAME"`` -> (T, units) (LSTM ``h`` and ``c``, ...)."""
    return {
        f"layer {k} {name}": value[batch_index]
        for k, layer in enumerate(tr.layers)
        for name, value in layer.states.items()
    }
