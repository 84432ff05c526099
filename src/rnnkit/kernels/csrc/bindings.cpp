// The Python module: the kernels' entry points, the activation codes (defined once, in
// common.h) and the switches that let tests force every path (thresholds, oneDNN).
#include <torch/extension.h>

#include "common.h"
#include "gemm.h"
#include "kernels.h"
#include "profile.h"
#include "threads.h"

namespace {

using namespace rnnkit;

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

// The phase counters (profile.h): switch them on (and zero them), or read them in seconds.
void set_profile(bool on) {
  g_profile = on;
  for (auto& p : g_phase_ns) p.store(0);
}
pybind11::dict get_profile() {
  pybind11::dict out;
  for (int p = 0; p < kPhases; ++p) out[kPhaseNames[p]] = g_phase_ns[p].load() * 1e-9;
  return out;
}

// The ISA the extension was compiled for, as the kernels see it.
const char* isa() {
#if defined(__AVX512F__)
  return "avx512";
#elif defined(__AVX2__) && defined(__FMA__)
  return "avx2";
#else
  return "generic";
#endif
}

}  // namespace

PYBIND11_MODULE(TORCH_EXTENSION_NAME, m) {
  pybind11::dict codes;
  for (const auto& [name, code] : activation_codes()) codes[pybind11::str(name)] = code;
  m.attr("ACTIVATION_CODES") = codes;
  m.attr("ISA") = isa();
  m.def("lstm_forward", &lstm_forward);
  m.def("lstm_backward", &lstm_backward);
  m.def("lstm_step", &lstm_step);
  m.def("gru_forward", &gru_forward);
  m.def("gru_backward", &gru_backward);
  m.def("gru_step", &gru_step);
  m.def("elman_forward", &elman_forward);
  m.def("elman_backward", &elman_backward);
  m.def("elman_step", &elman_step);
  m.def("jordan_forward", &jordan_forward);
  m.def("jordan_backward", &jordan_backward);
  m.def("jordan_step", &jordan_step);
  m.def("set_row_split_bytes", &set_row_split_bytes);
  m.def("set_lstm_team_work", &set_lstm_team_work);
  m.def("get_lstm_team_work", &get_lstm_team_work);
  m.def("set_small_work", &set_small_work);
  m.def("get_small_work", &get_small_work);
  m.def("set_serial_work", &set_serial_work);
  m.def("get_serial_work", &get_serial_work);
  m.def("set_onednn", &set_onednn);
  m.def("set_profile", &set_profile);
  m.def("get_profile", &get_profile);
  m.def("get_onednn", &get_onednn);
}
