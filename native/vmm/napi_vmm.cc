#include "vmm/napi_vmm.h"

#include <algorithm>
#include <cstring>
#include <memory>
#include <mutex>
#include <string>

#include "vmm/event_queue.h"
#include "vmm/hand_off_spin.h"
#include "vmm/register_convert.h"
#include "vmm/socket_now.h"
#include "vmm/vcpu_runner.h"
#include "vmm/vmm.h"

namespace vmm {

std::map<std::string, VmmFactory>& backendRegistry() {
  static std::map<std::string, VmmFactory> registry;
  return registry;
}

namespace {

const char* exitKindName(ExitKind kind) {
  switch (kind) {
    case ExitKind::kPaused:
      return "paused";
    case ExitKind::kBreakpoint:
      return "breakpoint";
    case ExitKind::kStep:
      return "step";
    case ExitKind::kDebugRegister:
      return "debug-register";
    case ExitKind::kWatchpoint:
      return "watchpoint";
    case ExitKind::kHalt:
      return "halt";
    case ExitKind::kShutdown:
      return "shutdown";
    case ExitKind::kError:
      return "error";
    default:
      return "unexpected";
  }
}

const char* const kDebugSlotKindNames[] = {"exec", "write", "read", "access"};

// MachineEnd as JS names it (kUnknown: no name).
const char* const kMachineEndNames[] = {nullptr, "power-off", "reset", "halt", "triple-fault"};

// A stop as JS sees it.
Napi::Object stopEventToJs(Napi::Env env, const StopEvent& stop) {
  Napi::Object out = Napi::Object::New(env);
  out.Set("type", "stop");
  out.Set("vcpu", stop.vcpu);
  out.Set("reason", exitKindName(stop.kind));
  out.Set("rip", Napi::BigInt::New(env, stop.rip));
  if (!stop.message.empty()) out.Set("message", stop.message);
  if (stop.debug_slot >= 0) out.Set("slot", stop.debug_slot);
  const char* end = kMachineEndNames[static_cast<int>(stop.end)];
  if (stop.kind == ExitKind::kShutdown && end != nullptr) out.Set("end", end);
  if (stop.kind == ExitKind::kWatchpoint) {
    out.Set("address", Napi::BigInt::New(env, stop.data_address));
    out.Set("access", kDebugSlotKindNames[static_cast<int>(stop.data_access)]);
  }
  return out;
}

// Any queued event as JS sees it (the onEvent callback's argument).
Napi::Object eventToJs(Napi::Env env, const QueuedEvent& event) {
  if (event.type == QueuedEvent::Type::kStop) return stopEventToJs(env, event.stop);
  Napi::Object out = Napi::Object::New(env);
  switch (event.type) {
    case QueuedEvent::Type::kStarted:
      out.Set("type", "started");
      out.Set("vcpu", event.stop.vcpu);
      break;
    case QueuedEvent::Type::kConsole:
      out.Set("type", "console");
      out.Set("data",
              Napi::Buffer<uint8_t>::Copy(env, reinterpret_cast<const uint8_t*>(event.text.data()),
                                          event.text.size()));
      break;
    default:
      out.Set("type", "log");
      out.Set("message", event.text);
      break;
  }
  return out;
}

Napi::Array eventsToJs(Napi::Env env, const std::vector<QueuedEvent>& events) {
  Napi::Array out = Napi::Array::New(env, events.size());
  for (size_t i = 0; i < events.size(); i++) out.Set(i, eventToJs(env, events[i]));
  return out;
}

// The thread-safe function's context: the queue it drains. Shared, because a
// call can still be pending when the VmmObject is torn down.
using QueueHandle = std::shared_ptr<EventQueue>;

// Drains the queue into onEvent, one call per event (it may have been
// drained synchronously since the call was asked for: then nothing).
void callJs(Napi::Env env, Napi::Function callback, QueueHandle* queue, std::nullptr_t*) {
  if (env == nullptr || callback.IsEmpty() || queue == nullptr) return;
  for (const QueuedEvent& event : (*queue)->take()) callback.Call({eventToJs(env, event)});
}

void freeQueueHandle(Napi::Env, void*, QueueHandle* queue) { delete queue; }

using EventTsfn = Napi::TypedThreadSafeFunction<QueueHandle, std::nullptr_t, callJs>;

bool hasStop(const std::deque<QueuedEvent>& events) {
  for (const QueuedEvent& e : events) {
    if (e.type == QueuedEvent::Type::kStop) return true;
  }
  return false;
}

std::chrono::microseconds waitArg(const Napi::CallbackInfo& info, size_t index) {
  double wait_ms = info[index].IsNumber() ? info[index].As<Napi::Number>().DoubleValue() : 0;
  if (!(wait_ms >= 0 && wait_ms <= 60000)) {
    throw Napi::RangeError::New(info.Env(), "waitMs must be from 0 to 60000");
  }
  return std::chrono::microseconds(static_cast<int64_t>(wait_ms * 1000));
}

Napi::Error toJsError(Napi::Env env, const VmmError& error) {
  Napi::Error out = Napi::Error::New(env, error.message);
  out.Set("code", error.code);
  return out;
}

class VmmObject : public Napi::ObjectWrap<VmmObject> {
 public:
  static Napi::Function define(Napi::Env env) {
    return DefineClass(env, "Vmm",
                       {
                           InstanceAccessor<&VmmObject::backend>("backend"),
                           InstanceAccessor<&VmmObject::vcpuCount>("vcpuCount"),
                           InstanceMethod<&VmmObject::memoryRegions>("memoryRegions"),
                           InstanceMethod<&VmmObject::readMemory>("readMemory"),
                           InstanceMethod<&VmmObject::readMemoryInto>("readMemoryInto"),
                           InstanceMethod<&VmmObject::writeMemory>("writeMemory"),
                           InstanceMethod<&VmmObject::getRegisters>("getRegisters"),
                           InstanceMethod<&VmmObject::getRegistersRaw>("getRegistersRaw"),
                           InstanceMethod<&VmmObject::setRegisters>("setRegisters"),
                           InstanceMethod<&VmmObject::gla2gpa>("gla2gpa"),
                           InstanceMethod<&VmmObject::setBreakpointExits>("setBreakpointExits"),
                           InstanceMethod<&VmmObject::serialInput>("serialInput"),
                           InstanceMethod<&VmmObject::injectException>("injectException"),
                           InstanceMethod<&VmmObject::debugCapabilities>("debugCapabilities"),
                           InstanceMethod<&VmmObject::setDebugSlots>("setDebugSlots"),
                           InstanceMethod<&VmmObject::start>("start"),
                           InstanceMethod<&VmmObject::resume>("resume"),
                           InstanceMethod<&VmmObject::stepOverAndContinue>("stepOverAndContinue"),
                           InstanceMethod<&VmmObject::pause>("pause"),
                           InstanceMethod<&VmmObject::pauseAll>("pauseAll"),
                           InstanceMethod<&VmmObject::waitForStop>("waitForStop"),
                           InstanceMethod<&VmmObject::vcpuState>("vcpuState"),
                           InstanceMethod<&VmmObject::ref>("ref"),
                           InstanceMethod<&VmmObject::unref>("unref"),
                           InstanceMethod<&VmmObject::destroy>("destroy"),
                       });
  }

