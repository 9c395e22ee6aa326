// The one N-API wrapper over any Vmm: `new Vmm(backend, config, onEvent)`.
#pragma once

#include <napi.h>

namespace vmm {

// Adds the Vmm class and `backends()` to the module's exports.
void initNapiVmm(Napi::Env env, Napi::Object exports);

}  // namespace vmm
