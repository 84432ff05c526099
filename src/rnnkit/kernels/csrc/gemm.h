// Matrix products: oneDNN/MKL through torch for the sequence-long products (input projection,
// dx, weight gradients) and the large per-step ones, and the hand-written register-blocked
// product of small problems (the streaming and batch-1 regime, where the fixed cost of an
// at::addmm call is larger than the arithmetic).
#pragma once

#include <ATen/core/dispatch/Dispatcher.h>

#include <initializer_list>

#include "common.h"
#include "threads.h"

namespace rnnkit {

// a (M, K) @ w (N, K)^T [+ bias]. float32 goes through oneDNN's matmul (the kernel behind
// torch.nn.LSTM on the CPU, about twice MKL's float32 rate on AMD CPUs, where MKL stays on
// AVX2), through the dispatcher so that nothing but torch is linked; float64, or a torch
// without oneDNN, uses at::mm (MKL).
inline bool g_onednn = true;

// A matrix oneDNN multiplies at full speed: row-major or the transpose of row-major, without
// gaps between rows. A transposed view goes in as it is (a transposing copy of the (T*B, 4H) gate
// gradients cost more than the weight-gradient product itself); any other strides are copied,
// since oneDNN takes those to its reference kernel (measured 100x slower).
inline Tensor dense(const Tensor& m) {
  return m.is_contiguous() || m.t().is_contiguous() ? m : m.contiguous();
}

inline Tensor linear(const Tensor& a, const Tensor& w, const Tensor& bias) {
  static const std::optional<c10::OperatorHandle> onednn =
      c10::Dispatcher::singleton().findOp({"mkldnn::_linear_pointwise", ""});
  // Small problems run serially (SerialScope); oneDNN would start its threads regardless.
  if (onednn && g_onednn && a.scalar_type() == at::kFloat && a.size(0) > 0 &&
      !c10::ParallelGuard::is_enabled()) {
    try {
      std::vector<c10::IValue> stack;
      stack.emplace_back(dense(a));
      stack.emplace_back(dense(w));
      stack.emplace_back(bias.defined() ? c10::IValue(bias) : c10::IValue());
      stack.emplace_back(std::string("none"));
      stack.emplace_back(c10::List<std::optional<at::Scalar>>());
      stack.emplace_back(c10::IValue());
      onednn->callBoxed(&stack);
      return stack[0].toTensor();
    } catch (const std::exception&) {
      g_onednn = false;  // an incompatible torch: MKL from now on
    }
  }
  return bias.defined() ? at::addmm(bias, a, w.t()) : at::mm(a, w.t());
}

// The hand-written product of small problems: out (B, C) [+]= A (B, R) @ M (R, C), all
// row-major with leading dimensions. Blocks of RB rows x NV vectors of out stay in registers
// across the reduction, in two interleaved partial sums so that the FMA latency is hidden.
template <typename T, int RB, int NV>
inline int64_t small_gemm_blocks(T* out, int64_t ldo, const T* a, int64_t lda, const T* m,
                                 int64_t ldm, int64_t R, int64_t n0, int64_t C, bool accumulate) {
  using V = typename VecOf<T>::type;
  constexpr int W = kVecBytes / sizeof(T);
  for (; n0 + NV * W <= C; n0 += NV * W) {
    V acc0[RB][NV], acc1[RB][NV];
#pragma GCC unroll 4
    for (int r = 0; r < RB; ++r) {
#pragma GCC unroll 16
      for (int v = 0; v < NV; ++v) {
        acc0[r][v] = accumulate ? *reinterpret_cast<const V*>(out + r * ldo + n0 + v * W) : V{};
        acc1[r][v] = V{};
      }
    }
    int64_t k = 0;
    for (; k + 2 <= R; k += 2) {
      const T* m0 = m + k * ldm + n0;
      const T* m1 = m0 + ldm;
#pragma GCC unroll 4
      for (int r = 0; r < RB; ++r) {
        const V s0 = splat<V>(a[r * lda + k]), s1 = splat<V>(a[r * lda + k + 1]);
#pragma GCC unroll 16
        for (int v = 0; v < NV; ++v) {
          acc0[r][v] += s0 * *reinterpret_cast<const V*>(m0 + v * W);
          acc1[r][v] += s1 * *reinterpret_cast<const V*>(m1 + v * W);
        }
      }
    }
    if (k < R) {
      const T* m0 = m + k * ldm + n0;
#pragma GCC unroll 4
      for (int r = 0; r < RB; ++r) {
        const V s0 = splat<V>(a[r * lda + k]);
#pragma GCC unroll 16
        for (int v = 0; v < NV; ++v) acc0[r][v] += s0 * *reinterpret_cast<const V*>(m0 + v * W);
      }
    }
#pragma GCC unroll 4
    for (int r = 0; r < RB; ++r) {
#pragma GCC unroll 16
      for (int v = 0; v < NV; ++v)
        *reinterpret_cast<V*>(out + r * ldo + n0 + v * W) = acc0[r][v] + acc1[r][v];
    }
  }
  return n0;
}

template <typename T, int RB>
void small_gemm_rows(T* out, int64_t ldo, const T* a, int64_t lda, const T* m, int64_t ldm,
                     int64_t R, int64_t C, bool accumulate) {
  constexpr int NV = 8 / RB;  // 2 partial sums x RB rows x NV vectors = 16 registers
  int64_t n0 = small_gemm_blocks<T, RB, NV>(out, ldo, a, lda, m, ldm, R, 0, C, accumulate);
  if constexpr (NV >= 2) {
    n0 = small_gemm_blocks<T, RB, NV / 2>(out, ldo, a, lda, m, ldm, R, n0, C, accumulate);
  }
  if constexpr (NV >= 4) {
    n0 = small_gemm_blocks<T, RB, NV / 4>(out, ldo, a, lda, m, ldm, R, n0, C, accumulate);
  }
  if constexpr (NV >= 8) {
    n0 = small_gemm_blocks<T, RB, NV / 8>(out, ldo, a, lda, m, ldm, R, n0, C, accumulate);
  }
  if (n0 < C) {
    for (int r = 0; r < RB; ++r) {
      T* o = out + r * ldo;
      if (!accumulate)
        for (int64_t j = n0; j < C; ++j) o[j] = T(0);
      for (int64_t k = 0; k < R; ++k) {
        const T s = a[r * lda + k];
        const T* mr = m + k * ldm;
        for (int64_t j = n0; j < C; ++j) o[j] += s * mr[j];
      }
    }
  }
}

template <typename T>
void small_gemm(T* out, int64_t ldo, const T* a, int64_t lda, const T* m, int64_t ldm,
                int64_t B, int64_t R, int64_t C, bool accumulate) {
  int64_t b = 0;
  for (; b + 4 <= B; b += 4)
    small_gemm_rows<T, 4>(out + b * ldo, ldo, a + b * lda, lda, m, ldm, R, C, accumulate);
  for (; b + 2 <= B; b += 2)
    small_gemm_rows<T, 2>(out + b * ldo, ldo, a + b * lda, lda, m, ldm, R, C, accumulate);
  for (; b < B; ++b)
    small_gemm_rows<T, 1>(out + b * ldo, ldo, a + b * lda, lda, m, ldm, R, C, accumulate);
}

// out (B, N) [+]= A (B, K) @ W^T, with W (N, K) as a tensor and WT = W^T (K, N) as raw rows.
template <typename T>
void mm_nt(T* out, int64_t ldo, const T* a, int64_t lda, const Tensor& w, const T* wt,
           int64_t ldwt, int64_t B, int64_t K, int64_t N, bool accumulate) {
  if (hand_product(B, K, N)) {
    small_gemm<T>(out, ldo, a, lda, wt, ldwt, B, K, N, accumulate);
    return;
  }
  auto opts = w.options();
  Tensor o = at::from_blob(out, {B, N}, {ldo, 1}, opts);
  Tensor r = linear(at::from_blob(const_cast<T*>(a), {B, K}, {lda, 1}, opts), w, Tensor());
  if (accumulate) o.add_(r);
  else o.copy_(r);
}

// out (B, K) [+]= D (B, N) @ W, with W (N, K) a tensor with contiguous rows.
template <typename T>
void mm_nn(T* out, int64_t ldo, const T* d, int64_t ldd, const Tensor& w, Tensor& wt_cache,
           int64_t B, int64_t N, int64_t K, bool accumulate) {
  if (hand_product(B, K, N)) {
    small_gemm<T>(out, ldo, d, ldd, w.data_ptr<T>(), w.stride(0), B, N, K, accumulate);
    return;
  }
  auto opts = w.options();
  if (!wt_cache.defined()) wt_cache = w.t().contiguous();  // (K, N), once per backward call
  Tensor o = at::from_blob(out, {B, K}, {ldo, 1}, opts);
  Tensor r = linear(at::from_blob(const_cast<T*>(d), {B, N}, {ldd, 1}, opts), wt_cache, Tensor());
  if (accumulate) o.add_(r);
  else o.copy_(r);
}

// x (T, B, I) -> (T, B, G) = x @ W^T + bias (bias may be undefined).
inline Tensor input_projection(const Tensor& xt, const Tensor& w, const Tensor& bias) {
  const int64_t NT = xt.size(0), B = xt.size(1), I = xt.size(2), G = w.size(0);
  return linear(xt.view({NT * B, I}), w, bias).view({NT, B, G});
}

// m (R, C) -> its transpose (C, R), contiguous, in 32 x 32 tiles on torch's threads. oneDNN takes
// its input operand contiguous and made the transposed view so with torch's copy: 0.3 ms for
// the (3200, 128) inputs of the weight gradients at 32x100x128x128, 8 % of a training step.
template <typename T>
void transpose_tiles(const T* in, T* out, int64_t R, int64_t C, int team) {
  constexpr int64_t S = 32;
  const int64_t tiles_r = (R + S - 1) / S, tiles_c = (C + S - 1) / S;
#pragma omp parallel for num_threads(team) schedule(static)
  for (int64_t tile = 0; tile < tiles_r * tiles_c; ++tile) {
    const int64_t r0 = tile / tiles_c * S, c0 = tile % tiles_c * S;
    const int64_t r1 = std::min(R, r0 + S), c1 = std::min(C, c0 + S);
    for (int64_t c = c0; c < c1; ++c)
      for (int64_t r = r0; r < r1; ++r) out[c * R + r] = in[r * C + c];
  }
}

// The transposes of matrices with equal row counts, stacked: (R, C1), (R, C2), ... ->
// (C1 + C2 + ..., R).
inline Tensor transposed(std::initializer_list<Tensor> ms) {
  int64_t rows = 0, numel = 0;
  for (const Tensor& m : ms) rows += m.size(1), numel += m.numel();
  const Tensor& first = *ms.begin();
  Tensor out = at::empty({rows, first.size(0)}, first.options());
  const int team = numel < (1 << 16) ? 1 : team_size(false);
  int64_t row = 0;
  for (const Tensor& m : ms) {
    Tensor src = m.contiguous();
    AT_DISPATCH_FLOATING_TYPES(m.scalar_type(), "transposed", [&] {
      transpose_tiles<scalar_t>(src.data_ptr<scalar_t>(), out[row].data_ptr<scalar_t>(),
                                m.size(0), m.size(1), team);
    });
    row += m.size(1);
  }
  return out;
}

// Weight gradient dW (N, K) = sum over (t, b) of D[t, b, :]^T X[t, b, :], as one GEMM. oneDNN
// computes the transposed product X^T D about 20 % faster than D^T X (measured at (3200, 2048)
// x (3200, 512)); the result is returned as a transposed view, which autograd copies into the
// parameter's layout anyway. float64 goes to MKL, which reads transposed operands in place.
inline Tensor wgrad(const Tensor& d, const Tensor& x) {
  const int64_t N = d.size(-1), K = x.size(-1);
  Tensor x2 = x.reshape({-1, K});
  Tensor xt = x.scalar_type() == at::kFloat && g_onednn ? transposed({x2}) : x2.t();
  return linear(xt, d.reshape({-1, N}).t(), Tensor()).t();
}

// The weight gradients of two inputs that share the gate gradients D (the LSTM's x and h) as
// one product with [X H] when that is narrow: at K1 + K2 = 128 one product took 0.63 ms where
// two took 0.69 (batch 4, 1000 steps); at 512 two were faster.
inline std::pair<Tensor, Tensor> wgrad2(const Tensor& d, const Tensor& x, const Tensor& h) {
  const int64_t N = d.size(-1), K1 = x.size(-1), K2 = h.size(-1);
  if (x.scalar_type() != at::kFloat || !g_onednn || K1 + K2 > 256) return {wgrad(d, x), wgrad(d, h)};
  Tensor xht = transposed({x.reshape({-1, K1}), h.reshape({-1, K2})});  // (K1 + K2, T*B)
  Tensor both = linear(xht, d.reshape({-1, N}).t(), Tensor()).t();     // (N, K1 + K2)
  return {both.narrow(1, 0, K1), both.narrow(1, K1, K2)};
}

// ------------------------------------------------------------- prologue and epilogue of a cell
//
// Every sequence kernel starts the same way (lengths and order, x time-major in processing
// order, its input projection of all steps as one product, the state buffer with the initial
// state in slab 0) and its backward ends the same way (dx in time order, dW_ih): written here
// once.

struct Prologue {
  Seq seq;
  Tensor xt;    // (T, B, I) in processing order
  Tensor proj;  // (T, B, G) = xt @ w_ih^T + bias
};

inline Prologue prologue(const Tensor& x, const OptTensor& lengths, bool reverse,
                         const Tensor& w_ih, const Tensor& bias) {
  Seq seq = seq_of(lengths, x.size(0), x.size(1), reverse);
  Tensor xt = time_major(x, seq);
  Tensor proj = input_projection(xt, w_ih, bias);
  return {std::move(seq), std::move(xt), std::move(proj)};
}

// (T + 1, B, F) with the initial state s0 (B, F) in slab 0.
inline Tensor state_buffer(const Tensor& s0, int64_t NT) {
  Tensor out = at::empty({NT + 1, s0.size(0), s0.size(1)}, s0.options());
  out[0].copy_(s0);
  return out;
}

// dx (B, T, I) in time order from the pre-activation gradients d (T, B, G) of the input
// projection, in processing order.
inline Tensor input_grad(const Tensor& d, const Tensor& w_ih, const Seq& s) {
  const int64_t NT = d.size(0), B = d.size(1), G = d.size(2);
  return batch_first(linear(d.view({NT * B, G}), w_ih.t(), Tensor()).view({NT, B, -1}), s);
}

// The sum over all steps and rows of d (T, B, G): a bias gradient.
inline Tensor sum_rows(const Tensor& d) { return d.reshape({-1, d.size(-1)}).sum(0); }

}  // namespace rnnkit
