/** The command line's work (lib/cli.ts loads it once V8's flags are set). */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { parseCommandLine, USAGE, UsageError } from './args';
import { run, RunError } from './run';

/** The package's version, from the package.json beside dist/. */
function version(): string {
  const file = path.join(__dirname, '..', '..', 'package.json');
  return (JSON.parse(fs.readFileSync(file, 'utf8')) as { version: string }).version;
}

async function main(argv: string[]): Promise<number> {
  let invocation;
  try {
    invocation = parseCommandLine(argv);
  } catch (error) {
    if (error instanceof UsageError) {
      process.stderr.write(`vmm-gdbstub: ${error.message}\n`);
      return 2;
    }
    throw error;
  }
  switch (invocation.command) {
    case 'usage':
      process.stderr.write(USAGE);
      return 2;
    case 'help':
      process.stdout.write(USAGE);
      return 0;
    case 'version':
      process.stdout.write(`vmm-gdbstub ${version()}\n`);
      return 0;
  }
  try {
    return await run(invocation.options);
  } catch (error) {
    if (error instanceof RunError) {
      process.stderr.write(`vmm-gdbstub: ${error.message}\n`);
      return 1;
    }
    throw error;
  }
}

/** A bug: the stack, and what to do with it. */
function internalError(error: unknown): void {
  process.stderr.write(
    `vmm-gdbstub: internal error: ${(error as Error)?.stack ?? String(error)}\n` +
      'vmm-gdbstub: this is a bug in vmm-gdbstub; please report it with the lines above\n',
  );
  process.exit(70);
}

process.on('uncaughtException', internalError);
main(process.argv.slice(2)).then((status) => {
  process.exitCode = status;
  // vCPU threads and sockets are gone by now; nothing should keep us alive.
  setImmediate(() => process.exit(status));
}, internalError);
