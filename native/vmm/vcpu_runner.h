// One native thread per vCPU. A thread runs its vCPU until something user
// space must decide on, parks, and reports one StopEvent; it takes no
// decisions itself. Port I/O for the devices user space models is served
// here without waking JS.
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <memory>
#include <mutex>
#include <thread>
#include <vector>

#include "vmm/event_sink.h"
#include "vmm/port_io.h"
#include "vmm/vmm.h"

namespace vmm {

enum class VcpuState { kWaitingForSipi, kParked, kRunning, kExited };

// How the vCPU threads are scheduled against the rest of the host. kIdle
// (Linux SCHED_IDLE, FreeBSD idle priority) lets any other thread, the
// stub's own JS thread first, preempt a vCPU at once: a Ctrl-C is read
// within microseconds even when busy vCPUs outnumber host CPUs, at the
// price of a guest that only gets the CPU time nothing else wants.
enum class VcpuPriority { kNormal, kIdle };

const char* vcpuStateName(VcpuState state);

class Machine {
 public:
  Machine(std::unique_ptr<Vmm> vmm, EventSink* sink, VcpuPriority priority = VcpuPriority::kNormal);
  ~Machine();

  Vmm& vmm() { return *vmm_; }
  // Bytes for the guest's COM1 to receive (its console input).
  void serialInput(const uint8_t* data, size_t len) { ports_.serialInput(data, len); }
  int vcpuCount() const { return static_cast<int>(vcpus_.size()); }

  // Creates the threads. vCPU 0 starts parked (its state is the loader's to
  // set); the others wait for INIT/SIPI.
  void start();
  VcpuState state(int vcpu);
  // How long a continue with RunOptions::start_here runs on the caller's
  // thread before the vCPU's own thread takes over. The caller's thread is
  // Node's event loop: it waits meanwhile (a backend may overrun this by up
  // to its timer's period, a millisecond on the fake vmm).
  static constexpr std::chrono::microseconds kRunHereBudget{500};

  // Parked -> running. Throws VmmError{EBUSY} when the vCPU is not parked.
  // Returns true when the vCPU ran on the caller's thread and stopped there
  // (a single step without a range, or a continue with start_here that
  // stopped within kRunHereBudget; Vmm::runsOnAnyThread, no other vCPU
  // running): it is parked again and its StopEvent is in the sink.
  bool resume(int vcpu, const RunOptions& options);
  // Whether resume() would run `vcpu` on the caller's thread
  // (Vmm::runsOnAnyThread, and no other vCPU running).
  bool runsHere(int vcpu);
  // Whether a vCPU other than `vcpu` is running.
  bool othersRunning(int vcpu);
  // Running -> a stop is requested; returns true when a StopEvent follows.
  bool pause(int vcpu);
  // pause() of every running vCPU; the vCPUs whose StopEvent will follow.
  std::vector<int> pauseAll();
  // Stops and joins every thread; the Machine cannot run again.
  void shutdown();

 private:
  struct Vcpu {
    std::mutex mutex;
    std::condition_variable wake;
    VcpuState state = VcpuState::kWaitingForSipi;
    // Set (under the mutex) to send the thread off; read without it while the thread polls.
    std::atomic<bool> go{false};
    bool stop_requested = false;
    RunOptions options;
    std::thread thread;
  };

  void threadMain(int vcpu);
  StopEvent runUntilStop(int vcpu, const RunOptions& options);
  // runUntilStop with a VmmError as a kError stop.
  StopEvent runGuarded(int vcpu, const RunOptions& options);
  void startAp(int vcpu, uint64_t rip);
  // An AP the hypervisor started (Vmm::startsApsItself) is now running.
  void markStarted(int vcpu);
  Vcpu& at(int vcpu);

  std::unique_ptr<Vmm> vmm_;
  EventSink* sink_;
  VcpuPriority priority_;
  PortIoBus ports_;
  std::vector<std::unique_ptr<Vcpu>> vcpus_;
  std::atomic<bool> quitting_{false};
  bool started_ = false;
};

}  // namespace vmm