  explicit VmmObject(const Napi::CallbackInfo& info) : Napi::ObjectWrap<VmmObject>(info) {
    Napi::Env env = info.Env();
    if (!info[0].IsString()) throw Napi::TypeError::New(env, "\"backend\" is not a string");
    if (!info[1].IsObject()) throw Napi::TypeError::New(env, "\"config\" is not an object");
    if (!info[2].IsFunction()) throw Napi::TypeError::New(env, "\"onEvent\" is not a function");
    std::string backend = info[0].As<Napi::String>();
    Napi::Object config = info[1].As<Napi::Object>();
    VmConfig vm_config;
    vm_config.name = config.Get("name").ToString();
    vm_config.memory_bytes =
        static_cast<uint64_t>(config.Get("memoryBytes").ToNumber().Int64Value());
    vm_config.vcpus = config.Get("vcpus").ToNumber().Int32Value();

    Napi::Value priority = config.Get("vcpuPriority");
    const std::string priority_name = priority.IsUndefined() ? "normal"
                                      : priority.IsString()
                                          ? priority.As<Napi::String>().Utf8Value()
                                          : "";
    if (priority_name != "normal" && priority_name != "idle") {
      throw Napi::TypeError::New(env, "\"vcpuPriority\" must be \"normal\" or \"idle\"");
    }
    const VcpuPriority vcpu_priority =
        priority_name == "idle" ? VcpuPriority::kIdle : VcpuPriority::kNormal;

    auto found = backendRegistry().find(backend);
    if (found == backendRegistry().end()) {
      throw toJsError(env, VmmError{"ENOENT", "backend \"" + backend + "\" is not in this addon"});
    }
    std::unique_ptr<Vmm> vmm;
    try {
      vmm = found->second(vm_config);
    } catch (const VmmError& error) {
      throw toJsError(env, error);
    }
    // The queue asks the thread-safe function for a drain; the function's
    // context keeps the queue alive until its last pending call is done.
    queue_ = std::make_shared<EventQueue>([this] { tsfn_.NonBlockingCall(); });
    tsfn_ = EventTsfn::New(env, info[2].As<Napi::Function>(), "vmm-events", 0, 1,
                           new QueueHandle(queue_), freeQueueHandle, static_cast<void*>(nullptr));
    machine_ = std::make_unique<Machine>(std::move(vmm), queue_.get(), vcpu_priority);
  }

