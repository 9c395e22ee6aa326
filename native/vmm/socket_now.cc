#include "vmm/socket_now.h"

#include <errno.h>
#include <sys/socket.h>

namespace vmm {

size_t readNow(int fd, uint8_t* out, size_t max) {
  if (fd < 0 || max == 0) return 0;
  for (;;) {
    ssize_t n = recv(fd, out, max, MSG_DONTWAIT);
    if (n > 0) return static_cast<size_t>(n);
    if (n < 0 && errno == EINTR) continue;
    return 0;  // nothing yet, the end or an error: Node's read finds the last two
  }
}

size_t writeNow(int fd, const uint8_t* data, size_t len) {
  if (fd < 0) return 0;
  size_t done = 0;
  while (done < len) {
#if defined(MSG_NOSIGNAL)
    const int flags = MSG_DONTWAIT | MSG_NOSIGNAL;
#else
    const int flags = MSG_DONTWAIT;  // FreeBSD: SO_NOSIGPIPE is Node's concern; it ignores SIGPIPE
#endif
    ssize_t n = send(fd, data + done, len - done, flags);
    if (n > 0) {
      done += static_cast<size_t>(n);
    } else if (n < 0 && errno == EINTR) {
      continue;
    } else {
      break;  // full, or an error Node's write will meet
    }
  }
  return done;
}

}  // namespace vmm
