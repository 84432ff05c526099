"""Capacity of the discrete Hopfield network: recall against load P/N for each storage rule.

Random ±1 patterns at loads P/N are stored by each rule, probed with a fraction of bits flipped
and recalled; :func:`capacity_curve` averages exact recall, final overlap and stability over
trials (Amit, Gutfreund & Sompolinsky 1985: about 0.138 N for Hebb).
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path

import torch
from torch import Tensor

from .. import _checks
from .hopfield import MODES, HopfieldNetwork
from .storage import RULES


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
    config: CapacityConfig | None = None,
    *,
    progress: bool | Callable[[int, int], object] = False,
) -> CapacityResult:
    """Measure recall against load P/N for each rule of ``config`` (see :class:`CapacityConfig`).

    For each trial and load, P = round(load * N) random ±1 patterns are stored by every rule
    (the same patterns and probes for every rule, so the rules are compared on equal terms),
    each pattern is probed with ``round(flip_fraction * N)`` bits flipped, and the probes are
    recalled in float64. ``progress=True`` shows a tqdm bar; a callable is called as
    ``progress(done, total)`` after each (trial, load) step instead, e.g. to print plain lines.

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
    if progress is True:
        from tqdm import tqdm

        bar = tqdm(total=len(steps), desc="capacity", unit="load", leave=False)
    for done, (_, k) in enumerate(steps, 1):
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
        elif callable(progress):
            progress(done, len(steps))
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


__all__ = ["CapacityConfig", "CapacityResult", "capacity_curve", "flip_bits", "overlap"]
