#include "vmm/hand_off_spin.h"

#include <poll.h>
#include <sched.h>

#include <atomic>
#include <thread>

namespace vmm {

namespace {

// The host CPUs this process may run on (its affinity mask where the
// system says, else every online CPU).
int usableCpus() {
#if defined(__linux__)
  cpu_set_t set;
  CPU_ZERO(&set);
  if (sched_getaffinity(0, sizeof(set), &set) == 0) return CPU_COUNT(&set);
#endif
  const unsigned n = std::thread::hardware_concurrency();
  return n == 0 ? 1 : static_cast<int>(n);
}

std::atomic<int> spinners{0};

inline void cpuRelax() {
#if defined(__x86_64__) || defined(__i386__)
  __builtin_ia32_pause();
#endif
}

}  // namespace

bool spinUntil(const std::function<bool()>& done, std::chrono::microseconds limit,
               unsigned pollsPerYield) {
  static const int cpus = usableCpus();
  static const int room = cpus >= 2 ? cpus : 0;
  if (done()) return true;
  if (limit.count() <= 0) return false;
  if (spinners.fetch_add(1, std::memory_order_acq_rel) >= room) {
    spinners.fetch_sub(1, std::memory_order_acq_rel);
    return false;
  }
  const auto until = std::chrono::steady_clock::now() + limit;
  bool held = false;
  for (unsigned i = 0;; i++) {
    if (done()) {
      held = true;
      break;
    }
    cpuRelax();
    if ((i & (pollsPerYield - 1)) == pollsPerYield - 1) {
      // The clock is a vDSO read, kept off the poll's path.
      if (std::chrono::steady_clock::now() >= until) break;
      // Every couple of microseconds, let a thread waiting for this CPU run
      // (gdb printing a dprintf line the stub sent, the terminal behind it):
      // measured with gdb on a terminal, 500 dprintf lines took 95-132 ms
      // with a poll that did not yield, 58-78 ms with one that does.
      sched_yield();
    }
  }
  spinners.fetch_sub(1, std::memory_order_acq_rel);
  return held;
}

bool spinForInput(int fd, std::chrono::microseconds limit) {
  if (fd < 0) return false;
  return spinUntil(
      [fd] {
        pollfd p{fd, POLLIN, 0};
        return poll(&p, 1, 0) != 0;  // readable, hung up, or an error to read
      },
      // A poll() costs a system call: yield every four, every couple of
      // microseconds as for cheap polls, so the debugger this thread waits
      // for gets a CPU when it shares this one.
      limit, 4);
}

}  // namespace vmm
