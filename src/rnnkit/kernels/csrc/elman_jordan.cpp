// The Elman and Jordan cells: their fused sequence forward and backward, and their step kernels
// for streaming. Both are one activation over a sum of products; the Jordan cell feeds back its
// output y = g(W_hy h + b_hy) instead of its hidden layer.
#include "common.h"
#include "gemm.h"
#include "kernels.h"
#include "threads.h"

namespace rnnkit {

namespace {

// ---------------------------------------------------------------------------------------- Elman

void check_elman(const Tensor& x, const Tensor& w_ih, const Tensor& w_hh, const OptTensor& b_ih,
                 const OptTensor& b_hh) {
  const auto dt = x.scalar_type();
  const int64_t H = w_hh.size(-1);
  check(w_hh, "w_hh", dt, {H, H});
  check(w_ih, "w_ih", dt, {H, w_ih.size(-1)});
  TORCH_CHECK(b_ih.has_value() == b_hh.has_value(), "b_ih and b_hh must be given together");
  check(b_ih, "b_ih", dt, {H});
  check(b_hh, "b_hh", dt, {H});
}

template <typename T, int F>
void elman_forward_loop(Tensor& pre, Tensor& hs, Tensor& ys, const Tensor& w_hh,
                        const Tensor& wt_hh, const Seq& seq) {
  const int64_t NT = pre.size(0), B = pre.size(1), H = hs.size(2);
  T* pp = pre.data_ptr<T>();
  T* hp = hs.data_ptr<T>();
  T* yp = ys.data_ptr<T>();
  const T* wt = wt_hh.data_ptr<T>();
  for (int64_t t = 0; t < NT; ++t) {
    T* p = pp + t * B * H;
    const T* h = hp + t * B * H;
    mm_nt<T>(p, H, h, H, w_hh, wt, H, B, H, H, true);
    T* hn = hp + (t + 1) * B * H;
    T* y = yp + t * B * H;
    for_rows(
        seq.len.data(), t, 0, B,
        [&](int64_t b) {
#pragma GCC ivdep
          for (int64_t j = 0; j < H; ++j) {
            const T v = act<F>(p[b * H + j]);
            hn[b * H + j] = v;
            y[b * H + j] = v;
          }
        },
        [&](int64_t b) {
          std::copy_n(h + b * H, H, hn + b * H);
          std::fill_n(y + b * H, H, T(0));
        });
  }
}

template <typename T, int F>
void elman_backward_loop(Tensor& dp, Tensor& dh, const Tensor& gy, const Tensor& hs,
                         const Tensor& w_hh, const Seq& seq) {
  const int64_t NT = dp.size(0), B = dp.size(1), H = hs.size(2);
  T* dpp = dp.data_ptr<T>();
  T* dh_ = dh.data_ptr<T>();
  const T* gyp = gy.data_ptr<T>();
  const T* hp = hs.data_ptr<T>();
  Tensor wt;  // the transposed weight for the BLAS path, made on demand
  for (int64_t t = NT - 1; t >= 0; --t) {
    T* d = dpp + t * B * H;
    for_rows(
        seq.len.data(), t, 0, B,
        [&](int64_t b) {
          T* db = d + b * H;
          T* dhb = dh_ + b * H;
          const T* gyb = gyp + (t * B + b) * H;
          const T* hn = hp + ((t + 1) * B + b) * H;
#pragma GCC ivdep
          for (int64_t j = 0; j < H; ++j) {
            db[j] = backprop<F>(dhb[j] + gyb[j], hn[j]);
            dhb[j] = T(0);
          }
        },
        [&](int64_t b) { std::fill_n(d + b * H, H, T(0)); });
    mm_nn<T>(dh_, H, d, H, w_hh, wt, B, H, H, true);
  }
}

// --------------------------------------------------------------------------------------- Jordan

void check_jordan(const Tensor& x, const Tensor& w_ih, const Tensor& w_yh, const Tensor& w_hy) {
  const auto dt = x.scalar_type();
  const int64_t H = w_hy.size(-1), O = w_hy.size(0);
  check(w_hy, "w_hy", dt, {O, H});
  check(w_yh, "w_yh", dt, {H, O});
  check(w_ih, "w_ih", dt, {H, w_ih.size(-1)});
}

template <typename T, int F, int GA>
void jordan_forward_loop(Tensor& hid, Tensor& ss, Tensor& ys, const Tensor& w_yh,
                         const Tensor& wt_yh, const Tensor& w_hy, const Tensor& wt_hy,
                         const Tensor& b_hy, const Seq& seq) {
  const int64_t NT = hid.size(0), B = hid.size(1), H = hid.size(2), O = ss.size(2);
  Tensor ypre = at::empty({B, O}, hid.options());
  T* yq = ypre.data_ptr<T>();
  T* hp = hid.data_ptr<T>();
  T* sp = ss.data_ptr<T>();
  T* yp = ys.data_ptr<T>();
  const T* wyh = wt_yh.data_ptr<T>();
  const T* why = wt_hy.data_ptr<T>();
  const T* bo = b_hy.data_ptr<T>();
  const int64_t* len = seq.len.data();
  for (int64_t t = 0; t < NT; ++t) {
    T* h = hp + t * B * H;
    const T* s = sp + t * B * O;
    mm_nt<T>(h, H, s, O, w_yh, wyh, H, B, O, H, true);
    for_rows(
        len, t, 0, B,
        [&](int64_t b) {
          T* hb = h + b * H;
#pragma GCC ivdep
          for (int64_t j = 0; j < H; ++j) hb[j] = act<F>(hb[j]);
        },
        [&](int64_t b) { std::fill_n(h + b * H, H, T(0)); });
    mm_nt<T>(yq, O, h, H, w_hy, why, O, B, H, O, false);
    T* sn = sp + (t + 1) * B * O;
    T* y = yp + t * B * O;
    for_rows(
        len, t, 0, B,
        [&](int64_t b) {
#pragma GCC ivdep
          for (int64_t j = 0; j < O; ++j) {
            const T v = act<GA>(yq[b * O + j] + bo[j]);
            sn[b * O + j] = v;
            y[b * O + j] = v;
          }
        },
        [&](int64_t b) {
          std::copy_n(s + b * O, O, sn + b * O);
          std::fill_n(y + b * O, O, T(0));
        });
  }
}

template <typename T, int F, int GA>
void jordan_backward_loop(Tensor& dyp, Tensor& dhp, Tensor& dy, const Tensor& gy,
                          const Tensor& ss, const Tensor& hid, const Tensor& w_yh,
                          const Tensor& w_hy, const Seq& seq) {
  const int64_t NT = hid.size(0), B = hid.size(1), H = hid.size(2), O = ss.size(2);
  T* dyq = dyp.data_ptr<T>();
  T* dhq = dhp.data_ptr<T>();
  T* dy_ = dy.data_ptr<T>();
  const T* gyp = gy.data_ptr<T>();
  const T* sp = ss.data_ptr<T>();
  const T* hp = hid.data_ptr<T>();
  Tensor wt_hy, wt_yh;  // transposed weights for the BLAS path, made on demand
  for (int64_t t = NT - 1; t >= 0; --t) {
    T* dyt = dyq + t * B * O;
    T* dht = dhq + t * B * H;
    for_rows(
        seq.len.data(), t, 0, B,
        [&](int64_t b) {
          T* db = dyt + b * O;
          T* dyb = dy_ + b * O;
          const T* gyb = gyp + (t * B + b) * O;
          const T* sn = sp + ((t + 1) * B + b) * O;
#pragma GCC ivdep
          for (int64_t j = 0; j < O; ++j) {
            db[j] = backprop<GA>(dyb[j] + gyb[j], sn[j]);
            dyb[j] = T(0);
          }
        },
        [&](int64_t b) { std::fill_n(dyt + b * O, O, T(0)); });
    mm_nn<T>(dht, H, dyt, O, w_hy, wt_hy, B, O, H, false);  // d hidden = d y_pre @ W_hy
    const T* h = hp + t * B * H;
    for (int64_t i = 0; i < B * H; ++i) dht[i] = backprop<F>(dht[i], h[i]);
    mm_nn<T>(dy_, O, dht, H, w_yh, wt_yh, B, H, O, true);
  }
}

// The Jordan loops' hidden activation f (tanh, sigmoid or relu) and output activation g (any).
template <typename Fn>
void with_acts(int64_t f, int64_t g, Fn&& fn) {
  TORCH_CHECK(f == TANH || f == SIGMOID || f == RELU, "activation code ", f, " is not a hidden one");
  with_act(f, [&](auto fc) {
    if constexpr (decltype(fc)::value != IDENTITY) with_act(g, [&](auto gc) { fn(fc, gc); });
  });
}

template <typename Fn>
void with_hidden_act(int64_t f, Fn&& fn) {
  TORCH_CHECK(f == TANH || f == SIGMOID || f == RELU, "activation code ", f, " is not a hidden one");
  with_act(f, [&](auto fc) {
    if constexpr (decltype(fc)::value != IDENTITY) fn(fc);
  });
}

}  // namespace

// ---------------------------------------------------------------------------- Elman entry points

std::vector<Tensor> elman_forward(const Tensor& x, const Tensor& h0, const Tensor& w_ih,
                                  const Tensor& w_hh, const OptTensor& b_ih, const OptTensor& b_hh,
                                  const OptTensor& lengths, bool reverse, int64_t activation) {
  check_x(x, w_ih.size(-1));
  check_elman(x, w_ih, w_hh, b_ih, b_hh);
  const int64_t B = x.size(0), NT = x.size(1), H = w_hh.size(1);
  check(h0, "h0", x.scalar_type(), {B, H});
  SerialScope serial(is_small(B, H, H) && is_small_sequence(NT * B, std::max(x.size(2), H), H));
  Tensor bias;
  if (b_ih.has_value()) bias = *b_ih + *b_hh;
  Prologue in = prologue(x, lengths, reverse, w_ih, bias);  // pre-activations (T, B, H)
  Tensor hs = state_buffer(h0, NT);
  Tensor ys = at::empty({NT, B, H}, x.options());
  Tensor whh = w_hh.contiguous();
  Tensor wt = whh.t().contiguous();
  AT_DISPATCH_FLOATING_TYPES(x.scalar_type(), "elman_forward", [&] {
    with_hidden_act(activation, [&](auto fc) {
      elman_forward_loop<scalar_t, decltype(fc)::value>(in.proj, hs, ys, whh, wt, in.seq);
    });
  });
  return {batch_first(ys, in.seq), hs[NT].clone(), hs, in.xt};
}

// Gradients: dx (B, T, I), dh0, dW_ih, dW_hh, db_ih, db_hh.
std::vector<Tensor> elman_backward(const Tensor& grad_ys, const Tensor& grad_h, const Tensor& xt,
                                   const Tensor& hs, const Tensor& w_ih, const Tensor& w_hh,
                                   bool has_bias, const OptTensor& lengths, bool reverse,
                                   int64_t activation) {
  TORCH_CHECK(hs.dim() == 3 && hs.size(0) >= 1, "hs must be the saved buffer");
  const int64_t NT = hs.size(0) - 1, B = hs.size(1), H = hs.size(2);
  const auto dt = hs.scalar_type();
  check(grad_ys, "grad_ys", dt, {B, NT, H});
  check(grad_h, "grad_h", dt, {B, H});
  check(xt, "xt", dt, {NT, B, w_ih.size(-1)});
  check_elman(xt, w_ih, w_hh, std::nullopt, std::nullopt);
  SerialScope serial(is_small(B, H, H) && is_small_sequence(NT * B, std::max(xt.size(2), H), H));
  const Seq seq = seq_of(lengths, B, NT, reverse);
  Tensor gy = time_major(grad_ys, seq);
  Tensor dh = grad_h.contiguous().clone();
  Tensor whh = w_hh.contiguous();
  Tensor dp = at::empty({NT, B, H}, hs.options());
  AT_DISPATCH_FLOATING_TYPES(dt, "elman_backward", [&] {
    with_hidden_act(activation, [&](auto fc) {
      elman_backward_loop<scalar_t, decltype(fc)::value>(dp, dh, gy, hs, whh, seq);
    });
  });
  Tensor db = has_bias ? sum_rows(dp) : Tensor();
  return {input_grad(dp, w_ih, seq), dh, wgrad(dp, xt), wgrad(dp, hs.narrow(0, 0, NT)), db,
          has_bias ? db.clone() : db};
}

// One Elman step for streaming: x (B, I), h (B, H), wt_ih (I, H), wt_hh (H, H), bias =
// b_ih + b_hh (H) or None; two hand-written products and one pass.
Tensor elman_step(const Tensor& x, const Tensor& h, const Tensor& wt_ih, const Tensor& wt_hh,
                  const OptTensor& bias, int64_t activation) {
  TORCH_CHECK(x.dim() == 2 && wt_hh.dim() == 2, "x must be (batch, features)");
  const int64_t B = x.size(0), I = x.size(1), H = wt_hh.size(0);
  const auto dt = x.scalar_type();
  check(x, "x", dt, {B, I});
  check(h, "h", dt, {B, H});
  check(wt_ih, "wt_ih", dt, {I, H});
  check(wt_hh, "wt_hh", dt, {H, H});
  check(bias, "bias", dt, {H});
  SerialScope serial(true);
  Tensor xc = x.contiguous(), hc = h.contiguous(), wi = wt_ih.contiguous(), wh = wt_hh.contiguous();
  Tensor hn = bias.has_value() ? bias->expand({B, H}).clone(at::MemoryFormat::Contiguous) : at::zeros({B, H}, x.options());
  AT_DISPATCH_FLOATING_TYPES(dt, "elman_step", [&] {
    using T = scalar_t;
    T* o = hn.data_ptr<T>();
    small_gemm<T>(o, H, xc.data_ptr<T>(), I, wi.data_ptr<T>(), H, B, I, H, true);
    small_gemm<T>(o, H, hc.data_ptr<T>(), H, wh.data_ptr<T>(), H, B, H, H, true);
    with_hidden_act(activation, [&](auto fc) {
      for (int64_t i = 0; i < B * H; ++i) o[i] = act<decltype(fc)::value>(o[i]);
    });
  });
  return hn;
}

// --------------------------------------------------------------------------- Jordan entry points

// Returns ys (B, T, O) in time order, y_T and saved (processing order): ss (T+1, B, O) states,
// hid (T, B, H) hidden activations, x time-major.
std::vector<Tensor> jordan_forward(const Tensor& x, const Tensor& y0, const Tensor& w_ih,
                                   const Tensor& b_ih, const Tensor& w_yh, const Tensor& w_hy,
                                   const Tensor& b_hy, const OptTensor& lengths, bool reverse,
                                   int64_t activation, int64_t output_activation) {
  check_x(x, w_ih.size(-1));
  check_jordan(x, w_ih, w_yh, w_hy);
  const int64_t B = x.size(0), NT = x.size(1), H = w_hy.size(1), O = w_hy.size(0);
  check(b_ih, "b_ih", x.scalar_type(), {H});
  check(b_hy, "b_hy", x.scalar_type(), {O});
  check(y0, "y0", x.scalar_type(), {B, O});
  SerialScope serial(is_small(B, O, H) && is_small_sequence(NT * B, std::max(x.size(2), O), H));
  Prologue in = prologue(x, lengths, reverse, w_ih, b_ih);  // hidden pre-activations (T, B, H)
  Tensor ss = state_buffer(y0, NT);
  Tensor ys = at::empty({NT, B, O}, x.options());
  Tensor wyh = w_yh.contiguous(), why = w_hy.contiguous(), bhy = b_hy.contiguous();
  Tensor wt_yh = wyh.t().contiguous();  // (O, H)
  Tensor wt_hy = why.t().contiguous();  // (H, O)
  AT_DISPATCH_FLOATING_TYPES(x.scalar_type(), "jordan_forward", [&] {
    with_acts(activation, output_activation, [&](auto fc, auto gc) {
      jordan_forward_loop<scalar_t, decltype(fc)::value, decltype(gc)::value>(
          in.proj, ss, ys, wyh, wt_yh, why, wt_hy, bhy, in.seq);
    });
  });
  return {batch_first(ys, in.seq), ss[NT].clone(), ss, in.proj, in.xt};
}

// Gradients: dx (B, T, I), dy0, dW_ih, db_ih, dW_yh, dW_hy, db_hy.
std::vector<Tensor> jordan_backward(const Tensor& grad_ys, const Tensor& grad_y, const Tensor& xt,
                                    const Tensor& ss, const Tensor& hid, const Tensor& w_ih,
                                    const Tensor& w_yh, const Tensor& w_hy,
                                    const OptTensor& lengths, bool reverse, int64_t activation,
                                    int64_t output_activation) {
  TORCH_CHECK(hid.dim() == 3 && ss.dim() == 3, "hid and ss must be the saved buffers");
  const int64_t NT = hid.size(0), B = hid.size(1), H = hid.size(2), O = ss.size(2);
  const auto dt = hid.scalar_type();
  check(grad_ys, "grad_ys", dt, {B, NT, O});
  check(grad_y, "grad_y", dt, {B, O});
  check(xt, "xt", dt, {NT, B, w_ih.size(-1)});
  check(ss, "ss", dt, {NT + 1, B, O});
  check_jordan(xt, w_ih, w_yh, w_hy);
  SerialScope serial(is_small(B, O, H) && is_small_sequence(NT * B, std::max(xt.size(2), O), H));
  const Seq seq = seq_of(lengths, B, NT, reverse);
  Tensor gy = time_major(grad_ys, seq);
  Tensor dy = grad_y.contiguous().clone();
  Tensor wyh = w_yh.contiguous(), why = w_hy.contiguous();
  Tensor dyp = at::empty({NT, B, O}, hid.options());
  Tensor dhp = at::empty({NT, B, H}, hid.options());
  AT_DISPATCH_FLOATING_TYPES(dt, "jordan_backward", [&] {
    with_acts(activation, output_activation, [&](auto fc, auto gc) {
      jordan_backward_loop<scalar_t, decltype(fc)::value, decltype(gc)::value>(
          dyp, dhp, dy, gy, ss, hid, wyh, why, seq);
    });
  });
  return {input_grad(dhp, w_ih, seq), dy, wgrad(dhp, xt), sum_rows(dhp),
          wgrad(dhp, ss.narrow(0, 0, NT)), wgrad(dyp, hid), sum_rows(dyp)};
}

// One Jordan step for streaming: x (B, I), y (B, O), wt_ih (I, H), wt_yh (O, H), wt_hy (H, O);
// three hand-written products and two passes.
Tensor jordan_step(const Tensor& x, const Tensor& y, const Tensor& wt_ih, const Tensor& b_ih,
                   const Tensor& wt_yh, const Tensor& wt_hy, const Tensor& b_hy,
                   int64_t activation, int64_t output_activation) {
  TORCH_CHECK(x.dim() == 2 && wt_hy.dim() == 2, "x must be (batch, features)");
  const int64_t B = x.size(0), I = x.size(1), H = wt_hy.size(0), O = wt_hy.size(1);
  const auto dt = x.scalar_type();
  check(x, "x", dt, {B, I});
  check(y, "y", dt, {B, O});
  check(wt_ih, "wt_ih", dt, {I, H});
  check(b_ih, "b_ih", dt, {H});
  check(wt_yh, "wt_yh", dt, {O, H});
  check(b_hy, "b_hy", dt, {O});
  SerialScope serial(true);
  Tensor xc = x.contiguous(), yc = y.contiguous();
  Tensor wi = wt_ih.contiguous(), wyh = wt_yh.contiguous(), why = wt_hy.contiguous();
  Tensor hid = b_ih.expand({B, H}).clone(at::MemoryFormat::Contiguous);
  Tensor yn = b_hy.expand({B, O}).clone(at::MemoryFormat::Contiguous);
  AT_DISPATCH_FLOATING_TYPES(dt, "jordan_step", [&] {
    using T = scalar_t;
    T *hp = hid.data_ptr<T>(), *op = yn.data_ptr<T>();
    small_gemm<T>(hp, H, xc.data_ptr<T>(), I, wi.data_ptr<T>(), H, B, I, H, true);
    small_gemm<T>(hp, H, yc.data_ptr<T>(), O, wyh.data_ptr<T>(), H, B, O, H, true);
    with_acts(activation, output_activation, [&](auto fc, auto gc) {
      for (int64_t i = 0; i < B * H; ++i) hp[i] = act<decltype(fc)::value>(hp[i]);
      small_gemm<T>(op, O, hp, H, why.data_ptr<T>(), O, B, H, O, true);
      for (int64_t i = 0; i < B * O; ++i) op[i] = act<decltype(gc)::value>(op[i]);
    });
  });
  return yn;
}

}  // namespace rnnkit
