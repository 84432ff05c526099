"""Progress of long jobs on stderr: a tqdm bar on a terminal, plain lines in logs.

On a terminal the bar redraws in place. When stderr is a pipe or a file (``tee``, CI, a
scheduler's log) a bar would either vanish (tqdm's ``disable=None``) or fill the log with
carriage-return spam, so :class:`Progress` prints one plain line when it starts, then at most one
line every ``every`` seconds, and one when it closes.

Example:
    >>> import io
    >>> log = io.StringIO()  # not a terminal: plain lines
    >>> with Progress(3, desc="demo", unit="step", file=log, clock=lambda: 0.0) as bar:
    ...     for _ in range(3):
    ...         bar.update()
    ...     bar.note("loss 0.5")
    >>> print(log.getvalue(), end="")
    demo: 0/3 step (0%)
    demo: 3/3 step (100%) in 0 s; loss 0.5
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable
from typing import IO, Any

PLAIN_EVERY = 10.0
"""Seconds between two plain progress lines when stderr is not a terminal."""


class Progress:
    """Progress towards ``total`` units: a tqdm bar on a terminal, plain lines otherwise.

    Args:
        total: the units of the whole job (steps, seconds, loads, ...).
        desc: what is progressing, the prefix of every line.
        unit: the name of one unit.
        initial: units already done (a resumed run).
        file: where to write (default: ``sys.stderr``).
        every: seconds between plain lines (default :data:`PLAIN_EVERY`).
        clock: the time source (seconds), for tests.
    """

    def __init__(
        self,
        total: int,
        *,
        desc: str,
        unit: str = "step",
        initial: int = 0,
        file: IO[str] | None = None,
        every: float = PLAIN_EVERY,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.total, self.desc, self.unit, self.n = total, desc, unit, initial
        self.file = sys.stderr if file is None else file
        self.every, self.clock = every, clock
        self.status = ""
        self._start = clock()
        self._last_line = self._start
        self._bar: Any = None
        self._closed = False
        isatty = getattr(self.file, "isatty", None)
        if isatty is not None and isatty():
            from tqdm import tqdm

            self._bar = tqdm(
                total=total,
                initial=initial,
                desc=desc,
                unit=unit,
                file=self.file,
                dynamic_ncols=True,
                leave=False,
            )
        else:
            self._line()

    def _line(self) -> None:
        done = f"{self.n}/{self.total} {self.unit} ({100 * self.n / max(self.total, 1):.0f}%)"
        seconds = self.clock() - self._start
        timing = f" in {seconds:.0f} s" if self.n else ""
        status = f"; {self.status}" if self.status else ""
        print(f"{self.desc}: {done}{timing}{status}", file=self.file, flush=True)
        self._last_line = self.clock()

    def update(self, n: int = 1) -> None:
        """``n`` more units are done."""
        self.goto(self.n + n)

    def goto(self, n: int) -> None:
        """``n`` units in all are done (e.g. seconds elapsed)."""
        if n <= self.n:
            return
        if self._bar is not None:
            self._bar.update(n - self.n)
        self.n = n
        if self._bar is None and not self._closed and self.clock() - self._last_line >= self.every:
            self._line()

    def note(self, status: str) -> None:
        """Show ``status`` (e.g. the latest loss) with the progress."""
        self.status = status
        if self._bar is not None:
            self._bar.set_postfix_str(status, refresh=False)

    def write(self, line: str) -> None:
        """Print a line of its own (a result) without breaking the bar."""
        if self._bar is not None:
            self._bar.write(line, file=self.file)
        else:
            print(line, file=self.file, flush=True)

    def close(self) -> None:
        """Remove the bar, or print the final plain line."""
        if self._closed:
            return
        self._closed = True
        if self._bar is not None:
            self._bar.close()
            self._bar = None
        else:
            self._line()

    def __enter__(self) -> Progress:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


__all__ = ["PLAIN_EVERY", "Progress"]