  ~VmmObject() override { teardown(); }

 private:
  Machine& machine(Napi::Env env) {
    if (!machine_) throw toJsError(env, VmmError{"EINVAL", "the vmm is destroyed"});
    return *machine_;
  }

  int vcpuArg(const Napi::CallbackInfo& info, size_t index) {
    Napi::Value value = info[index];
    if (!value.IsNumber()) throw Napi::TypeError::New(info.Env(), "\"vcpu\" is not a number");
    int vcpu = value.As<Napi::Number>().Int32Value();
    if (vcpu < 0 || vcpu >= machine(info.Env()).vcpuCount()) {
      throw toJsError(info.Env(), VmmError{"EINVAL", "no vCPU " + std::to_string(vcpu)});
    }
    return vcpu;
  }

  static uint64_t u64Arg(const Napi::CallbackInfo& info, size_t index, const char* name) {
    Napi::Value value = info[index];
    if (value.IsBigInt()) {
      bool lossless;
      return value.As<Napi::BigInt>().Uint64Value(&lossless);
    }
    if (value.IsNumber()) {
      double d = value.As<Napi::Number>().DoubleValue();
      if (d >= 0 && d <= 9007199254740991.0) return static_cast<uint64_t>(d);
    }
    throw Napi::TypeError::New(info.Env(),
                               std::string("\"") + name + "\" is not a non-negative integer");
  }

  // The host bytes for [gpa, gpa + len), which must lie inside one region.
  uint8_t* hostRange(Napi::Env env, uint64_t gpa, uint64_t len) {
    for (const MemoryRegion& region : machine(env).vmm().memoryRegions()) {
      if (gpa >= region.gpa && gpa - region.gpa <= region.size &&
          len <= region.size - (gpa - region.gpa)) {
        return region.host + (gpa - region.gpa);
      }
    }
    char message[128];
    std::snprintf(message, sizeof message,
                  "guest-physical range 0x%llx+0x%llx is outside guest RAM",
                  static_cast<unsigned long long>(gpa), static_cast<unsigned long long>(len));
    throw toJsError(env, VmmError{"EFAULT", message});
  }

  Napi::Value backend(const Napi::CallbackInfo& info) {
    return Napi::String::New(info.Env(), machine(info.Env()).vmm().backendName());
  }

  Napi::Value vcpuCount(const Napi::CallbackInfo& info) {
    return Napi::Number::New(info.Env(), machine(info.Env()).vcpuCount());
  }

  Napi::Value memoryRegions(const Napi::CallbackInfo& info) {
    auto regions = machine(info.Env()).vmm().memoryRegions();
    Napi::Array out = Napi::Array::New(info.Env(), regions.size());
    for (size_t i = 0; i < regions.size(); i++) {
      Napi::Object r = Napi::Object::New(info.Env());
      r.Set("gpa", static_cast<double>(regions[i].gpa));
      r.Set("size", static_cast<double>(regions[i].size));
      out.Set(static_cast<uint32_t>(i), r);
    }
    return out;
  }

