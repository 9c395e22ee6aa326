import { execFileSync } from 'node:child_process';
import { compileC } from './c_program';

/**
 * A second client for the m and x figures, in C: it decodes replies at
 * native speed, so that its figure is the stub's (and the kernel's) limit
 * rather than the TypeScript client's. Same requests as the TypeScript
 * client (as large as PacketSize allows, one in flight), no-ack mode when
 * the stub takes it; the bytes read are checked through an FNV-1a hash.
 */
const C_READER = String.raw`
/* Reads guest memory over RSP with m or x as fast as one C client can:
   reader PORT m|x ADDRESS LENGTH. Prints "seconds bytes fnv1a32 mode" or
   "unsupported". One request in flight, as gdb does. */
#include <arpa/inet.h>
#include <ctype.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

static int fd, acking = 1;
/* Received bytes not consumed yet: buf[at, len). */
static unsigned char *buf;
static size_t at, len, cap;
static unsigned char *body;
static size_t body_cap;

/* Reads more into buf (growing it), keeping the unconsumed bytes. */
static void fill(void) {
  if (at > 0) {
    memmove(buf, buf + at, len - at);
    len -= at;
    at = 0;
  }
  if (cap - len < (1 << 16)) {
    cap = cap ? cap * 2 : 1 << 20;
    buf = realloc(buf, cap);
  }
  ssize_t n = read(fd, buf + len, cap - len);
  if (n <= 0) exit(3);
  len += (size_t)n;
}

static void send_packet(const char *payload) {
  char frame[256];
  unsigned sum = 0;
  for (const char *p = payload; *p; p++) sum += (unsigned char)*p;
  int n = snprintf(frame, sizeof frame, "$%s#%02x", payload, sum & 0xff);
  if (write(fd, frame, n) != n) exit(3);
}

/* The next packet's body (run-length encoding expanded); its length. Works
   on whole buffers (memchr for the frame, one summing loop, one copy), as a
   client in C would: the byte-at-a-time version was slower than the
   TypeScript client. */
static size_t receive_any(void) {
  unsigned char *dollar;
  while ((dollar = memchr(buf + at, '$', len - at)) == 0) {
    at = len;
    fill();
  }
  at = (size_t)(dollar - buf) + 1;
  unsigned char *hash;
  size_t scanned = at;
  while ((hash = memchr(buf + scanned, '#', len - scanned)) == 0 || hash + 3 > buf + len) {
    if (hash == 0) scanned = len;
    size_t offset = scanned - at;
    fill();
    scanned = at + offset;
  }
  const unsigned char *data = buf + at;
  size_t n = (size_t)(hash - data);
  unsigned sum = 0;
  for (size_t i = 0; i < n; i++) sum += data[i];
  char hex[3] = {(char)hash[1], (char)hash[2], 0};
  if (strtoul(hex, 0, 16) != (sum & 0xff)) exit(4);
  if (n + 128 > body_cap) {
    body_cap = n + (1 << 20);
    body = realloc(body, body_cap);
  }
  size_t out = 0;
  if (memchr(data, '*', n) == 0) {
    memcpy(body, data, n);
    out = n;
  } else {
    for (size_t i = 0; i < n; i++) {
      if (data[i] == '*' && out > 0 && i + 1 < n) {
        size_t count = data[++i] - 29;
        if (out + count + 128 > body_cap) {
          body_cap = (out + count) * 2 + 128;
          body = realloc(body, body_cap);
        }
        memset(body + out, body[out - 1], count);
        out += count;
      } else {
        if (out + 128 > body_cap) {
          body_cap = out * 2 + 128;
          body = realloc(body, body_cap);
        }
        body[out++] = data[i];
      }
    }
  }
  at = (size_t)(hash - buf) + 3;
  if (acking && write(fd, "+", 1) != 1) exit(3);
  return out;
}

/* As receive_any, past stop replies (T, S): QEMU sends one when a
   debugger connects, whenever it gets to it. No reply asked for here starts
   with either letter. */
static size_t receive(void) {
  for (;;) {
    size_t len = receive_any();
    if (len == 0 || (body[0] != 'T' && body[0] != 'S')) return len;
  }
}

/* Digit pairs, read as a 16-bit unit, to their byte (x86: little-endian). */
static uint8_t pair_value[65536];

static void make_pairs(void) {
  const char *digits = "0123456789abcdef";
  for (int hi = 0; hi < 16; hi++) {
    for (int lo = 0; lo < 16; lo++) {
      pair_value[(uint8_t)digits[hi] | (uint8_t)digits[lo] << 8] = (uint8_t)(hi << 4 | lo);
      pair_value[(uint8_t)toupper(digits[hi]) | (uint8_t)toupper(digits[lo]) << 8] = (uint8_t)(hi << 4 | lo);
    }
  }
}

int main(int argc, char **argv) {
  if (argc != 5) return 2;
  make_pairs();
  char packet = argv[2][0];
  unsigned long long address = strtoull(argv[3], 0, 0), length = strtoull(argv[4], 0, 0);
  struct sockaddr_in a = {0};
  a.sin_family = AF_INET;
  a.sin_port = htons(atoi(argv[1]));
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  int one = 1;
  fd = socket(AF_INET, SOCK_STREAM, 0);
  setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  if (connect(fd, (struct sockaddr *)&a, sizeof a)) return 3;
  send_packet("qSupported:binary-upload+");
  size_t n = receive();
  body[n] = 0;
  char *ps = strstr((char *)body, "PacketSize=");
  size_t packet_size = ps ? strtoul(ps + 11, 0, 16) : 4096;
  send_packet("QStartNoAckMode");
  n = receive();
  if (n == 2 && memcmp(body, "OK", 2) == 0) acking = 0;
  size_t chunk = packet == 'm' ? (packet_size - 4) / 2 : packet_size - 5;
  unsigned char *out = malloc(length);
  struct timespec t0, t1;
  clock_gettime(CLOCK_MONOTONIC, &t0);
  unsigned long long done = 0;
  while (done < length) {
    char request[64];
    unsigned long long want = length - done < chunk ? length - done : chunk;
    snprintf(request, sizeof request, "%c%llx,%llx", packet, address + done, want);
    send_packet(request);
    n = receive();
    if (n == 0 || (n == 3 && body[0] == 'E')) {
      puts("unsupported");
      return 0;
    }
    size_t got = 0;
    if (packet == 'm') {
      for (size_t i = 0; i + 1 < n && got < want; i += 2) {
        uint16_t unit;
        memcpy(&unit, body + i, 2);
        out[done + got++] = pair_value[unit];
      }
    } else {
      /* Runs between escapes copied whole (memchr, memcpy): a branch a
         byte made this loop, not the stub, the limit of an x read. */
      size_t i = body[0] == 'b';
      while (i < n && got < want) {
        const unsigned char *escape = memchr(body + i, '}', n - i);
        size_t run = (escape ? (size_t)(escape - body) : n) - i;
        if (run > want - got) run = want - got;
        memcpy(out + done + got, body + i, run);
        got += run;
        i += run;
        if (got < want && escape && body + i == escape) {
          if (i + 1 >= n) return 5;
          out[done + got++] = body[i + 1] ^ 0x20;
          i += 2;
        }
      }
    }
    if (got == 0) return 5;
    done += got;
  }
  clock_gettime(CLOCK_MONOTONIC, &t1);
  uint32_t h = 2166136261u;
  for (unsigned long long i = 0; i < length; i++) h = (h ^ out[i]) * 16777619u;
  printf("%f %llu %u %s\n", (t1.tv_sec - t0.tv_sec) + (t1.tv_nsec - t0.tv_nsec) / 1e9, length, h, acking ? "ack" : "no-ack");
  send_packet("D");
  receive();
  return 0;
}
`;

