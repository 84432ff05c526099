// The LSTM: its fused sequence forward and backward, and its step kernel for streaming.
#include "kernels.h"
#include "profile.h"

#include "common.h"
#include "gemm.h"
#include "threads.h"

namespace rnnkit {

namespace {

// The LSTM time loop is one parallel region for the whole sequence. Each thread owns a share
// (see Share): a range of batch rows, or a range of blocks of hidden units (one SIMD vector, W
// units, each) with a barrier per step. The recurrent weights are packed once per call: forward
// (NB, H, 4, W), so that a block's four gates are adjacent for each k; backward
// (NG, 4H, kBwdBlocks * W), groups of kBwdBlocks blocks (4 with AVX-512, 2 with AVX2). Per
// tile of rows, the products of the share's blocks go to a scratch array and one pass applies
// the cell update. No BLAS call, allocation or fork/join happens inside the loop: with per-step
// BLAS calls the fixed costs (thread wake-up, weight reorder, an extra pass to add the product
// to the gate rows) kept the LSTM 1.2-1.8x behind oneDNN's fused LSTM at batch 32-64.

// Register tiles, chosen at compile time for the register file of the ISA. A tile of R rows x V
// vectors keeps R * V accumulators in registers across the reduction (twice that when the
// reduction is split into two interleaved sums: an FMA has 4 cycles of latency and 2 issue per
// cycle, so fewer than 8 independent sums leave the FMA units idle), plus the broadcasts and
// weight vectors of one k. A tile that does not fit spills to the stack in the innermost loop.
#if defined(__AVX512F__)  // 32 zmm registers
constexpr int kMaxRows = 6;    // forward: 6 rows x 4 gates = 24 accumulators
constexpr int kSplitRows = 2;  // forward tiles of 1-2 rows: 2 x 4-8 accumulators
constexpr int kBwdRows = 6;    // backward: 6 rows x 4 blocks = 24 accumulators + 4 weights
constexpr int kBwdBlocks = 4;
#elif defined(__AVX2__) && defined(__FMA__)  // 16 ymm registers
constexpr int kMaxRows = 3;    // 12 accumulators, weights as memory operands, 1-3 broadcasts
constexpr int kSplitRows = 1;  // 1 row: 2 x 4 accumulators
constexpr int kBwdRows = 6;    // 6 rows x 2 blocks = 12 accumulators + 2 weights + 1 broadcast
constexpr int kBwdBlocks = 2;
#else  // portable: a 32-byte vector is two of the 16 xmm registers
constexpr int kMaxRows = 1;
constexpr int kSplitRows = 0;
constexpr int kBwdRows = 2;
constexpr int kBwdBlocks = 2;
#endif

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
  constexpr bool kSplit = RB <= kSplitRows;
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
                   int64_t jb0, int64_t jb1, PhaseClock& clk) {
  constexpr int W = kVecBytes / sizeof(T);
  const int64_t B = s.B, H = s.H, G = 4 * H, U = (jb1 - jb0) * W;
  const int64_t j0 = jb0 * W, nv = std::min(H, jb1 * W) - j0;
  const T* h = s.hs + (t * B + b0) * H;
  for (int64_t jb = jb0; jb < jb1; ++jb)
    lstm_fwd_product<T, RB>(pk + jb * H * 4 * W, h, H, H, pre + (jb - jb0) * W, U);
  clk.lap(kStepProduct);
  auto live = [&](int64_t b) {
    const int64_t r = b - b0;
    const T* pr = pre + r * 4 * U;
    T* gb = s.gates + (t * B + b) * G + j0;
    const T* cb = s.cs + (t * B + b) * H + j0;
    T* hn = s.hs + ((t + 1) * B + b) * H + j0;
    T* cn = s.cs + ((t + 1) * B + b) * H + j0;
    T* tcn = s.tc + (t * B + b) * H + j0;
    T* y = s.ys + (t * B + b) * H + j0;
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
  };
  auto ended = [&](int64_t b) {  // keep the state, output and save zeros
    T* gb = s.gates + (t * B + b) * G + j0;
    for (int g = 0; g < 4; ++g) std::fill(gb + g * H, gb + g * H + nv, T(0));
    const T* hb = s.hs + (t * B + b) * H + j0;
    const T* cb = s.cs + (t * B + b) * H + j0;
    std::copy(hb, hb + nv, s.hs + ((t + 1) * B + b) * H + j0);
    std::copy(cb, cb + nv, s.cs + ((t + 1) * B + b) * H + j0);
    std::fill_n(s.tc + (t * B + b) * H + j0, nv, T(0));
    std::fill_n(s.ys + (t * B + b) * H + j0, nv, T(0));
  };
  for_rows(s.len, t, b0, b0 + RB, live, ended);
  clk.lap(kCellUpdate);
}

template <typename T, int RB, bool PEEP, int PHI>
void lstm_fwd_rows(const LSTMBuffers<T>& s, const T* pk, T* pre, int64_t t, int64_t b0,
                   int64_t rows, int64_t jb0, int64_t jb1, PhaseClock& clk) {
  if constexpr (RB > 0) {
    if (rows == RB) lstm_fwd_tile<T, RB, PEEP, PHI>(s, pk, pre, t, b0, jb0, jb1, clk);
    else lstm_fwd_rows<T, RB - 1, PEEP, PHI>(s, pk, pre, t, b0, rows, jb0, jb1, clk);
  }
}

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
    PhaseClock clk;
    for (int64_t t = 0; t < s.NT; ++t) {
      if (my.jb1 > my.jb0) {
        for_row_tiles(my.b0, my.b1, kMaxRows, [&](int64_t b0, int64_t rows) {
          lstm_fwd_rows<T, kMaxRows, PEEP, PHI>(s, pk, pre.p, t, b0, rows, my.jb0, my.jb1, clk);
        });
      }
      if (!my.by_rows) barrier.wait(id, nt);
      clk.lap(kBarrier);
    }
  }
}

}  // namespace

