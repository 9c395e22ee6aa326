// The KVM backend: a Vmm over the /dev/kvm ioctls, on hardware KVM (VMX or
// SVM) and on PVM (kvm_pvm, a software hypervisor behind the same API). See
// docs/kvm.md.
#pragma once

#include <memory>

#include "vmm/vmm.h"

namespace vmm {

std::unique_ptr<Vmm> createKvmVmm(const VmConfig& config);

}  // namespace vmm
