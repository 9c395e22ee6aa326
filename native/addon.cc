// Module init: registers each backend compiled into this addon, then the one
// N-API wrapper that serves them all.
#include <napi.h>

#include "vmm/napi_vmm.h"
#include "vmm/vmm.h"

#if defined(VMM_HAVE_BHYVE)
#include "bhyve/bhyve_vmm.h"
#endif
#if defined(VMM_HAVE_KVM)
#include "kvm/kvm_vmm.h"
#endif

namespace {

Napi::Object init(Napi::Env env, Napi::Object exports) {
  [[maybe_unused]] auto& registry = vmm::backendRegistry();
#if defined(VMM_HAVE_BHYVE)
  // Over the fake vmm the bhyve code path is the emu backend.
#if defined(VMM_FAKE_VMM)
  registry["emu"] = vmm::createBhyveVmm;
#else
  registry["bhyve"] = vmm::createBhyveVmm;
#endif
#endif
#if defined(VMM_HAVE_KVM)
  registry["kvm"] = vmm::createKvmVmm;
#endif
  vmm::initNapiVmm(env, exports);
  return exports;
}

}  // namespace

NODE_API_MODULE(vmm_gdbstub, init)
