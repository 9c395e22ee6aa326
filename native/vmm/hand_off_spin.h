// The hand-offs between the JS thread and a vCPU thread (a vCPU parks and
// the JS thread takes its stop; the JS thread resumes it) are where a
// breakpoint whose condition is false, a dprintf or a single step spends
// most of its time when the two threads sit on different host CPUs: a
// thread asleep on a futex is woken through the kernel, and on a VM the
// idle CPU it slept on must be woken by the hypervisor first (measured
// here: a C ping-pong takes 12 us on one CPU, 55 us across two). So the
// thread that waits polls for a short while before it sleeps, when there
// is a CPU to spare for it: a hand-off that comes within that time costs
// no sleep and no wake-up. With gdb 13 and a condition true once in 3,000
// hits of a breakpoint, unpinned on this 2-CPU VM: 117 us a hit without
// polling, about 40 us with it.
#pragma once

#include <chrono>
#include <functional>

namespace vmm {

// How long a waiter polls before it sleeps: longer than the JS thread takes
// between a silent breakpoint hit and its resume, short enough that a stop
// which waits for the user costs nothing to speak of.
constexpr std::chrono::microseconds kHandOffSpin{200};

// Polls `done` until it holds (true) or `limit` has passed (false); `done`
// is asked at least once. At most
// as many threads poll at once as the host CPUs this process may use, and
// none where that is one CPU (the thread waited for would have to preempt
// the poller); a thread that finds no room returns after the one ask and
// sleeps as before. The JS thread and a vCPU thread wait for each other in
// turn, so on two CPUs both may poll for the moment their turns overlap.
// `pollsPerYield` polls go by between yields of the CPU (a power of two):
// 64 cheap polls (an atomic load and a pause each) take a couple of
// microseconds; a poll that is a system call wants fewer.
bool spinUntil(const std::function<bool()>& done, std::chrono::microseconds limit,
               unsigned pollsPerYield = 64);

// spinUntil for input on a file descriptor (the debugger's socket): true
// once it is readable (or at its end), false after `limit`. The JS thread
// polls after each reply, when the debugger's next request most often
// follows within tens of microseconds: on this 2-CPU VM a request then
// costs no wake-up of a sleeping CPU (a trivial packet's round trip from
// gdb went from about 110 us to about 60 us with both CPUs kept busy).
bool spinForInput(int fd, std::chrono::microseconds limit);

}  // namespace vmm
