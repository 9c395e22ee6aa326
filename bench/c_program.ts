import { execFileSync, spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';

/**
 * C shared by the helpers that serve: a TCP socket listening on 127.0.0.1 at
 * a port of the kernel's choice, which it stores in *port. Needs the socket
 * headers (arpa/inet.h, netinet/in.h, sys/socket.h).
 */
export const C_LISTEN_LOOPBACK = String.raw`
static int listen_loopback(int *port) {
  int lfd = socket(AF_INET, SOCK_STREAM, 0);
  struct sockaddr_in a = {0};
  socklen_t alen = sizeof a;
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (bind(lfd, (struct sockaddr *)&a, sizeof a) || listen(lfd, 1)) exit(1);
  getsockname(lfd, (struct sockaddr *)&a, &alen);
  *port = ntohs(a.sin_port);
  return lfd;
}
`;

/**
 * Compiles one of the benchmark's C helpers (floors, the C client) with gcc
 * into `workDir`; its path, or undefined without gcc.
 */
export function compileC(
  workDir: string,
  name: string,
  source: string,
  optimize = '-O2',
): string | undefined {
  const file = path.join(workDir, `${name}.c`);
  const binary = path.join(workDir, name);
  try {
    fs.writeFileSync(file, source);
    execFileSync('gcc', [optimize, '-o', binary, file], { stdio: 'ignore' });
    return binary;
  } catch {
    return undefined;
  }
}

/** Runs a server that prints the port it listens on, for as long as `body` takes. */
export async function withServer<T>(
  command: string,
  args: string[],
  body: (port: number) => Promise<T>,
): Promise<T> {
  const server = spawn(command, args, { stdio: ['ignore', 'pipe', 'inherit'] });
  try {
    const port = await new Promise<number>((resolve, reject) => {
      server.stdout!.once('data', (d: Buffer) => resolve(Number(d.toString().trim())));
      server.once('exit', () => reject(new Error(`${path.basename(command)} exited`)));
    });
    return await body(port);
  } finally {
    server.kill();
  }
}
