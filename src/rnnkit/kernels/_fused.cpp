// Fused whole-sequence forward and backward for rnnkit's built-in cells.
//
// Every kernel has the same shape:
//   forward:  one GEMM for the input projection of all steps (T*B, I) x (I, G); then per step one
//             recurrent product accumulated into that step's gate rows and one fused elementwise
//             pass that writes the activations (kept for backward), the new state and the output.
//   backward: per step (in reverse) one elementwise pass that turns dL/dh into gate gradients,
//             stored in a (T, B, G) buffer, and one product with the recurrent weights for the
//             gradient of the previous state; after the loop, the weight gradients, the bias
//             gradients and dL/dx are one GEMM (or one sum) each.
// Tensors inside are time-major (T, B, F) and contiguous. Lengths follow torch's packed
// sequences: a sequence that has ended keeps its state, outputs zero and passes gradients of its
// state straight through; its gate gradients are zero. Activation buffers of ended rows hold
// zeros, never garbage, because the weight-gradient GEMMs multiply them by those zero gradients.
//
// Recurrent products of small batches (the streaming and batch-1 regime) use a hand-written loop:
// there the fixed cost of an at::addmm call is larger than the arithmetic.

#include <ATen/core/dispatch/Dispatcher.h>
#include <c10/util/ParallelGuard.h>
#include <torch/extension.h>

#ifdef _OPENMP
#include <omp.h>
#else  // a compiler without OpenMP: every time loop runs on the calling thread
inline int omp_get_num_threads() { return 1; }
inline int omp_get_thread_num() { return 0; }
inline int omp_in_parallel() { return 0; }
#endif
#ifdef __linux__
#include <linux/futex.h>
#include <sys/syscall.h>
#include <unistd.h>
#endif

#if defined(__x86_64__) || defined(__i386__)
#include <immintrin.h>
#endif

#include <algorithm>
#include <atomic>
#include <climits>
#include <cmath>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <optional>
#include <thread>
#include <utility>
#include <vector>

namespace {

using at::Tensor;
using OptTensor = std::optional<Tensor>;

enum Act : int { IDENTITY = 0, TANH = 1, SIGMOID = 2, RELU = 3 };

// Per-step products of the GRU, Elman and Jordan loops with B * K * N at most this many
// multiply-adds take the hand-written loop on the calling thread; larger ones go to BLAS (oneDNN
// or MKL, with torch's threads). With one thread BLAS wins from about 4M multiply-adds on. With
// several, each BLAS call of the time loop is a fork and join of the thread pool: on an idle
// 2-core machine the second core pays for it from about 1M on (measured on the LSTM before it
// had its own loop, training at 64x50x256x256 on 2 threads: 31 ms with BLAS from 1M, 56 ms
// with the loop up to 32M), while on a machine loaded with other jobs the join waits for a
// descheduled worker and the loop wins up to 32M (1.8x at 32x512 @ 512x2048). rnnkit tunes for
// the idle machine; `rnnkit train` already drops to one thread when the machine is busy.
int64_t g_small_work = 1 << 22;
int64_t g_small_work_threaded = 1 << 20;
// GRU, Elman and Jordan problems whose recurrent product is at most this large run entirely on
// the calling thread (with the sequence-long products, if those are small too).
int64_t g_serial_work = 1 << 18;
// The LSTM's own time loop goes to a team of threads from this many multiply-adds a step. On
// the idle 2-core machine that paid from about 8K (LSTM forward, 1000 steps: batch 1 hidden 64
// (16K) 0.36 ms vs 0.53 ms on one thread, batch 4 hidden 32 (16K) 0.44 vs 0.49; batch 1
// hidden 32 (4K) even, batch 1 hidden 16 (1K) 0.13 vs 0.10).
int64_t g_lstm_team_work = 1 << 13;

}  // namespace

// MKL's per-thread thread count, exported by libtorch_cpu when torch uses MKL (weak: optional).
extern "C" int MKL_Set_Num_Threads_Local(int) __attribute__((weak));

namespace {

// A problem whose recurrent product takes the hand-written loop is small throughout: its few
// matrix products and reductions run on the calling thread. Waking the intra-op pool for them
// costs more than it saves, and on a busy machine a descheduled worker stalls the whole call.
class SerialScope {
  // torch sizes its thread pool lazily, from MKL's thread count among others: that must happen
  // before this scope sets MKL to one thread, or the whole process would stay on one thread.
  static bool init_threads() { return at::get_num_threads() > 0; }

 public:
  explicit SerialScope(bool on)
      : threads_ready_(init_threads()), on_(on), guard_(on || c10::ParallelGuard::is_enabled()) {
    if (on_ && MKL_Set_Num_Threads_Local) previous_ = MKL_Set_Num_Threads_Local(1);
  }
  ~SerialScope() {
    if (on_ && MKL_Set_Num_Threads_Local) MKL_Set_Num_Threads_Local(previous_);
  }
  SerialScope(const SerialScope&) = delete;
  SerialScope& operator=(const SerialScope&) = delete;

