// Reads and writes on the debugger's socket that neither wait nor go
// through Node's stream and libuv's queues. A request that the JS thread
// already polled for (spinForInput) is read at once, and a reply written
// at once, with one system call each: Node's own way adds a turn of the
// event loop for the read and its stream machinery around both, about as
// much again as the system calls themselves on this kind of VM. Whatever
// these cannot do now (nothing to read, the socket's buffer full, the end
// of the stream, an error) is left to Node, which finds it as before.
#pragma once

#include <sys/types.h>

#include <cstddef>
#include <cstdint>

namespace vmm {

// Up to `max` bytes the socket holds now, into `out`: how many (> 0), or 0
// when there is nothing to take now (no data yet, the end, an error).
size_t readNow(int fd, uint8_t* out, size_t max);

// Writes what the socket takes now of `data`: how many bytes (0 when none,
// or on an error).
size_t writeNow(int fd, const uint8_t* data, size_t len);

}  // namespace vmm
