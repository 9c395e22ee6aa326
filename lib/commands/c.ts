import { parseHexBigInt } from '../rsp/hex';
import { stopReply } from './stop_reply';
import { Errors, type Command } from './types';

/** `c [addr]`: resume every vCPU; the reply is the next stop. */
export const c: Command<{ address?: bigint }> = {
  prefix: 'c',
  parse: (body) => {
    if (body === '') return {};
    const address = parseHexBigInt(body);
    return address === undefined ? undefined : { address };
  },
  handle: async ({ debugger: dbg, session }, { address }) => {
    if (address !== undefined) {
      const vcpu = session.continueVcpu >= 0 ? session.continueVcpu : session.generalVcpu;
      const regs = dbg.registers(vcpu);
      regs.rip = address;
      try {
        dbg.vmm.setRegisters(vcpu, regs);
      } catch {
        return Errors.invalid;
      }
    }
    return stopReply(await dbg.continue());
  },
};