  Napi::Value readMemory(const Napi::CallbackInfo& info) {
    uint64_t gpa = u64Arg(info, 0, "gpa");
    uint64_t len = u64Arg(info, 1, "length");
    uint8_t* host = hostRange(info.Env(), gpa, len);
    return Napi::Buffer<uint8_t>::Copy(info.Env(), host, len);
  }

  // As readMemory, into target[offset, offset + length): bulk reads reuse one
  // buffer instead of a new one (and its first-touch page faults) each time.
  Napi::Value readMemoryInto(const Napi::CallbackInfo& info) {
    uint64_t gpa = u64Arg(info, 0, "gpa");
    uint64_t len = u64Arg(info, 1, "length");
    if (!info[2].IsBuffer()) throw Napi::TypeError::New(info.Env(), "\"target\" is not a Buffer");
    auto target = info[2].As<Napi::Buffer<uint8_t>>();
    uint64_t offset = u64Arg(info, 3, "offset");
    if (offset > target.Length() || len > target.Length() - offset) {
      throw Napi::RangeError::New(info.Env(), "\"length\" runs past the end of \"target\"");
    }
    uint8_t* host = hostRange(info.Env(), gpa, len);
    std::memcpy(target.Data() + offset, host, len);
    return info.Env().Undefined();
  }

  Napi::Value writeMemory(const Napi::CallbackInfo& info) {
    uint64_t gpa = u64Arg(info, 0, "gpa");
    if (!info[1].IsBuffer()) throw Napi::TypeError::New(info.Env(), "\"data\" is not a Buffer");
    auto data = info[1].As<Napi::Buffer<uint8_t>>();
    uint8_t* host = hostRange(info.Env(), gpa, data.Length());
    std::memcpy(host, data.Data(), data.Length());
    machine(info.Env()).vmm().codeModified(gpa, data.Length());
    return info.Env().Undefined();
  }

  void requireStopped(Napi::Env env, int vcpu) {
    if (machine(env).state(vcpu) == VcpuState::kRunning) {
      throw toJsError(env, VmmError{"EBUSY", "vCPU " + std::to_string(vcpu) + " is running"});
    }
  }

  // The registers of the vCPU named by the first argument, which must not be running.
  RegisterFile readRegisters(const Napi::CallbackInfo& info) {
    int vcpu = vcpuArg(info, 0);
    requireStopped(info.Env(), vcpu);
    RegisterFile regs;
    try {
      machine_->vmm().getRegisters(vcpu, &regs);
    } catch (const VmmError& error) {
      throw toJsError(info.Env(), error);
    }
    return regs;
  }

  Napi::Value getRegisters(const Napi::CallbackInfo& info) {
    return registersToJs(info.Env(), readRegisters(info));
  }

  // As getRegisters, as one Buffer (register_convert.h's layout): the fast path.
  Napi::Value getRegistersRaw(const Napi::CallbackInfo& info) {
    return registersToBuffer(info.Env(), readRegisters(info));
  }

  Napi::Value setRegisters(const Napi::CallbackInfo& info) {
    int vcpu = vcpuArg(info, 0);
    if (!info[1].IsObject())
      throw Napi::TypeError::New(info.Env(), "\"registers\" is not an object");
    RegisterFile regs = registersFromJs(info[1].As<Napi::Object>());
    requireStopped(info.Env(), vcpu);
    try {
      machine_->vmm().setRegisters(vcpu, regs);
    } catch (const VmmError& error) {
      throw toJsError(info.Env(), error);
    }
    return info.Env().Undefined();
  }

  Napi::Value gla2gpa(const Napi::CallbackInfo& info) {
    int vcpu = vcpuArg(info, 0);
    uint64_t gla = u64Arg(info, 1, "gla");
    int prot = info[2].IsNumber() ? info[2].As<Napi::Number>().Int32Value() : kProtRead;
    requireStopped(info.Env(), vcpu);
    uint64_t gpa = 0;
    Translation result;
    try {
      result = machine_->vmm().gla2gpa(vcpu, gla, prot, &gpa);
    } catch (const VmmError& error) {
      throw toJsError(info.Env(), error);
    }
    if (result == Translation::kFault) return info.Env().Null();
    if (result == Translation::kError) {
      throw toJsError(info.Env(),
                      VmmError{"EFAULT", "the backend could not translate the address"});
    }
    return Napi::BigInt::New(info.Env(), gpa);
  }

