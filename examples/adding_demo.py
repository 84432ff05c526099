"""Train a small LSTM on the adding problem (Hochreiter & Schmidhuber 1997) for about 30 s.

Each sequence has T steps of two features: a random value in [0, 1] and a marker that is 1 at
exactly two steps. The target is the sum of the two marked values. Predicting the mean (1.0)
gives MSE 1/6 = 0.167; an LSTM that learns to remember the marked values goes far below it.
"""

from __future__ import annotations

import time

import torch

import rnnkit


def adding_batch(batch: int, length: int, generator: torch.Generator):
    values = torch.rand(batch, length, generator=generator)
    marks = torch.zeros(batch, length)
    half = length // 2
    first = torch.randint(0, half, (batch,), generator=generator)
    second = torch.randint(half, length, (batch,), generator=generator)
    rows = torch.arange(batch)
    marks[rows, first] = 1.0
    marks[rows, second] = 1.0
    x = torch.stack([values, marks], dim=2)  # (B, T, 2)
    y = (values * marks).sum(dim=1, keepdim=True)  # (B, 1)
    return x, y


def main(length: int = 100, seconds: float = 30.0) -> None:
    torch.manual_seed(0)
    gen = torch.Generator().manual_seed(0)
    net = rnnkit.RNN(2, 32, cell="lstm", output_size=1)
    opt = torch.optim.Adam(net.parameters(), lr=1e-2)
    x_val, y_val = adding_batch(1000, length, gen)
    print(f"adding problem, T={length}: LSTM(2 -> 32) + readout; baseline MSE 0.167")
    start, step = time.monotonic(), 0
    while time.monotonic() - start < seconds:
        x, y = adding_batch(64, length, gen)
        ys, _ = net(x)
        loss = torch.nn.functional.mse_loss(ys[:, -1], y)
        opt.zero_grad()
        loss.backward()
        torch.nn.utils.clip_grad_norm_(net.parameters(), 1.0)
        opt.step()
        step += 1
        if step % 200 == 0:
            with torch.no_grad():
                val = torch.nn.functional.mse_loss(net(x_val)[0][:, -1], y_val).item()
            bar = "#" * max(1, int(40 * min(val, 0.2) / 0.2))
            print(f"step {step:5d}  {time.monotonic() - start:5.1f}s  val MSE {val:.4f}  {bar}")
    print(f"final held-out MSE {val:.4f} (predicting the mean gives 0.167)")


if __name__ == "__main__":
    main()
