#!/usr/bin/env node
import { parseCommandLine, USAGE, UsageError } from './cli/args';
import { run, RunError } from './cli/run';

async function main(argv: string[]): Promise<number> {
  let invocation;
  try {
    invocation = parseCommandLine(argv);
  } catch (error) {
    if (error instanceof UsageError) {
      process.stderr.write(`vmm-gdbstub: ${error.message}\n${USAGE}`);
      return 2;
    }
    throw error;
  }
  if (invocation.command === 'help') {
    process.stdout.write(USAGE);
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

main(process.argv.slice(2)).then(
  (status) => {
    process.exitCode = status;
    // vCPU threads and sockets are gone by now; nothing should keep us alive.
    setImmediate(() => process.exit(status));
  },
  (error: unknown) => {
    process.stderr.write(`vmm-gdbstub: internal error: ${(error as Error).stack ?? error}\n`);
    process.exit(70);
  },
);
