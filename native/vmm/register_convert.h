// RegisterFile <-> the JS object of lib/vmm/registers.ts.
#pragma once

#include <napi.h>

#include "vmm/registers.h"

namespace vmm {

Napi::Object registersToJs(Napi::Env env, const RegisterFile& regs);
// Throws Napi::TypeError naming the first missing or mistyped field.
RegisterFile registersFromJs(const Napi::Object& object);

}  // namespace vmm
