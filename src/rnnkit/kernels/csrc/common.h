// What every kernel shares: the activation codes (the one definition; bindings.cpp exports them
// to Python), the activations and their derivatives, the SIMD vector types, the lengths and the
// time order of a sequence (forward, or each sequence reversed within its length), the
// per-row live/ended skeleton, and the input checks of the entry points.
//
// Tensors inside the kernels are time-major (T, B, F), contiguous, in processing order: step t of
// row b reads and writes row b of slab t. Lengths follow torch's packed sequences: a sequence that
// has ended keeps its state, outputs zero and passes gradients of its state straight through; its
// gate gradients are zero. Activation buffers of ended rows hold zeros, never garbage, because
// the weight-gradient products multiply them by those zero gradients.
#pragma once

#include <ATen/ATen.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <new>
#include <optional>
#include <string>
#include <utility>
#include <vector>

namespace rnnkit {

using at::Tensor;
using OptTensor = std::optional<Tensor>;

// The activation codes of the kernels' template parameters and of the Python side.
enum Act : int { IDENTITY = 0, TANH = 1, SIGMOID = 2, RELU = 3 };
inline const std::vector<std::pair<std::string, int>>& activation_codes() {
  static const std::vector<std::pair<std::string, int>> codes = {
      {"identity", IDENTITY}, {"tanh", TANH}, {"sigmoid", SIGMOID}, {"relu", RELU}};
  return codes;
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

// ReLU written so that NaN passes through like torch.relu: "x < 0" is false for NaN (while a
// max(x, 0) or "x > 0 ? x : 0" turns NaN into 0).
template <int A, typename T>
RNNKIT_INLINE T act(T x) {
  if constexpr (A == TANH) return tanh_(x);
  else if constexpr (A == SIGMOID) return sigmoid_(x);
  else if constexpr (A == RELU) return x < T(0) ? T(0) : x;
  else return x;
}

// Derivative of the activation, from its output y = act(x). ReLU's gate is torch's
// threshold_backward: zero where y <= 0, so a NaN output passes its gradient like torch's.
template <int A, typename T>
RNNKIT_INLINE T dact(T y) {
  if constexpr (A == TANH) return T(1) - y * y;
  else if constexpr (A == SIGMOID) return y * (T(1) - y);
  else if constexpr (A == RELU) return y <= T(0) ? T(0) : T(1);
  else return T(1);
}

// The gradient of the activation's input from g, the gradient of its output y: g * act'(y), and
// for ReLU a selection like torch's threshold_backward (a product would turn an Inf or NaN
// gradient of a cut unit into NaN, where torch gives 0).
template <int A, typename T>
RNNKIT_INLINE T backprop(T g, T y) {
  if constexpr (A == RELU) return y <= T(0) ? T(0) : g;
  else return g * dact<A>(y);
}

// Calls fn(std::integral_constant<int, code>) for an activation code, so that every loop is
// specialised for its activation at compile time.
template <typename Fn>
void with_act(int64_t code, Fn&& fn) {
  switch (code) {
    case TANH: fn(std::integral_constant<int, TANH>()); break;
    case SIGMOID: fn(std::integral_constant<int, SIGMOID>()); break;
    case RELU: fn(std::integral_constant<int, RELU>()); break;
    default: fn(std::integral_constant<int, IDENTITY>()); break;
  }
}

// The SIMD vector of the ISA the extension is compiled for (GCC vector extensions: the same
// source compiles to zmm, ymm or the portable fallback's 32-byte pairs of xmm).
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

inline Tensor opt_or_undefined(const OptTensor& t) { return t.has_value() ? *t : Tensor(); }

// ------------------------------------------------------------------------- sequences and order
//
// The lengths of a batch and the order its steps run in. A reversed layer runs each sequence
// from its last real step back to its first (torch's packed-sequence semantics): processing
// step t of row b is time t' = len[b] - 1 - t while t < len[b], and the padding stays in place
// (t' = t). The map is its own inverse. It is applied once on the way in (the time-major copy
// of x and of the output gradients, which is made anyway) and once on the way out (outputs and
// dx), so the time loops never know about it.
struct Seq {
  std::vector<int64_t> len;
  int64_t NT, B;
  bool reverse;
  int64_t time_of(int64_t t, int64_t b) const {
    return reverse && t < len[b] ? len[b] - 1 - t : t;
  }
};

inline Seq seq_of(const OptTensor& lengths, int64_t B, int64_t NT, bool reverse) {
  Seq s{std::vector<int64_t>(B, NT), NT, B, reverse};
  if (lengths.has_value() && lengths->defined()) {
    TORCH_CHECK(lengths->dim() == 1 && lengths->size(0) == B, "lengths must be (", B,
                ",), got ", lengths->sizes());
    Tensor l = lengths->to(at::kLong).contiguous();
    const int64_t* p = l.data_ptr<int64_t>();
    for (int64_t b = 0; b < B; ++b) {
      TORCH_CHECK(p[b] >= 0 && p[b] <= NT, "lengths must lie in [0, ", NT, "], got ", p[b]);
      s.len[b] = p[b];
    }
  }
  return s;
}

// x (B, T, F) batch-first -> (T, B, F) contiguous, in processing order.
inline Tensor time_major(const Tensor& x, const Seq& s) {
  if (!s.reverse) return x.transpose(0, 1).contiguous();
  Tensor out = at::empty({s.NT, s.B, x.size(2)}, x.options());
  Tensor src = x.contiguous();
  const int64_t F = x.size(2), esize = x.element_size();
  const char* in = static_cast<const char*>(src.data_ptr());
  char* o = static_cast<char*>(out.data_ptr());
  for (int64_t t = 0; t < s.NT; ++t)
    for (int64_t b = 0; b < s.B; ++b)
      std::memcpy(o + (t * s.B + b) * F * esize, in + (b * s.NT + s.time_of(t, b)) * F * esize,
                  F * esize);
  return out;
}

// ys (T, B, F) in processing order -> (B, T, F) in time order: a transposed view when forward,
// one copy when reversed.
inline Tensor batch_first(const Tensor& ys, const Seq& s) {
  if (!s.reverse) return ys.transpose(0, 1);
  const int64_t F = ys.size(2), esize = ys.element_size();
  Tensor out = at::empty({s.B, s.NT, F}, ys.options());
  Tensor src = ys.contiguous();
  const char* in = static_cast<const char*>(src.data_ptr());
  char* o = static_cast<char*>(out.data_ptr());
  for (int64_t t = 0; t < s.NT; ++t)
    for (int64_t b = 0; b < s.B; ++b)
      std::memcpy(o + (b * s.NT + s.time_of(t, b)) * F * esize, in + (t * s.B + b) * F * esize,
                  F * esize);
  return out;
}

// The per-row skeleton of every elementwise pass: live(b) for the rows still running at step t,
// ended(b) for the others.
template <typename Live, typename Ended>
RNNKIT_INLINE void for_rows(const int64_t* len, int64_t t, int64_t b0, int64_t b1, Live&& live,
                            Ended&& ended) {
  for (int64_t b = b0; b < b1; ++b) {
    if (t < len[b]) live(b);
    else ended(b);
  }
}

// ------------------------------------------------------------------------------- input checks

inline void check_float(const Tensor& t, const char* name, at::ScalarType dtype) {
  TORCH_CHECK(t.defined(), name, " must be given");
  TORCH_CHECK(t.device().is_cpu(), name, " must be a CPU tensor, got ", t.device());
  TORCH_CHECK(t.scalar_type() == dtype, name, " must be ", dtype, " like x, got ",
              t.scalar_type());
}

// t is a defined CPU tensor of x's dtype with exactly these sizes.
inline void check(const Tensor& t, const char* name, at::ScalarType dtype,
                  std::initializer_list<int64_t> sizes) {
  check_float(t, name, dtype);
  TORCH_CHECK(t.sizes().equals(sizes), name, " must have shape ", at::IntArrayRef(sizes),
              ", got ", t.sizes());
}

inline void check(const OptTensor& t, const char* name, at::ScalarType dtype,
                  std::initializer_list<int64_t> sizes) {
  if (t.has_value() && t->defined()) check(*t, name, dtype, sizes);
}

inline void check_x(const Tensor& x, int64_t input_size) {
  TORCH_CHECK(x.dim() == 3, "x must be (batch, time, features), got ", x.sizes());
  TORCH_CHECK(x.scalar_type() == at::kFloat || x.scalar_type() == at::kDouble,
              "x must be float32 or float64, got ", x.scalar_type());
  check(x, "x", x.scalar_type(), {x.size(0), x.size(1), input_size});
}

}  // namespace rnnkit
