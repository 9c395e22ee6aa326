import type { Command } from './types';

/** `qSupported`: what this stub offers; gdb's own features are noted, not needed. */
export const qSupported: Command<true> = {
  prefix: 'qSupported',
  parse: () => true,
  handle: ({ session }) => `PacketSize=${session.packetSize.toString(16)};QStartNoAckMode+`,
};

/** `qAttached`: the guest existed before us, so detaching leaves it running. */
export const qAttached: Command<true> = {
  prefix: 'qAttached',
  parse: () => true,
  handle: () => '1',
};

/** `D`: detach; the server removes breakpoints and resumes the guest. */
export const detach: Command<true> = {
  prefix: 'D',
  parse: () => true,
  handle: ({ session }) => {
    session.ending = 'detach';
    return 'OK';
  },
};

/** `k`: kill; no reply, the server stops the VM. */
export const kill: Command<true> = {
  prefix: 'k',
  parse: () => true,
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
