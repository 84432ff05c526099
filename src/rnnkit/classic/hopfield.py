"""The discrete Hopfield network (Hopfield 1982): ±1 units, symmetric weights, an energy that
async updates never raise, three storage rules, and Glauber (stochastic) units at a temperature.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
import torch
from torch import Tensor, nn

from .. import _checks
from .._checks import shape_text

RULES: tuple[str, ...] = ("hebbian", "storkey", "pseudoinverse")
MODES: tuple[str, ...] = ("async", "sync")


# --- input conversion shared with the continuous and modern networks --------------------------


def _as_tensor(name: str, value: object, *, dtype: torch.dtype, device: torch.device) -> Tensor:
    """``value`` (a torch tensor or a numpy array of real numbers) as a tensor of ``dtype``."""
    if isinstance(value, np.ndarray):
        if value.dtype == np.bool_ or not np.issubdtype(value.dtype, np.number):
            raise TypeError(f"{name} must be an array of real numbers, got dtype {value.dtype}")
        if np.iscomplexobj(value):
            raise TypeError(f"{name} must be an array of real numbers, got dtype {value.dtype}")
        value = torch.from_numpy(np.ascontiguousarray(value))
    elif not isinstance(value, Tensor):
        raise TypeError(
            f"{name} must be a torch.Tensor or a numpy array, got {type(value).__name__}"
        )
    if value.dtype == torch.bool or value.is_complex():
        raise TypeError(f"{name} must hold real numbers, got dtype {value.dtype}")
    return value.detach().to(device=device, dtype=dtype)


def _batch_of_vectors(name: str, value: Tensor, width: int, width_name: str) -> tuple[Tensor, bool]:
    """``value`` (width,) or (B, width) as (B, width); the flag says whether it was one vector."""
    if value.dim() == 1 and value.shape[0] == width:
        return value.unsqueeze(0), True
    if value.dim() == 2 and value.shape[1] == width:
        return value, False
    raise ValueError(
        f"{name} must be ({width_name}={width},) or (batch, {width_name}={width}), "
        f"got {shape_text(tuple(value.shape))}"
    )


def _check_plus_minus_one(name: str, value: Tensor) -> None:
    """Raise naming ``name`` and the first offending entry unless every entry is -1 or +1."""
    bad = (value != 1) & (value != -1)
    if bool(bad.any()):
        where = tuple(int(i) for i in bad.nonzero()[0])
        raise ValueError(
            f"{name} must contain only -1 and +1, got {float(value[where]):g} at index {where}"
        )


def _check_finite(name: str, value: Tensor) -> None:
    if not bool(torch.isfinite(value).all()):
        raise ValueError(f"{name} must be finite, got NaN or infinite entries")


def _non_negative_diagonal_symmetric(name: str, weight: Tensor) -> None:
    if not torch.allclose(weight, weight.T, rtol=1e-6, atol=1e-12):
        raise ValueError(f"{name} must be symmetric (w_ij = w_ji), got an asymmetric matrix")
    if bool((weight.diagonal() < 0).any()):
        raise ValueError(f"{name} must have a non-negative diagonal, got a negative w_ii")


# --- storage rules: (P, N) float64 ±1 patterns -> (N, N) float64 weights ----------------------


def _hebbian(patterns: Tensor) -> Tensor:
    n = patterns.shape[1]
    weight = patterns.T @ patterns / n  # (N, N)
    weight.fill_diagonal_(0.0)
    return weight


def _storkey(patterns: Tensor) -> Tensor:
    n = patterns.shape[1]
    weight = patterns.new_zeros(n, n)
    for xi in patterns:  # the rule is incremental: one pattern at a time, in order
        h = weight @ xi  # (N,) h_i = sum_k w_ik xi_k, with w_ii = 0
        local = h[:, None] - weight * xi[None, :]  # (N, N) h_ij = sum_{k != i, j} w_ik xi_k
        weight += (torch.outer(xi, xi) - xi[:, None] * local.T - local * xi[None, :]) / n
        weight = (weight + weight.T) / 2  # symmetric in exact arithmetic; rounding is not
        weight.fill_diagonal_(0.0)
    return weight


def _pseudoinverse(patterns: Tensor) -> Tensor:
    weight = torch.linalg.pinv(patterns) @ patterns  # (N, N) projection onto the patterns' span
    weight = (weight + weight.T) / 2  # exact symmetry despite rounding
    weight.fill_diagonal_(0.0)
    return weight


_RULE_FUNCTIONS = {"hebbian": _hebbian, "storkey": _storkey, "pseudoinverse": _pseudoinverse}


class HopfieldNetwork(nn.Module):
    r"""Hopfield's network of N binary units ``s_i ∈ {-1, +1}`` with symmetric weights.

    .. math::
        h_i = \sum_j w_{ij} s_j + b_i, \qquad s_i \leftarrow \operatorname{sgn}(h_i),
        \qquad E(s) = -\tfrac12 \sum_{ij} w_{ij} s_i s_j - \sum_i b_i s_i

    Tie rule: a unit whose field is exactly 0 keeps its state, so that stored patterns stay
    fixed points and async updates never raise E (a flip changes E by ``-2 s_i' h_i`` when
    ``w_ii >= 0``). The storage rules, on patterns ξ^1..ξ^P (rows of a (P, N) matrix X):

    - ``"hebbian"``: :math:`w_{ij} = \frac1N \sum_\mu \xi^\mu_i \xi^\mu_j`, :math:`w_{ii} = 0`.
      Capacity about 0.138 N for random patterns (Amit, Gutfreund & Sompolinsky 1985).
    - ``"storkey"`` (Storkey 1997), one pattern at a time:
      :math:`w_{ij} \mathrel{+}= \frac1N(\xi_i\xi_j - \xi_i h_{ji} - h_{ij}\xi_j)` with
      :math:`h_{ij} = \sum_{k \ne i,j} w_{ik} \xi_k`; :math:`w_{ii} = 0`. Incremental, local,
      and holds more random patterns than Hebb.
    - ``"pseudoinverse"`` (projection rule, Personnaz et al. 1986): :math:`W = X^+ X`, the
      projection onto the span of the patterns, with the diagonal then set to 0 (Kanter &
      Sompolinsky 1987: larger basins). Every stored pattern is a fixed point, even for
      correlated patterns and P close to N, as long as they are linearly independent.

    Dynamics (:meth:`recall`): ``"async"`` updates one unit at a time, in a fresh random order
    per sweep (the same order for every probe of the batch); ``"sync"`` updates all units at
    once (it can end in a 2-cycle instead of a fixed point). With ``temperature`` T > 0 the units
    are Glauber's stochastic units, :math:`P(s_i = +1) = \sigma(2 h_i / T)`, which become the
    deterministic units as T -> 0.

    The weights are learned in float64 and kept in the module's dtype (float32 unless given).

    Args:
        n_units: N, the number of units.
        rule: ``"hebbian"``, ``"storkey"`` or ``"pseudoinverse"``.

    Shapes:
        patterns, probes, states: (P, N), (B, N) or one vector (N,); energy: (B,) or a scalar.

    Example:
        >>> net = HopfieldNetwork(6, rule="hebbian")
        >>> _ = net.store(torch.tensor([[1, 1, 1, -1, -1, -1], [1, -1, 1, -1, 1, -1]]))
        >>> net.recall(torch.tensor([1, 1, 1, -1, -1, 1]), mode="sync")  # last bit flipped
        tensor([ 1.,  1.,  1., -1., -1., -1.])
        >>> net.energy(torch.tensor([1, 1, 1, -1, -1, -1]))
        tensor(-2.3333)
    """

    weight: Tensor
    bias: Tensor
    patterns: Tensor

    def __init__(
        self,
        n_units: int,
        rule: str = "hebbian",
        *,
        device: torch.device | str | None = None,
        dtype: torch.dtype | None = None,
    ) -> None:
        super().__init__()
        self.n_units = _checks.positive_int("n_units", n_units)
        self.rule = _checks.choice("rule", rule, RULES)
        factory = {"device": device, "dtype": dtype or torch.get_default_dtype()}
        self.register_buffer("weight", torch.zeros(n_units, n_units, **factory))
        self.register_buffer("bias", torch.zeros(n_units, **factory))
        self.register_buffer("patterns", torch.zeros(0, n_units, **factory))

    def extra_repr(self) -> str:
        return f"n_units={self.n_units}, rule={self.rule!r}, stored={self.patterns.shape[0]}"

    def _input(
        self, name: str, value: object, *, plus_minus_one: bool = True
    ) -> tuple[Tensor, bool]:
        t = _as_tensor(name, value, dtype=self.weight.dtype, device=self.weight.device)
        t, single = _batch_of_vectors(name, t, self.n_units, "n_units")
        if plus_minus_one:
            _check_plus_minus_one(name, t)
        return t, single

    def store(self, patterns: Tensor | np.ndarray) -> HopfieldNetwork:
        """Add ±1 ``patterns`` (P, N) or (N,) to those stored and relearn the weights.

        The weights are the rule's on all stored patterns in the order they were given (for
        Hebb and the pseudo-inverse the order does not matter; Storkey's rule is incremental).
        Returns the network, so that ``HopfieldNetwork(64).store(x)`` reads naturally.
        """
        new, _ = self._input("patterns", patterns)
        self.patterns = torch.cat([self.patterns, new], dim=0)
        weight = _RULE_FUNCTIONS[self.rule](self.patterns.to(torch.float64))
        self.weight = weight.to(self.weight.dtype)
        self.bias = torch.zeros_like(self.bias)
        return self

    def clear(self) -> HopfieldNetwork:
        """Forget every stored pattern: zero weights and thresholds."""
        self.patterns = self.patterns[:0]
        self.weight = torch.zeros_like(self.weight)
        self.bias = torch.zeros_like(self.bias)
        return self

    def set_weights(
        self, weight: Tensor | np.ndarray, bias: Tensor | np.ndarray | None = None
    ) -> HopfieldNetwork:
        """Use a given symmetric ``weight`` (N, N) with ``w_ii >= 0`` and thresholds ``bias``
        (N,); forgets the stored patterns (a later :meth:`store` relearns from the new ones).
        """
        self.weight, self.bias = _checked_weights(self.weight, self.bias, weight, bias)
        self.patterns = self.patterns[:0]
        return self

    def field(self, states: Tensor | np.ndarray) -> Tensor:
        """The local fields ``h = W s + b`` of ±1 ``states`` (B, N) or (N,): same shape."""
        s, single = self._input("states", states)
        h = s @ self.weight + self.bias  # (B, N); W is symmetric
        return h[0] if single else h

    def energy(self, states: Tensor | np.ndarray) -> Tensor:
        """``E(s) = -½ sᵀ W s - bᵀ s`` of ±1 ``states``: (B, N) -> (B,), (N,) -> scalar."""
        s, single = self._input("states", states)
        e = -0.5 * ((s @ self.weight) * s).sum(-1) - s @ self.bias  # (B,)
        return e[0] if single else e

    def is_fixed_point(self, states: Tensor | np.ndarray) -> Tensor:
        """Whether no deterministic update changes ``states``: (B, N) -> bool (B,)."""
        s, single = self._input("states", states)
        h = s @ self.weight + self.bias  # (B, N)
        fixed = ((h * s) >= 0).all(-1)  # h_i = 0 keeps s_i (the tie rule)
        return fixed[0] if single else fixed

    def recall(
        self,
        probes: Tensor | np.ndarray,
        mode: str = "async",
        max_steps: int = 100,
        *,
        temperature: float = 0.0,
        generator: torch.Generator | None = None,
    ) -> Tensor:
        """Run the dynamics from ±1 ``probes`` (B, N) or (N,) and return the final states.

        Args:
            probes: the starting states.
            mode: ``"async"`` (one unit at a time in a random order per sweep; stops after the
                first sweep that changes nothing, which is then a fixed point for every probe)
                or ``"sync"`` (``s <- sgn(W s + b)`` for all units; stops at a fixed point).
            max_steps: at most this many sweeps (async) or steps (sync).
            temperature: T >= 0; T > 0 draws each update from ``P(+1) = σ(2h/T)`` (Glauber),
                and the run stops, as at T = 0, after a sweep or step that changes nothing.
            generator: the torch.Generator for the order and the Glauber draws (default: the
                global one). The same random numbers are drawn whatever T is, so a run at a
                tiny T makes the same choices as the deterministic run with the same seed.

        Returns:
            the states, same shape as ``probes``, in the module's dtype.
        """
        _checks.choice("mode", mode, MODES)
        _checks.positive_int("max_steps", max_steps)
        temperature = _checks.non_negative_float("temperature", temperature)
        s, single = self._input("probes", probes)
        s = s.clone()
        with torch.no_grad():
            if mode == "sync":
                s = self._run_sync(s, max_steps, temperature, generator)
            else:
                s = self._run_async(s, max_steps, temperature, generator)
        return s[0] if single else s

    def update_unit(
        self,
        states: Tensor | np.ndarray,
        unit: int,
        *,
        temperature: float = 0.0,
        generator: torch.Generator | None = None,
    ) -> Tensor:
        """One asynchronous update of unit ``unit`` in every state of the batch.

        ``s_unit <- sgn(h_unit)`` (kept when ``h_unit = 0``), or a Glauber draw at T > 0.
        Returns new states, same shape as ``states`` (the input is not modified); :meth:`recall`
        with ``mode="async"`` is a sequence of these.

        Example:
            >>> w = torch.tensor([[0.0, 1.0, 1.0], [1.0, 0.0, 1.0], [1.0, 1.0, 0.0]])
            >>> net = HopfieldNetwork(3).set_weights(w)
            >>> net.update_unit(torch.tensor([1.0, 1.0, -1.0]), 2)
            tensor([1., 1., 1.])
        """
        s, single = self._input("states", states)
        if isinstance(unit, bool) or not isinstance(unit, int) or not 0 <= unit < self.n_units:
            raise ValueError(f"unit must be an int in [0, {self.n_units - 1}], got {unit!r}")
        temperature = _checks.non_negative_float("temperature", temperature)
        s = s.clone()
        u = torch.rand(s.shape[0], generator=generator, dtype=s.dtype).to(s.device)  # (B,)
        h = s @ self.weight[unit] + self.bias[unit]  # (B,)
        s[:, unit] = self._update(h, s[:, unit], u, temperature)
        return s[0] if single else s

    def forward(self, probes: Tensor, **options: object) -> Tensor:
        """Same as :meth:`recall`."""
        return self.recall(probes, **options)  # type: ignore[arg-type]

    @staticmethod
    def _update(h: Tensor, s: Tensor, u: Tensor, temperature: float) -> Tensor:
        if temperature > 0.0:
            p_up = torch.sigmoid(2.0 * h / temperature)
            return torch.where(u < p_up, 1.0, -1.0).to(s.dtype)
        return torch.where(h == 0, s, torch.sign(h))

    def _uniforms(self, s: Tensor, generator: torch.Generator | None) -> Tensor:
        return torch.rand(s.shape, generator=generator, dtype=s.dtype).to(s.device)

    def _run_sync(
        self, s: Tensor, max_steps: int, temperature: float, generator: torch.Generator | None
    ) -> Tensor:
        for _ in range(max_steps):
            u = self._uniforms(s, generator)  # (B, N)
            new = self._update(s @ self.weight + self.bias, s, u, temperature)
            if torch.equal(new, s):
                break
            s = new
        return s

    def _run_async(
        self, s: Tensor, max_steps: int, temperature: float, generator: torch.Generator | None
    ) -> Tensor:
        weight, bias = self.weight, self.bias
        for _ in range(max_steps):
            order = torch.randperm(self.n_units, generator=generator).tolist()
            u = self._uniforms(s, generator)  # (B, N)
            before = s.clone()
            for i in order:
                h = s @ weight[i] + bias[i]  # (B,) the field of unit i, row i = column i
                s[:, i] = self._update(h, s[:, i], u[:, i], temperature)
            if torch.equal(before, s):
                break
        return s


# --- capacity: recall against load ------------------------------------------------------------


def _default_loads() -> tuple[float, ...]:
    return tuple(round(0.025 * k, 3) for k in range(1, 25))  # 0.025 .. 0.6


@dataclass
class CapacityConfig:
    """What :func:`capacity_curve` measures: random ±1 patterns at loads P/N, probes with a
    fraction of bits flipped, recall by each rule. Saved with the results as JSON."""

    n_units: int = 100
    loads: tuple[float, ...] = field(default_factory=_default_loads)
    rules: tuple[str, ...] = RULES
    flip_fraction: float = 0.1
    trials: int = 5
    mode: str = "async"
    max_steps: int = 100
    seed: int = 0

    def __post_init__(self) -> None:
        _checks.positive_int("n_units", self.n_units)
        _checks.positive_int("trials", self.trials)
        _checks.positive_int("max_steps", self.max_steps)
        _checks.non_negative_float("flip_fraction", self.flip_fraction, upper=1.0)
        _checks.choice("mode", self.mode, MODES)
        self.loads = tuple(float(a) for a in self.loads)
        self.rules = tuple(self.rules)
        if not self.loads:
            raise ValueError("loads must hold at least one load P/N, got none")
        for a in self.loads:
            if not 0.0 < a or round(a * self.n_units) < 1:
                raise ValueError(
                    f"loads must be > 0 with at least one pattern (load * n_units >= 0.5), got {a}"
                )
        if not self.rules:
            raise ValueError("rules must name at least one rule, got none")
        for rule in self.rules:
            _checks.choice("rules", rule, RULES)


@dataclass
class CapacityResult:
    """Recall against load: per rule, one value per load (averaged over probes and trials).

    ``exact``: fraction of probes recalled to exactly the stored pattern; ``overlap``: the mean
    final overlap ``m = ξ·s / N`` (1 is perfect recall); ``stable``: fraction of stored patterns
    that are fixed points (no noise).
    """

    config: CapacityConfig
    n_patterns: list[int]
    exact: dict[str, list[float]]
    overlap: dict[str, list[float]]
    stable: dict[str, list[float]]

    def to_json(self) -> str:
        return json.dumps(asdict(self), indent=2)

    def save(self, path: str | Path) -> Path:
        path = Path(path)
        path.write_text(self.to_json() + "\n")
        return path

    def table(self) -> str:
        """A Markdown table: one row per load, exact recall and overlap per rule."""
        head = "| P/N | P | " + " | ".join(f"{r} exact | {r} overlap" for r in self.config.rules)
        rule_line = "|---|---|" + "---|---|" * len(self.config.rules)
        rows = [head + " |", rule_line]
        for k, (load, p) in enumerate(zip(self.config.loads, self.n_patterns)):
            cells = " | ".join(
                f"{self.exact[r][k]:.2f} | {self.overlap[r][k]:.3f}" for r in self.config.rules
            )
            rows.append(f"| {load:.3f} | {p} | {cells} |")
        return "\n".join(rows)


def flip_bits(patterns: Tensor, n_flips: int, generator: torch.Generator | None = None) -> Tensor:
    """Copies of ±1 ``patterns`` (P, N) with exactly ``n_flips`` distinct bits flipped per row.

    Example:
        >>> x = torch.ones(3, 10)
        >>> (flip_bits(x, 2, torch.Generator().manual_seed(0)) == -1).sum(1)
        tensor([2, 2, 2])
    """
    _checks.shape("patterns", patterns, ("P", "N"))
    n = patterns.shape[1]
    if isinstance(n_flips, bool) or not isinstance(n_flips, int) or not 0 <= n_flips <= n:
        raise ValueError(f"n_flips must be an int in [0, {n}], got {n_flips!r}")
    keys = torch.rand(patterns.shape, generator=generator)  # (P, N)
    flip = torch.zeros(patterns.shape, dtype=torch.bool)
    flip.scatter_(1, keys.argsort(dim=1)[:, :n_flips], True)
    return torch.where(flip.to(patterns.device), -patterns, patterns)


def capacity_curve(
    config: CapacityConfig | None = None, *, progress: bool = False
) -> CapacityResult:
    """Measure recall against load P/N for each rule of ``config`` (see :class:`CapacityConfig`).

    For each trial and load, P = round(load * N) random ±1 patterns are stored by every rule
    (the same patterns and probes for every rule, so the rules are compared on equal terms),
    each pattern is probed with ``round(flip_fraction * N)`` bits flipped, and the probes are
    recalled in float64.

    Example:
        >>> cfg = CapacityConfig(n_units=20, loads=(0.05, 0.5), trials=1, rules=("hebbian",))
        >>> result = capacity_curve(cfg)
        >>> result.n_patterns, result.stable["hebbian"][0]
        ([1, 10], 1.0)
    """
    config = config or CapacityConfig()
    n = config.n_units
    n_flips = round(config.flip_fraction * n)
    n_patterns = [round(a * n) for a in config.loads]
    sums = {
        key: {r: [0.0] * len(n_patterns) for r in config.rules}
        for key in ("exact", "overlap", "stable")
    }
    gen = torch.Generator().manual_seed(config.seed)
    steps = [(t, k) for t in range(config.trials) for k in range(len(n_patterns))]
    bar = None
    if progress:
        from .._progress import Progress  # a bar on a terminal, plain lines in a log

        bar = Progress(len(steps), desc="capacity", unit="load")
    for _, k in steps:
        p = n_patterns[k]
        patterns = torch.randint(0, 2, (p, n), generator=gen).to(torch.float64) * 2 - 1
        probes = flip_bits(patterns, n_flips, gen)
        for rule in config.rules:
            net = HopfieldNetwork(n, rule, dtype=torch.float64).store(patterns)
            recalled = net.recall(probes, config.mode, config.max_steps, generator=gen)
            sums["exact"][rule][k] += float((recalled == patterns).all(1).double().mean())
            sums["overlap"][rule][k] += float(((recalled * patterns).sum(1) / n).mean())
            sums["stable"][rule][k] += float(net.is_fixed_point(patterns).double().mean())
        if bar is not None:
            bar.update()
    if bar is not None:
        bar.close()
    means = {
        key: {r: [v / config.trials for v in values] for r, values in per_rule.items()}
        for key, per_rule in sums.items()
    }
    return CapacityResult(config, n_patterns, means["exact"], means["overlap"], means["stable"])


def overlap(states: Tensor, patterns: Tensor) -> Tensor:
    """The overlaps ``m = ξ·s / N`` of states (B, N) with patterns (B, N): (B,), in [-1, 1].

    Example:
        >>> overlap(torch.tensor([[1.0, 1.0, -1.0, 1.0]]), torch.ones(1, 4))
        tensor([0.5000])
    """
    _checks.shape("patterns", patterns, ("B", "N"))
    _checks.shape("states", states, tuple(patterns.shape))
    return (states * patterns).sum(-1) / patterns.shape[-1]


def _checked_weights(
    current_weight: Tensor,
    current_bias: Tensor,
    weight: Tensor | np.ndarray,
    bias: Tensor | np.ndarray | None,
) -> tuple[Tensor, Tensor]:
    """Validate a user's symmetric ``weight`` (N, N) and ``bias`` (N,) (None: zeros) and return
    copies in the dtype and device of the network's current ones."""
    n = current_weight.shape[0]
    w = _as_tensor("weight", weight, dtype=current_weight.dtype, device=current_weight.device)
    _checks.shape("weight", w, (n, n))
    _check_finite("weight", w)
    _non_negative_diagonal_symmetric("weight", w)
    b = torch.zeros_like(current_bias)
    if bias is not None:
        b = _as_tensor("bias", bias, dtype=current_bias.dtype, device=current_bias.device)
        _checks.shape("bias", b, (n,))
        _check_finite("bias", b)
    return w.clone(), b.clone()