  Napi::Value setBreakpointExits(const Napi::CallbackInfo& info) {
    try {
      machine(info.Env()).vmm().setBreakpointExits(info[0].ToBoolean());
    } catch (const VmmError& error) {
      throw toJsError(info.Env(), error);
    }
    return info.Env().Undefined();
  }

  // Bytes for the guest's COM1 to receive; it raises IRQ 4 when the guest
  // enabled receive interrupts.
  Napi::Value serialInput(const Napi::CallbackInfo& info) {
    if (!info[0].IsBuffer()) throw Napi::TypeError::New(info.Env(), "\"data\" is not a Buffer");
    auto data = info[0].As<Napi::Buffer<uint8_t>>();
    try {
      machine(info.Env()).serialInput(data.Data(), data.Length());
    } catch (const VmmError& error) {
      throw toJsError(info.Env(), error);
    }
    return info.Env().Undefined();
  }

  Napi::Value injectException(const Napi::CallbackInfo& info) {
    int vcpu = vcpuArg(info, 0);
    if (!info[1].IsNumber()) throw Napi::TypeError::New(info.Env(), "\"vector\" is not a number");
    int vector = info[1].As<Napi::Number>().Int32Value();
    if (vector < 0 || vector > 31) {
      throw Napi::RangeError::New(info.Env(), "\"vector\" is not an exception vector (0-31)");
    }
    bool has_error_code = info[2].IsNumber();
    uint32_t error_code = has_error_code ? info[2].As<Napi::Number>().Uint32Value() : 0;
    requireStopped(info.Env(), vcpu);
    try {
      machine_->vmm().injectException(vcpu, vector, has_error_code, error_code);
    } catch (const VmmError& error) {
      throw toJsError(info.Env(), error);
    }
    return info.Env().Undefined();
  }

  Napi::Value debugCapabilities(const Napi::CallbackInfo& info) {
    DebugCapabilities caps = machine(info.Env()).vmm().debugCapabilities();
    Napi::Object out = Napi::Object::New(info.Env());
    out.Set("slots", caps.slots);
    Napi::Array kinds = Napi::Array::New(info.Env());
    uint32_t n = 0;
    for (int k = 0; k < 4; k++) {
      if (caps.has(static_cast<DebugSlotKind>(k))) kinds.Set(n++, kDebugSlotKindNames[k]);
    }
    out.Set("kinds", kinds);
    return out;
  }

  // setDebugSlots(vcpu, [{address, kind, length} | null, ...]): at most four.
  Napi::Value setDebugSlots(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    int vcpu = vcpuArg(info, 0);
    if (!info[1].IsArray()) throw Napi::TypeError::New(env, "\"slots\" is not an array");
    Napi::Array list = info[1].As<Napi::Array>();
    if (list.Length() > kDebugSlotCount) {
      throw Napi::RangeError::New(env, "\"slots\" has more than 4 entries");
    }
    DebugSlots slots;
    for (uint32_t i = 0; i < list.Length(); i++) {
      Napi::Value entry = list.Get(i);
      if (entry.IsNull() || entry.IsUndefined()) continue;
      if (!entry.IsObject()) throw Napi::TypeError::New(env, "a debug slot is not an object");
      Napi::Object o = entry.As<Napi::Object>();
      DebugSlot& slot = slots[i];
      slot.enabled = true;
      Napi::Value address = o.Get("address");
      if (!address.IsBigInt()) throw Napi::TypeError::New(env, "\"address\" is not a bigint");
      bool lossless;
      slot.address = address.As<Napi::BigInt>().Uint64Value(&lossless);
      std::string kind = o.Get("kind").ToString();
      int k = 0;
      while (k < 4 && kind != kDebugSlotKindNames[k]) k++;
      if (k == 4) throw Napi::TypeError::New(env, "\"kind\" is not exec, write, read or access");
      slot.kind = static_cast<DebugSlotKind>(k);
      int length = o.Get("length").ToNumber().Int32Value();
      if (length != 1 && length != 2 && length != 4 && length != 8) {
        throw Napi::RangeError::New(env, "\"length\" is not 1, 2, 4 or 8");
      }
      if (slot.address % static_cast<uint64_t>(length) != 0) {
        throw Napi::RangeError::New(env, "\"address\" is not aligned to \"length\"");
      }
      slot.length = static_cast<uint8_t>(length);
    }
    try {
      machine_->vmm().setDebugSlots(vcpu, slots);
    } catch (const VmmError& error) {
      throw toJsError(env, error);
    }
    return env.Undefined();
  }