namespace {

void check_lstm(const Tensor& x, const Tensor& w_ih, const Tensor& w_hh, const OptTensor& b_ih,
                const OptTensor& b_hh, const OptTensor& w_ch) {
  const auto dt = x.scalar_type();
  const int64_t H = w_hh.size(-1);
  check(w_hh, "w_hh", dt, {4 * H, H});
  check(w_ih, "w_ih", dt, {4 * H, w_ih.size(-1)});
  TORCH_CHECK(b_ih.has_value() == b_hh.has_value(), "b_ih and b_hh must be given together");
  check(b_ih, "b_ih", dt, {4 * H});
  check(b_hh, "b_hh", dt, {4 * H});
  check(w_ch, "w_ch", dt, {3 * H});
}

}  // namespace

// Returns ys (B, T, H) in time order, h_T, c_T and the saved buffers (processing order):
// hs (T+1, B, H), cs (T+1, B, H), gate activations (T, B, 4H), phi(c) (T, B, H), x time-major.
std::vector<Tensor> lstm_forward(const Tensor& x, const Tensor& h0, const Tensor& c0,
                                 const Tensor& w_ih, const Tensor& w_hh, const OptTensor& b_ih,
                                 const OptTensor& b_hh, const OptTensor& w_ch,
                                 const OptTensor& lengths, bool reverse, bool identity_cell) {
  check_x(x, w_ih.size(-1));
  check_lstm(x, w_ih, w_hh, b_ih, b_hh, w_ch);
  const int64_t B = x.size(0), NT = x.size(1), H = w_hh.size(1);
  check(h0, "h0", x.scalar_type(), {B, H});
  check(c0, "c0", x.scalar_type(), {B, H});
  const bool small = B * H * 4 * H <= g_lstm_team_work;
  SerialScope serial(small && is_small_sequence(NT * B, std::max(x.size(2), H), 4 * H));
  Tensor bias;
  if (b_ih.has_value()) bias = *b_ih + *b_hh;
  PhaseClock clk;
  Prologue in = prologue(x, lengths, reverse, w_ih, bias);
  clk.lap(kSeqProducts);
  Tensor& gates = in.proj;  // (T, B, 4H): pre-activations in, activations out
  Tensor hs = state_buffer(h0, NT), cs = state_buffer(c0, NT);
  Tensor tc = at::empty({NT, B, H}, x.options());
  Tensor ys = at::empty({NT, B, H}, x.options());
  Tensor wch = w_ch.has_value() ? w_ch->contiguous() : Tensor();
  const bool peep = wch.defined();
  const int team = team_size(small);
  AT_DISPATCH_FLOATING_TYPES(x.scalar_type(), "lstm_forward", [&] {
    Tensor packed = pack_forward<scalar_t>(w_hh.contiguous(), H, team);
    clk.lap(kPack);
    LSTMBuffers<scalar_t> s{gates.data_ptr<scalar_t>(), hs.data_ptr<scalar_t>(),
                            cs.data_ptr<scalar_t>(),    tc.data_ptr<scalar_t>(),
                            ys.data_ptr<scalar_t>(),    peep ? wch.data_ptr<scalar_t>() : nullptr,
                            in.seq.len.data(),          NT,
                            B,                          H};
    with_lstm_variant(peep, identity_cell, [&](auto p, auto phi) {
      lstm_forward_loop<scalar_t, decltype(p)::value, decltype(phi)::value>(s, packed, team);
    });
    clk.skip();
  });
  Tensor out = batch_first(ys, in.seq);
  clk.lap(kOther);
  return {out, hs[NT].clone(), cs[NT].clone(), hs, cs, gates, tc, in.xt};
}

