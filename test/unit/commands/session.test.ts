import { qSupported, supportedFeatures, type KnownCommand } from '../../../lib/commands/session';
import type { CommandContext } from '../../../lib/commands/types';
import { MockVmm } from '../../../lib/vmm/mock_vmm';
import { commandContext, sendPacket } from './harness';

function context(vcpus = 1): CommandContext {
  return commandContext(new MockVmm({ vcpus }), { packetSize: 0x20000 });
}

const send = async (ctx: CommandContext, packet: string): Promise<string | null> =>
  (await sendPacket(ctx, packet))?.toString('latin1') ?? null;

/** A command that parses bodies matching a pattern. */
function fake(prefix: string, body = /.*/): KnownCommand {
  return { prefix, parse: (text) => (body.test(text) ? true : undefined) };
}

describe('qSupported', () => {
  it('starts with PacketSize in hex and offers what the dispatcher answers', async () => {
    const reply = (await send(context(), 'qSupported:multiprocess+;swbreak+;xmlRegisters=i386'))!;
    const features = reply.split(';');
    expect(features[0]).toBe('PacketSize=20000');
    expect(features).toEqual(
      expect.arrayContaining(['qXfer:features:read+', 'QStartNoAckMode+', 'multiprocess-']),
    );
    expect(features).not.toContain('multiprocess+');
    expect(features).not.toContain('hwbreak+'); // MockVmm has no hardware breakpoints
  });

  it('keeps the features gdb sent in the session', async () => {
    const ctx = context();
    await send(ctx, 'qSupported:multiprocess+;swbreak+;xmlRegisters=i386');
    expect(ctx.session.clientFeatures).toEqual(['multiprocess+', 'swbreak+', 'xmlRegisters=i386']);
    await send(ctx, 'qSupported');
    expect(ctx.session.clientFeatures).toEqual([]);
  });

  it('offers a feature only while a command parses its packet', () => {
    const ctx = { ...context(), session: { ...context().session, packetSize: 0x1000 } };
    const base = [fake('qXfer:features:read:'), fake('QStartNoAckMode', /^$/)];
    expect(supportedFeatures(base, ctx).split(';')).toEqual([
      'PacketSize=1000',
      'qXfer:features:read+',
      'QStartNoAckMode+',
      'multiprocess-',
    ]);
    expect(supportedFeatures([...base, fake('Z', /^0,/)], ctx)).toMatch(/;swbreak\+;/);
    const more = [...base, fake('Z'), fake('x'), fake('vCont')];
    expect(supportedFeatures(more, ctx).split(';')).toEqual(
      expect.arrayContaining(['swbreak+', 'binary-upload+', 'vContSupported+']),
    );
  });

  it('offers hwbreak only when the vmm has hardware breakpoints and Z1 parses', () => {
    const ctx = context();
    const table = [fake('Z')];
    expect(supportedFeatures(table, ctx)).not.toMatch(/hwbreak/);
    Object.assign(ctx.debugger.vmm, { hwBreakpoints: {} });
    expect(supportedFeatures(table, ctx)).toMatch(/;hwbreak\+/);
    expect(supportedFeatures([fake('Z', /^0,/)], ctx)).not.toMatch(/hwbreak/);
  });

  it('asks the table each time, so commands added later are offered', async () => {
    const table: KnownCommand[] = [];
    const command = qSupported(() => table);
    const ctx = context();
    expect(await command.handle(ctx, [])).not.toMatch(/binary-upload/);
    table.push(fake('x'));
    expect(await command.handle(ctx, [])).toMatch(/binary-upload\+/);
  });

  it('parses an empty body or a :-list; anything else is malformed', () => {
    const command = qSupported(() => []);
    expect(command.parse('')).toEqual([]);
    expect(command.parse(':a+;b-')).toEqual(['a+', 'b-']);
    expect(command.parse('x')).toBeUndefined();
  });
});

describe('session packets gdb sends while connecting', () => {
  it.each([
    ['vMustReplyEmpty', ''],
    ['qAttached', '1'],
    ['qAttached:1', '1'],
    ['qOffsets', 'Text=0;Data=0;Bss=0'],
    ['qSymbol::', 'OK'],
    ['QNonStop:0', 'OK'],
    ['QNonStop:1', 'E16'],
    ['QNonStop:2', 'E16'],
    ['QThreadEvents:1', 'OK'],
    ['QThreadEvents:0', 'OK'],
    ['qTStatus', ''],
    ['qTfV', ''],
    ['qTsV', ''],
    ['qTfP', ''],
    ['qTsP', ''],
    ['QPassSignals:e;10;14', ''],
    ['QProgramSignals:2;e', ''],
    ['QDisableRandomization:1', ''],
    ['QCatchSyscalls:1', ''],
    ['vRun;', ''],
    ['!', ''],
    ['QStartNoAckMode', 'OK'],
  ])('%s gets %j', async (packet, reply) => {
    expect(await send(context(), packet)).toBe(reply);
  });

  it('answers the thread packets: qC, qfThreadInfo/qsThreadInfo, qThreadExtraInfo, T', async () => {
    const ctx = context(2);
    expect(await send(ctx, 'qC')).toBe('QC1');
    expect(await send(ctx, 'qfThreadInfo')).toBe('m1,2');
    expect(await send(ctx, 'qsThreadInfo')).toBe('l');
    const info = await send(ctx, 'qThreadExtraInfo,2');
    expect(Buffer.from(info!, 'hex').toString()).toBe('vCPU 1: parked');
    expect(await send(ctx, 'T2')).toBe('OK');
    expect(await send(ctx, 'T3')).toBe('E03');
  });
});