  Napi::Value start(const Napi::CallbackInfo& info) {
    try {
      machine(info.Env()).start();
    } catch (const VmmError& error) {
      throw toJsError(info.Env(), error);
    }
    return info.Env().Undefined();
  }

  // Ends a queue_->holdWake(): a push meanwhile that asked for no drain is
  // owed one through the thread-safe function, unless the caller drains the
  // queue itself (a vCPU that stopped on this thread).
  void releaseWake(bool caller_drains = false) {
    if (queue_->releaseWake() && !caller_drains) tsfn_.NonBlockingCall();
  }

  Napi::Value resume(const Napi::CallbackInfo& info) {
    int vcpu = vcpuArg(info, 0);
    RunOptions options;
    if (info[1].IsObject()) {
      Napi::Object o = info[1].As<Napi::Object>();
      options.mode = o.Get("step").ToBoolean() ? ResumeMode::kStep : ResumeMode::kContinue;
      options.mask_interrupts = o.Get("maskInterrupts").ToBoolean();
      options.start_here = o.Get("startHere").ToBoolean();
      Napi::Value start = o.Get("rangeStart"), end = o.Get("rangeEnd");
      if (!start.IsUndefined() || !end.IsUndefined()) {
        if (!start.IsBigInt() || !end.IsBigInt()) {
          throw Napi::TypeError::New(info.Env(), "\"rangeStart\" and \"rangeEnd\" are not bigints");
        }
        bool lossless_start, lossless_end;
        options.range_start = start.As<Napi::BigInt>().Uint64Value(&lossless_start);
        options.range_end = end.As<Napi::BigInt>().Uint64Value(&lossless_end);
        if (!lossless_start || !lossless_end || options.range_start > options.range_end) {
          throw Napi::RangeError::New(info.Env(), "the step range is not 0 <= start <= end < 2^64");
        }
        if (options.mode != ResumeMode::kStep) {
          throw Napi::TypeError::New(info.Env(), "a step range needs \"step\"");
        }
        options.has_range = true;
      }
    }
    bool stepped_here;
    // A step (or a continue) that stopped on this thread puts its stop in
    // the queue: the caller drains it (the stop, most often, then needs no
    // event-loop hop).
    queue_->holdWake();
    try {
      stepped_here = machine_->resume(vcpu, options);
    } catch (const VmmError& error) {
      releaseWake();
      throw toJsError(info.Env(), error);
    }
    releaseWake(stepped_here);
    return Napi::Boolean::New(info.Env(), stepped_here);
  }

