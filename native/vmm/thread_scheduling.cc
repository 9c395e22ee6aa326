#include "vmm/thread_scheduling.h"

#include <pthread.h>
#include <sched.h>

#include <cerrno>
#include <cstdint>
#include <cstring>
#if defined(__linux__)
#include <sys/resource.h>
#include <sys/syscall.h>
#include <unistd.h>
#endif
#if defined(__FreeBSD__)
#include <pthread_np.h>
#include <sys/rtprio.h>
#endif

namespace vmm {

std::string lowerCallerToIdle() {
#if defined(__linux__)
  sched_param param{};
  if (sched_setscheduler(0, SCHED_IDLE, &param) != 0) return std::strerror(errno);
  return "";
#elif defined(__FreeBSD__)
  // The tag is needed: <sys/rtprio.h> also declares a function rtprio().
  struct rtprio prio = {RTP_PRIO_IDLE, RTP_PRIO_MAX};
  if (rtprio_thread(RTP_SET, 0, &prio) != 0) return std::strerror(errno);
  return "";
#else
  return "not supported on this system";
#endif
}

namespace {

constexpr uint64_t kShortSliceNs = 100000;  // the shortest the kernel accepts

#if defined(__linux__)
// struct sched_attr of sched_setattr(2); glibc 2.36 does not declare it.
struct SchedAttr {
  uint32_t size;
  uint32_t sched_policy;
  uint64_t sched_flags;
  int32_t sched_nice;
  uint32_t sched_priority;
  uint64_t sched_runtime;  // for SCHED_OTHER: the requested slice (Linux 6.12+)
  uint64_t sched_deadline;
  uint64_t sched_period;
};
#endif

// Sets the calling thread's slice (0: the default) under the default policy.
std::string setCallerSlice(uint64_t ns) {
#if defined(__linux__)
  if (sched_getscheduler(0) != SCHED_OTHER) return "";
  // The nice level goes back as it is: a lower one would need privileges,
  // a higher one would cost the thread its share.
  errno = 0;
  int nice = getpriority(PRIO_PROCESS, 0);  // the calling thread, on Linux
  if (nice == -1 && errno != 0) return std::strerror(errno);
  SchedAttr attr{};
  attr.size = sizeof attr;
  attr.sched_policy = SCHED_OTHER;
  attr.sched_nice = nice;
  attr.sched_runtime = ns;
  if (syscall(SYS_sched_setattr, 0, &attr, 0) != 0) return std::strerror(errno);
  return "";
#else
  (void)ns;
  return "";
#endif
}
}  // namespace

std::string shortenCallerSlice() { return setCallerSlice(kShortSliceNs); }

std::string restoreCallerSlice() { return setCallerSlice(0); }

void nameCallerThread(const std::string& name) {
  std::string shown = name.substr(0, 15);
#if defined(__linux__)
  pthread_setname_np(pthread_self(), shown.c_str());
#elif defined(__FreeBSD__)
  pthread_set_name_np(pthread_self(), shown.c_str());
#endif
}

}  // namespace vmm