/** Compiles the reader (-O3: its summing loop vectorizes); undefined without gcc. */
export function buildCReader(workDir: string): string | undefined {
  return compileC(workDir, 'reader', C_READER, '-O3');
}

/** FNV-1a, 32 bits: what the reader prints for the bytes it read. */
export function fnv1a(data: Uint8Array): number {
  let hash = 0x811c9dc5;
  for (let i = 0; i < data.length; i++) hash = Math.imul(hash ^ data[i]!, 16777619) >>> 0;
  return hash;
}

export interface CReadResult {
  bytesPerSecond: number;
  verified: boolean;
  mode: string;
}

/** Reads `expected.length` bytes at `address`; undefined when the stub has no such packet. */
export function cRead(
  reader: string,
  port: number,
  packet: 'm' | 'x',
  address: number,
  expected: Buffer,
): CReadResult | undefined {
  const out = execFileSync(
    reader,
    [String(port), packet, `0x${address.toString(16)}`, String(expected.length)],
    { encoding: 'utf8', timeout: 120000 },
  ).trim();
  if (out === 'unsupported') return undefined;
  const [seconds, bytes, hash, mode] = out.split(' ');
  return {
    bytesPerSecond: Number(bytes) / Number(seconds),
    verified: Number(hash) === fnv1a(expected),
    mode: mode!,
  };
}
