import { execFileSync, spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as net from 'node:net';
import * as path from 'node:path';
import { sleep, summarise, timeLoop, type Budget, type Latency } from './stats';

/** What a qC exchange puts on the wire: `$qC#b4` out, `+$QC1#c5` back. */
const REQUEST = Buffer.from('$qC#b4', 'latin1');
const REPLY = Buffer.from('+$QC1#c5', 'latin1');

/**
 * One qC-sized exchange in flight, Nagle off on both sides: the benchmark's
 * own client (Node) against an echo server already listening on `port`.
 */
async function nodeClientLoopback(
  port: number,
  budget: Budget,
  warmup = 200,
  idleMs = 0,
): Promise<Latency> {
  const socket = net.connect(port, '127.0.0.1');
  socket.setNoDelay(true);
  await new Promise<void>((resolve) => socket.once('connect', () => resolve()));
  let wake: (() => void) | undefined;
  let received = 0;
  socket.on('data', (chunk) => {
    received += chunk.length;
    if (received >= REPLY.length) {
      received -= REPLY.length;
      const w = wake;
      wake = undefined;
      w?.();
    }
  });
  const exchange = () =>
    new Promise<void>((resolve) => {
      wake = resolve;
      socket.write(REQUEST);
    });
  let samples: number[];
  if (idleMs === 0) {
    samples = await timeLoop(exchange, budget, warmup);
  } else {
    for (let i = 0; i < warmup; i++) await exchange();
    samples = [];
    for (let i = 0; i < budget.samples; i++) {
      await sleep(idleMs);
      const t0 = performance.now();
      await exchange();
      samples.push((performance.now() - t0) * 1000);
    }
  }
  socket.destroy();
  return summarise(samples);
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
  return withEchoServer(pingPong, ['serve'], (port) =>
    nodeClientLoopback(port, { samples: count, ms: 0, minSamples: count }, 1, idleMs),
  );
}

/** Runs `command`, which prints the port it listens on, for as long as `body` takes. */
async function withEchoServer<T>(
  command: string,
  args: string[],
  body: (port: number) => Promise<T>,
): Promise<T> {
  const server = spawn(command, args, { stdio: ['ignore', 'pipe', 'inherit'] });
  try {
    const port = await new Promise<number>((resolve, reject) => {
      server.stdout!.once('data', (d: Buffer) => resolve(Number(d.toString().trim())));
      server.once('exit', () => reject(new Error('the echo server exited')));
    });
    return await body(port);
  } finally {
    server.kill();
  }
}

/** The Node client against a Node echo server in another process. */
export function nodeLoopback(budget: Budget): Promise<Latency> {
  return withEchoServer(
    process.execPath,
    [
      '-e',
      `const reply = Buffer.from(${JSON.stringify(REPLY.toString('latin1'))}, 'latin1');
       const server = require('node:net').createServer((s) => {
         s.setNoDelay(true);
         s.on('data', () => s.write(reply));
       });
       server.listen(0, '127.0.0.1', () => console.log(server.address().port));`,
    ],
    (port) => nodeClientLoopback(port, budget),
  );
}

/**
 * The floor under any stub's round trip as this benchmark's client sees it:
 * the Node client against the fastest server there is, a C echo server
 * (cPingPong's `serve` mode). Undefined without gcc.
 */
export function nodeToCLoopback(pingPong: string | undefined, budget: Budget) {
  if (pingPong === undefined) return Promise.resolve(undefined);
  return withEchoServer(pingPong, ['serve'], (port) => nodeClientLoopback(port, budget));
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
static void echo(int lfd) {
  int one = 1, s = accept(lfd, 0, 0);
  char buf[64];
  setsockopt(s, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  while (read(s, buf, sizeof buf) > 0) write(s, "+$QC1#c5", 8);
}
/* "pingpong N": both ends in C, N timed exchanges. "pingpong serve": the
   echo server alone; prints its port, serves one connection. */
int main(int argc, char **argv) {
  int serve = argc > 1 && strcmp(argv[1], "serve") == 0;
  int n = argc > 1 && !serve ? atoi(argv[1]) : 20000, one = 1;
  int lfd = socket(AF_INET, SOCK_STREAM, 0);
  struct sockaddr_in a = {0};
  socklen_t alen = sizeof a;
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (bind(lfd, (struct sockaddr *)&a, sizeof a) || listen(lfd, 1)) return 1;
  getsockname(lfd, (struct sockaddr *)&a, &alen);
  if (serve) {
    printf("%d\n", ntohs(a.sin_port));
    fflush(stdout);
    echo(lfd);
    return 0;
  }
  pid_t pid = fork();
  if (pid == 0) {
    echo(lfd);
    _exit(0);
  }
  int c = socket(AF_INET, SOCK_STREAM, 0);
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

/** Compiles the C ping-pong with gcc; its path, or undefined without gcc. */
export function buildPingPong(workDir: string): string | undefined {
  const source = path.join(workDir, 'pingpong.c');
  const binary = path.join(workDir, 'pingpong');
  try {
    fs.writeFileSync(source, C_PINGPONG);
    execFileSync('gcc', ['-O2', '-o', binary, source], { stdio: 'ignore' });
    return binary;
  } catch {
    return undefined;
  }
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
