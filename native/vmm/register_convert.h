// RegisterFile <-> the JS object of lib/vmm/registers.ts.
#pragma once

#include <napi.h>

#include "vmm/registers.h"

namespace vmm {

Napi::Object registersToJs(Napi::Env env, const RegisterFile& regs);

// The register file as one little-endian buffer of kRegisterBufferBytes, in
// the layout lib/vmm/native_vmm.ts decodes (REGISTER_LAYOUT there): one
// allocation instead of an object graph of BigInts and Buffers.
constexpr size_t kRegisterBufferBytes = 848;
Napi::Buffer<uint8_t> registersToBuffer(Napi::Env env, const RegisterFile& regs);
// Throws Napi::TypeError naming the first missing or mistyped field.
RegisterFile registersFromJs(const Napi::Object& object);

}  // namespace vmm
