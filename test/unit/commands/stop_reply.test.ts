import { stopReply } from '../../../lib/commands/stop_reply';
import { endsGuest } from '../../../lib/debugger/debugger';
import type { MachineEnd } from '../../../lib/vmm/vmm';

describe('stop replies for a machine that stopped', () => {
  const shutdown = (end?: MachineEnd) => ({ vcpu: 1, reason: 'shutdown' as const, rip: 0n, end });

  it.each<MachineEnd>(['power-off', 'reset', 'halt'])(
    'a %s ends the guest: the exit reply W00',
    (end) => {
      expect(endsGuest(shutdown(end))).toBe(true);
      expect(stopReply(shutdown(end))).toBe('W00');
    },
  );

  it('a triple fault, or a shutdown the backend cannot name, leaves the vCPU to look at (SIGSEGV)', () => {
    for (const stop of [shutdown('triple-fault'), shutdown()]) {
      expect(endsGuest(stop)).toBe(false);
      expect(stopReply(stop)).toBe('T0bthread:2;');
    }
  });

  it('an error is never the end of the guest, whatever it carries', () => {
    const stop = { vcpu: 0, reason: 'error' as const, rip: 0n, end: 'power-off' as const };
    expect(endsGuest(stop)).toBe(false);
    expect(stopReply(stop)).toBe('T0bthread:1;');
  });
});
