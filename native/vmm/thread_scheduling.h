// How the threads that run a VM are scheduled against each other and the
// host: the vCPU threads may drop to idle priority (--vcpu-priority idle),
// and the thread that drives the VM (Node's JS thread) asks for a short
// scheduler slice. Each returns "" or the reason it could not. And their
// names, as top -H and /proc show them.
#pragma once

#include <string>

namespace vmm {

// Moves the calling thread to idle priority (Linux SCHED_IDLE, FreeBSD
// RTP_PRIO_IDLE).
std::string lowerCallerToIdle();

// Asks for a short scheduler slice (0.1 ms) for the calling thread, which
// keeps its policy, nice level and so its share of the CPU. Linux 6.12 and
// later schedule a woken thread with a shorter slice ahead of running
// threads with longer ones, so the JS thread reads a Ctrl-C, or the last
// parked vCPU's event, while busy vCPU threads share its CPU, instead of
// after their slices. Kernels without custom slices ignore the request; so
// do threads not under the default policy (left as they are); elsewhere it
// is a no-op.
std::string shortenCallerSlice();

// Gives the calling thread the default slice again: threads inherit their
// creator's, and the vCPU threads are made by the JS thread.
std::string restoreCallerSlice();

// Names the calling thread (at most 15 characters are kept).
void nameCallerThread(const std::string& name);

}  // namespace vmm
