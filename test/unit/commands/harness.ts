import { dispatch } from '../../../lib/commands/dispatch';
import type { CommandContext, Session } from '../../../lib/commands/types';
import { Debugger } from '../../../lib/debugger/debugger';
import { payloadBytes } from '../../../lib/rsp/encoded_payload';
import type { MockVmm } from '../../../lib/vmm/mock_vmm';

/** A command context over a MockVmm, with a fresh session. */
export function commandContext(vmm: MockVmm, session: Partial<Session> = {}): CommandContext {
  return {
    debugger: new Debugger(vmm),
    session: { generalVcpu: 0, continueVcpu: -1, packetSize: 0x4000, ...session },
  };
}

/** Dispatches one packet; the reply's bytes, or null for a packet without one. */
export async function sendPacket(context: CommandContext, packet: string): Promise<Buffer | null> {
  const { reply } = await dispatch(context, Buffer.from(packet, 'latin1'));
  return reply === null ? null : Buffer.from(payloadBytes(reply));
}

/** As sendPacket, as text; '<none>' for no reply. */
export async function sendText(context: CommandContext, packet: string): Promise<string> {
  return (await sendPacket(context, packet))?.toString('latin1') ?? '<none>';
}
