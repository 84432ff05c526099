"""The equations of each built-in cell, as the playground shows them (DESIGN.md's notation)."""

from __future__ import annotations

from ..cells import CELLS


def cell_equations(kind: str, options: dict) -> list[str]:
    """Lines of the step ``(y_t, s_t) = R(x_t, s_{t-1})`` for ``kind`` with ``options``."""
    o = {**CELLS[kind].defaults(), **options}
    if kind == "lstm":
        p = o["peephole"]
        phi = "tanh" if o["cell_activation"] == "tanh" else ""
        return [
            "s_t = (h_t, c_t),  y_t = h_t",
            "i = σ(W_ii x_t + U_hi h_{t-1} + b_i" + (" + p_i ⊙ c_{t-1})" if p else ")"),
            "f = σ(W_if x_t + U_hf h_{t-1} + b_f" + (" + p_f ⊙ c_{t-1})" if p else ")"),
            "g = tanh(W_ig x_t + U_hg h_{t-1} + b_g)",
            "c_t = f ⊙ c_{t-1} + i ⊙ g",
            "o = σ(W_io x_t + U_ho h_{t-1} + b_o" + (" + p_o ⊙ c_t)" if p else ")"),
            f"h_t = o ⊙ {phi}(c_t)" if phi else "h_t = o ⊙ c_t",
        ]
    if kind == "gru":
        n = (
            "n = tanh(W_in x_t + b_in + r ⊙ (U_hn h_{t-1} + b_hn))"
            if o["reset"] == "after"
            else "n = tanh(W_in x_t + b_in + U_hn (r ⊙ h_{t-1}) + b_hn)"
        )
        return [
            "s_t = h_t,  y_t = h_t",
            "r = σ(W_ir x_t + U_hr h_{t-1} + b_r)",
            "z = σ(W_iz x_t + U_hz h_{t-1} + b_z)",
            n,
            "h_t = (1 − z) ⊙ n + z ⊙ h_{t-1}",
        ]
    if kind == "elman":
        return ["s_t = h_t,  y_t = h_t", f"h_t = {o['activation']}(W_ih x_t + U_hh h_{{t-1}} + b)"]
    g = o["output_activation"]
    return [
        "s_t = y_t  (the output is fed back)",
        f"h_t = {o['activation']}(W_ih x_t + b_ih + W_yh y_{{t-1}})",
        "y_t = W_hy h_t + b_hy" if g == "identity" else f"y_t = {g}(W_hy h_t + b_hy)",
    ]