 private:
  bool threads_ready_;
  bool on_;
  int previous_ = 0;
  c10::ParallelGuard guard_;
};

bool is_small(int64_t B, int64_t K, int64_t N) { return B * K * N <= g_serial_work; }

// The products over the whole sequence (input projection, dx, weight gradients) are large even
// when each step is small: at batch 4, hidden 64 and 1000 steps the LSTM's input projection is
// 65M multiply-adds, 1.3 ms on one thread of MKL and 0.3 ms on oneDNN with two. So a call runs
// serially only if these are small too; a small time loop runs on the calling thread either way
// (hand-written products, and a team of one for the LSTM loop).
int64_t g_serial_sequence_work = 1 << 20;
bool is_small_sequence(int64_t rows, int64_t K, int64_t N) {
  return rows * K * N <= g_serial_sequence_work;
}

// The team for a sequence loop: one thread for problems too small to share, else torch's count.
int team_size(bool serial) {
  if (serial || c10::ParallelGuard::is_enabled() || omp_in_parallel()) return 1;
  // More spinning threads than cores only wait for each other.
  const int cores = static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
  return std::max(1, std::min(at::get_num_threads(), cores));
}

bool hand_product(int64_t B, int64_t K, int64_t N) {
  return B * K * N <= (at::get_num_threads() > 1 ? g_small_work_threaded : g_small_work);
}

// a (M, K) @ w (N, K)^T [+ bias]. float32 goes through oneDNN's matmul (the kernel behind
// torch.nn.LSTM on the CPU, about twice MKL's float32 rate on AMD CPUs, where MKL stays on
// AVX2), through the dispatcher so that nothing but torch is linked; float64, or a torch
// without oneDNN, uses at::mm (MKL).
bool g_onednn = true;

// A matrix oneDNN multiplies at full speed: row-major or the transpose of row-major, without
// gaps between rows. A transposed view goes in as it is (a transposing copy of the (T*B, 4H) gate
// gradients cost more than the weight-gradient product itself); any other strides are copied,
// since oneDNN takes those to its reference kernel (measured 100x slower).
Tensor dense(const Tensor& m) {
  return m.is_contiguous() || m.t().is_contiguous() ? m : m.contiguous();
}

Tensor linear(const Tensor& a, const Tensor& w, const Tensor& bias) {
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

// exp for float, branch-free so that the elementwise loops vectorise (Cephes expf polynomial,
// about 2 ulp). NaN stays NaN.
// Always inlined, like the activations below: a call in the elementwise loops stops their
// vectorisation (GCC once left exp_fast out of line inside an OpenMP region: 3x slower).
#define RNNKIT_INLINE inline __attribute__((always_inline))

RNNKIT_INLINE float exp_fast(float x) {
  float xc = x < -87.0f ? -87.0f : (x > 88.0f ? 88.0f : x);
  float n = std::floor(xc * 1.44269504088896341f + 0.5f);
  float r = xc - n * 0.693359375f;
  r = r + n * 2.12194440e-4f;
  float p = 1.9875691500e-4f;
  p = p * r + 1.3981999507e-3f;
  p = p * r + 8.3334519073e-3f;
  p = p * r + 4.1665795894e-2f;
  p = p * r + 1.6666665459e-1f;
  p = p * r + 5.0000001201e-1f;
  p = p * r * r + r + 1.0f;
  int32_t e = static_cast<int32_t>(n) + 127;
  uint32_t bits = static_cast<uint32_t>(e) << 23;
  float scale;
  std::memcpy(&scale, &bits, sizeof(float));
  float res = p * scale;
  return x == x ? res : x;
}

RNNKIT_INLINE float sigmoid_(float x) { return 1.0f / (1.0f + exp_fast(-x)); }
RNNKIT_INLINE float tanh_(float x) { return 1.0f - 2.0f / (1.0f + exp_fast(2.0f * x)); }
RNNKIT_INLINE double sigmoid_(double x) { return 1.0 / (1.0 + std::exp(-x)); }
RNNKIT_INLINE double tanh_(double x) { return std::tanh(x); }

template <int A, typename T>
RNNKIT_INLINE T act(T x) {
  if constexpr (A == TANH) return tanh_(x);
  else if constexpr (A == SIGMOID) return sigmoid_(x);
  else if constexpr (A == RELU) return x > T(0) ? x : T(0);
  else return x;
}

// Derivative of the activation, from its output y = act(x).
template <int A, typename T>
RNNKIT_INLINE T dact(T y) {
  if constexpr (A == TANH) return T(1) - y * y;
  else if constexpr (A == SIGMOID) return y * (T(1) - y);
  else if constexpr (A == RELU) return y > T(0) ? T(1) : T(0);
  else return T(1);
}

// The hand-written product of small problems: out (B, C) [+]= A (B, R) @ M (R, C), all
// row-major with leading dimensions. Blocks of RB rows x NV vectors of out stay in registers
// across the reduction, in two interleaved partial sums so that the FMA latency is hidden.
#ifdef __AVX512F__
constexpr int kVecBytes = 64;
#else
constexpr int kVecBytes = 32;
#endif
typedef float vfloat __attribute__((vector_size(kVecBytes), aligned(4)));
typedef double vdouble __attribute__((vector_size(kVecBytes), aligned(8)));
template <typename T> struct VecOf;
template <> struct VecOf<float> { using type = vfloat; };
template <> struct VecOf<double> { using type = vdouble; };

// x in every lane. "x - 0" is x exactly (also for -0), so it compiles to one broadcast load; the
// obvious "0 + x" is not x for x = -0 and costs an extra add per broadcast.
template <typename V, typename T>
inline V splat(T x) {
  return x - V{};
}

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

std::vector<int64_t> lengths_of(const OptTensor& lengths, int64_t B, int64_t NT) {
  std::vector<int64_t> len(B, NT);
  if (lengths.has_value() && lengths->defined()) {
    Tensor l = lengths->to(at::kLong).contiguous();
    const int64_t* p = l.data_ptr<int64_t>();
    for (int64_t b = 0; b < B; ++b) len[b] = p[b];
  }
  return len;
}

Tensor time_major(const Tensor& x) { return x.transpose(0, 1).contiguous(); }  // (T, B, F)

// x (T, B, I) -> (T, B, G) = x @ W^T + bias (bias may be undefined).
// With ``wt`` = W^T (I, G) given (streaming: a step or a few), the hand-written product, which
// for a handful of rows costs less than a BLAS call.
Tensor input_projection(const Tensor& xt, const Tensor& w, const Tensor& bias,
                        const OptTensor& wt = std::nullopt) {
  const int64_t NT = xt.size(0), B = xt.size(1), I = xt.size(2), G = w.size(0);
  Tensor x2 = xt.view({NT * B, I});
  if (wt.has_value() && wt->defined()) {
    Tensor out = bias.defined() ? bias.expand({NT * B, G}).clone() : at::zeros({NT * B, G}, xt.options());
    AT_DISPATCH_FLOATING_TYPES(xt.scalar_type(), "input_projection", [&] {
      small_gemm<scalar_t>(out.data_ptr<scalar_t>(), G, x2.data_ptr<scalar_t>(), I,
                           wt->data_ptr<scalar_t>(), G, NT * B, I, G, true);
    });
    return out.view({NT, B, G});
  }
  return linear(x2, w, bias).view({NT, B, G});
}

Tensor opt_or_undefined(const OptTensor& t) {
  return t.has_value() ? *t : Tensor();
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
Tensor transposed(std::initializer_list<Tensor> ms) {
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
Tensor wgrad(const Tensor& d, const Tensor& x) {
  const int64_t N = d.size(-1), K = x.size(-1);
  Tensor x2 = x.reshape({-1, K});
  Tensor xt = x.scalar_type() == at::kFloat && g_onednn ? transposed({x2}) : x2.t();
  return linear(xt, d.reshape({-1, N}).t(), Tensor()).t();
}

// The weight gradients of two inputs that share the gate gradients D (the LSTM's x and h) as
// one product with [X H] when that is narrow: at K1 + K2 = 128 one product took 0.63 ms where
// two took 0.69 (batch 4, 1000 steps); at 512 two were faster.
std::pair<Tensor, Tensor> wgrad2(const Tensor& d, const Tensor& x, const Tensor& h) {
  const int64_t N = d.size(-1), K1 = x.size(-1), K2 = h.size(-1);
  if (x.scalar_type() != at::kFloat || !g_onednn || K1 + K2 > 256) return {wgrad(d, x), wgrad(d, h)};
  Tensor xht = transposed({x.reshape({-1, K1}), h.reshape({-1, K2})});  // (K1 + K2, T*B)
  Tensor both = linear(xht, d.reshape({-1, N}).t(), Tensor()).t();     // (N, K1 + K2)
  return {both.narrow(1, 0, K1), both.narrow(1, K1, K2)};
}

// ----------------------------------------------------------------------------------------- LSTM
//
// The LSTM time loop is one parallel region for the whole sequence. Each thread owns a share
// (see Share): a range of batch rows, or a range of blocks of hidden units (one SIMD vector, W
// units, each) with a barrier per step. The recurrent weights are packed once per call: forward
// (NB, H, 4, W), so that a block's four gates are adjacent for each k; backward
// (NG, 4H, kBwdBlocks * W), groups of kBwdBlocks blocks (4 with AVX-512, 2 with AVX2). Per
// tile of rows, the products of the share's blocks go to a scratch array and one pass applies
// the cell update. No BLAS call, allocation or fork/join happens inside the loop: with per-step
// BLAS calls the fixed costs (thread wake-up, weight reorder, an extra pass to add the product
// to the gate rows) kept the LSTM 1.2-1.8x behind oneDNN's fused LSTM at batch 32-64.

constexpr int kMaxRows = kVecBytes == 64 ? 6 : 2;  // rows of a forward tile (registers: 4 per row)
constexpr int kBwdRows = kVecBytes == 64 ? 6 : 2;  // backward tile: kBwdRows rows x kBwdBlocks
constexpr int kBwdBlocks = kVecBytes == 64 ? 4 : 2;

// Row tiles of at most `most` rows, as even as possible (32 rows: 6,6,5,5,5,5, not 6,6,6,6,6,2:
// a tile of few rows is bound by its weight loads, not by its FMAs).
template <typename Fn>
inline void for_row_tiles(int64_t lo, int64_t hi, int64_t most, Fn&& fn) {
  const int64_t B = hi - lo, n = (B + most - 1) / most;
  int64_t b0 = lo;
  for (int64_t i = 0; i < n; ++i) {
    const int64_t rows = B / n + (i < B % n ? 1 : 0);
    fn(b0, rows);
    b0 += rows;
  }
}

// A thread's share of an LSTM time loop: rows [b0, b1) x blocks of hidden units [jb0, jb1).
// Split by units, the team shares each step and meets at a barrier per step; split by rows,
// each thread runs its own sequences with no barrier, but reads all of w_hh every step. On the
// idle 2-core machine (training step, interleaved A/B) rows won wherever w_hh fits a core's
// L2 cache (H <= 256: 4x1000x64x64 4.5 vs 5.1 ms, 32x100x128x128 9.5 vs 12.3, 64x50x256x256
// 31.5 vs 36.4) and with 16 or more rows per thread (32x100x512x512 114 vs 122 ms); units won
// with fewer rows and larger weights (2x200x512x512 28 vs 36 ms, 16x100x1024x1024 253 vs 270).
struct Share {
  int64_t b0, b1, jb0, jb1;
  bool by_rows;
};

int64_t g_row_split_bytes = int64_t(1) << 20;  // w_hh of at most this size: split by rows

inline bool split_by_rows(int64_t B, int64_t H, int64_t elem, int team) {
  return team > 1 && B >= team && (4 * H * H * elem <= g_row_split_bytes || B >= 16 * team);
}

inline Share share_of(bool by_rows, int64_t B, int64_t NB, int64_t id, int64_t nt) {
  if (by_rows) return {B * id / nt, B * (id + 1) / nt, 0, NB, true};
  return {0, B, NB * id / nt, NB * (id + 1) / nt, false};
}

// The per-step barrier of a team in a time loop. libgomp's barrier cost about 0.7 us per step
// on 2 cores, more than a whole step's arithmetic at batch 4, hidden 64. Here each thread
// publishes how many steps it has finished in a cache line of its own and waits until every
// other thread has finished as many: one line moves between cores per thread and step, with no
// read-modify-write contended between cores. A waiter spins a few microseconds (on an idle
// machine its partner arrives within one) and then sleeps on a futex until the partner's count
// moves: with more busy threads than free cores, spinning (even with sched_yield) kept the
// partner off the core it needed: a 200-step loop took 75-157 ms instead of 0.3 ms (review).
inline void cpu_relax() {
#if defined(__x86_64__) || defined(__i386__)
  _mm_pause();
#endif
}

class SpinBarrier {
  struct alignas(64) Slot {
    std::atomic<int32_t> done{0};     // steps finished (the futex word)
    std::atomic<int32_t> sleepers{0};  // threads asleep waiting for `done` to move
  };
  static constexpr int kSpins = 2048;

 public:
  explicit SpinBarrier(int team) : slots_(std::max(team, 1)) {}
  void wait(int id, int n) {
    Slot& mine = slots_[id];
    const int32_t step = mine.done.load(std::memory_order_relaxed) + 1;
    mine.done.store(step, std::memory_order_seq_cst);
    if (mine.sleepers.load(std::memory_order_seq_cst) > 0) wake(mine.done);
    for (int other = 0; other < n; ++other) {
      if (other == id) continue;
      Slot& theirs = slots_[other];
      for (int spins = 0; spins < kSpins; ++spins) {
        if (theirs.done.load(std::memory_order_acquire) >= step) break;
        cpu_relax();
      }
      int32_t seen;
      while ((seen = theirs.done.load(std::memory_order_acquire)) < step) {
        theirs.sleepers.fetch_add(1, std::memory_order_seq_cst);
        // Either the partner's store is seen here, or it sees the sleeper and wakes it.
        if (theirs.done.load(std::memory_order_seq_cst) == seen) sleep(theirs.done, seen);
        theirs.sleepers.fetch_sub(1, std::memory_order_seq_cst);
      }
    }
  }

 private:
  static void sleep(std::atomic<int32_t>& word, int32_t value) {
#ifdef __linux__
    syscall(SYS_futex, reinterpret_cast<int32_t*>(&word), FUTEX_WAIT_PRIVATE, value, nullptr,
            nullptr, 0);
#else
    (void)word;
    (void)value;
    std::this_thread::yield();
#endif
  }
  static void wake(std::atomic<int32_t>& word) {
#ifdef __linux__
    syscall(SYS_futex, reinterpret_cast<int32_t*>(&word), FUTEX_WAKE_PRIVATE, INT_MAX, nullptr,
            nullptr, 0);
#else
    (void)word;
#endif
  }

  std::vector<Slot> slots_;
};


// w_hh (4H, H) -> (NB, H, 4, W): panel[jb][k][g][l] = w_hh[g*H + jb*W + l][k], zero-padded units.
template <typename T>
Tensor pack_forward(const Tensor& w_hh, int64_t H, int team) {
  constexpr int64_t W = kVecBytes / sizeof(T);
  const int64_t NB = (H + W - 1) / W;
  Tensor packed = at::empty({NB, H, 4, W}, w_hh.options());
  const T* w = w_hh.data_ptr<T>();
  T* p = packed.data_ptr<T>();
  // One (block, gate) at a time: W rows of w_hh read along k, written as (k, W) tiles.
#pragma omp parallel for num_threads(team) schedule(static)
  for (int64_t bg = 0; bg < NB * 4; ++bg) {
    const int64_t jb = bg / 4, g = bg % 4;
    for (int64_t l = 0; l < W; ++l) {
      const int64_t j = jb * W + l;
      T* out = p + (jb * H * 4 + g) * W + l;
      if (j < H) {
        const T* row = w + (g * H + j) * H;
        for (int64_t k = 0; k < H; ++k) out[k * 4 * W] = row[k];
      } else {
        for (int64_t k = 0; k < H; ++k) out[k * 4 * W] = T(0);
      }
    }
  }
  return packed;
}

// w_hh (4H, H) -> (NG, 4H, kBwdBlocks * W): groups of kBwdBlocks blocks, zero-padded, so that a
// backward tile reads its blocks' vectors for one k as one contiguous run and consecutive k as
// consecutive runs. (Reading them from the rows of w_hh, 2 KB apart at H = 512, put the weight
// stream and the gate-gradient rows into the same few L1 sets: the backward loop ran 40 %
// slower than the forward one.)
template <typename T>
Tensor pack_backward(const Tensor& w_hh, int64_t H) {
  constexpr int64_t W = kVecBytes / sizeof(T), GW = kBwdBlocks * W;
  const int64_t NG = (H + GW - 1) / GW;
  Tensor pad = at::zeros({4 * H, NG * GW}, w_hh.options());
  pad.narrow(1, 0, H).copy_(w_hh);
  return pad.view({4 * H, NG, GW}).permute({1, 0, 2}).contiguous();
}

// acc[r][g] = sum_k h[r][k] * panel[k][g] for RB rows of h (leading dimension ldh). With few rows,
// even and odd k go to separate sums so that the FMA latency is hidden.
template <typename T, int RB>
inline void lstm_fwd_product(const T* panel, const T* h, int64_t ldh, int64_t K, T* out,
                             int64_t ldo) {
  using V = typename VecOf<T>::type;
  constexpr int W = kVecBytes / sizeof(T);
  constexpr bool kSplit = RB <= 2;
  V acc[RB][4], acc2[RB][4];
#pragma GCC unroll 8
  for (int r = 0; r < RB; ++r)
    for (int g = 0; g < 4; ++g) acc[r][g] = acc2[r][g] = V{};
  int64_t k = 0;
  if constexpr (kSplit) {
    for (; k + 2 <= K; k += 2) {
      const V* w0 = reinterpret_cast<const V*>(panel + k * 4 * W);
      const V* w1 = w0 + 4;
#pragma GCC unroll 8
      for (int r = 0; r < RB; ++r) {
        const V s0 = splat<V>(h[r * ldh + k]), s1 = splat<V>(h[r * ldh + k + 1]);
        for (int g = 0; g < 4; ++g) {
          acc[r][g] += s0 * w0[g];
          acc2[r][g] += s1 * w1[g];
        }
      }
    }
  }
  for (; k < K; ++k) {
    const V* w0 = reinterpret_cast<const V*>(panel + k * 4 * W);
    const V a0 = w0[0], a1 = w0[1], a2 = w0[2], a3 = w0[3];
#pragma GCC unroll 8
    for (int r = 0; r < RB; ++r) {
      const V s = splat<V>(h[r * ldh + k]);
      acc[r][0] += s * a0;
      acc[r][1] += s * a1;
      acc[r][2] += s * a2;
      acc[r][3] += s * a3;
    }
  }
#pragma GCC unroll 8
  for (int r = 0; r < RB; ++r)
    for (int g = 0; g < 4; ++g)
      *reinterpret_cast<V*>(out + (r * 4 + g) * ldo) = acc[r][g] + acc2[r][g];
}

// Calls fn(peephole, cell activation) with both as compile-time constants (std::bool_constant,
// std::integral_constant), so that each LSTM variant gets its own specialised loop.
template <typename Fn>
void with_lstm_variant(bool peephole, bool identity_cell, Fn&& fn) {
  using Id = std::integral_constant<int, IDENTITY>;
  using Th = std::integral_constant<int, TANH>;
  if (peephole && identity_cell) fn(std::true_type(), Id());
  else if (peephole) fn(std::true_type(), Th());
  else if (identity_cell) fn(std::false_type(), Id());
  else fn(std::false_type(), Th());
}

template <typename T>
struct LSTMBuffers {
  T* gates;      // (T, B, 4H): input projection + bias in, gate activations i, f, g, o out
  T* hs;         // (T+1, B, H)
  T* cs;         // (T+1, B, H)
  T* tc;         // (T, B, H): phi(c_t)
  T* ys;         // (T, B, H)
  const T* pc;   // peephole weights (3H) or null
  const int64_t* len;
  int64_t NT, B, H;
};

// Step t, rows b0..b0+RB, the thread's blocks jb0..jb1: the products block by block into pre
// (RB, 4, U), then the cell update as one pass over all those units. (Updating each block right
// after its product left one vector per pass: its chain of exp and divide latencies idled the
// core at batch 1.)
template <typename T, int RB, bool PEEP, int PHI>
void lstm_fwd_tile(const LSTMBuffers<T>& s, const T* pk, T* pre, int64_t t, int64_t b0,
                   int64_t jb0, int64_t jb1) {
  constexpr int W = kVecBytes / sizeof(T);
  const int64_t B = s.B, H = s.H, G = 4 * H, U = (jb1 - jb0) * W;
  const int64_t j0 = jb0 * W, nv = std::min(H, jb1 * W) - j0;
  const T* h = s.hs + (t * B + b0) * H;
  for (int64_t jb = jb0; jb < jb1; ++jb)
    lstm_fwd_product<T, RB>(pk + jb * H * 4 * W, h, H, H, pre + (jb - jb0) * W, U);
  for (int r = 0; r < RB; ++r) {
    const int64_t b = b0 + r;
    const T* pr = pre + r * 4 * U;
    T* gb = s.gates + (t * B + b) * G + j0;
    const T* cb = s.cs + (t * B + b) * H + j0;
    T* hn = s.hs + ((t + 1) * B + b) * H + j0;
    T* cn = s.cs + ((t + 1) * B + b) * H + j0;
    T* tcn = s.tc + (t * B + b) * H + j0;
    T* y = s.ys + (t * B + b) * H + j0;
    if (t < s.len[b]) {
      const T* pc = PEEP ? s.pc + j0 : nullptr;
#pragma GCC ivdep
      for (int64_t l = 0; l < nv; ++l) {
        T ai = gb[l] + pr[l], af = gb[H + l] + pr[U + l];
        if constexpr (PEEP) {
          ai += pc[l] * cb[l];
          af += pc[H + l] * cb[l];
        }
        const T i = sigmoid_(ai), f = sigmoid_(af), gg = tanh_(gb[2 * H + l] + pr[2 * U + l]);
        const T c2 = f * cb[l] + i * gg;
        T ao = gb[3 * H + l] + pr[3 * U + l];
        if constexpr (PEEP) ao += pc[2 * H + l] * c2;
        const T o = sigmoid_(ao);
        const T ph = act<PHI>(c2);
        gb[l] = i;
        gb[H + l] = f;
        gb[2 * H + l] = gg;
        gb[3 * H + l] = o;
        cn[l] = c2;
        tcn[l] = ph;
        hn[l] = o * ph;
        y[l] = o * ph;
      }
    } else {  // ended: keep the state, output and save zeros
      for (int g = 0; g < 4; ++g) std::fill(gb + g * H, gb + g * H + nv, T(0));
      std::copy(h + r * H + j0, h + r * H + j0 + nv, hn);
      std::copy(cb, cb + nv, cn);
      std::fill(tcn, tcn + nv, T(0));
      std::fill(y, y + nv, T(0));
    }
  }
}

template <typename T, int RB, bool PEEP, int PHI>
void lstm_fwd_rows(const LSTMBuffers<T>& s, const T* pk, T* pre, int64_t t, int64_t b0,
                   int64_t rows, int64_t jb0, int64_t jb1) {
  if constexpr (RB > 0) {
    if (rows == RB) lstm_fwd_tile<T, RB, PEEP, PHI>(s, pk, pre, t, b0, jb0, jb1);
    else lstm_fwd_rows<T, RB - 1, PEEP, PHI>(s, pk, pre, t, b0, rows, jb0, jb1);
  }
}

// A 64-byte aligned scratch array owned by one thread.
template <typename T>
struct Scratch {
  explicit Scratch(int64_t n)
      : p(static_cast<T*>(std::aligned_alloc(64, ((n * sizeof(T) + 63) / 64 + 1) * 64))) {
    if (!p) throw std::bad_alloc();
  }
  ~Scratch() { std::free(p); }
  Scratch(const Scratch&) = delete;
  Scratch& operator=(const Scratch&) = delete;
  T* p;
};

template <typename T, bool PEEP, int PHI>
void lstm_forward_loop(const LSTMBuffers<T>& s, const Tensor& packed, int team) {
  constexpr int W = kVecBytes / sizeof(T);
  const int64_t NB = (s.H + W - 1) / W;
  const T* pk = packed.data_ptr<T>();
  const bool by_rows = split_by_rows(s.B, s.H, sizeof(T), team);
  if (!by_rows) team = static_cast<int>(std::min<int64_t>(team, NB));  // no idle members
  SpinBarrier barrier(team);
#pragma omp parallel num_threads(team)
  {
    const int nt = omp_get_num_threads(), id = omp_get_thread_num();
    const Share my = share_of(by_rows, s.B, NB, id, nt);
    Scratch<T> pre(kMaxRows * 4 * std::max<int64_t>(my.jb1 - my.jb0, 1) * W);
    for (int64_t t = 0; t < s.NT; ++t) {
      if (my.jb1 > my.jb0) {
        for_row_tiles(my.b0, my.b1, kMaxRows, [&](int64_t b0, int64_t rows) {
          lstm_fwd_rows<T, kMaxRows, PEEP, PHI>(s, pk, pre.p, t, b0, rows, my.jb0, my.jb1);
        });
      }
      if (!my.by_rows) barrier.wait(id, nt);
    }
  }
}

// Returns ys (T, B, H), h_T, c_T and the saved buffers: hs (T+1, B, H), cs (T+1, B, H),
// gate activations (T, B, 4H), phi(c) (T, B, H), x time-major.
std::vector<Tensor> lstm_forward(const Tensor& x, const Tensor& h0, const Tensor& c0,
                                 const Tensor& w_ih, const Tensor& w_hh, const OptTensor& b_ih,
                                 const OptTensor& b_hh, const OptTensor& w_ch,
                                 const OptTensor& lengths, bool identity_cell,
                                 const OptTensor& wt_hh_given, const OptTensor& wt_ih_given) {
  (void)wt_hh_given;
  const int64_t B = x.size(0), NT = x.size(1), H = h0.size(1);
  const bool small = B * H * 4 * H <= g_lstm_team_work;
  SerialScope serial(small && is_small_sequence(NT * B, std::max(x.size(2), H), 4 * H));
  Tensor xt = time_major(x);
  Tensor bias;
  if (b_ih.has_value()) bias = *b_ih + *b_hh;
  Tensor gates = input_projection(xt, w_ih, bias, wt_ih_given);  // (T, B, 4H)
  Tensor hs = at::empty({NT + 1, B, H}, x.options());
  Tensor cs = at::empty({NT + 1, B, H}, x.options());
  hs[0].copy_(h0);
  cs[0].copy_(c0);
  Tensor tc = at::empty({NT, B, H}, x.options());
  Tensor ys = at::empty({NT, B, H}, x.options());
  Tensor wch = w_ch.has_value() ? w_ch->contiguous() : Tensor();
  auto len = lengths_of(lengths, B, NT);
  const bool peep = wch.defined();
  const int team = team_size(small);
  AT_DISPATCH_FLOATING_TYPES(x.scalar_type(), "lstm_forward", [&] {
    Tensor packed = pack_forward<scalar_t>(w_hh.contiguous(), H, team);
    LSTMBuffers<scalar_t> s{gates.data_ptr<scalar_t>(), hs.data_ptr<scalar_t>(),
                            cs.data_ptr<scalar_t>(),    tc.data_ptr<scalar_t>(),
                            ys.data_ptr<scalar_t>(),    peep ? wch.data_ptr<scalar_t>() : nullptr,
                            len.data(),                 NT,
                            B,                          H};
    with_lstm_variant(peep, identity_cell, [&](auto p, auto phi) {
      lstm_forward_loop<scalar_t, decltype(p)::value, decltype(phi)::value>(s, packed, team);
    });
  });
  return {ys, hs[NT].clone(), cs[NT].clone(), hs, cs, gates, tc, xt};
}

template <typename T>
struct LSTMGrads {
  T* dg;          // (T, B, 4H): gate pre-activation gradients
  T* dh;          // (B, H): gradient of the state entering the step being processed
  T* dc;          // (B, H)
  const T* gy;    // (T, B, H)
  const T* gates; // (T, B, 4H) activations
  const T* cs;    // (T+1, B, H)
  const T* tc;    // (T, B, H)
  const T* pc;
  T* dbias;       // (4H) or null: the bias gradient, summed here rather than in a pass over dg
  T* dpeep;       // (3H) or null: the peephole gradient, likewise
  const int64_t* len;
  int64_t NT, B, H;
};

// Step t's gate gradients for row b, units j0..j0+nv, from dh[b] (the gradient of h_{t+1}).
template <typename T, bool PEEP, int PHI>
inline void lstm_bwd_units(const LSTMGrads<T>& s, int64_t t, int64_t b, int64_t j0, int64_t nv) {
  const int64_t B = s.B, H = s.H, G = 4 * H;
  T* db = s.dg + (t * B + b) * G + j0;
  if (t >= s.len[b]) {  // ended: zero gate gradients, dh and dc pass through
    for (int g = 0; g < 4; ++g) std::fill(db + g * H, db + g * H + nv, T(0));
    return;
  }
  T* dhb = s.dh + b * H + j0;
  T* dcb = s.dc + b * H + j0;
  const T* gyb = s.gy + (t * B + b) * H + j0;
  const T* ab = s.gates + (t * B + b) * G + j0;
  const T* cb = s.cs + (t * B + b) * H + j0;
  const T* tcb = s.tc + (t * B + b) * H + j0;
  const T* pc = PEEP ? s.pc + j0 : nullptr;
  const T* cnb = s.cs + ((t + 1) * B + b) * H + j0;
  T* sb = s.dbias ? s.dbias + j0 : nullptr;
  T* sp = PEEP ? s.dpeep + j0 : nullptr;
#pragma GCC ivdep
  for (int64_t j = 0; j < nv; ++j) {
    const T i = ab[j], f = ab[H + j], gg = ab[2 * H + j], o = ab[3 * H + j];
    const T dht = dhb[j] + gyb[j];
    const T ph = tcb[j];
    const T dop = dht * ph * o * (T(1) - o);
    T dct = dcb[j] + dht * o * dact<PHI>(ph);
    if constexpr (PEEP) dct += dop * pc[2 * H + j];
    const T dip = dct * gg * i * (T(1) - i);
    const T dfp = dct * cb[j] * f * (T(1) - f);
    const T dgp_ = dct * i * (T(1) - gg * gg);
    T dcprev = dct * f;
    if constexpr (PEEP) dcprev += dip * pc[j] + dfp * pc[H + j];
    db[j] = dip;
    db[H + j] = dfp;
    db[2 * H + j] = dgp_;
    db[3 * H + j] = dop;
    dcb[j] = dcprev;
    if (sb) {
      sb[j] += dip;
      sb[H + j] += dfp;
      sb[2 * H + j] += dgp_;
      sb[3 * H + j] += dop;
    }
    if constexpr (PEEP) {
      sp[j] += dip * cb[j];
      sp[H + j] += dfp * cb[j];
      sp[2 * H + j] += dop * cnb[j];
    }
  }
}

// Rows b0..b0+RB, blocks jb0..jb0+NBK: dh = dg_t @ w_hh for the rows still running at step t.
template <typename T, int RB, int NBK, bool PEEP, int PHI>
void lstm_bwd_tile(const LSTMGrads<T>& s, const T* pk, int64_t t, int64_t b0, int64_t jb0) {
  using V = typename VecOf<T>::type;
  constexpr int W = kVecBytes / sizeof(T);
  const int64_t B = s.B, H = s.H, G = 4 * H;
  V acc[RB][NBK];
#pragma GCC unroll 8
  for (int r = 0; r < RB; ++r)
    for (int q = 0; q < NBK; ++q) acc[r][q] = V{};
  const T* d = s.dg + (t * B + b0) * G;
  constexpr int64_t GW = kBwdBlocks * W;  // a group's row in the packed weights
  const T* p = pk + (jb0 / kBwdBlocks) * G * GW + (jb0 % kBwdBlocks) * W;
  for (int64_t k = 0; k < G; ++k) {
    V w[NBK];
#pragma GCC unroll 8
    for (int q = 0; q < NBK; ++q) w[q] = *reinterpret_cast<const V*>(p + k * GW + q * W);
#pragma GCC unroll 8
    for (int r = 0; r < RB; ++r) {
      const V x = splat<V>(d[r * G + k]);
      for (int q = 0; q < NBK; ++q) acc[r][q] += x * w[q];
    }
  }
  for (int r = 0; r < RB; ++r) {
    const int64_t b = b0 + r;
    if (t >= s.len[b]) continue;  // ended at t: dh passes through
    for (int q = 0; q < NBK; ++q) {
      const int64_t j0 = (jb0 + q) * W, nv = std::min<int64_t>(W, H - j0);
      alignas(64) T tmp[W];
      *reinterpret_cast<V*>(tmp) = acc[r][q];
      std::copy(tmp, tmp + nv, s.dh + b * H + j0);
    }
  }
}

template <typename T, int RB, int NBK, bool PEEP, int PHI>
void lstm_bwd_rows(const LSTMGrads<T>& s, const T* pk, int64_t t, int64_t b0, int64_t rows,
                   int64_t jb0) {
  if constexpr (RB > 0) {
    if (rows == RB) lstm_bwd_tile<T, RB, NBK, PEEP, PHI>(s, pk, t, b0, jb0);
    else lstm_bwd_rows<T, RB - 1, NBK, PEEP, PHI>(s, pk, t, b0, rows, jb0);
  }
}

// The share's blocks in tiles of kBwdBlocks, 2 or 1 blocks, none straddling a packed group.
template <typename T, bool PEEP, int PHI>
void lstm_bwd_blocks(const LSTMGrads<T>& s, const T* pk, int64_t t, const Share& my) {
  for (int64_t jb = my.jb0; jb < my.jb1;) {
    const int64_t n = std::min<int64_t>(kBwdBlocks - jb % kBwdBlocks, my.jb1 - jb);
    auto tiles = [&](auto nbk) {
      for_row_tiles(my.b0, my.b1, kBwdRows, [&](int64_t b0, int64_t rows) {
        lstm_bwd_rows<T, kBwdRows, decltype(nbk)::value, PEEP, PHI>(s, pk, t, b0, rows, jb);
      });
      jb += decltype(nbk)::value;
    };
    if constexpr (kBwdBlocks >= 4) {
      if (n >= 4) {
        tiles(std::integral_constant<int, 4>());
        continue;
      }
    }
    if (n >= 2) tiles(std::integral_constant<int, 2>());
    else tiles(std::integral_constant<int, 1>());
  }
}

template <typename T, bool PEEP, int PHI>
void lstm_backward_loop(const LSTMGrads<T>& s, const Tensor& packed, int team) {
  constexpr int W = kVecBytes / sizeof(T);
  const int64_t NB = (s.H + W - 1) / W;
  const T* pk = packed.data_ptr<T>();
  if (s.NT == 0) return;
  const bool by_rows = split_by_rows(s.B, s.H, sizeof(T), team);
  if (!by_rows) team = static_cast<int>(std::min<int64_t>(team, NB));  // no idle members
  // Split by rows, two threads would add to the same bias and peephole gradients: each sums
  // into its own, added up after the loop.
  const int64_t nsum = (s.dbias ? 4 * s.H : 0) + (s.dpeep ? 3 * s.H : 0);
  std::vector<T> partial(by_rows ? team * nsum : 0, T(0));
  SpinBarrier barrier(team);
#pragma omp parallel num_threads(team)
  {
    const int nt = omp_get_num_threads(), id = omp_get_thread_num();
    const Share my = share_of(by_rows, s.B, NB, id, nt);
    LSTMGrads<T> g = s;
    if (by_rows) {
      T* mine = partial.data() + id * nsum;
      if (s.dbias) g.dbias = mine;
      if (s.dpeep) g.dpeep = mine + (s.dbias ? 4 * s.H : 0);
    }
    const int64_t j0 = my.jb0 * W, nv = std::min(s.H, my.jb1 * W) - j0;
    if (nv > 0)
      for (int64_t b = my.b0; b < my.b1; ++b) lstm_bwd_units<T, PEEP, PHI>(g, s.NT - 1, b, j0, nv);
    if (!by_rows) barrier.wait(id, nt);
    for (int64_t t = s.NT - 1; t >= 0; --t) {
      lstm_bwd_blocks<T, PEEP, PHI>(g, pk, t, my);
      // Step t-1's gate gradients for the share's units, row by row (one pass over all of
      // them, for the same reason as in the forward loop).
      if (t > 0 && nv > 0)
        for (int64_t b = my.b0; b < my.b1; ++b) lstm_bwd_units<T, PEEP, PHI>(g, t - 1, b, j0, nv);
      if (!by_rows) barrier.wait(id, nt);
    }
  }
  if (by_rows) {
    T* sums[2] = {s.dbias, s.dpeep};
    const int64_t offs[2] = {0, s.dbias ? 4 * s.H : 0}, lens[2] = {4 * s.H, 3 * s.H};
    for (int k = 0; k < 2; ++k)
      if (sums[k])
        for (int64_t id = 0; id < team; ++id)
          for (int64_t j = 0; j < lens[k]; ++j) sums[k][j] += partial[id * nsum + offs[k] + j];
  }
}

// Gradients: dx (B, T, I), dh0, dc0, dW_ih, dW_hh, db_ih, db_hh, dw_ch (undefined if absent).
std::vector<Tensor> lstm_backward(const Tensor& grad_ys, const Tensor& grad_h, const Tensor& grad_c,
                                  const Tensor& xt, const Tensor& hs, const Tensor& cs,
                                  const Tensor& gates, const Tensor& tc, const Tensor& w_ih,
                                  const Tensor& w_hh, bool has_bias, const OptTensor& w_ch,
                                  const OptTensor& lengths, bool identity_cell) {
  const int64_t NT = gates.size(0), B = gates.size(1), H = hs.size(2);
  const bool small = B * H * 4 * H <= g_lstm_team_work;
  SerialScope serial(small && is_small_sequence(NT * B, std::max(xt.size(2), H), 4 * H));
  Tensor gy = time_major(grad_ys);
  Tensor dg = at::empty_like(gates);
  Tensor dh = grad_h.contiguous().clone();
  Tensor dc = grad_c.contiguous().clone();
  Tensor wch = w_ch.has_value() ? w_ch->contiguous() : Tensor();
  auto len = lengths_of(lengths, B, NT);
  const bool peep = wch.defined();
  const int team = team_size(small);
  Tensor db = has_bias ? at::zeros({4 * H}, gates.options()) : Tensor();
  Tensor dwch = peep ? at::zeros({3 * H}, gates.options()) : Tensor();
  AT_DISPATCH_FLOATING_TYPES(gates.scalar_type(), "lstm_backward", [&] {
    Tensor packed = pack_backward<scalar_t>(w_hh.contiguous(), H);
    LSTMGrads<scalar_t> s{dg.data_ptr<scalar_t>(),    dh.data_ptr<scalar_t>(),
                          dc.data_ptr<scalar_t>(),    gy.data_ptr<scalar_t>(),
                          gates.data_ptr<scalar_t>(), cs.data_ptr<scalar_t>(),
                          tc.data_ptr<scalar_t>(),    peep ? wch.data_ptr<scalar_t>() : nullptr,
                          has_bias ? db.data_ptr<scalar_t>() : nullptr,
                          peep ? dwch.data_ptr<scalar_t>() : nullptr,
                          len.data(),                 NT,
                          B,                          H};
    with_lstm_variant(peep, identity_cell, [&](auto p, auto phi) {
      lstm_backward_loop<scalar_t, decltype(p)::value, decltype(phi)::value>(s, packed, team);
    });
  });
  Tensor dx = linear(dg.view({NT * B, 4 * H}), w_ih.t(), Tensor()).view({NT, B, -1}).transpose(0, 1);
  auto [dw_ih, dw_hh] = wgrad2(dg, xt, hs.narrow(0, 0, NT));
  return {dx, dh, dc, dw_ih, dw_hh, db, has_bias ? db.clone() : db, dwch};
}

// One LSTM step for streaming: nothing saved for backward, no lengths, transposed weights given,
// so that a step is two hand-written products and one pass (the math of lstm_forward_loop; the
// streaming tests compare the two).
template <typename T, bool PEEP, int PHI>
void lstm_step_rows(const T* x, const T* h, const T* c, const T* wt_ih, const T* wt_hh,
                    const T* bias, const T* pc, T* hn, T* cn, int64_t B, int64_t I, int64_t H) {
  const int64_t G = 4 * H;
  std::vector<T> gates(B * G);
  for (int64_t b = 0; b < B; ++b)
    for (int64_t j = 0; j < G; ++j) gates[b * G + j] = bias ? bias[j] : T(0);
  small_gemm<T>(gates.data(), G, x, I, wt_ih, G, B, I, G, true);
  small_gemm<T>(gates.data(), G, h, H, wt_hh, G, B, H, G, true);
  for (int64_t b = 0; b < B; ++b) {
    const T* gb = gates.data() + b * G;
    const T* cb = c + b * H;
#pragma GCC ivdep
    for (int64_t j = 0; j < H; ++j) {
      T ai = gb[j], af = gb[H + j];
      if constexpr (PEEP) {
        ai += pc[j] * cb[j];
        af += pc[H + j] * cb[j];
      }
      const T c2 = sigmoid_(af) * cb[j] + sigmoid_(ai) * tanh_(gb[2 * H + j]);
      T ao = gb[3 * H + j];
      if constexpr (PEEP) ao += pc[2 * H + j] * c2;
      cn[b * H + j] = c2;
      hn[b * H + j] = sigmoid_(ao) * act<PHI>(c2);
    }
  }
}

// x (B, I), h and c (B, H), wt_ih (I, 4H), wt_hh (H, 4H), bias = b_ih + b_hh (4H) or None.
std::vector<Tensor> lstm_step(const Tensor& x, const Tensor& h, const Tensor& c,
                              const Tensor& wt_ih, const Tensor& wt_hh, const OptTensor& bias,
                              const OptTensor& w_ch, bool identity_cell) {
  SerialScope serial(true);
  const int64_t B = x.size(0), I = x.size(1), H = h.size(1);
  Tensor xc = x.contiguous(), hc = h.contiguous(), cc = c.contiguous();
  Tensor hn = at::empty({B, H}, x.options()), cn = at::empty({B, H}, x.options());
  AT_DISPATCH_FLOATING_TYPES(x.scalar_type(), "lstm_step", [&] {
    const scalar_t* bp = bias.has_value() ? bias->data_ptr<scalar_t>() : nullptr;
    const scalar_t* pc = w_ch.has_value() ? w_ch->data_ptr<scalar_t>() : nullptr;
    with_lstm_variant(pc != nullptr, identity_cell, [&](auto peep, auto phi) {
      lstm_step_rows<scalar_t, decltype(peep)::value, decltype(phi)::value>(
          xc.data_ptr<scalar_t>(), hc.data_ptr<scalar_t>(), cc.data_ptr<scalar_t>(),
          wt_ih.data_ptr<scalar_t>(), wt_hh.data_ptr<scalar_t>(), bp, pc,
          hn.data_ptr<scalar_t>(), cn.data_ptr<scalar_t>(), B, I, H);
    });
  });
  return {hn, cn};
}

// ------------------------------------------------------------------------------------------ GRU

// reset="after": n = tanh(gi_n + r * (W_hn h + b_hn)). Saves gh_n = W_hn h + b_hn per step.
template <typename T>
void gru_after_forward_loop(Tensor& gi, Tensor& hs, Tensor& ghn, Tensor& ys, const Tensor& w_hh,
                            const Tensor& wt_hh, const Tensor& b_hh,
                            const std::vector<int64_t>& len) {
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
    for (int64_t b = 0; b < B; ++b) {
      T* gb = g + b * G;
      const T* ghb = ghp + b * G;
      const T* hb = h + b * H;
      if (t < len[b]) {
#pragma GCC ivdep
        for (int64_t j = 0; j < H; ++j) {
          const T r = sigmoid_(gb[j] + ghb[j] + bh[j]);
          const T z = sigmoid_(gb[H + j] + ghb[H + j] + bh[H + j]);
          const T hn_ = ghb[2 * H + j] + bh[2 * H + j];
          const T n = tanh_(gb[2 * H + j] + r * hn_);
          const T h2 = n + z * (hb[j] - n);
          gb[j] = r;
          gb[H + j] = z;
          gb[2 * H + j] = n;
          sn[b * H + j] = hn_;
          hn[b * H + j] = h2;
          y[b * H + j] = h2;
        }
      } else {
        std::fill(gb, gb + G, T(0));
        std::fill(sn + b * H, sn + (b + 1) * H, T(0));
        std::copy(hb, hb + H, hn + b * H);
        std::fill(y + b * H, y + (b + 1) * H, T(0));
      }
    }
  }
}

// reset="before": n = tanh(gi_n + W_hn (r * h) + b_hn). Saves rh = r * h per step.
template <typename T>
void gru_before_forward_loop(Tensor& gi, Tensor& hs, Tensor& rh, Tensor& ys, const Tensor& w_hh,
                             const Tensor& wt_hh, const Tensor& b_hh,
                             const std::vector<int64_t>& len) {
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
  for (int64_t t = 0; t < NT; ++t) {
    const T* h = hp + t * B * H;
    T* g = gp + t * B * G;
    T* rht = rp + t * B * H;
    mm_nt<T>(ghp, G, h, H, w_rz, wt, G, B, H, 2 * H, false);
    for (int64_t b = 0; b < B; ++b) {
      T* gb = g + b * G;
      const T* ghb = ghp + b * G;
      const T* hb = h + b * H;
      T* rhb = rht + b * H;
      if (t < len[b]) {
#pragma GCC ivdep
        for (int64_t j = 0; j < H; ++j) {
          const T r = sigmoid_(gb[j] + ghb[j] + bh[j]);
          const T z = sigmoid_(gb[H + j] + ghb[H + j] + bh[H + j]);
          gb[j] = r;
          gb[H + j] = z;
          rhb[j] = r * hb[j];
        }
      } else {
        std::fill(rhb, rhb + H, T(0));
      }
    }
    mm_nt<T>(ghp + 2 * H, G, rht, H, w_n, wt + 2 * H, G, B, H, H, false);
    T* hn = hp + (t + 1) * B * H;
    T* y = yp + t * B * H;
    for (int64_t b = 0; b < B; ++b) {
      T* gb = g + b * G;
      const T* ghb = ghp + b * G;
      const T* hb = h + b * H;
      if (t < len[b]) {
#pragma GCC ivdep
        for (int64_t j = 0; j < H; ++j) {
          const T z = gb[H + j];
          const T n = tanh_(gb[2 * H + j] + ghb[2 * H + j] + bh[2 * H + j]);
          const T h2 = n + z * (hb[j] - n);
          gb[2 * H + j] = n;
          hn[b * H + j] = h2;
          y[b * H + j] = h2;
        }
      } else {
        std::fill(gb, gb + G, T(0));
        std::copy(hb, hb + H, hn + b * H);
        std::fill(y + b * H, y + (b + 1) * H, T(0));
      }
    }
  }
}

// Returns ys (T, B, H), h_T and saved: hs (T+1, B, H), activations r|z|n (T, B, 3H),
// extra (T, B, H) (gh_n for "after", r*h for "before"), x time-major.
std::vector<Tensor> gru_forward(const Tensor& x, const Tensor& h0, const Tensor& w_ih,
                                const Tensor& w_hh, const OptTensor& b_ih, const OptTensor& b_hh,
                                const OptTensor& lengths, bool reset_after,
                                const OptTensor& wt_hh_given, const OptTensor& wt_ih_given) {
  const int64_t B = x.size(0), NT = x.size(1), H = h0.size(1);
  SerialScope serial(is_small(B, H, 3 * H) &&
                     is_small_sequence(NT * B, std::max(x.size(2), H), 3 * H));
  Tensor xt = time_major(x);
  Tensor gi = input_projection(xt, w_ih, opt_or_undefined(b_ih), wt_ih_given);  // (T, B, 3H)
  Tensor bhh = b_hh.has_value() ? b_hh->contiguous() : at::zeros({3 * H}, x.options());
  Tensor hs = at::empty({NT + 1, B, H}, x.options());
  hs[0].copy_(h0);
  Tensor extra = at::empty({NT, B, H}, x.options());
  Tensor ys = at::empty({NT, B, H}, x.options());
  Tensor whh = w_hh.contiguous();
  Tensor wt = wt_hh_given.has_value() ? *wt_hh_given : whh.t().contiguous();  // (H, 3H)
  auto len = lengths_of(lengths, B, NT);
  AT_DISPATCH_FLOATING_TYPES(x.scalar_type(), "gru_forward", [&] {
    if (reset_after) gru_after_forward_loop<scalar_t>(gi, hs, extra, ys, whh, wt, bhh, len);
    else gru_before_forward_loop<scalar_t>(gi, hs, extra, ys, whh, wt, bhh, len);
  });
  return {ys, hs[NT].clone(), hs, gi, extra, xt};
}

template <typename T>
void gru_after_backward_loop(Tensor& dgi, Tensor& dgh, Tensor& dh, const Tensor& gy,
                             const Tensor& hs, const Tensor& acts, const Tensor& ghn,
                             const Tensor& w_hh, const std::vector<int64_t>& len) {
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
    for (int64_t b = 0; b < B; ++b) {
      T* dib = di + b * G;
      T* dhb_g = dhh + b * G;
      T* dhb = dh_ + b * H;
      const T* gyb = gyp + (t * B + b) * H;
      if (t < len[b]) {
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
      } else {
        std::fill(dib, dib + G, T(0));
        std::fill(dhb_g, dhb_g + G, T(0));
      }
    }
    mm_nn<T>(dh_, H, dhh, G, w_hh, wt, B, G, H, true);
  }
}

template <typename T>
void gru_before_backward_loop(Tensor& dg, Tensor& dh, const Tensor& gy, const Tensor& hs,
                              const Tensor& acts, const Tensor& w_hh,
                              const std::vector<int64_t>& len) {
  const int64_t NT = acts.size(0), B = acts.size(1), H = hs.size(2), G = 3 * H;
  Tensor drh = at::empty({B, H}, acts.options());
  Tensor w_rz = w_hh.narrow(0, 0, 2 * H), w_n = w_hh.narrow(0, 2 * H, H);
  T* drp_ = drh.data_ptr<T>();
  T* dgp = dg.data_ptr<T>();
  T* dh_ = dh.data_ptr<T>();
  const T* gyp = gy.data_ptr<T>();
  const T* hp = hs.data_ptr<T>();
  const T* ap = acts.data_ptr<T>();
  Tensor wt_n, wt_rz;  // transposed weights for the BLAS path, made on demand
  for (int64_t t = NT - 1; t >= 0; --t) {
    T* d = dgp + t * B * G;
    for (int64_t b = 0; b < B; ++b) {
      T* db = d + b * G;
      T* dhb = dh_ + b * H;
      const T* gyb = gyp + (t * B + b) * H;
      if (t < len[b]) {
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
      } else {
        std::fill(db, db + G, T(0));
      }
    }
    mm_nn<T>(drp_, H, d + 2 * H, G, w_n, wt_n, B, H, H, false);  // d(r*h) = dn_pre @ W_hn
    for (int64_t b = 0; b < B; ++b) {
      T* db = d + b * G;
      T* dhb = dh_ + b * H;
      const T* drb = drp_ + b * H;
      if (t < len[b]) {
        const T* ab = ap + (t * B + b) * G;
        const T* hb = hp + (t * B + b) * H;
#pragma GCC ivdep
        for (int64_t j = 0; j < H; ++j) {
          const T r = ab[j];
          db[j] = drb[j] * hb[j] * r * (T(1) - r);
          dhb[j] += drb[j] * r;
        }
      }
    }
    mm_nn<T>(dh_, H, d, G, w_rz, wt_rz, B, 2 * H, H, true);
  }
}

// Gradients: dx (B, T, I), dh0, dW_ih, dW_hh, db_ih, db_hh (undefined without bias).
std::vector<Tensor> gru_backward(const Tensor& grad_ys, const Tensor& grad_h, const Tensor& xt,
                                 const Tensor& hs, const Tensor& acts, const Tensor& extra,
                                 const Tensor& w_ih, const Tensor& w_hh, bool has_bias,
                                 const OptTensor& lengths, bool reset_after) {
  const int64_t NT = acts.size(0), B = acts.size(1), H = hs.size(2), G = 3 * H;
  SerialScope serial(is_small(B, H, G) && is_small_sequence(NT * B, std::max(xt.size(2), H), G));
  Tensor gy = time_major(grad_ys);
  Tensor dh = grad_h.contiguous().clone();
  Tensor whh = w_hh.contiguous();
  auto len = lengths_of(lengths, B, NT);
  Tensor hprev = hs.narrow(0, 0, NT);
  Tensor dgi = at::empty_like(acts), dw_hh, db_hh;
  if (reset_after) {
    Tensor dgh = at::empty_like(acts);
    AT_DISPATCH_FLOATING_TYPES(acts.scalar_type(), "gru_backward", [&] {
      gru_after_backward_loop<scalar_t>(dgi, dgh, dh, gy, hs, acts, extra, whh, len);
    });
    dw_hh = wgrad(dgh, hprev);
    if (has_bias) db_hh = dgh.view({NT * B, G}).sum(0);
  } else {
    AT_DISPATCH_FLOATING_TYPES(acts.scalar_type(), "gru_backward", [&] {
      gru_before_backward_loop<scalar_t>(dgi, dh, gy, hs, acts, whh, len);
    });
    dw_hh = at::cat({wgrad(dgi.narrow(2, 0, 2 * H), hprev), wgrad(dgi.narrow(2, 2 * H, H), extra)});
    if (has_bias) db_hh = dgi.view({NT * B, G}).sum(0);
  }
  Tensor dx = linear(dgi.view({NT * B, G}), w_ih.t(), Tensor()).view({NT, B, -1}).transpose(0, 1);
  Tensor dw_ih = wgrad(dgi, xt);
  Tensor db_ih = has_bias ? dgi.view({NT * B, G}).sum(0) : Tensor();
  return {dx, dh, dw_ih, dw_hh, db_ih, db_hh};
}

// ---------------------------------------------------------------------------------------- Elman

template <typename T, int F>
void elman_forward_loop(Tensor& pre, Tensor& hs, Tensor& ys, const Tensor& w_hh,
                        const Tensor& wt_hh, const std::vector<int64_t>& len) {
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
    for (int64_t b = 0; b < B; ++b) {
      if (t < len[b]) {
#pragma GCC ivdep
        for (int64_t j = 0; j < H; ++j) {
          const T v = act<F>(p[b * H + j]);
          hn[b * H + j] = v;
          y[b * H + j] = v;
        }
      } else {
        std::copy(h + b * H, h + (b + 1) * H, hn + b * H);
        std::fill(y + b * H, y + (b + 1) * H, T(0));
      }
    }
  }
}

std::vector<Tensor> elman_forward(const Tensor& x, const Tensor& h0, const Tensor& w_ih,
                                  const Tensor& w_hh, const OptTensor& b_ih, const OptTensor& b_hh,
                                  const OptTensor& lengths, int64_t activation,
                                  const OptTensor& wt_hh_given, const OptTensor& wt_ih_given) {
  const int64_t B = x.size(0), NT = x.size(1), H = h0.size(1);
  SerialScope serial(is_small(B, H, H) && is_small_sequence(NT * B, std::max(x.size(2), H), H));
  Tensor xt = time_major(x);
  Tensor bias;
  if (b_ih.has_value()) bias = *b_ih + *b_hh;
  Tensor pre = input_projection(xt, w_ih, bias, wt_ih_given);  // (T, B, H)
  Tensor hs = at::empty({NT + 1, B, H}, x.options());
  hs[0].copy_(h0);
  Tensor ys = at::empty({NT, B, H}, x.options());
  Tensor whh = w_hh.contiguous();
  Tensor wt = wt_hh_given.has_value() ? *wt_hh_given : whh.t().contiguous();
  auto len = lengths_of(lengths, B, NT);
  AT_DISPATCH_FLOATING_TYPES(x.scalar_type(), "elman_forward", [&] {
    switch (activation) {
      case TANH: elman_forward_loop<scalar_t, TANH>(pre, hs, ys, whh, wt, len); break;
      case SIGMOID: elman_forward_loop<scalar_t, SIGMOID>(pre, hs, ys, whh, wt, len); break;
      default: elman_forward_loop<scalar_t, RELU>(pre, hs, ys, whh, wt, len); break;
    }
  });
  return {ys, hs[NT].clone(), hs, xt};
}

template <typename T, int F>
void elman_backward_loop(Tensor& dp, Tensor& dh, const Tensor& gy, const Tensor& hs,
                         const Tensor& w_hh, const std::vector<int64_t>& len) {
  const int64_t NT = dp.size(0), B = dp.size(1), H = hs.size(2);
  T* dpp = dp.data_ptr<T>();
  T* dh_ = dh.data_ptr<T>();
  const T* gyp = gy.data_ptr<T>();
  const T* hp = hs.data_ptr<T>();
  Tensor wt;  // the transposed weight for the BLAS path, made on demand
  for (int64_t t = NT - 1; t >= 0; --t) {
    T* d = dpp + t * B * H;
    for (int64_t b = 0; b < B; ++b) {
      T* db = d + b * H;
      T* dhb = dh_ + b * H;
      const T* gyb = gyp + (t * B + b) * H;
      if (t < len[b]) {
        const T* hn = hp + ((t + 1) * B + b) * H;
#pragma GCC ivdep
        for (int64_t j = 0; j < H; ++j) {
          db[j] = (dhb[j] + gyb[j]) * dact<F>(hn[j]);
          dhb[j] = T(0);
        }
      } else {
        std::fill(db, db + H, T(0));
      }
    }
    mm_nn<T>(dh_, H, d, H, w_hh, wt, B, H, H, true);
  }
}

// Gradients: dx (B, T, I), dh0, dW_ih, dW_hh, db_ih, db_hh.
std::vector<Tensor> elman_backward(const Tensor& grad_ys, const Tensor& grad_h, const Tensor& xt,
                                   const Tensor& hs, const Tensor& w_ih, const Tensor& w_hh,
                                   bool has_bias, const OptTensor& lengths, int64_t activation) {
  const int64_t NT = hs.size(0) - 1, B = hs.size(1), H = hs.size(2);
  SerialScope serial(is_small(B, H, H) && is_small_sequence(NT * B, std::max(xt.size(2), H), H));
  Tensor gy = time_major(grad_ys);
  Tensor dh = grad_h.contiguous().clone();
  Tensor whh = w_hh.contiguous();
  Tensor dp = at::empty({NT, B, H}, hs.options());
  auto len = lengths_of(lengths, B, NT);
  AT_DISPATCH_FLOATING_TYPES(hs.scalar_type(), "elman_backward", [&] {
    switch (activation) {
      case TANH: elman_backward_loop<scalar_t, TANH>(dp, dh, gy, hs, whh, len); break;
      case SIGMOID: elman_backward_loop<scalar_t, SIGMOID>(dp, dh, gy, hs, whh, len); break;
      default: elman_backward_loop<scalar_t, RELU>(dp, dh, gy, hs, whh, len); break;
    }
  });
  Tensor dx = linear(dp.view({NT * B, H}), w_ih.t(), Tensor()).view({NT, B, -1}).transpose(0, 1);
  Tensor db = has_bias ? dp.view({NT * B, H}).sum(0) : Tensor();
  return {dx, dh, wgrad(dp, xt), wgrad(dp, hs.narrow(0, 0, NT)), db, has_bias ? db.clone() : db};
}

// --------------------------------------------------------------------------------------- Jordan

template <typename T, int F, int GA>
void jordan_forward_loop(Tensor& hid, Tensor& ss, Tensor& ys, const Tensor& w_yh,
                         const Tensor& wt_yh, const Tensor& w_hy, const Tensor& wt_hy,
                         const Tensor& b_hy, const std::vector<int64_t>& len) {
  const int64_t NT = hid.size(0), B = hid.size(1), H = hid.size(2), O = ss.size(2);
  Tensor ypre = at::empty({B, O}, hid.options());
  T* yq = ypre.data_ptr<T>();
  T* hp = hid.data_ptr<T>();
  T* sp = ss.data_ptr<T>();
  T* yp = ys.data_ptr<T>();
  const T* wyh = wt_yh.data_ptr<T>();
  const T* why = wt_hy.data_ptr<T>();
  const T* bo = b_hy.data_ptr<T>();
  for (int64_t t = 0; t < NT; ++t) {
    T* h = hp + t * B * H;
    const T* s = sp + t * B * O;
    mm_nt<T>(h, H, s, O, w_yh, wyh, H, B, O, H, true);
    for (int64_t b = 0; b < B; ++b) {
      T* hb = h + b * H;
      if (t < len[b]) {
        for (int64_t j = 0; j < H; ++j) hb[j] = act<F>(hb[j]);
      } else {
        std::fill(hb, hb + H, T(0));
      }
    }
    mm_nt<T>(yq, O, h, H, w_hy, why, O, B, H, O, false);
    T* sn = sp + (t + 1) * B * O;
    T* y = yp + t * B * O;
    for (int64_t b = 0; b < B; ++b) {
      if (t < len[b]) {
#pragma GCC ivdep
        for (int64_t j = 0; j < O; ++j) {
          const T v = act<GA>(yq[b * O + j] + bo[j]);
          sn[b * O + j] = v;
          y[b * O + j] = v;
        }
      } else {
        std::copy(s + b * O, s + (b + 1) * O, sn + b * O);
        std::fill(y + b * O, y + (b + 1) * O, T(0));
      }
    }
  }
}

template <int F, typename Fn>
void with_output_act(int64_t g, Fn&& fn) {
  switch (g) {
    case TANH: fn(std::integral_constant<int, TANH>()); break;
    case SIGMOID: fn(std::integral_constant<int, SIGMOID>()); break;
    case RELU: fn(std::integral_constant<int, RELU>()); break;
    default: fn(std::integral_constant<int, IDENTITY>()); break;
  }
}

template <typename Fn>
void with_acts(int64_t f, int64_t g, Fn&& fn) {
  auto inner = [&](auto fc) {
    with_output_act<0>(g, [&](auto gc) { fn(fc, gc); });
  };
  switch (f) {
    case TANH: inner(std::integral_constant<int, TANH>()); break;
    case SIGMOID: inner(std::integral_constant<int, SIGMOID>()); break;
    default: inner(std::integral_constant<int, RELU>()); break;
  }
}

// Returns ys (T, B, O), y_T and saved: ss (T+1, B, O) states, hid (T, B, H) hidden activations,
// x time-major.
std::vector<Tensor> jordan_forward(const Tensor& x, const Tensor& y0, const Tensor& w_ih,
                                   const Tensor& b_ih, const Tensor& w_yh, const Tensor& w_hy,
                                   const Tensor& b_hy, const OptTensor& lengths,
                                   int64_t activation, int64_t output_activation,
                                   const OptTensor& wt_yh_given, const OptTensor& wt_hy_given,
                                   const OptTensor& wt_ih_given) {
  const int64_t B = x.size(0), NT = x.size(1), O = y0.size(1);
  SerialScope serial(is_small(B, O, w_ih.size(0)) &&
                     is_small_sequence(NT * B, std::max(x.size(2), O), w_ih.size(0)));
  Tensor xt = time_major(x);
  Tensor hid = input_projection(xt, w_ih, b_ih, wt_ih_given);  // (T, B, H)
  Tensor ss = at::empty({NT + 1, B, O}, x.options());
  ss[0].copy_(y0);
  Tensor ys = at::empty({NT, B, O}, x.options());
  Tensor wyh = w_yh.contiguous(), why = w_hy.contiguous(), bhy = b_hy.contiguous();
  Tensor wt_yh = wt_yh_given.has_value() ? *wt_yh_given : wyh.t().contiguous();  // (O, H)
  Tensor wt_hy = wt_hy_given.has_value() ? *wt_hy_given : why.t().contiguous();  // (H, O)
  auto len = lengths_of(lengths, B, NT);
  AT_DISPATCH_FLOATING_TYPES(x.scalar_type(), "jordan_forward", [&] {
    with_acts(activation, output_activation, [&](auto fc, auto gc) {
      jordan_forward_loop<scalar_t, decltype(fc)::value, decltype(gc)::value>(
          hid, ss, ys, wyh, wt_yh, why, wt_hy, bhy, len);
    });
  });
  return {ys, ss[NT].clone(), ss, hid, xt};
}

template <typename T, int F, int GA>
void jordan_backward_loop(Tensor& dyp, Tensor& dhp, Tensor& dy, const Tensor& gy,
                          const Tensor& ss, const Tensor& hid, const Tensor& w_yh,
                          const Tensor& w_hy, const std::vector<int64_t>& len) {
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
    for (int64_t b = 0; b < B; ++b) {
      T* db = dyt + b * O;
      T* dyb = dy_ + b * O;
      const T* gyb = gyp + (t * B + b) * O;
      if (t < len[b]) {
        const T* sn = sp + ((t + 1) * B + b) * O;
#pragma GCC ivdep
        for (int64_t j = 0; j < O; ++j) {
          db[j] = (dyb[j] + gyb[j]) * dact<GA>(sn[j]);
          dyb[j] = T(0);
        }
      } else {
        std::fill(db, db + O, T(0));
      }
    }
    mm_nn<T>(dht, H, dyt, O, w_hy, wt_hy, B, O, H, false);  // d hidden = d y_pre @ W_hy
    const T* h = hp + t * B * H;
    for (int64_t i = 0; i < B * H; ++i) dht[i] *= dact<F>(h[i]);
    mm_nn<T>(dy_, O, dht, H, w_yh, wt_yh, B, H, O, true);
  }
}

