#include "vmm/register_convert.h"

#include <cstring>
#include <string>

namespace vmm {

namespace {

const char* const kGprNames[kGprCount] = {"rax", "rbx", "rcx", "rdx", "rsi", "rdi", "rbp", "rsp",
                                          "r8",  "r9",  "r10", "r11", "r12", "r13", "r14", "r15"};
const char* const kSegNames[kSegCount] = {"es", "cs", "ss", "ds", "fs", "gs", "ldtr", "tr"};

// The 64-bit control and debug registers, by name, in RegisterFile.
struct Control {
  const char* name;
  uint64_t RegisterFile::*field;
};
const Control kControls[] = {
    {"rip", &RegisterFile::rip},
    {"rflags", &RegisterFile::rflags},
    {"cr0", &RegisterFile::cr0},
    {"cr2", &RegisterFile::cr2},
    {"cr3", &RegisterFile::cr3},
    {"cr4", &RegisterFile::cr4},
    {"cr8", &RegisterFile::cr8},
    {"efer", &RegisterFile::efer},
    {"kernelGsBase", &RegisterFile::kernel_gs_base},
    {"dr6", &RegisterFile::dr6},
    {"dr7", &RegisterFile::dr7},
};
const char* const kDrNames[4] = {"dr0", "dr1", "dr2", "dr3"};

Napi::BigInt big(Napi::Env env, uint64_t value) { return Napi::BigInt::New(env, value); }

Napi::Value field(const Napi::Object& object, const char* name) {
  Napi::Value value = object.Get(name);
  if (value.IsUndefined()) {
    throw Napi::TypeError::New(object.Env(), std::string("\"") + name + "\" is missing");
  }
  return value;
}

uint64_t getU64(const Napi::Object& object, const char* name) {
  Napi::Value value = field(object, name);
  if (value.IsBigInt()) {
    bool lossless = true;
    uint64_t out = value.As<Napi::BigInt>().Uint64Value(&lossless);
    if (!lossless) {
      throw Napi::TypeError::New(object.Env(),
                                 std::string("\"") + name + "\" does not fit in 64 bits");
    }
    return out;
  }
  if (value.IsNumber()) {
    double d = value.As<Napi::Number>().DoubleValue();
    if (d >= 0 && d <= 9007199254740991.0 && d == static_cast<double>(static_cast<uint64_t>(d))) {
      return static_cast<uint64_t>(d);
    }
  }
  throw Napi::TypeError::New(object.Env(),
                             std::string("\"") + name + "\" is not a non-negative integer");
}

uint32_t getU32(const Napi::Object& object, const char* name, uint32_t max) {
  uint64_t value = getU64(object, name);
  if (value > max) {
    throw Napi::TypeError::New(object.Env(), std::string("\"") + name + "\" is out of range");
  }
  return static_cast<uint32_t>(value);
}

Napi::Object objectField(const Napi::Object& object, const char* name) {
  Napi::Value value = field(object, name);
  if (!value.IsObject()) {
    throw Napi::TypeError::New(object.Env(), std::string("\"") + name + "\" is not an object");
  }
  return value.As<Napi::Object>();
}

void copyBytes(const Napi::Object& array_owner, const char* name, uint32_t index, uint8_t* out,
               size_t len) {
  Napi::Value value = objectField(array_owner, name).Get(index);
  if (!value.IsBuffer() || value.As<Napi::Buffer<uint8_t>>().Length() != len) {
    throw Napi::TypeError::New(array_owner.Env(), std::string("\"") + name + "[" +
                                                      std::to_string(index) + "]\" is not a " +
                                                      std::to_string(len) + "-byte Buffer");
  }
  std::memcpy(out, value.As<Napi::Buffer<uint8_t>>().Data(), len);
}

}  // namespace

Napi::Object registersToJs(Napi::Env env, const RegisterFile& regs) {
  Napi::Object out = Napi::Object::New(env);
  for (int i = 0; i < kGprCount; i++) out.Set(kGprNames[i], big(env, regs.gpr[i]));
  for (const Control& c : kControls) out.Set(c.name, big(env, regs.*c.field));
  for (int i = 0; i < 4; i++) out.Set(kDrNames[i], big(env, regs.dr[i]));
  for (int i = 0; i < kSegCount; i++) {
    Napi::Object seg = Napi::Object::New(env);
    seg.Set("selector", Napi::Number::New(env, regs.seg[i].selector));
    seg.Set("base", big(env, regs.seg[i].base));
    seg.Set("limit", Napi::Number::New(env, regs.seg[i].limit));
    seg.Set("access", Napi::Number::New(env, regs.seg[i].access));
    out.Set(kSegNames[i], seg);
  }
  for (auto [name, table] : {std::pair{"gdtr", &regs.gdtr}, std::pair{"idtr", &regs.idtr}}) {
    Napi::Object t = Napi::Object::New(env);
    t.Set("base", big(env, table->base));
    t.Set("limit", Napi::Number::New(env, table->limit));
    out.Set(name, t);
  }
  const FpuState& f = regs.fpu;
  Napi::Object fpu = Napi::Object::New(env);
  fpu.Set("fcw", Napi::Number::New(env, f.fcw));
  fpu.Set("fsw", Napi::Number::New(env, f.fsw));
  fpu.Set("ftw", Napi::Number::New(env, f.ftw));
  fpu.Set("fop", Napi::Number::New(env, f.fop));
  fpu.Set("fip", big(env, f.fip));
  fpu.Set("fcs", Napi::Number::New(env, f.fcs));
  fpu.Set("fdp", big(env, f.fdp));
  fpu.Set("fds", Napi::Number::New(env, f.fds));
  fpu.Set("mxcsr", Napi::Number::New(env, f.mxcsr));
  Napi::Array st = Napi::Array::New(env, 8);
  for (uint32_t i = 0; i < 8; i++) st.Set(i, Napi::Buffer<uint8_t>::Copy(env, f.st[i], 10));
  Napi::Array xmm = Napi::Array::New(env, 16);
  for (uint32_t i = 0; i < 16; i++) xmm.Set(i, Napi::Buffer<uint8_t>::Copy(env, f.xmm[i], 16));
  fpu.Set("st", st);
  fpu.Set("xmm", xmm);
  out.Set("fpu", fpu);
  return out;
}

RegisterFile registersFromJs(const Napi::Object& object) {
  RegisterFile regs;
  for (int i = 0; i < kGprCount; i++) regs.gpr[i] = getU64(object, kGprNames[i]);
  for (const Control& c : kControls) regs.*c.field = getU64(object, c.name);
  for (int i = 0; i < 4; i++) regs.dr[i] = getU64(object, kDrNames[i]);
  for (int i = 0; i < kSegCount; i++) {
    Napi::Object seg = objectField(object, kSegNames[i]);
    regs.seg[i].selector = static_cast<uint16_t>(getU32(seg, "selector", 0xffff));
    regs.seg[i].base = getU64(seg, "base");
    regs.seg[i].limit = getU32(seg, "limit", 0xffffffffu);
    regs.seg[i].access = getU32(seg, "access", 0x1ffffu);
  }
  for (auto [name, table] : {std::pair{"gdtr", &regs.gdtr}, std::pair{"idtr", &regs.idtr}}) {
    Napi::Object t = objectField(object, name);
    table->base = getU64(t, "base");
    table->limit = getU32(t, "limit", 0xffff);
  }
  Napi::Object fpu = objectField(object, "fpu");
  FpuState& f = regs.fpu;
  f.fcw = static_cast<uint16_t>(getU32(fpu, "fcw", 0xffff));
  f.fsw = static_cast<uint16_t>(getU32(fpu, "fsw", 0xffff));
  f.ftw = static_cast<uint16_t>(getU32(fpu, "ftw", 0xffff));
  f.fop = static_cast<uint16_t>(getU32(fpu, "fop", 0x7ff));
  f.fip = getU64(fpu, "fip");
  f.fcs = static_cast<uint16_t>(getU32(fpu, "fcs", 0xffff));
  f.fdp = getU64(fpu, "fdp");
  f.fds = static_cast<uint16_t>(getU32(fpu, "fds", 0xffff));
  f.mxcsr = getU32(fpu, "mxcsr", 0xffffffffu);
  for (uint32_t i = 0; i < 8; i++) copyBytes(fpu, "st", i, f.st[i], 10);
  for (uint32_t i = 0; i < 16; i++) copyBytes(fpu, "xmm", i, f.xmm[i], 16);
  return regs;
}

}  // namespace vmm
