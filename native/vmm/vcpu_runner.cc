#include "vmm/vcpu_runner.h"

#include "vmm/hand_off_spin.h"
#include "vmm/thread_scheduling.h"

namespace vmm {

const char* vcpuStateName(VcpuState state) {
  switch (state) {
    case VcpuState::kWaitingForSipi:
      return "waiting-for-sipi";
    case VcpuState::kParked:
      return "parked";
    case VcpuState::kRunning:
      return "running";
    case VcpuState::kExited:
      return "exited";
  }
  return "unknown";
}

Machine::Machine(std::unique_ptr<Vmm> vmm, EventSink* sink, VcpuPriority priority)
    : vmm_(std::move(vmm)),
      sink_(sink),
      priority_(priority),
      ports_(sink, [this](int irq, bool level) { vmm_->setIrqLine(irq, level); }) {
  for (int i = 0; i < vmm_->vcpuCount(); i++) vcpus_.push_back(std::make_unique<Vcpu>());
  // The machine is made on the thread that will drive it (Node's JS thread).
  std::string error = shortenCallerSlice();
  if (!error.empty()) sink_->onLog("the stub's thread keeps its scheduler slice: " + error);
}

Machine::~Machine() { shutdown(); }

Machine::Vcpu& Machine::at(int vcpu) {
  if (vcpu < 0 || vcpu >= vcpuCount()) {
    throw VmmError{"EINVAL", "no vCPU " + std::to_string(vcpu)};
  }
  return *vcpus_[vcpu];
}

void Machine::start() {
  if (started_) throw VmmError{"EBUSY", "the machine is already started"};
  started_ = true;
  vmm_->activate(0);
  vcpus_[0]->state = VcpuState::kParked;
  // APs the hypervisor starts itself wait for their SIPI inside run().
  if (vmm_->startsApsItself()) {
    for (int i = 1; i < vcpuCount(); i++) vcpus_[i]->go = true;
  }
  for (int i = 0; i < vcpuCount(); i++) {
    vcpus_[i]->thread = std::thread(&Machine::threadMain, this, i);
  }
}

VcpuState Machine::state(int vcpu) {
  Vcpu& v = at(vcpu);
  std::lock_guard<std::mutex> lock(v.mutex);
  return v.state;
}

bool Machine::othersRunning(int vcpu) {
  for (int i = 0; i < vcpuCount(); i++) {
    if (i != vcpu && state(i) == VcpuState::kRunning) return true;
  }
  return false;
}

bool Machine::resume(int vcpu, const RunOptions& options) {
  Vcpu& v = at(vcpu);
  // A single step is one instruction: run it here rather than wake the
  // vCPU's thread and wait for it to wake this one (two thread hand-offs,
  // most of a step's cost). A continue asked to start here runs here within
  // a budget, for the same reason.
  const bool step = options.mode == ResumeMode::kStep && !options.has_range;
  const bool here =
      (step || (options.mode == ResumeMode::kContinue && options.start_here)) && runsHere(vcpu);
  RunOptions run = options;
  run.budget = here && !step ? kRunHereBudget : std::chrono::microseconds(0);
  {
    std::lock_guard<std::mutex> lock(v.mutex);
    if (v.state != VcpuState::kParked) {
      throw VmmError{"EBUSY", "vCPU " + std::to_string(vcpu) + " is " + vcpuStateName(v.state) +
                                  ", not parked"};
    }
    vmm_->clearStop(vcpu);
    v.stop_requested = false;
    v.options = options;
    v.state = VcpuState::kRunning;
    if (!here) {
      v.go = true;
      v.wake.notify_one();
      return false;
    }
  }
  StopEvent event = runGuarded(vcpu, run);
  {
    std::lock_guard<std::mutex> lock(v.mutex);
    if (event.kind == ExitKind::kTimeUp) {
      // Still running: the vCPU's own thread goes on from where it stands.
      v.options.budget = std::chrono::microseconds(0);
      v.go = true;
      v.wake.notify_one();
      return false;
    }
    v.state = VcpuState::kParked;
  }
  sink_->onStop(event);
  return true;
}

bool Machine::runsHere(int vcpu) { return vmm_->runsOnAnyThread() && !othersRunning(vcpu); }

bool Machine::pause(int vcpu) {
  Vcpu& v = at(vcpu);
  std::lock_guard<std::mutex> lock(v.mutex);
  if (v.state != VcpuState::kRunning) return false;
  if (!v.stop_requested) {
    v.stop_requested = true;
    vmm_->requestStop(vcpu);
  }
  return true;
}

std::vector<int> Machine::pauseAll() {
  std::vector<int> asked;
  for (int i = 0; i < vcpuCount(); i++) {
    if (pause(i)) asked.push_back(i);
  }
  return asked;
}

void Machine::startAp(int vcpu, uint64_t rip) {
  if (vcpu < 0 || vcpu >= vcpuCount()) {
    sink_->onLog("INIT/SIPI to vCPU " + std::to_string(vcpu) + ", which does not exist: ignored");
    return;
  }
  Vcpu& v = *vcpus_[vcpu];
  {
    std::lock_guard<std::mutex> lock(v.mutex);
    if (v.state != VcpuState::kWaitingForSipi) return;  // a second SIPI is ignored, as on hardware
    vmm_->startAp(vcpu, rip);
    v.options = RunOptions{};
    v.state = VcpuState::kRunning;
    v.go = true;
    v.wake.notify_one();
  }
  sink_->onStarted(vcpu);
}

void Machine::markStarted(int vcpu) {
  Vcpu& v = *vcpus_[vcpu];
  {
    std::lock_guard<std::mutex> lock(v.mutex);
    if (v.state != VcpuState::kWaitingForSipi) return;
    v.state = VcpuState::kRunning;
  }
  sink_->onStarted(vcpu);
}

StopEvent Machine::runUntilStop(int vcpu, const RunOptions& options) {
  for (;;) {
    Exit exit = vmm_->run(vcpu, options);
    switch (exit.kind) {
      case ExitKind::kPortIn:
      case ExitKind::kPortOut: {
        uint32_t in_value = 0;
        if (exit.kind == ExitKind::kPortIn) {
          in_value = ports_.in(exit.port, exit.size);
        } else {
          ports_.out(exit.port, exit.size, exit.value);
        }
        vmm_->completePortIo(vcpu, exit, in_value);
        if (ports_.takeResetRequest()) {
          StopEvent reset{vcpu, ExitKind::kShutdown, exit.rip + exit.inst_length,
                          "the guest reset the machine (i8042 reset command)"};
          reset.end = MachineEnd::kReset;
          return reset;
        }
        // The I/O instruction was the step: do not run a second one. (Length
        // 0: the backend runs the rest of the instruction, then stops.)
        if (options.mode == ResumeMode::kStep && exit.inst_length > 0) {
          const uint64_t next = exit.rip + exit.inst_length;
          if (options.inRange(next)) continue;  // range stepping goes on
          return StopEvent{vcpu, ExitKind::kStep, next, ""};
        }
        continue;
      }
      case ExitKind::kStartAp:
        if (exit.target_vcpu == vcpu) {
          markStarted(vcpu);  // the hypervisor started this AP itself
        } else {
          startAp(exit.target_vcpu, exit.start_rip);
        }
        continue;
      case ExitKind::kTimeUp:
        // The budget of a run on the caller's thread: resume() hands it over.
        if (options.budget.count() > 0) return StopEvent{vcpu, exit.kind, exit.rip, ""};
        continue;
      case ExitKind::kStep:
        // Range stepping: the next step, without waking JS (a pause request
        // makes run() return kPaused, which ends it).
        if (options.inRange(exit.rip)) continue;
        return StopEvent{vcpu, exit.kind, exit.rip, exit.message};
      default:
        return StopEvent{vcpu,
                         exit.kind,
                         exit.rip,
                         exit.message,
                         exit.debug_slot,
                         exit.data_address,
                         exit.data_access,
                         exit.end};
    }
  }
}

StopEvent Machine::runGuarded(int vcpu, const RunOptions& options) {
  try {
    return runUntilStop(vcpu, options);
  } catch (const VmmError& error) {
    return StopEvent{vcpu, ExitKind::kError, 0, error.code + ": " + error.message};
  }
}

void Machine::threadMain(int vcpu) {
  Vcpu& v = *vcpus_[vcpu];
  nameCallerThread("vcpu " + std::to_string(vcpu));
  // Made by the JS thread, this thread inherited its short slice; a vCPU
  // keeps the default, so that the JS thread is the one that cuts in.
  std::string slice_error = restoreCallerSlice();
  if (!slice_error.empty()) {
    sink_->onLog("vCPU " + std::to_string(vcpu) + " keeps a short scheduler slice: " + slice_error);
  }
  if (priority_ == VcpuPriority::kIdle) {
    std::string error = lowerCallerToIdle();
    if (!error.empty()) {
      sink_->onLog("vCPU " + std::to_string(vcpu) + " stays at normal priority: " + error);
    }
  }
  for (;;) {
    RunOptions options;
    // A resume that follows at once (a breakpoint whose condition was false)
    // finds the thread awake.
    spinUntil([&] { return v.go.load(std::memory_order_acquire) || quitting_; }, kHandOffSpin);
    {
      std::unique_lock<std::mutex> lock(v.mutex);
      v.wake.wait(lock, [&] { return v.go || quitting_; });
      if (quitting_) break;
      v.go = false;
      options = v.options;
    }
    StopEvent event = runGuarded(vcpu, options);
    {
      std::lock_guard<std::mutex> lock(v.mutex);
      if (quitting_) break;
      v.state = VcpuState::kParked;
    }
    sink_->onStop(event);
  }
  std::lock_guard<std::mutex> lock(v.mutex);
  v.state = VcpuState::kExited;
}

void Machine::shutdown() {
  if (quitting_.exchange(true)) return;
  for (int i = 0; i < vcpuCount(); i++) {
    Vcpu& v = *vcpus_[i];
    std::lock_guard<std::mutex> lock(v.mutex);
    vmm_->requestStop(i);
    v.wake.notify_one();
  }
  for (auto& v : vcpus_) {
    if (v->thread.joinable()) v->thread.join();
  }
}

}  // namespace vmm
