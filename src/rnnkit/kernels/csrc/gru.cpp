// The GRU, reset gate after (torch's) or before the recurrent product: its fused sequence
// forward and backward, and its step kernel for streaming.
#include "common.h"
#include "gemm.h"
#include "kernels.h"
#include "threads.h"

namespace rnnkit {

namespace {

void check_gru(const Tensor& x, const Tensor& w_ih, const Tensor& w_hh, const OptTensor& b_ih,
               const OptTensor& b_hh) {
  const auto dt = x.scalar_type();
  const int64_t H = w_hh.size(-1);
  check(w_hh, "w_hh", dt, {3 * H, H});
  check(w_ih, "w_ih", dt, {3 * H, w_ih.size(-1)});
  TORCH_CHECK(b_ih.has_value() == b_hh.has_value(), "b_ih and b_hh must be given together");
  check(b_ih, "b_ih", dt, {3 * H});
  check(b_hh, "b_hh", dt, {3 * H});
}

// The elementwise update of one running row, reset after: r, z and n from the input part gb
// (3H, overwritten with r|z|n), the recurrent product ghb (3H) and its bias bh; writes
// gh_n + b_hn to sn (saved for backward, or null) and the new state to hn.
template <typename T>
RNNKIT_INLINE void gru_after_row(T* gb, const T* ghb, const T* bh, const T* hb, T* sn, T* hn,
                                 int64_t H) {
#pragma GCC ivdep
  for (int64_t j = 0; j < H; ++j) {
    const T r = sigmoid_(gb[j] + ghb[j] + bh[j]);
    const T z = sigmoid_(gb[H + j] + ghb[H + j] + bh[H + j]);
    const T hn_ = ghb[2 * H + j] + bh[2 * H + j];
    const T n = tanh_(gb[2 * H + j] + r * hn_);
    gb[j] = r;
    gb[H + j] = z;
    gb[2 * H + j] = n;
    if (sn) sn[j] = hn_;
    hn[j] = n + z * (hb[j] - n);
  }
}

// reset="after": n = tanh(gi_n + r * (W_hn h + b_hn)). Saves gh_n = W_hn h + b_hn per step.
template <typename T>
void gru_after_forward_loop(Tensor& gi, Tensor& hs, Tensor& ghn, Tensor& ys, const Tensor& w_hh,
                            const Tensor& wt_hh, const Tensor& b_hh, const Seq& seq) {
  const int64_t NT = gi.size(0), B = gi.size(1), H = hs.size(2), G = 3 * H;
  Tensor gh = at::empty({B, G}, gi.options());
  T* ghp = gh.data_ptr<T>();
  T* gp = gi.data_ptr<T>();
  T* hp = hs.data_ptr<T>();
  T* np_ = ghn.data_ptr<T>();
  T* yp = ys.data_ptr<T>();
  const T* wt = wt_hh.data_ptr<T>();
  const T* bh = b_hh.data_ptr<T>();
  for (int64_t t = 0; t < NT; ++t) {
    const T* h = hp + t * B * H;
    mm_nt<T>(ghp, G, h, H, w_hh, wt, G, B, H, G, false);
    T* g = gp + t * B * G;
    T* hn = hp + (t + 1) * B * H;
    T* sn = np_ + t * B * H;
    T* y = yp + t * B * H;
    for_rows(
        seq.len.data(), t, 0, B,
        [&](int64_t b) {
          gru_after_row<T>(g + b * G, ghp + b * G, bh, h + b * H, sn + b * H, hn + b * H, H);
          std::copy_n(hn + b * H, H, y + b * H);
        },
        [&](int64_t b) {
          std::fill_n(g + b * G, G, T(0));
          std::fill_n(sn + b * H, H, T(0));
          std::copy_n(h + b * H, H, hn + b * H);
          std::fill_n(y + b * H, H, T(0));
        });
  }
}

// Reset before, first half: r and z of one running row (written over gb's r|z), and r * h.
template <typename T>
RNNKIT_INLINE void gru_before_rz(T* gb, const T* ghb, const T* bh, const T* hb, T* rhb,
                                 int64_t H) {
#pragma GCC ivdep
  for (int64_t j = 0; j < H; ++j) {
    const T r = sigmoid_(gb[j] + ghb[j] + bh[j]);
    const T z = sigmoid_(gb[H + j] + ghb[H + j] + bh[H + j]);
    gb[j] = r;
    gb[H + j] = z;
    rhb[j] = r * hb[j];
  }
}

// Reset before, second half: n from W_hn (r h) in ghb[2H..] and the new state.
template <typename T>
RNNKIT_INLINE void gru_before_n(T* gb, const T* ghb, const T* bh, const T* hb, T* hn, int64_t H) {
#pragma GCC ivdep
  for (int64_t j = 0; j < H; ++j) {
    const T z = gb[H + j];
    const T n = tanh_(gb[2 * H + j] + ghb[2 * H + j] + bh[2 * H + j]);
    gb[2 * H + j] = n;
    hn[j] = n + z * (hb[j] - n);
  }
}

// reset="before": n = tanh(gi_n + W_hn (r * h) + b_hn). Saves rh = r * h per step.
template <typename T>
void gru_before_forward_loop(Tensor& gi, Tensor& hs, Tensor& rh, Tensor& ys, const Tensor& w_hh,
                             const Tensor& wt_hh, const Tensor& b_hh, const Seq& seq) {
  const int64_t NT = gi.size(0), B = gi.size(1), H = hs.size(2), G = 3 * H;
  Tensor gh = at::empty({B, G}, gi.options());
  Tensor w_rz = w_hh.narrow(0, 0, 2 * H), w_n = w_hh.narrow(0, 2 * H, H);
  T* ghp = gh.data_ptr<T>();
  T* gp = gi.data_ptr<T>();
  T* hp = hs.data_ptr<T>();
  T* rp = rh.data_ptr<T>();
  T* yp = ys.data_ptr<T>();
  const T* wt = wt_hh.data_ptr<T>();
  const T* bh = b_hh.data_ptr<T>();
  const int64_t* len = seq.len.data();
  for (int64_t t = 0; t < NT; ++t) {
    const T* h = hp + t * B * H;
    T* g = gp + t * B * G;
    T* rht = rp + t * B * H;
    mm_nt<T>(ghp, G, h, H, w_rz, wt, G, B, H, 2 * H, false);
    for_rows(
        len, t, 0, B,
        [&](int64_t b) { gru_before_rz<T>(g + b * G, ghp + b * G, bh, h + b * H, rht + b * H, H); },
        [&](int64_t b) { std::fill_n(rht + b * H, H, T(0)); });
    mm_nt<T>(ghp + 2 * H, G, rht, H, w_n, wt + 2 * H, G, B, H, H, false);
    T* hn = hp + (t + 1) * B * H;
    T* y = yp + t * B * H;
    for_rows(
        len, t, 0, B,
        [&](int64_t b) {
          gru_before_n<T>(g + b * G, ghp + b * G, bh, h + b * H, hn + b * H, H);
          std::copy_n(hn + b * H, H, y + b * H);
        },
        [&](int64_t b) {
          std::fill_n(g + b * G, G, T(0));
          std::copy_n(h + b * H, H, hn + b * H);
          std::fill_n(y + b * H, H, T(0));
        });
  }
}

template <typename T>
void gru_after_backward_loop(Tensor& dgi, Tensor& dgh, Tensor& dh, const Tensor& gy,
                             const Tensor& hs, const Tensor& acts, const Tensor& ghn,
                             const Tensor& w_hh, const Seq& seq) {
  const int64_t NT = acts.size(0), B = acts.size(1), H = hs.size(2), G = 3 * H;
  T* dip = dgi.data_ptr<T>();
  T* dhp_ = dgh.data_ptr<T>();
  T* dh_ = dh.data_ptr<T>();
  const T* gyp = gy.data_ptr<T>();
  const T* hp = hs.data_ptr<T>();
  const T* ap = acts.data_ptr<T>();
  const T* np_ = ghn.data_ptr<T>();
  Tensor wt;  // the transposed weight for the BLAS path, made on demand
  for (int64_t t = NT - 1; t >= 0; --t) {
    T* di = dip + t * B * G;
    T* dhh = dhp_ + t * B * G;
    for_rows(
        seq.len.data(), t, 0, B,
        [&](int64_t b) {
          T* dib = di + b * G;
          T* dhb_g = dhh + b * G;
          T* dhb = dh_ + b * H;
          const T* gyb = gyp + (t * B + b) * H;
          const T* ab = ap + (t * B + b) * G;
          const T* hb = hp + (t * B + b) * H;
          const T* sb = np_ + (t * B + b) * H;
#pragma GCC ivdep
          for (int64_t j = 0; j < H; ++j) {
            const T r = ab[j], z = ab[H + j], n = ab[2 * H + j];
            const T dht = dhb[j] + gyb[j];
            const T dnp = dht * (T(1) - z) * (T(1) - n * n);
            const T dzp = dht * (hb[j] - n) * z * (T(1) - z);
            const T drp = dnp * sb[j] * r * (T(1) - r);
            dib[j] = drp;
            dib[H + j] = dzp;
            dib[2 * H + j] = dnp;
            dhb_g[j] = drp;
            dhb_g[H + j] = dzp;
            dhb_g[2 * H + j] = dnp * r;
            dhb[j] = dht * z;
          }
        },
        [&](int64_t b) {
          std::fill_n(di + b * G, G, T(0));
          std::fill_n(dhh + b * G, G, T(0));
        });
    mm_nn<T>(dh_, H, dhh, G, w_hh, wt, B, G, H, true);
  }
}

template <typename T>
void gru_before_backward_loop(Tensor& dg, Tensor& dh, const Tensor& gy, const Tensor& hs,
                              const Tensor& acts, const Tensor& w_hh, const Seq& seq) {
  const int64_t NT = acts.size(0), B = acts.size(1), H = hs.size(2), G = 3 * H;
  Tensor drh = at::empty({B, H}, acts.options());
  Tensor w_rz = w_hh.narrow(0, 0, 2 * H), w_n = w_hh.narrow(0, 2 * H, H);
  T* drp_ = drh.data_ptr<T>();
  T* dgp = dg.data_ptr<T>();
  T* dh_ = dh.data_ptr<T>();
  const T* gyp = gy.data_ptr<T>();
  const T* hp = hs.data_ptr<T>();
  const T* ap = acts.data_ptr<T>();
  const int64_t* len = seq.len.data();
  Tensor wt_n, wt_rz;  // transposed weights for the BLAS path, made on demand
  for (int64_t t = NT - 1; t >= 0; --t) {
    T* d = dgp + t * B * G;
    for_rows(
        len, t, 0, B,
        [&](int64_t b) {
          T* db = d + b * G;
          T* dhb = dh_ + b * H;
          const T* gyb = gyp + (t * B + b) * H;
          const T* ab = ap + (t * B + b) * G;
          const T* hb = hp + (t * B + b) * H;
#pragma GCC ivdep
          for (int64_t j = 0; j < H; ++j) {
            const T z = ab[H + j], n = ab[2 * H + j];
            const T dht = dhb[j] + gyb[j];
            db[2 * H + j] = dht * (T(1) - z) * (T(1) - n * n);
            db[H + j] = dht * (hb[j] - n) * z * (T(1) - z);
            dhb[j] = dht * z;
          }
        },
        [&](int64_t b) { std::fill_n(d + b * G, G, T(0)); });
    mm_nn<T>(drp_, H, d + 2 * H, G, w_n, wt_n, B, H, H, false);  // d(r*h) = dn_pre @ W_hn
    for_rows(
        len, t, 0, B,
        [&](int64_t b) {
          T* db = d + b * G;
          T* dhb = dh_ + b * H;
          const T* drb = drp_ + b * H;
          const T* ab = ap + (t * B + b) * G;
          const T* hb = hp + (t * B + b) * H;
#pragma GCC ivdep
          for (int64_t j = 0; j < H; ++j) {
            const T r = ab[j];
            db[j] = drb[j] * hb[j] * r * (T(1) - r);
            dhb[j] += drb[j] * r;
          }
        },
        [](int64_t) {});
    mm_nn<T>(dh_, H, d, G, w_rz, wt_rz, B, 2 * H, H, true);
  }
}

}  // namespace

// Returns ys (B, T, H) in time order, h_T and saved (processing order): hs (T+1, B, H),
// activations r|z|n (T, B, 3H), extra (T, B, H) (gh_n for "after", r*h for "before"), x
// time-major.
std::vector<Tensor> gru_forward(const Tensor& x, const Tensor& h0, const Tensor& w_ih,
                                const Tensor& w_hh, const OptTensor& b_ih, const OptTensor& b_hh,
                                const OptTensor& lengths, bool reverse, bool reset_after) {
  check_x(x, w_ih.size(-1));
  check_gru(x, w_ih, w_hh, b_ih, b_hh);
  const int64_t B = x.size(0), NT = x.size(1), H = w_hh.size(1);
  check(h0, "h0", x.scalar_type(), {B, H});
  SerialScope serial(is_small(B, H, 3 * H) &&
                     is_small_sequence(NT * B, std::max(x.size(2), H), 3 * H));
  Prologue in = prologue(x, lengths, reverse, w_ih, opt_or_undefined(b_ih));
  Tensor& gi = in.proj;  // (T, B, 3H)
  Tensor bhh = b_hh.has_value() ? b_hh->contiguous() : at::zeros({3 * H}, x.options());
  Tensor hs = state_buffer(h0, NT);
  Tensor extra = at::empty({NT, B, H}, x.options());
  Tensor ys = at::empty({NT, B, H}, x.options());
  Tensor whh = w_hh.contiguous();
  Tensor wt = whh.t().contiguous();  // (H, 3H)
  AT_DISPATCH_FLOATING_TYPES(x.scalar_type(), "gru_forward", [&] {
    if (reset_after) gru_after_forward_loop<scalar_t>(gi, hs, extra, ys, whh, wt, bhh, in.seq);
    else gru_before_forward_loop<scalar_t>(gi, hs, extra, ys, whh, wt, bhh, in.seq);
  });
  return {batch_first(ys, in.seq), hs[NT].clone(), hs, gi, extra, in.xt};
}

// Gradients: dx (B, T, I), dh0, dW_ih, dW_hh, db_ih, db_hh (undefined without bias).
std::vector<Tensor> gru_backward(const Tensor& grad_ys, const Tensor& grad_h, const Tensor& xt,
                                 const Tensor& hs, const Tensor& acts, const Tensor& extra,
                                 const Tensor& w_ih, const Tensor& w_hh, bool has_bias,
                                 const OptTensor& lengths, bool reverse, bool reset_after) {
  TORCH_CHECK(acts.dim() == 3 && hs.dim() == 3, "acts and hs must be the saved buffers");
  const int64_t NT = acts.size(0), B = acts.size(1), H = hs.size(2), G = 3 * H;
  const auto dt = acts.scalar_type();
  check(grad_ys, "grad_ys", dt, {B, NT, H});
  check(grad_h, "grad_h", dt, {B, H});
  check(xt, "xt", dt, {NT, B, w_ih.size(-1)});
  check(hs, "hs", dt, {NT + 1, B, H});
  check(acts, "acts", dt, {NT, B, G});
  check(extra, "extra", dt, {NT, B, H});
  check_gru(xt, w_ih, w_hh, std::nullopt, std::nullopt);
  SerialScope serial(is_small(B, H, G) && is_small_sequence(NT * B, std::max(xt.size(2), H), G));
  const Seq seq = seq_of(lengths, B, NT, reverse);
  Tensor gy = time_major(grad_ys, seq);
  Tensor dh = grad_h.contiguous().clone();
  Tensor whh = w_hh.contiguous();
  Tensor hprev = hs.narrow(0, 0, NT);
  Tensor dgi = at::empty_like(acts), dw_hh, db_hh;
  if (reset_after) {
    Tensor dgh = at::empty_like(acts);
    AT_DISPATCH_FLOATING_TYPES(dt, "gru_backward", [&] {
      gru_after_backward_loop<scalar_t>(dgi, dgh, dh, gy, hs, acts, extra, whh, seq);
    });
    dw_hh = wgrad(dgh, hprev);
    if (has_bias) db_hh = sum_rows(dgh);
  } else {
    AT_DISPATCH_FLOATING_TYPES(dt, "gru_backward", [&] {
      gru_before_backward_loop<scalar_t>(dgi, dh, gy, hs, acts, whh, seq);
    });
    dw_hh = at::cat({wgrad(dgi.narrow(2, 0, 2 * H), hprev), wgrad(dgi.narrow(2, 2 * H, H), extra)});
    if (has_bias) db_hh = sum_rows(dgi);
  }
  Tensor db_ih = has_bias ? sum_rows(dgi) : Tensor();
  return {input_grad(dgi, w_ih, seq), dh, wgrad(dgi, xt), dw_hh, db_ih, db_hh};
}

// One GRU step for streaming: nothing saved, the transposed weights wt_ih (I, 3H) and wt_hh
// (H, 3H) given, two hand-written products (three with the reset before) and one pass per row,
// with the same elementwise code as the sequence loops.
Tensor gru_step(const Tensor& x, const Tensor& h, const Tensor& wt_ih, const Tensor& wt_hh,
                const OptTensor& b_ih, const OptTensor& b_hh, bool reset_after) {
  TORCH_CHECK(x.dim() == 2 && wt_hh.dim() == 2, "x must be (batch, features)");
  const int64_t B = x.size(0), I = x.size(1), H = wt_hh.size(0), G = 3 * H;
  const auto dt = x.scalar_type();
  check(x, "x", dt, {B, I});
  check(h, "h", dt, {B, H});
  check(wt_ih, "wt_ih", dt, {I, G});
  check(wt_hh, "wt_hh", dt, {H, G});
  TORCH_CHECK(b_ih.has_value() == b_hh.has_value(), "b_ih and b_hh must be given together");
  check(b_ih, "b_ih", dt, {G});
  check(b_hh, "b_hh", dt, {G});
  SerialScope serial(true);
  Tensor xc = x.contiguous(), hc = h.contiguous(), wi = wt_ih.contiguous(), wh = wt_hh.contiguous();
  Tensor gi = b_ih.has_value() ? b_ih->expand({B, G}).clone(at::MemoryFormat::Contiguous) : at::zeros({B, G}, x.options());
  Tensor bhh = b_hh.has_value() ? b_hh->contiguous() : at::zeros({G}, x.options());
  Tensor gh = at::empty({B, G}, x.options());
  Tensor hn = at::empty({B, H}, x.options());
  AT_DISPATCH_FLOATING_TYPES(dt, "gru_step", [&] {
    using T = scalar_t;
    T *g = gi.data_ptr<T>(), *ghp = gh.data_ptr<T>(), *hnp = hn.data_ptr<T>();
    const T *hp = hc.data_ptr<T>(), *whp = wh.data_ptr<T>(), *bh = bhh.data_ptr<T>();
    small_gemm<T>(g, G, xc.data_ptr<T>(), I, wi.data_ptr<T>(), G, B, I, G, true);
    if (reset_after) {
      small_gemm<T>(ghp, G, hp, H, whp, G, B, H, G, false);
      for (int64_t b = 0; b < B; ++b)
        gru_after_row<T>(g + b * G, ghp + b * G, bh, hp + b * H, nullptr, hnp + b * H, H);
    } else {
      std::vector<T> rh(B * H);
      small_gemm<T>(ghp, G, hp, H, whp, G, B, H, 2 * H, false);
      for (int64_t b = 0; b < B; ++b)
        gru_before_rz<T>(g + b * G, ghp + b * G, bh, hp + b * H, rh.data() + b * H, H);
      small_gemm<T>(ghp + 2 * H, G, rh.data(), H, whp + 2 * H, G, B, H, H, false);
      for (int64_t b = 0; b < B; ++b)
        gru_before_n<T>(g + b * G, ghp + b * G, bh, hp + b * H, hnp + b * H, H);
    }
  });
  return hn;
}

}  // namespace rnnkit
