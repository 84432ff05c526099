// The entry points of the kernels, bound to Python in bindings.cpp (one file per cell family
// defines them). Sequence kernels take x batch-first (B, T, I) and return outputs batch-first in
// time order; `reverse` runs each sequence from its last real step back to its first.
#pragma once

#include <ATen/ATen.h>

#include <optional>
#include <vector>

namespace rnnkit {

using at::Tensor;
using OptTensor = std::optional<Tensor>;

std::vector<Tensor> lstm_forward(const Tensor& x, const Tensor& h0, const Tensor& c0,
                                 const Tensor& w_ih, const Tensor& w_hh, const OptTensor& b_ih,
                                 const OptTensor& b_hh, const OptTensor& w_ch,
                                 const OptTensor& lengths, bool reverse, bool identity_cell);
std::vector<Tensor> lstm_backward(const Tensor& grad_ys, const Tensor& grad_h, const Tensor& grad_c,
                                  const Tensor& xt, const Tensor& hs, const Tensor& cs,
                                  const Tensor& gates, const Tensor& tc, const Tensor& w_ih,
                                  const Tensor& w_hh, bool has_bias, const OptTensor& w_ch,
                                  const OptTensor& lengths, bool reverse, bool identity_cell);
std::vector<Tensor> lstm_step(const Tensor& x, const Tensor& h, const Tensor& c,
                              const Tensor& wt_ih, const Tensor& wt_hh, const OptTensor& bias,
                              const OptTensor& w_ch, bool identity_cell);

std::vector<Tensor> gru_forward(const Tensor& x, const Tensor& h0, const Tensor& w_ih,
                                const Tensor& w_hh, const OptTensor& b_ih, const OptTensor& b_hh,
                                const OptTensor& lengths, bool reverse, bool reset_after);
std::vector<Tensor> gru_backward(const Tensor& grad_ys, const Tensor& grad_h, const Tensor& xt,
                                 const Tensor& hs, const Tensor& acts, const Tensor& extra,
                                 const Tensor& w_ih, const Tensor& w_hh, bool has_bias,
                                 const OptTensor& lengths, bool reverse, bool reset_after);
Tensor gru_step(const Tensor& x, const Tensor& h, const Tensor& wt_ih, const Tensor& wt_hh,
                const OptTensor& b_ih, const OptTensor& b_hh, bool reset_after);

std::vector<Tensor> elman_forward(const Tensor& x, const Tensor& h0, const Tensor& w_ih,
                                  const Tensor& w_hh, const OptTensor& b_ih, const OptTensor& b_hh,
                                  const OptTensor& lengths, bool reverse, int64_t activation);
std::vector<Tensor> elman_backward(const Tensor& grad_ys, const Tensor& grad_h, const Tensor& xt,
                                   const Tensor& hs, const Tensor& w_ih, const Tensor& w_hh,
                                   bool has_bias, const OptTensor& lengths, bool reverse,
                                   int64_t activation);
Tensor elman_step(const Tensor& x, const Tensor& h, const Tensor& wt_ih, const Tensor& wt_hh,
                  const OptTensor& bias, int64_t activation);

std::vector<Tensor> jordan_forward(const Tensor& x, const Tensor& y0, const Tensor& w_ih,
                                   const Tensor& b_ih, const Tensor& w_yh, const Tensor& w_hy,
                                   const Tensor& b_hy, const OptTensor& lengths, bool reverse,
                                   int64_t activation, int64_t output_activation);
std::vector<Tensor> jordan_backward(const Tensor& grad_ys, const Tensor& grad_y, const Tensor& xt,
                                    const Tensor& ss, const Tensor& hid, const Tensor& w_ih,
                                    const Tensor& w_yh, const Tensor& w_hy,
                                    const OptTensor& lengths, bool reverse, int64_t activation,
                                    int64_t output_activation);
Tensor jordan_step(const Tensor& x, const Tensor& y, const Tensor& wt_ih, const Tensor& b_ih,
                   const Tensor& wt_yh, const Tensor& wt_hy, const Tensor& b_hy,
                   int64_t activation, int64_t output_activation);

}  // namespace rnnkit
