import { C_LISTEN_LOOPBACK, compileC, withServer } from './c_program';
import { cRead } from './c_reader';

/**
 * The floor under m and x throughput on this machine: a C server that
 * answers every m or x request with one prebuilt reply as large as
 * PacketSize allows (no memory read, no encoding), read by the C reader.
 * What is left is the loopback transfer and the reader's decoding: no stub
 * can read faster than this through the same socket with the same packets.
 */
const C_BULK_SERVER = String.raw`
#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

/* bulk PACKETSIZE: prints its port, serves one connection. m replies are
   hex zeros, x replies 'b' and bytes 0x11 (neither needs escaping). */
static char *frame(const char *body, size_t n, size_t *len) {
  char *f = malloc(n + 4);
  unsigned sum = 0;
  f[0] = '$';
  memcpy(f + 1, body, n);
  for (size_t i = 0; i < n; i++) sum += (unsigned char)body[i];
  snprintf(f + 1 + n, 4, "#%02x", sum & 0xff);
  *len = n + 4;
  return f;
}

static void put(int s, const char *data, size_t len) {
  while (len > 0) {
    ssize_t n = write(s, data, len);
    if (n <= 0) exit(0);
    data += n;
    len -= (size_t)n;
  }
}

${C_LISTEN_LOOPBACK}
int main(int argc, char **argv) {
  size_t packet_size = argc > 1 ? strtoul(argv[1], 0, 0) : 4096;
  int one = 1, port, lfd = listen_loopback(&port);
  printf("%d\n", port);
  fflush(stdout);
  size_t hex_len = (packet_size - 4) / 2 * 2, raw_len = packet_size - 4;
  char *hex = malloc(hex_len), *raw = malloc(raw_len), supported[64];
  memset(hex, '0', hex_len);
  memset(raw, 0x11, raw_len);
  raw[0] = 'b';
  snprintf(supported, sizeof supported, "PacketSize=%zx", packet_size);
  size_t m_len, x_len, s_len, ok_len;
  char *m = frame(hex, hex_len, &m_len), *x = frame(raw, raw_len, &x_len);
  char *sup = frame(supported, strlen(supported), &s_len), *ok = frame("OK", 2, &ok_len);
  int s = accept(lfd, 0, 0);
  setsockopt(s, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  char buf[512];
  size_t have = 0;
  for (;;) {
    ssize_t n = read(s, buf + have, sizeof buf - have);
    if (n <= 0) return 0;
    have += (size_t)n;
    char *d, *h;
    while ((d = memchr(buf, '$', have)) != 0 && (h = memchr(d, '#', buf + have - d)) != 0 &&
           h + 3 <= buf + have) {
      switch (d[1]) {
        case 'q': put(s, sup, s_len); break;
        case 'm': put(s, m, m_len); break;
        case 'x': put(s, x, x_len); break;
        default: put(s, ok, ok_len); break;
      }
      have -= (size_t)(h + 3 - buf);
      memmove(buf, h + 3, have);
    }
    if (have == sizeof buf) have = 0;
  }
}
`;

export interface BulkFloor {
  /** Bytes of guest data a second, as m and as x would carry them. */
  m: number;
  x: number;
}

function readFrom(
  server: string,
  reader: string,
  packetSize: number,
  packet: 'm' | 'x',
  expected: Buffer,
): Promise<number | undefined> {
  return withServer(server, [String(packetSize)], (port) => {
    const read = cRead(reader, port, packet, 0, expected);
    return Promise.resolve(read?.verified === true ? read.bytesPerSecond : undefined);
  });
}

/** Both floors for `bytes` of data at `packetSize`; undefined without gcc. */
export async function bulkFloor(
  workDir: string,
  reader: string | undefined,
  packetSize: number,
  bytes: number,
): Promise<BulkFloor | undefined> {
  const server = compileC(workDir, 'bulk', C_BULK_SERVER);
  if (server === undefined || reader === undefined) return undefined;
  const m = await readFrom(server, reader, packetSize, 'm', Buffer.alloc(bytes, 0));
  const x = await readFrom(server, reader, packetSize, 'x', Buffer.alloc(bytes, 0x11));
  return m === undefined || x === undefined ? undefined : { m, x };
}