// Gradients: dx (B, T, I), dy0, dW_ih, db_ih, dW_yh, dW_hy, db_hy.
std::vector<Tensor> jordan_backward(const Tensor& grad_ys, const Tensor& grad_y, const Tensor& xt,
                                    const Tensor& ss, const Tensor& hid, const Tensor& w_ih,
                                    const Tensor& w_yh, const Tensor& w_hy,
                                    const OptTensor& lengths, int64_t activation,
                                    int64_t output_activation) {
  const int64_t NT = hid.size(0), B = hid.size(1), H = hid.size(2), O = ss.size(2);
  SerialScope serial(is_small(B, O, H) && is_small_sequence(NT * B, std::max(xt.size(2), O), H));
  Tensor gy = time_major(grad_ys);
  Tensor dy = grad_y.contiguous().clone();
  Tensor wyh = w_yh.contiguous(), why = w_hy.contiguous();
  Tensor dyp = at::empty({NT, B, O}, hid.options());
  Tensor dhp = at::empty({NT, B, H}, hid.options());
  auto len = lengths_of(lengths, B, NT);
  AT_DISPATCH_FLOATING_TYPES(hid.scalar_type(), "jordan_backward", [&] {
    with_acts(activation, output_activation, [&](auto fc, auto gc) {
      jordan_backward_loop<scalar_t, decltype(fc)::value, decltype(gc)::value>(
          dyp, dhp, dy, gy, ss, hid, wyh, why, len);
    });
  });
  Tensor dx = linear(dhp.view({NT * B, H}), w_ih.t(), Tensor()).view({NT, B, -1}).transpose(0, 1);
  return {dx,
          dy,
          wgrad(dhp, xt),
          dhp.view({NT * B, H}).sum(0),
          wgrad(dhp, ss.narrow(0, 0, NT)),
          wgrad(dyp, hid),
          dyp.view({NT * B, O}).sum(0)};
}

