import { reportStop } from './stop_reply';
import type { Command } from './types';

/** `?`: why the guest is stopped. */
export const question: Command<true> = {
  prefix: '?',
  parse: (body) => (body === '' ? true : undefined),
  handle: async ({ debugger: dbg, session }) => reportStop(session, await dbg.interrupt(), dbg),
};
