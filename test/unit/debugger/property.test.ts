import fc from 'fast-check';
import { dispatch } from '../../../lib/commands/dispatch';
import type { Session } from '../../../lib/commands/types';
import { Debugger } from '../../../lib/debugger/debugger';
import { escapeBinary } from '../../../lib/rsp/binary';
import { payloadBytes } from '../../../lib/rsp/encoded_payload';
import { MockVmm } from '../../../lib/vmm/mock_vmm';

const RAM = 0x400;

/**
 * One packet and what it does to the reference model of guest memory;
 * `refused`: a malformed packet, answered E16 without effect.
 */
type Op = { packet: Buffer; write?: { at: number; data: Buffer }; refused?: true };

const address = fc.integer({ min: 0, max: RAM + 0x20 });

/** The trailing garbage and out-of-range fields an outside fuzz found accepted. */
const FUZZ_FOUND = [
  'k,k',
  'k;',
  'D,1000f0,1',
  'D;\xff',
  'C05;',
  'S05;',
  'Z0000000000000,300,1',
  'Z1,1000f0,9',
  'z1,1000f0,9',
];
const garbage = fc.string({ minLength: 1, maxLength: 6 }).filter((g) => !/^;[0-9a-fA-F]+$/.test(g));
const refused: fc.Arbitrary<Op> = fc
  .oneof(
    fc.constantFrom(...FUZZ_FOUND),
    // k and D with anything after them but D's `;pid`.
    fc.tuple(fc.constantFrom('k', 'D'), garbage).map(([p, g]) => p + g),
    // C/S with a signal and an empty address.
    fc
      .tuple(fc.constantFrom('C', 'S'), fc.integer({ min: 0, max: 255 }))
      .map(([p, sig]) => `${p}${sig.toString(16).padStart(2, '0')};`),
    // Z/z with a type that is not one digit 0-4, or a kind the type does not take.
    fc
      .tuple(fc.constantFrom('Z', 'z'), fc.stringMatching(/^[0-9a-f]{2,14}$|^[5-9a-f]$/), address)
      .map(([p, t, a]) => `${p}${t},${a.toString(16)},1`),
    fc
      .tuple(
        fc.constantFrom('Z', 'z'),
        fc.integer({ min: 0, max: 4 }),
        address,
        fc.integer({ min: 0, max: 32 }),
      )
      .filter(([, t, , k]) => (t <= 1 ? k !== 1 : ![1, 2, 4, 8].includes(k)))
      .map(([p, t, a, k]) => `${p}${t},${a.toString(16)},${k.toString(16)}`),
  )
  .map((packet) => ({ packet: Buffer.from(packet, 'latin1'), refused: true as const }));

const bytes = fc.uint8Array({ minLength: 1, maxLength: 24 }).map((a) => Buffer.from(a));

function writeOp(at: number, data: Buffer, packet: Buffer): Op {
  // All or nothing: a write that does not fit guest RAM changes nothing.
  return at + data.length <= RAM ? { packet, write: { at, data } } : { packet };
}

const op: fc.Arbitrary<Op> = fc.oneof(
  address.map((a) => ({ packet: Buffer.from(`Z0,${a.toString(16)},1`) })),
  address.map((a) => ({ packet: Buffer.from(`z0,${a.toString(16)},1`) })),
  fc.tuple(address, fc.integer({ min: 0, max: 64 })).map(([a, n]) => ({
    packet: Buffer.from(`m${a.toString(16)},${n.toString(16)}`),
  })),
  fc.tuple(address, fc.integer({ min: 0, max: 64 })).map(([a, n]) => ({
    packet: Buffer.from(`x${a.toString(16)},${n.toString(16)}`),
  })),
  fc
    .tuple(address, bytes)
    .map(([a, d]) =>
      writeOp(
        a,
        d,
        Buffer.from(`M${a.toString(16)},${d.length.toString(16)}:${d.toString('hex')}`),
      ),
    ),
  fc
    .tuple(address, bytes)
    .map(([a, d]) =>
      writeOp(
        a,
        d,
        Buffer.concat([
          Buffer.from(`X${a.toString(16)},${d.length.toString(16)}:`),
          escapeBinary(d),
        ]),
      ),
    ),
  fc.constant({ packet: Buffer.from('c') }),
  fc.constant({ packet: Buffer.from('s') }),
  fc.uint8Array({ maxLength: 12 }).map((a) => ({ packet: Buffer.from(a) })),
  fc.string({ maxLength: 12 }).map((s) => ({ packet: Buffer.from(s, 'latin1') })),
  refused,
);

describe('breakpoints, memory and execution under random packets', () => {
  it('never throw or hang, and leave guest memory as the guest wrote it after detach', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.uint8Array({ minLength: RAM, maxLength: RAM }),
        fc.array(op, { maxLength: 30 }),
        async (initial, ops) => {
          const vmm = new MockVmm({ memoryBytes: RAM });
          Buffer.from(initial).copy(vmm.ram);
          const reference = Buffer.from(initial);
          const dbg = new Debugger(vmm);
          const session: Session = { generalVcpu: 0, continueVcpu: -1, packetSize: 0x400 };
          for (const { packet, write, refused: malformed } of ops) {
            const pending = dispatch({ debugger: dbg, session }, packet);
            // A continue may run forever in the mock: Ctrl-C it, as a user would.
            await new Promise((resolve) => setImmediate(resolve));
            await new Promise((resolve) => setImmediate(resolve));
            if (!dbg.isStopped) void dbg.interrupt();
            const { reply } = await pending;
            // Every reply encodes to bytes (an encoded payload must not throw).
            if (reply !== null) expect(Buffer.isBuffer(payloadBytes(reply))).toBe(true);
            if (write !== undefined) write.data.copy(reference, write.at);
            if (malformed) {
              expect(reply).toBe('E16');
              expect(session.ending).toBeUndefined();
            }
            session.ending = undefined;
          }
          dbg.detach();
          expect(vmm.ram.equals(reference)).toBe(true);
          expect(vmm.breakpointExitsOn).toBe(false);
          vmm.destroy();
        },
      ),
      { numRuns: 200 },
    );
  });
});