// Both limits of the hand-written products (one thread, several threads), so that tests can
// force a path; a negative value restores the defaults.
void set_small_work(int64_t v) {
  g_small_work = v < 0 ? int64_t(1) << 22 : v;
  g_small_work_threaded = v < 0 ? int64_t(1) << 20 : v;
}
void set_serial_work(int64_t v) { g_serial_work = v; }
void set_lstm_team_work(int64_t v) { g_lstm_team_work = v < 0 ? int64_t(1) << 13 : v; }
int64_t get_lstm_team_work() { return g_lstm_team_work; }
void set_row_split_bytes(int64_t v) { g_row_split_bytes = v < 0 ? int64_t(1) << 20 : v; }
int64_t get_serial_work() { return g_serial_work; }
void set_onednn(bool on) { g_onednn = on; }
bool get_onednn() { return g_onednn; }
int64_t get_small_work() { return g_small_work; }

}  // namespace

PYBIND11_MODULE(TORCH_EXTENSION_NAME, m) {
  m.def("lstm_forward", &lstm_forward);
  m.def("set_row_split_bytes", &set_row_split_bytes);
  m.def("set_lstm_team_work", &set_lstm_team_work);
  m.def("get_lstm_team_work", &get_lstm_team_work);
  m.def("lstm_backward", &lstm_backward);
  m.def("lstm_step", &lstm_step);
  m.def("gru_forward", &gru_forward);
  m.def("gru_backward", &gru_backward);
  m.def("elman_forward", &elman_forward);
  m.def("elman_backward", &elman_backward);
  m.def("jordan_forward", &jordan_forward);
  m.def("jordan_backward", &jordan_backward);
  m.def("set_small_work", &set_small_work);
  m.def("get_small_work", &get_small_work);
  m.def("set_serial_work", &set_serial_work);
  m.def("get_serial_work", &get_serial_work);
  m.def("set_onednn", &set_onednn);
  m.def("get_onednn", &get_onednn);
}
