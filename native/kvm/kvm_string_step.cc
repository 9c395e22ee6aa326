// Decoding just enough of an instruction to single-step one iteration of a
// REP string instruction on PVM, whose emulator runs every iteration in one
// step (see docs/kvm.md and KvmVmm::run).
#include "kvm/kvm_internal.h"

namespace vmm {
namespace kvm {

RepString decodeRepString(const uint8_t* bytes, size_t len, bool code64, bool default32) {
  RepString out;
  bool rep = false, address_size = false;
  size_t i = 0;
  for (; i < len && i < 15; i++) {
    const uint8_t b = bytes[i];
    if (b == 0xf3 || b == 0xf2) {
      rep = true;
      out.repne = b == 0xf2;
    } else if (b == 0x67) {
      address_size = true;
    } else if (b == 0x66 || b == 0x2e || b == 0x36 || b == 0x3e || b == 0x26 || b == 0x64 ||
               b == 0x65) {
      // operand size and segment overrides change nothing here
    } else if (code64 && (b & 0xf0) == 0x40) {
      // REX: must come last; the opcode follows
      if (i + 1 < len) {
        i++;
      }
      break;
    } else {
      break;
    }
  }
  if (!rep || i >= len) return out;
  const uint8_t opcode = bytes[i];
  switch (opcode) {
    case 0xa6:
    case 0xa7:
    case 0xae:
    case 0xaf:
      out.stops_on_zf = true;
      break;
    case 0xa4:
    case 0xa5:
    case 0xaa:
    case 0xab:
    case 0xac:
    case 0xad:
      break;
    default:
      return out;
  }
  out.found = true;
  out.length = i + 1;
  if (code64) {
    out.counter_bits = address_size ? 32 : 64;
  } else {
    out.counter_bits = (default32 != address_size) ? 32 : 16;
  }
  return out;
}

}  // namespace kvm
}  // namespace vmm
