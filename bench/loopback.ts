import { execFileSync } from 'node:child_process';
import { C_LISTEN_LOOPBACK, compileC, withServer } from './c_program';
import { BenchClient } from './client';
import { sleep, summarise, timeLoop, type Budget, type Latency } from './stats';

/** A stub's qC reply in no-ack mode: what the echo servers answer to anything. */
const REPLY = '$QC1#c5';

/**
 * qC round trips of the benchmark's own client (BenchClient, no acks: the
 * echo servers take none), exactly as it times a stub's qC, against an echo
 * server already listening on `port`; each after `idleMs` of silence if set.
 */
async function clientLoopback(port: number, budget: Budget, idleMs = 0): Promise<Latency> {
  const client = await BenchClient.connect(port);
  client.skipAcks();
  try {
    const exchange = () => client.request('qC');
    if (idleMs === 0) return summarise(await timeLoop(exchange, budget, 200));
    await exchange();
    const samples: number[] = [];
    for (let i = 0; i < budget.samples; i++) {
      await sleep(idleMs);
      const t0 = performance.now();
      await exchange();
      samples.push((performance.now() - t0) * 1000);
    }
    return summarise(samples);
  } finally {
    await client.close();
  }
}

/**
 * The idle loopback round trip: the same exchange with the C server, each
 * one after `idleMs` of silence, as a Ctrl-C comes after the guest has run
 * a while. On this VM an exchange after idle time costs several times a
 * back-to-back one (the CPUs sleep in the hypervisor meanwhile).
 */
export function idleLoopback(
  pingPong: string | undefined,
  idleMs: number,
  count: number,
): Promise<Latency | undefined> {
  if (pingPong === undefined) return Promise.resolve(undefined);
  return withServer(pingPong, ['serve'], (port) =>
    clientLoopback(port, { samples: count, ms: 0, minSamples: count }, idleMs),
  );
}

/** The Node client against a Node echo server in another process. */
export function nodeLoopback(budget: Budget): Promise<Latency> {
  return withServer(
    process.execPath,
    [
      '-e',
      `const reply = Buffer.from(${JSON.stringify(REPLY)}, 'latin1');
       const server = require('node:net').createServer((s) => {
         s.setNoDelay(true);
         s.on('data', () => s.write(reply));
       });
       server.listen(0, '127.0.0.1', () => console.log(server.address().port));`,
    ],
    (port) => clientLoopback(port, budget),
  );
}

/**
 * The floor under any stub's round trip as this benchmark's client sees it:
 * the Node client against the fastest server there is, a C echo server
 * (cPingPong's `serve` mode). Undefined without gcc.
 */
export function nodeToCLoopback(pingPong: string | undefined, budget: Budget) {
  if (pingPong === undefined) return Promise.resolve(undefined);
  return withServer(pingPong, ['serve'], (port) => clientLoopback(port, budget));
}

const C_PINGPONG = String.raw`
#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static double now_us(void) {
  struct timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return t.tv_sec * 1e6 + t.tv_nsec / 1e3;
}
static int cmp(const void *a, const void *b) {
  double x = *(const double *)a, y = *(const double *)b;
  return x < y ? -1 : x > y;
}
static void echo(int lfd, const char *reply) {
  int one = 1, s = accept(lfd, 0, 0);
  char buf[64];
  setsockopt(s, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  while (read(s, buf, sizeof buf) > 0) write(s, reply, strlen(reply));
}
${C_LISTEN_LOOPBACK}
/* "pingpong N": both ends in C, N timed exchanges. "pingpong serve": the
   echo server alone; prints its port, serves one connection. */
int main(int argc, char **argv) {
  int serve = argc > 1 && strcmp(argv[1], "serve") == 0;
  int n = argc > 1 && !serve ? atoi(argv[1]) : 20000, one = 1, port;
  int lfd = listen_loopback(&port);
  if (serve) {
    printf("%d\n", port);
    fflush(stdout);
    echo(lfd, "$QC1#c5"); /* as a stub in no-ack mode answers */
    return 0;
  }
  pid_t pid = fork();
  if (pid == 0) {
    echo(lfd, "+$QC1#c5");
    _exit(0);
  }
  int c = socket(AF_INET, SOCK_STREAM, 0);
  struct sockaddr_in a = {0};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  a.sin_port = htons(port);
  setsockopt(c, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  if (connect(c, (struct sockaddr *)&a, sizeof a)) return 1;
  double *t = malloc(sizeof(double) * n);
  char buf[64];
  for (int i = -500; i < n; i++) {
    double t0 = now_us();
    write(c, "$qC#b4", 6);
    int got = 0;
    while (got < 8) got += read(c, buf, sizeof buf);
    if (i >= 0) t[i] = now_us() - t0;
  }
  close(c);
  waitpid(pid, 0, 0);
  qsort(t, n, sizeof(double), cmp);
  printf("%f %f %d\n", t[n / 2], t[(int)(n * 0.99)], n);
  return 0;
}
`;

/** Compiles the C ping-pong; its path, or undefined without gcc. */
export function buildPingPong(workDir: string): string | undefined {
  return compileC(workDir, 'pingpong', C_PINGPONG);
}

/** The same exchange with both ends in C: the machine's own floor. */
export function cLoopback(pingPong: string | undefined, samples: number): Latency | undefined {
  if (pingPong === undefined) return undefined;
  try {
    const [median, p99, n] = execFileSync(pingPong, [String(samples)], { encoding: 'utf8' })
      .trim()
      .split(' ')
      .map(Number);
    return { median: median!, p99: p99!, samples: n! };
  } catch {
    return undefined;
  }
}
