// Fake vmm: the guest's TSC frequency, told through CPUID leaf 0x15.
//
// The guest's TSC is the host's (Unicorn's RDTSC reads it, with no offset),
// and Linux cannot measure it here: its PIT calibration needs a thousand
// port reads in 10 ms with even timing, and each IN leaves the emulator; it
// has no HPET or ACPI timer to fall back on. It then marks the TSC
// unstable, times itself with jiffies, and calibrates its delay loop and
// its local APIC timer on every CPU, which took about 0.6 s of a 2-vCPU
// boot. CPUID 0x15 (TSC/crystal ratio and crystal frequency) is what Intel
// CPUs give for that: Linux reads the TSC's frequency from it, skips the
// calibrations, and takes the crystal as its local APIC timer's input,
// which here is FAKEVMM_LAPIC_BUS_HZ.
#include <time.h>
#include <x86intrin.h>

#include <cmath>
#include <fstream>
#include <mutex>
#include <string>
#include <thread>

#include "fakevmm_impl.h"
#include "uc_internal.h"

namespace fakevmm {
namespace {

constexpr uint32_t kTscLeaf = 0x15;

uint64_t monotonic_ns() {
  timespec ts;
  clock_gettime(CLOCK_MONOTONIC_RAW, &ts);
  return static_cast<uint64_t>(ts.tv_sec) * 1000000000ull + static_cast<uint64_t>(ts.tv_nsec);
}

// Whether the host's TSC ticks at one rate whatever the CPU's power state
// (Linux's constant_tsc and nonstop_tsc); otherwise no rate is right.
bool host_tsc_invariant() {
  std::ifstream cpuinfo("/proc/cpuinfo");
  std::string line;
  while (std::getline(cpuinfo, line)) {
    if (line.rfind("flags", 0) == 0) {
      return line.find(" constant_tsc") != std::string::npos &&
             line.find(" nonstop_tsc") != std::string::npos;
    }
  }
  return false;
}

// The host TSC's rate in Hz against CLOCK_MONOTONIC_RAW over 20 ms (a few
// parts per million), once per process; 0 where it is not invariant.
uint64_t measure_host_tsc_hz() {
  if (!host_tsc_invariant()) {
    return 0;
  }
  uint64_t t0 = monotonic_ns(), c0 = __rdtsc();
  std::this_thread::sleep_for(std::chrono::milliseconds(20));
  uint64_t t1 = monotonic_ns(), c1 = __rdtsc();
  if (t1 <= t0 || c1 <= c0) {
    return 0;
  }
  return static_cast<uint64_t>(static_cast<double>(c1 - c0) * 1e9 / static_cast<double>(t1 - t0));
}

uint64_t host_tsc_hz() {
  static std::once_flag once;
  static uint64_t hz = 0;
  std::call_once(once, [] { hz = measure_host_tsc_hz(); });
  return hz;
}

struct TscRatio {
  uint32_t denominator = 1, numerator = 0;
};

// TSC = crystal * EBX / EAX. Linux computes crystal_khz * EBX in 32 bits,
// so EBX stays below 2^32 / crystal_khz (42949 for 100 MHz): the fraction
// nearest the TSC/crystal ratio with such a numerator (within a part in a
// million here, finer than the kHz Linux keeps).
TscRatio tsc_ratio(uint64_t tsc_hz, uint64_t crystal_hz) {
  const double ratio = static_cast<double>(tsc_hz) / static_cast<double>(crystal_hz);
  const uint64_t max_numerator = 0xffffffffull / (crystal_hz / 1000);
  TscRatio best;
  double best_error = HUGE_VAL;
  for (uint64_t den = 1; static_cast<double>(den) * ratio <= static_cast<double>(max_numerator);
       den++) {
    uint64_t num = static_cast<uint64_t>(std::llround(static_cast<double>(den) * ratio));
    double error = std::fabs(static_cast<double>(num) / static_cast<double>(den) - ratio);
    if (num > 0 && num <= max_numerator && error < best_error) {
      best = TscRatio{static_cast<uint32_t>(den), static_cast<uint32_t>(num)};
      best_error = error;
    }
  }
  return best;
}

// CPUID 0x15: EAX/EBX the TSC/crystal ratio, ECX the crystal in Hz.
int on_cpuid(uc_engine* uc, void*) {
  uint64_t leaf = 0;
  uc_reg_read(uc, UC_X86_REG_RAX, &leaf);
  if (static_cast<uint32_t>(leaf) != kTscLeaf) {
    return 0;  // Unicorn's own answer
  }
  static const TscRatio ratio = tsc_ratio(host_tsc_hz(), FAKEVMM_LAPIC_BUS_HZ);
  uint64_t eax = ratio.denominator, ebx = ratio.numerator, ecx = FAKEVMM_LAPIC_BUS_HZ, edx = 0;
  uc_reg_write(uc, UC_X86_REG_RAX, &eax);
  uc_reg_write(uc, UC_X86_REG_RBX, &ebx);
  uc_reg_write(uc, UC_X86_REG_RCX, &ecx);
  uc_reg_write(uc, UC_X86_REG_RDX, &edx);
  return 1;
}

}  // namespace

bool offer_tsc_frequency(vcpu* v) {
  if (host_tsc_hz() == 0) {
    return true;  // nothing to offer: the guest calibrates as before
  }
  uc_hook h;
  if (uc_hook_add(v->uc, &h, UC_HOOK_INSN, reinterpret_cast<void*>(on_cpuid), v, 1, 0,
                  UC_X86_INS_CPUID) != UC_ERR_OK) {
    return false;
  }
  fvi_raise_cpuid_level(v->uc, kTscLeaf);
  return true;
}

}  // namespace fakevmm
