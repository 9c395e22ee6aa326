// The bhyve backend: a Vmm over libvmmapi calls only. On FreeBSD it links the
// real -lvmmapi; elsewhere it compiles against the fake vmm (native/fakevmm)
// and is the emu backend.
#pragma once

#include <memory>

#include "vmm/vmm.h"

namespace vmm {

std::unique_ptr<Vmm> createBhyveVmm(const VmConfig& config);

}  // namespace vmm
