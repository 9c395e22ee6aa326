import type { CommandContext } from '../types';

/**
 * One `monitor` command (qRcmd). Output goes through `print`, a line at a
 * time; a failure is a thrown MonitorError, whose message is printed before
 * the E reply.
 */
export interface MonitorCommand {
  /** The words that name it, as typed: `info vcpus`. */
  readonly name: string;
  /** Its arguments as help shows them (`ADDR`, `on|off`); empty for none. */
  readonly usage: string;
  /** One line for `monitor help`. */
  readonly summary: string;
  /** Runs with the words that follow the name. */
  run(context: CommandContext, args: string[], print: (line: string) => void): void | Promise<void>;
}

/** A monitor command's failure: the message is what the user reads. */
export class MonitorError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'MonitorError';
  }
}

/** The usage line of a command, as an error. */
export function usageError(command: MonitorCommand): MonitorError {
  return new MonitorError(`usage: monitor ${command.name} ${command.usage}`.trimEnd());
}

/** `on` or `off` as the one argument; a usage error otherwise. */
export function onOff(command: MonitorCommand, args: string[]): boolean {
  if (args.length !== 1 || (args[0] !== 'on' && args[0] !== 'off')) throw usageError(command);
  return args[0] === 'on';
}

/** A vCPU number (decimal, as `info vcpus` lists them) as the one argument. */
export function vcpuArgument(
  command: MonitorCommand,
  { debugger: dbg }: CommandContext,
  args: string[],
): number {
  if (args.length !== 1 || !/^\d{1,6}$/.test(args[0]!)) throw usageError(command);
  const vcpu = Number(args[0]);
  if (vcpu >= dbg.vmm.vcpuCount) {
    throw new MonitorError(`no vCPU ${vcpu}: the guest has vCPUs 0-${dbg.vmm.vcpuCount - 1}`);
  }
  return vcpu;
}

/** An address in hex, `0x` optional, as the one argument. */
export function addressArgument(command: MonitorCommand, args: string[]): bigint {
  const match = args.length === 1 ? /^(?:0[xX])?([0-9a-fA-F]{1,16})$/.exec(args[0]!) : null;
  if (match === null) throw usageError(command);
  return BigInt('0x' + match[1]!);
}

/** An address as the monitor prints it. */
export function hex(value: bigint | number): string {
  return '0x' + value.toString(16);
}
