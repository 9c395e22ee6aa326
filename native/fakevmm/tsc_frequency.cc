// Fake vmm: the guest's TSC frequency, told through CPUID leaf 0x15.
//
// The guest's TSC counts nanoseconds of the host's CLOCK_MONOTONIC_RAW
// (third_party/unicorn-2.1.4-monotonic-tsc.patch): 1 GHz, the same on every
// host CPU. Linux cannot measure it here: its PIT calibration needs a
// thousand port reads in 10 ms with even timing, and each IN leaves the
// emulator; it has no HPET or ACPI timer to fall back on. It then marked
// the TSC unstable, kept time with jiffies, and calibrated its delay loop
// and its local APIC timer on every CPU. CPUID 0x15 (TSC/crystal ratio and
// crystal frequency) is what Intel CPUs give for that: Linux reads the TSC's
// rate from it, skips the calibrations, and takes the crystal as its local
// APIC timer's input, which here is FAKEVMM_LAPIC_BUS_HZ.
#include "fakevmm_impl.h"
#include "uc_internal.h"

namespace fakevmm {
namespace {

constexpr uint32_t kTscLeaf = 0x15;
constexpr uint64_t kTscHz = 1000000000;

// TSC = crystal * EBX / EAX, the crystal ECX Hz: 100 MHz * 10 / 1. (Linux
// multiplies the crystal's kHz by EBX in 32 bits: EBX must stay small.)
static_assert(kTscHz % FAKEVMM_LAPIC_BUS_HZ == 0, "the TSC is a whole multiple of the crystal");
constexpr uint64_t kTscPerCrystal = kTscHz / FAKEVMM_LAPIC_BUS_HZ;

int on_cpuid(uc_engine* uc, void*) {
  uint64_t leaf = 0;
  uc_reg_read(uc, UC_X86_REG_RAX, &leaf);
  if (static_cast<uint32_t>(leaf) != kTscLeaf) {
    return 0;  // Unicorn's own answer
  }
  uint64_t eax = 1, ebx = kTscPerCrystal, ecx = FAKEVMM_LAPIC_BUS_HZ, edx = 0;
  uc_reg_write(uc, UC_X86_REG_RAX, &eax);
  uc_reg_write(uc, UC_X86_REG_RBX, &ebx);
  uc_reg_write(uc, UC_X86_REG_RCX, &ecx);
  uc_reg_write(uc, UC_X86_REG_RDX, &edx);
  return 1;
}

}  // namespace

bool offer_tsc_frequency(vcpu* v) {
  uc_hook h;
  if (uc_hook_add(v->uc, &h, UC_HOOK_INSN, reinterpret_cast<void*>(on_cpuid), v, 1, 0,
                  UC_X86_INS_CPUID) != UC_ERR_OK) {
    return false;
  }
  fvi_raise_cpuid_level(v->uc, kTscLeaf);
  return true;
}

}  // namespace fakevmm
