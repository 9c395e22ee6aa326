import type { Command, CommandContext } from './types';

/** What qSupported needs to know of a command: its prefix and whether it parses a packet. */
export type KnownCommand = Pick<Command<unknown>, 'prefix' | 'parse'>;

interface Feature {
  feature: string;
  /** Offered only while a command of the dispatcher parses this packet. */
  probe?: string;
  /** And only while this holds (a capability no packet shows). */
  when?: (context: CommandContext) => boolean;
}

/**
 * The features qSupported may offer, one line each. Adding x (binary-upload)
 * or Z0 (swbreak) to the dispatcher's table offers them; hwbreak also needs
 * the vmm's hardware breakpoints (the optional `hwBreakpoints` of the Vmm
 * contract), because the Z command parses Z1 even where it cannot set one.
 */
const FEATURES: readonly Feature[] = [
  { feature: 'qXfer:features:read+', probe: 'qXfer:features:read:target.xml:0,1' },
  { feature: 'qXfer:threads:read+', probe: 'qXfer:threads:read::0,1' },
  { feature: 'qXfer:memory-map:read+', probe: 'qXfer:memory-map:read::0,1' },
  { feature: 'QStartNoAckMode+', probe: 'QStartNoAckMode' },
  { feature: 'swbreak+', probe: 'Z0,0,1' }, // stop replies say swbreak: only after a Z0
  // Agent expressions on Z0/Z1, evaluated at the hit (const8 1, end).
  { feature: 'ConditionalBreakpoints+', probe: 'Z0,0,1;X3,220127' },
  { feature: 'BreakpointCommands+', probe: 'Z0,0,1;cmds:0,X3,220127' },
  { feature: 'hwbreak+', probe: 'Z1,0,1', when: ({ debugger: dbg }) => 'hwBreakpoints' in dbg.vmm },
  { feature: 'vContSupported+', probe: 'vCont?' },
  { feature: 'binary-upload+', probe: 'x0,1' }, // gdb 13 reads memory with x once offered
  { feature: 'multiprocess-' }, // thread ids are plain vCPU numbers + 1
];

/** Whether a command (the longest prefix, as the dispatcher picks it) parses packet. */
function answers(commands: readonly KnownCommand[], packet: string): boolean {
  let best: KnownCommand | undefined;
  for (const command of commands) {
    if (!packet.startsWith(command.prefix)) continue;
    if (best === undefined || command.prefix.length > best.prefix.length) best = command;
  }
  return best !== undefined && best.parse(packet.slice(best.prefix.length)) !== undefined;
}

/** The qSupported reply for a command table: PacketSize first, then the features it backs. */
export function supportedFeatures(
  commands: readonly KnownCommand[],
  context: CommandContext,
): string {
  const offered = FEATURES.filter(
    ({ probe, when }) =>
      (probe === undefined || answers(commands, probe)) && (when === undefined || when(context)),
  );
  const size = `PacketSize=${context.session.packetSize.toString(16)}`;
  return [size, ...offered.map((f) => f.feature)].join(';');
}

/**
 * `qSupported[:gdb's features]`: computed from the dispatcher's commands
 * (given lazily, as the table holds this command too). gdb's features are
 * kept in the session for the commands whose reply depends on them (x).
 */
export function qSupported(commands: () => readonly KnownCommand[]): Command<string[]> {
  return {
    prefix: 'qSupported',
    parse: (body) => {
      if (body === '') return [];
      return body.startsWith(':') ? body.slice(1).split(';').filter(Boolean) : undefined;
    },
    handle: (context, features) => {
      context.session.clientFeatures = features;
      return supportedFeatures(commands(), context);
    },
  };
}

/** `qAttached`: the guest existed before us, so detaching leaves it running. */
export const qAttached: Command<true> = {
  prefix: 'qAttached',
  parse: () => true,
  handle: () => '1',
};

/** `D` or `D;pid` (multiprocess): detach; the server removes breakpoints and resumes the guest. */
export const detach: Command<true> = {
  prefix: 'D',
  parse: (body) => (body === '' || /^;[0-9a-fA-F]{1,16}$/.test(body) ? true : undefined),
  handle: ({ session }) => {
    session.ending = 'detach';
    return 'OK';
  },
};

/** `k`: kill; no reply, the server stops the VM. */
export const kill: Command<true> = {
  prefix: 'k',
  parse: (body) => (body === '' ? true : undefined),
  handle: ({ session }) => {
    session.ending = 'kill';
    return null;
  },
};

/** `QStartNoAckMode`: no more `+`/`-` after our OK (the reliable transport is TCP). */
export const startNoAckMode: Command<true> = {
  prefix: 'QStartNoAckMode',
  parse: (body) => (body === '' ? true : undefined),
  handle: ({ session }) => {
    session.startNoAck = true;
    return 'OK';
  },
};