namespace {

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

// Step t's gate gradients for a running row b, units j0..j0+nv, from dh[b] (the gradient of
// h_{t+1}).
template <typename T, bool PEEP, int PHI>
inline void lstm_bwd_units(const LSTMGrads<T>& s, int64_t t, int64_t b, int64_t j0, int64_t nv) {
  const int64_t B = s.B, H = s.H, G = 4 * H;
  T* db = s.dg + (t * B + b) * G + j0;
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
  // A tile of at most 4 accumulators (few rows: batch 1-2, or the last blocks) sums even and
  // odd k separately, so that 8 FMA chains are in flight.
  constexpr bool kSplit = RB * NBK <= 4;
  V acc[RB][NBK], acc2[RB][NBK];
#pragma GCC unroll 8
  for (int r = 0; r < RB; ++r)
    for (int q = 0; q < NBK; ++q) acc[r][q] = acc2[r][q] = V{};
  const T* d = s.dg + (t * B + b0) * G;
  constexpr int64_t GW = kBwdBlocks * W;  // a group's row in the packed weights
  const T* p = pk + (jb0 / kBwdBlocks) * G * GW + (jb0 % kBwdBlocks) * W;
  int64_t k = 0;
  if constexpr (kSplit) {
    for (; k + 2 <= G; k += 2) {
#pragma GCC unroll 8
      for (int r = 0; r < RB; ++r) {
        const V x0 = splat<V>(d[r * G + k]), x1 = splat<V>(d[r * G + k + 1]);
        for (int q = 0; q < NBK; ++q) {
          acc[r][q] += x0 * *reinterpret_cast<const V*>(p + k * GW + q * W);
          acc2[r][q] += x1 * *reinterpret_cast<const V*>(p + (k + 1) * GW + q * W);
        }
      }
    }
  }
  for (; k < G; ++k) {
    V w[NBK];
#pragma GCC unroll 8
    for (int q = 0; q < NBK; ++q) w[q] = *reinterpret_cast<const V*>(p + k * GW + q * W);
#pragma GCC unroll 8
    for (int r = 0; r < RB; ++r) {
      const V x = splat<V>(d[r * G + k]);
      for (int q = 0; q < NBK; ++q) acc[r][q] += x * w[q];
    }
  }
  if constexpr (kSplit) {
    for (int r = 0; r < RB; ++r)
      for (int q = 0; q < NBK; ++q) acc[r][q] += acc2[r][q];
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
    PhaseClock clk;
    if (by_rows) {
      T* mine = partial.data() + id * nsum;
      if (s.dbias) g.dbias = mine;
      if (s.dpeep) g.dpeep = mine + (s.dbias ? 4 * s.H : 0);
    }
    const int64_t j0 = my.jb0 * W, nv = std::min(s.H, my.jb1 * W) - j0;
    // Step t's gate gradients of the share's units; an ended row's are zero (dh and dc pass
    // through).
    auto units = [&](int64_t t) {
      if (nv <= 0) return;
      for_rows(
          s.len, t, my.b0, my.b1, [&](int64_t b) { lstm_bwd_units<T, PEEP, PHI>(g, t, b, j0, nv); },
          [&](int64_t b) {
            T* db = s.dg + (t * s.B + b) * 4 * s.H + j0;
            for (int q = 0; q < 4; ++q) std::fill_n(db + q * s.H, nv, T(0));
          });
    };
    units(s.NT - 1);
    clk.lap(kCellUpdate);
    if (!by_rows) barrier.wait(id, nt);
    clk.lap(kBarrier);
    for (int64_t t = s.NT - 1; t >= 0; --t) {
      lstm_bwd_blocks<T, PEEP, PHI>(g, pk, t, my);
      clk.lap(kStepProduct);
      // Step t-1's gate gradients for the share's units, row by row (one pass over all of
      // them, for the same reason as in the forward loop).
      if (t > 0) units(t - 1);
      clk.lap(kCellUpdate);
      if (!by_rows) barrier.wait(id, nt);
      clk.lap(kBarrier);
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

}  // namespace

// Gradients: dx (B, T, I), dh0, dc0, dW_ih, dW_hh, db_ih, db_hh, dw_ch (undefined if absent).
std::vector<Tensor> lstm_backward(const Tensor& grad_ys, const Tensor& grad_h, const Tensor& grad_c,
                                  const Tensor& xt, const Tensor& hs, const Tensor& cs,
                                  const Tensor& gates, const Tensor& tc, const Tensor& w_ih,
                                  const Tensor& w_hh, bool has_bias, const OptTensor& w_ch,
                                  const OptTensor& lengths, bool reverse, bool identity_cell) {
  TORCH_CHECK(gates.dim() == 3 && hs.dim() == 3, "gates and hs must be the saved buffers");
  const int64_t NT = gates.size(0), B = gates.size(1), H = hs.size(2);
  const auto dt = gates.scalar_type();
  check(grad_ys, "grad_ys", dt, {B, NT, H});
  check(grad_h, "grad_h", dt, {B, H});
  check(grad_c, "grad_c", dt, {B, H});
  check(xt, "xt", dt, {NT, B, w_ih.size(-1)});
  check(hs, "hs", dt, {NT + 1, B, H});
  check(cs, "cs", dt, {NT + 1, B, H});
  check(gates, "gates", dt, {NT, B, 4 * H});
  check(tc, "tc", dt, {NT, B, H});
  check_lstm(xt, w_ih, w_hh, std::nullopt, std::nullopt, w_ch);
  const bool small = B * H * 4 * H <= g_lstm_team_work;
  SerialScope serial(small && is_small_sequence(NT * B, std::max(xt.size(2), H), 4 * H));
  PhaseClock clk;
  const Seq seq = seq_of(lengths, B, NT, reverse);
  Tensor gy = time_major(grad_ys, seq);
  Tensor dg = at::empty_like(gates);
  Tensor dh = grad_h.contiguous().clone();
  Tensor dc = grad_c.contiguous().clone();
  Tensor wch = w_ch.has_value() ? w_ch->contiguous() : Tensor();
  const bool peep = wch.defined();
  const int team = team_size(small);
  Tensor db = has_bias ? at::zeros({4 * H}, gates.options()) : Tensor();
  Tensor dwch = peep ? at::zeros({3 * H}, gates.options()) : Tensor();
  AT_DISPATCH_FLOATING_TYPES(dt, "lstm_backward", [&] {
    clk.lap(kOther);
    Tensor packed = pack_backward<scalar_t>(w_hh.contiguous(), H);
    clk.lap(kPack);
    LSTMGrads<scalar_t> s{dg.data_ptr<scalar_t>(),    dh.data_ptr<scalar_t>(),
                          dc.data_ptr<scalar_t>(),    gy.data_ptr<scalar_t>(),
                          gates.data_ptr<scalar_t>(), cs.data_ptr<scalar_t>(),
                          tc.data_ptr<scalar_t>(),    peep ? wch.data_ptr<scalar_t>() : nullptr,
                          has_bias ? db.data_ptr<scalar_t>() : nullptr,
                          peep ? dwch.data_ptr<scalar_t>() : nullptr,
                          seq.len.data(),             NT,
                          B,                          H};
    with_lstm_variant(peep, identity_cell, [&](auto p, auto phi) {
      lstm_backward_loop<scalar_t, decltype(p)::value, decltype(phi)::value>(s, packed, team);
    });
    clk.skip();
  });
  Tensor dx = input_grad(dg, w_ih, seq);
  auto [dw_ih, dw_hh] = wgrad2(dg, xt, hs.narrow(0, 0, NT));
  clk.lap(kSeqProducts);
  return {dx, dh, dc, dw_ih, dw_hh, db, has_bias ? db.clone() : db, dwch};
}

// x (B, I), h and c (B, H), wt_ih (I, 4H), wt_hh (H, 4H), bias = b_ih + b_hh (4H) or None.
std::vector<Tensor> lstm_step(const Tensor& x, const Tensor& h, const Tensor& c,
                              const Tensor& wt_ih, const Tensor& wt_hh, const OptTensor& bias,
                              const OptTensor& w_ch, bool identity_cell) {
  TORCH_CHECK(x.dim() == 2 && wt_hh.dim() == 2, "x must be (batch, features)");
  const int64_t B = x.size(0), I = x.size(1), H = wt_hh.size(0);
  const auto dt = x.scalar_type();
  check(x, "x", dt, {B, I});
  check(h, "h", dt, {B, H});
  check(c, "c", dt, {B, H});
  check(wt_ih, "wt_ih", dt, {I, 4 * H});
  check(wt_hh, "wt_hh", dt, {H, 4 * H});
  check(bias, "bias", dt, {4 * H});
  check(w_ch, "w_ch", dt, {3 * H});
  SerialScope serial(true);
  Tensor xc = x.contiguous(), hc = h.contiguous(), cc = c.contiguous();
  Tensor wi = wt_ih.contiguous(), wh = wt_hh.contiguous();
  Tensor hn = at::empty({B, H}, x.options()), cn = at::empty({B, H}, x.options());
  AT_DISPATCH_FLOATING_TYPES(dt, "lstm_step", [&] {
    const scalar_t* bp = bias.has_value() ? bias->data_ptr<scalar_t>() : nullptr;
    const scalar_t* pc = w_ch.has_value() ? w_ch->data_ptr<scalar_t>() : nullptr;
    with_lstm_variant(pc != nullptr, identity_cell, [&](auto peep, auto phi) {
      lstm_step_rows<scalar_t, decltype(peep)::value, decltype(phi)::value>(
          xc.data_ptr<scalar_t>(), hc.data_ptr<scalar_t>(), cc.data_ptr<scalar_t>(),
          wi.data_ptr<scalar_t>(), wh.data_ptr<scalar_t>(), bp, pc, hn.data_ptr<scalar_t>(),
          cn.data_ptr<scalar_t>(), B, I, H);
    });
  });
  return {hn, cn};
}

}  // namespace rnnkit
