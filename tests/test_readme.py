"""The README's Python examples run as written, in order, in one namespace."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import torch

README = Path(__file__).resolve().parents[1] / "README.md"


@pytest.mark.slow
def test_readme_python_blocks_run_and_give_what_they_say():
    blocks = re.findall(r"```python\n(.*?)```", README.read_text(encoding="utf-8"), re.S)
    assert len(blocks) >= 3
    namespace: dict = {}
    for block in blocks:
        exec(compile(block, str(README), "exec"), namespace)
    # Shapes as the comments say: the reference-loop run of `layer`, and the stack of `net`.
    assert namespace["ys"].shape == (4, 20, 32)
    assert namespace["states"][1][0].shape == (4, 64)
    # The streaming example: one step of the stream is the first step of the whole network.
    stream, online = namespace["stream"], namespace["online"]
    x = torch.randn(3, 8)
    stream.reset()
    steps = torch.stack([stream.step(x_t) for x_t in x])  # (3, 3)
    assert torch.allclose(steps, online(x.unsqueeze(0))[0][0], atol=1e-5)
    # The echo state network: free run close to the true continuation for a while.
    series, free_run = namespace["series"], namespace["free_run"]
    assert free_run.shape == (200, 1)
    error = (free_run[:50, 0].double() - torch.as_tensor(series[500:550, 0])).abs().max()
    assert error < 0.05


def test_readme_commands_parse_with_the_current_cli():
    """Every ``rnnkit ...`` line of the README's shell blocks is a valid command line."""
    import shlex

    from rnnkit.cli import build_parser

    text = README.read_text(encoding="utf-8")
    commands = []
    for block in re.findall(r"```sh\n(.*?)```", text, re.S):
        for line in block.replace("\\\n", " ").splitlines():
            line = line.split("#", 1)[0].strip()
            if line.startswith("rnnkit "):
                commands.append(shlex.split(line)[1:])
    assert len(commands) >= 8
    parser = build_parser()
    for argv in commands:
        args = parser.parse_args(argv)  # exits with code 2 on an option the CLI does not have
        assert callable(args.run), argv