  // stepOverAndContinue(vcpu, gpa, original): the silent resume of a
  // breakpoint whose program said go on, in one call. Where single steps run
  // on this thread (Machine::runsHere): the byte at gpa goes back to
  // `original` if it holds 0xCC, the parked vCPU takes one interrupt-masked
  // step here, the 0xCC goes back, and when the step ended as a plain step
  // the vCPU continues, starting here (RunOptions::start_here); JS runs
  // nowhere in between (the way through JS took a step's stop event, a
  // promise and two more calls). Returns null where it cannot, having done
  // nothing; else {shadow: the byte the step left under the 0xCC,
  // continued, events: those queued by the step, in order, its own stop
  // among them unless continued}. The continue's stop, when it came here,
  // waits in the queue for the caller's waitForStop.
  Napi::Value stepOverAndContinue(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    Machine& m = machine(env);
    int vcpu = vcpuArg(info, 0);
    uint64_t gpa = u64Arg(info, 1, "gpa");
    uint64_t original = u64Arg(info, 2, "original");
    if (original > 0xff) throw Napi::RangeError::New(env, "\"original\" is not a byte");
    if (!m.runsHere(vcpu) || m.state(vcpu) != VcpuState::kParked) return env.Null();
    uint8_t* byte = hostRange(env, gpa, 1);
    // As the debugger's own lift: only a 0xCC still there is ours to lift.
    // Where the backend steps over it from code of its own, the swaps drop
    // no code (on emu, the int3's block and the step's were otherwise both
    // translated again at every hit); else each is a write as writeMemory's.
    bool kept = false;
    if (*byte == kInt3) {
      *byte = static_cast<uint8_t>(original);
      kept = m.vmm().stepOverKeepingCode(vcpu, true);
      if (!kept) m.vmm().codeModified(gpa, 1);
    }
    // The 0xCC back; returns what the byte held after the step (the guest
    // may have written it: that is the shadow now). Code built from another
    // byte than those two, or by a vCPU the step started (a SIPI), is dropped.
    auto plant = [&] {
      const uint8_t after = *byte;
      if (kept) m.vmm().stepOverKeepingCode(vcpu, false);
      *byte = kInt3;
      if (!kept || after != original || m.othersRunning(vcpu)) m.vmm().codeModified(gpa, 1);
      return after;
    };
    RunOptions step;
    step.mode = ResumeMode::kStep;
    step.mask_interrupts = true;
    queue_->holdWake();
    try {
      m.resume(vcpu, step);  // here: runsHere held, and this thread runs no other vCPU
    } catch (const VmmError& error) {
      plant();
      releaseWake();
      throw toJsError(env, error);
    }
    const uint8_t shadow = plant();
    std::vector<QueuedEvent> events = queue_->take();
    auto stop = std::find_if(events.begin(), events.end(), [&](const QueuedEvent& e) {
      return e.type == QueuedEvent::Type::kStop && e.stop.vcpu == vcpu;
    });
    const bool continued = stop != events.end() && stop->stop.kind == ExitKind::kStep;
    if (continued) events.erase(stop);
    bool stopped_here = false;
    if (continued) {
      RunOptions go;
      go.start_here = true;
      try {
        stopped_here = m.resume(vcpu, go);
      } catch (const VmmError& error) {
        releaseWake();
        throw toJsError(env, error);
      }
    }
    // A stop that came here waits for the caller's waitForStop; one that
    // comes on the vCPU's thread later wakes JS as usual.
    releaseWake(stopped_here);
    Napi::Object out = Napi::Object::New(env);
    out.Set("shadow", Napi::Number::New(env, shadow));
    out.Set("continued", Napi::Boolean::New(env, continued));
    out.Set("events", eventsToJs(env, events));
    return out;
  }

  Napi::Value pause(const Napi::CallbackInfo& info) {
    int vcpu = vcpuArg(info, 0);
    return Napi::Boolean::New(info.Env(), machine_->pause(vcpu));
  }

  // pauseAll(waitMs): pauses every running vCPU and waits up to waitMs
  // until each has parked. Returns every event queued by then, in order
  // (the stops included); later ones reach onEvent as usual.
  Napi::Value pauseAll(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    Machine& m = machine(env);
    std::chrono::microseconds wait = waitArg(info, 0);
    std::vector<int> asked = m.pauseAll();
    auto all_parked = [&](const std::deque<QueuedEvent>& events) {
      for (int vcpu : asked) {
        bool found = false;
        for (const QueuedEvent& e : events) {
          if (e.type == QueuedEvent::Type::kStop && e.stop.vcpu == vcpu) found = true;
        }
        if (!found) return false;
      }
      return true;
    };
    // With nothing asked, all_parked holds at once and takeWhen does not wait.
    return eventsToJs(env, queue_->takeWhen(all_parked, wait));
  }

  // waitForStop(waitMs): waits up to waitMs until some vCPU has parked;
  // returns every event queued by then, in order.
  Napi::Value waitForStop(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    machine(env);
    return eventsToJs(env, queue_->takeWhen(hasStop, waitArg(info, 0)));
  }

  Napi::Value vcpuState(const Napi::CallbackInfo& info) {
    int vcpu = vcpuArg(info, 0);
    return Napi::String::New(info.Env(), vcpuStateName(machine_->state(vcpu)));
  }

