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

// Little-endian stores at a byte offset, whatever the host's byte order.
class LeWriter {
 public:
  explicit LeWriter(uint8_t* out) : out_(out) {}
  void put(size_t offset, uint64_t value, int bytes) {
    for (int i = 0; i < bytes; i++) out_[offset + i] = static_cast<uint8_t>(value >> (8 * i));
  }
  void copy(size_t offset, const uint8_t* data, size_t len) {
    std::memcpy(out_ + offset, data, len);
  }

 private:
  uint8_t* out_;
};

}  // namespace

Napi::Buffer<uint8_t> registersToBuffer(Napi::Env env, const RegisterFile& regs) {
  Napi::Buffer<uint8_t> buffer = Napi::Buffer<uint8_t>::New(env, kRegisterBufferBytes);
  std::memset(buffer.Data(), 0, kRegisterBufferBytes);
  LeWriter w(buffer.Data());
  // 0: sixteen GPRs; 128: the control and debug registers in the order of
  // lib/vmm/registers.ts CONTROL_NAMES.
  for (int i = 0; i < kGprCount; i++) w.put(8 * i, regs.gpr[i], 8);
  const uint64_t controls[] = {
      regs.rip,  regs.rflags,         regs.cr0,   regs.cr2,   regs.cr3,   regs.cr4,   regs.cr8,
      regs.efer, regs.kernel_gs_base, regs.dr[0], regs.dr[1], regs.dr[2], regs.dr[3], regs.dr6,
      regs.dr7};
  for (size_t i = 0; i < 15; i++) w.put(128 + 8 * i, controls[i], 8);
  // 248: eight segments of 24 bytes: base, limit, access, selector, padding.
  for (int i = 0; i < kSegCount; i++) {
    size_t at = 248 + 24 * static_cast<size_t>(i);
    w.put(at, regs.seg[i].base, 8);
    w.put(at + 8, regs.seg[i].limit, 4);
    w.put(at + 12, regs.seg[i].access, 4);
    w.put(at + 16, regs.seg[i].selector, 4);
  }
  // 440: gdtr, idtr: base, limit, padding.
  w.put(440, regs.gdtr.base, 8);
  w.put(448, regs.gdtr.limit, 4);
  w.put(456, regs.idtr.base, 8);
  w.put(464, regs.idtr.limit, 4);
  // 472: x87/SSE.
  const FpuState& f = regs.fpu;
  w.put(472, f.fcw, 2);
  w.put(474, f.fsw, 2);
  w.put(476, f.ftw, 2);
  w.put(478, f.fop, 2);
  w.put(480, f.fcs, 2);
  w.put(482, f.fds, 2);
  w.put(488, f.fip, 8);
  w.put(496, f.fdp, 8);
  w.put(504, f.mxcsr, 4);
  for (int i = 0; i < 8; i++) w.copy(512 + 10 * static_cast<size_t>(i), f.st[i], 10);
  for (int i = 0; i < 16; i++) w.copy(592 + 16 * static_cast<size_t>(i), f.xmm[i], 16);
  return buffer;
}

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