  Napi::Value ref(const Napi::CallbackInfo& info) {
    if (machine_) tsfn_.Ref(info.Env());
    return info.Env().Undefined();
  }

  Napi::Value unref(const Napi::CallbackInfo& info) {
    if (machine_) tsfn_.Unref(info.Env());
    return info.Env().Undefined();
  }

  Napi::Value destroy(const Napi::CallbackInfo& info) {
    teardown();
    return info.Env().Undefined();
  }

  void teardown() {
    if (!machine_) return;
    machine_->shutdown();  // joins the vCPU threads: nothing posts after this
    machine_.reset();
    queue_.reset();  // pending drains still hold it
    tsfn_.Release();
  }

  EventTsfn tsfn_;
  std::shared_ptr<EventQueue> queue_;
  std::unique_ptr<Machine> machine_;
};

Napi::Value backends(const Napi::CallbackInfo& info) {
  Napi::Array out = Napi::Array::New(info.Env());
  uint32_t i = 0;
  for (const auto& entry : backendRegistry()) out.Set(i++, entry.first);
  return out;
}

// spinForInput(fd, microseconds): whether fd became readable within that
// time, polled on the calling thread (hand_off_spin.h).
Napi::Value spinForInputJs(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (!info[0].IsNumber() || !info[1].IsNumber()) {
    throw Napi::TypeError::New(env, "spinForInput(fd, microseconds) takes two numbers");
  }
  const int fd = info[0].As<Napi::Number>().Int32Value();
  // At most a millisecond: the event loop waits meanwhile.
  const int64_t us =
      std::min<int64_t>(std::max<int64_t>(info[1].As<Napi::Number>().Int64Value(), 0), 1000);
  return Napi::Boolean::New(env, spinForInput(fd, std::chrono::microseconds(us)));
}

// readSocketNow(fd, maxBytes): a Buffer of what the socket holds now (at
// most maxBytes), or null when there is nothing to take now (socket_now.h).
Napi::Value readSocketNowJs(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (!info[0].IsNumber() || !info[1].IsNumber()) {
    throw Napi::TypeError::New(env, "readSocketNow(fd, maxBytes) takes two numbers");
  }
  const int fd = info[0].As<Napi::Number>().Int32Value();
  const int64_t max = info[1].As<Napi::Number>().Int64Value();
  if (max <= 0 || max > (int64_t{1} << 20)) {
    throw Napi::RangeError::New(env, "\"maxBytes\" is not 1 to 1 MiB");
  }
  // Read into one buffer kept per JS thread, not a new one a request.
  static thread_local std::vector<uint8_t> bytes;
  if (bytes.size() < static_cast<size_t>(max)) bytes.resize(static_cast<size_t>(max));
  const size_t n = readNow(fd, bytes.data(), static_cast<size_t>(max));
  if (n == 0) return env.Null();
  return Napi::Buffer<uint8_t>::Copy(env, bytes.data(), n);
}

// writeSocketNow(fd, buffer): how many bytes of buffer the socket took now.
Napi::Value writeSocketNowJs(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (!info[0].IsNumber() || !info[1].IsBuffer()) {
    throw Napi::TypeError::New(env, "writeSocketNow(fd, buffer) takes a number and a Buffer");
  }
  const int fd = info[0].As<Napi::Number>().Int32Value();
  Napi::Buffer<uint8_t> data = info[1].As<Napi::Buffer<uint8_t>>();
  return Napi::Number::New(env, static_cast<double>(writeNow(fd, data.Data(), data.Length())));
}

}  // namespace

void initNapiVmm(Napi::Env env, Napi::Object exports) {
  exports.Set("Vmm", VmmObject::define(env));
  exports.Set("backends", Napi::Function::New(env, backends, "backends"));
  exports.Set("spinForInput", Napi::Function::New(env, spinForInputJs, "spinForInput"));
  exports.Set("readSocketNow", Napi::Function::New(env, readSocketNowJs, "readSocketNow"));
  exports.Set("writeSocketNow", Napi::Function::New(env, writeSocketNowJs, "writeSocketNow"));
}

}  // namespace vmm
