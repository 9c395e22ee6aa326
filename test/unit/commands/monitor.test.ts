import { dispatch } from '../../../lib/commands/dispatch';
import { MONITOR_COMMANDS, findMonitorCommand } from '../../../lib/commands/monitor/table';
import { MONITOR_FAILED, qRcmd } from '../../../lib/commands/qrcmd';
import type { Session } from '../../../lib/commands/types';
import { Debugger } from '../../../lib/debugger/debugger';
import { hexEncode } from '../../../lib/rsp/hex';
import { MockVmm, type MockVmmOptions } from '../../../lib/vmm/mock_vmm';
import { payloadBytes } from '../../../lib/rsp/encoded_payload';

function setup(options: MockVmmOptions = {}, packetSize = 0x1000) {
  const vmm = new MockVmm({ memoryBytes: 0x4000, ...options });
  vmm.ram.fill(0x90);
  const dbg = new Debugger(vmm);
  const early: string[] = [];
  const traces: boolean[] = [];
  const session: Session = {
    generalVcpu: 0,
    continueVcpu: -1,
    packetSize,
    sendEarly: (payload) => early.push(payload),
    traceRsp: (on) => traces.push(on),
  };
  const send = async (packet: string) => {
    const { reply } = await dispatch({ debugger: dbg, session }, Buffer.from(packet, 'latin1'));
    return reply === null ? null : payloadBytes(reply).toString('latin1');
  };
  /** Runs `monitor <text>`: the console text of its O packets, and the final reply. */
  const monitor = async (text: string) => {
    early.length = 0;
    const reply = await send('qRcmd,' + hexEncode(text));
    for (const packet of early) expect(packet).toMatch(/^O(?:[0-9a-f]{2})+$/);
    const output = early.map((p) => Buffer.from(p.slice(1), 'hex').toString('utf8')).join('');
    return { output, reply, packets: early.length };
  };
  return { vmm, dbg, session, send, monitor, traces };
}

describe('qRcmd', () => {
  it('parses hex text; odd or non-hex bodies are malformed (E16)', async () => {
    expect(qRcmd.parse(hexEncode('info vcpus'))).toBe('info vcpus');
    expect(qRcmd.parse('')).toBe('');
    expect(qRcmd.parse('686')).toBeUndefined();
    expect(qRcmd.parse('zz')).toBeUndefined();
    expect(await setup().send('qRcmd,6')).toBe('E16');
  });

  it('sends the output as O packets, then OK', async () => {
    const { monitor } = setup();
    const { output, reply, packets } = await monitor('help');
    expect(reply).toBe('OK');
    expect(packets).toBeGreaterThan(0);
    expect(output.startsWith('vmm-gdbstub monitor commands:\n')).toBe(true);
  });

  it('splits long output into O packets that fit the packet size', async () => {
    const { monitor } = setup({}, 64);
    const small = await monitor('help');
    expect(small.packets).toBeGreaterThan(5);
    const big = await setup().monitor('help');
    expect(small.output).toBe(big.output);
  });

  it('answers an unknown command with an O line that says so and OK (no gdb error under it)', async () => {
    const { monitor } = setup();
    for (const text of ['frobnicate', 'info', 'info nothing', 'phys maybe']) {
      const { output, reply } = await monitor(text);
      expect(reply).toBe('OK');
      expect(output).toMatch(/\n$/);
      expect(output.length).toBeGreaterThan(10);
    }
    expect((await monitor('frobnicate now')).output).toBe(
      'unknown monitor command "frobnicate now"; try "monitor help"\n',
    );
    expect((await monitor('phys maybe')).output).toBe('usage: monitor phys on|off\n');
  });

  it('treats an empty command (plain `monitor`) as help', async () => {
    const { monitor } = setup();
    expect((await monitor('')).output).toBe((await monitor('help')).output);
  });

  it('without a way to send O packets first, replies with the output as hex', async () => {
    const { dbg, session } = setup();
    delete session.sendEarly;
    const { reply } = await dispatch(
      { debugger: dbg, session },
      Buffer.from('qRcmd,' + hexEncode('phys')),
    );
    expect(Buffer.from(String(reply), 'hex').toString()).toMatch(/^phys off:/);
    const failed = await dispatch(
      { debugger: dbg, session },
      Buffer.from('qRcmd,' + hexEncode('x')),
    );
    expect(Buffer.from(String(failed.reply), 'hex').toString()).toBe(
      'unknown monitor command "x"; try "monitor help"\n',
    );
  });

  it('answers a bug (an exception that is no MonitorError) with its line and the E reply', async () => {
    const { dbg, monitor } = setup();
    jest.spyOn(dbg, 'translate').mockImplementation(() => {
      throw new Error('boom');
    });
    expect(await monitor('gla2gpa 0x1000')).toEqual({
      output: 'monitor command failed: boom\n',
      reply: MONITOR_FAILED,
      packets: 1,
    });
  });
});

describe('monitor command table', () => {
  it('finds the command with the longest matching name and passes the rest as arguments', () => {
    const found = findMonitorCommand(MONITOR_COMMANDS, ['log', 'rsp', 'on']);
    expect(found?.command.name).toBe('log rsp');
    expect(found?.args).toEqual(['on']);
    expect(findMonitorCommand(MONITOR_COMMANDS, ['info'])).toBeUndefined();
    expect(findMonitorCommand(MONITOR_COMMANDS, ['log'])).toBeUndefined();
  });

  it('help lists every command, one line each', async () => {
    const { output } = await setup().monitor('help');
    const lines = output.trimEnd().split('\n').slice(1);
    expect(lines).toHaveLength(MONITOR_COMMANDS.length);
    const escape = (text: string) => text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
    MONITOR_COMMANDS.forEach((command, i) => {
      const head = escape(`${command.name} ${command.usage}`.trimEnd());
      expect(lines[i]).toMatch(new RegExp(`^  ${head} {2,}${escape(command.summary)}$`));
    });
    expect(output).toMatch(/^ {2}gla2gpa ADDR +translate/m);
  });
});

describe('monitor info vcpus', () => {
  it('shows each vCPU: thread, state and rip', async () => {
    const { vmm, monitor } = setup({ vcpus: 3 });
    const regs = vmm.getRegisters(1);
    regs.rip = 0xffffffff80101234n;
    vmm.setRegisters(1, regs);
    const { output, reply } = await monitor('info vcpus');
    expect(reply).toBe('OK');
    expect(output).toBe(
      'vCPU 0 (thread 1): parked, rip 0x0\n' +
        'vCPU 1 (thread 2): parked, rip 0xffffffff80101234\n' +
        'vCPU 2 (thread 3): parked, rip 0x0\n',
    );
  });

  it('says "waiting for SIPI" and "held by monitor pause"', async () => {
    const { vmm, monitor } = setup({ vcpus: 3 });
    jest
      .spyOn(vmm, 'vcpuState')
      .mockImplementation((v) => (v === 2 ? 'waiting-for-sipi' : 'parked'));
    await monitor('pause 1');
    const { output } = await monitor('info vcpus');
    expect(output).toMatch(/^vCPU 1 \(thread 2\): parked, held by monitor pause, rip 0x0$/m);
    expect(output).toMatch(/^vCPU 2 \(thread 3\): waiting for SIPI, rip 0x0$/m);
  });

  it('shows no rip for a running vCPU', async () => {
    const { vmm, monitor } = setup();
    jest.spyOn(vmm, 'vcpuState').mockReturnValue('running');
    expect((await monitor('info vcpus')).output).toBe('vCPU 0 (thread 1): running\n');
  });
});

describe('monitor info breakpoints', () => {
  it('says none are inserted, and why gdb may have none in', async () => {
    const { output, reply } = await setup().monitor('info breakpoints');
    expect(reply).toBe('OK');
    expect(output).toMatch(/^no software breakpoints are inserted\n/);
    expect(output).toMatch(/always-inserted/);
  });

  it('shows the address asked for, the guest-physical address and the shadow byte', async () => {
    const { vmm, send, monitor } = setup({ virtualOffset: 0xffffffff80000000n });
    vmm.ram[0x123] = 0x48;
    expect(await send('Z0,ffffffff80000123,1')).toBe('OK');
    const { output } = await monitor('info breakpoints');
    expect(output).toBe(
      '1 software breakpoint(s) (int3), by guest-physical address:\n' +
        '  GVA 0xffffffff80000123 -> GPA 0x123, shadow byte 0x48\n',
    );
    vmm.ram[0x123] = 0x0f; // the guest writes over the int3
    expect((await monitor('info breakpoints')).output).toMatch(
      /GPA 0x123, shadow byte 0x48 \(the guest has written over the int3\)/,
    );
    expect(await send('z0,ffffffff80000123,1')).toBe('OK');
    expect((await monitor('info breakpoints')).output).toMatch(/^no software breakpoints/);
  });

  it('marks breakpoints asked for in phys mode', async () => {
    const { send, monitor } = setup({ virtualOffset: 0x1000n });
    await monitor('phys on');
    expect(await send('Z0,200,1')).toBe('OK');
    expect((await monitor('info breakpoints')).output).toMatch(
      /^ {2}\(phys mode\) GPA 0x200, shadow byte 0x90$/m,
    );
  });
});

describe('monitor phys', () => {
  it('makes m, M, x, X and Z0/z0 use guest-physical addresses until phys off', async () => {
    const { vmm, dbg, send, monitor } = setup({ virtualOffset: 0x8000n });
    vmm.ram.write('phys', 0x100, 'latin1');
    expect(await send('m100,4')).toBe('E0e'); // virtual 0x100 is not mapped
    expect(await send('m8100,4')).toBe(Buffer.from('phys').toString('hex'));
    const on = await monitor('phys on');
    expect(on.reply).toBe('OK');
    expect(on.output).toMatch(/^phys on: /);
    expect(dbg.addressSpace).toBe('physical');
    expect(await send('m100,4')).toBe(Buffer.from('phys').toString('hex'));
    expect(await send('m8100,4')).toBe('E0e'); // past the end of guest RAM
    expect(await send('M200,2:abcd')).toBe('OK');
    expect(vmm.ram.subarray(0x200, 0x202)).toEqual(Buffer.from([0xab, 0xcd]));
    expect(await send('X202,1:z')).toBe('OK');
    expect(vmm.ram[0x202]).toBe(0x7a);
    expect(await send('Z0,300,1')).toBe('OK');
    expect(vmm.ram[0x300]).toBe(0xcc);
    expect(await send('m300,1')).toBe('90'); // hidden as ever
    expect(await send('z0,300,1')).toBe('OK');
    expect(vmm.ram[0x300]).toBe(0x90);
    // A read that runs off the end of RAM gives the readable prefix.
    expect(await send('m3ffe,4')).toBe('9090');
    expect((await monitor('phys')).output).toMatch(/^phys on:/);
    await monitor('phys off');
    expect(dbg.addressSpace).toBe('virtual');
    expect(await send('m100,4')).toBe('E0e');
  });

  it('goes back to virtual addresses when the debugger detaches', async () => {
    const { dbg, monitor } = setup();
    await monitor('phys on');
    dbg.detach();
    expect(dbg.addressSpace).toBe('virtual');
  });
});

describe('monitor gla2gpa', () => {
  it('translates through the current (Hg) vCPU, or says "not mapped"', async () => {
    const { send, monitor } = setup({ vcpus: 2, virtualOffset: 0xffffffff80000000n });
    expect((await monitor('gla2gpa 0xffffffff80001000')).output).toBe(
      '0xffffffff80001000 -> 0x1000 (vCPU 0)\n',
    );
    expect((await monitor('gla2gpa ffffffff80000010')).output).toBe(
      '0xffffffff80000010 -> 0x10 (vCPU 0)\n',
    );
    expect(await send('Hg2')).toBe('OK');
    const missing = await monitor('gla2gpa 0x100000');
    expect(missing.reply).toBe('OK');
    expect(missing.output).toBe('0x100000: not mapped (vCPU 1)\n');
  });

  it('notes a translation outside guest RAM', async () => {
    const { vmm, monitor } = setup();
    jest.spyOn(vmm, 'gla2gpa').mockReturnValue(0xfee00000n);
    expect((await monitor('gla2gpa 0xfee00000')).output).toBe(
      '0xfee00000 -> 0xfee00000 (not guest RAM) (vCPU 0)\n',
    );
  });

  it('wants one hex address', async () => {
    const { monitor } = setup();
    for (const text of ['gla2gpa', 'gla2gpa 1 2', 'gla2gpa xyz', 'gla2gpa 0x1ffffffffffffffff']) {
      expect(await monitor(text)).toEqual({
        output: 'usage: monitor gla2gpa ADDR\n',
        reply: 'OK',
        packets: 1,
      });
    }
  });
});

describe('monitor pause / resume', () => {
  it('keeps a paused vCPU parked across continue until resume', async () => {
    const { vmm, dbg, monitor } = setup({ vcpus: 3 });
    expect((await monitor('pause 1')).output).toMatch(/^vCPU 1 paused: /);
    expect(dbg.isHeld(1)).toBe(true);
    const stopped = dbg.continue();
    await new Promise((resolve) => setImmediate(resolve));
    expect([0, 1, 2].map((v) => vmm.vcpuState(v))).toEqual(['running', 'parked', 'running']);
    void dbg.interrupt();
    await stopped;
    expect((await monitor('resume 1')).output).toMatch(/^vCPU 1 released: /);
    void dbg.continue();
    await new Promise((resolve) => setImmediate(resolve));
    expect([0, 1, 2].map((v) => vmm.vcpuState(v))).toEqual(['running', 'running', 'running']);
  });

  it('still steps a paused vCPU when asked to explicitly', async () => {
    const { vmm, dbg, monitor } = setup({ vcpus: 2 });
    await monitor('pause 1');
    const stop = await dbg.resume(
      new Map([
        [1, 'step'],
        [0, 'continue'],
      ]),
    );
    expect(stop).toMatchObject({ vcpu: 1, reason: 'step', rip: 1n });
    expect(vmm.vcpuState(1)).toBe('parked');
  });

  it('says so when every vCPU is paused, and a continue then stops at once', async () => {
    const { dbg, monitor } = setup({ vcpus: 2 });
    await monitor('pause 0');
    expect((await monitor('pause 1')).output).toMatch(/continue will stop at once/);
    await expect(dbg.continue()).resolves.toMatchObject({ reason: 'interrupt' });
  });

  it('releases every held vCPU on detach', async () => {
    const { vmm, dbg, monitor } = setup({ vcpus: 2 });
    await monitor('pause 1');
    dbg.detach();
    expect(dbg.isHeld(1)).toBe(false);
    expect(vmm.vcpuState(1)).toBe('running');
  });

  it('refuses a bad vCPU number and a vCPU waiting for SIPI', async () => {
    const { vmm, monitor } = setup({ vcpus: 2 });
    expect(await monitor('pause 2')).toMatchObject({
      output: 'no vCPU 2: the guest has vCPUs 0-1\n',
      reply: 'OK',
    });
    expect(await monitor('pause one')).toMatchObject({ output: 'usage: monitor pause N\n' });
    expect(await monitor('resume')).toMatchObject({ output: 'usage: monitor resume N\n' });
    jest.spyOn(vmm, 'vcpuState').mockReturnValue('waiting-for-sipi');
    expect(await monitor('pause 1')).toMatchObject({
      output: 'vCPU 1 is waiting for SIPI: it can be paused once it runs\n',
      reply: 'OK',
    });
  });

  it('resume of a vCPU that is not paused is harmless', async () => {
    const { monitor } = setup({ vcpus: 2 });
    expect(await monitor('resume 1')).toMatchObject({
      output: 'vCPU 1 was not paused by `monitor pause`; nothing to do\n',
      reply: 'OK',
    });
  });
});

describe('monitor log rsp', () => {
  it("switches the connection's packet trace", async () => {
    const { monitor, traces } = setup();
    expect(await monitor('log rsp on')).toMatchObject({ output: 'packet trace on\n', reply: 'OK' });
    expect(await monitor('log rsp off')).toMatchObject({ output: 'packet trace off\n' });
    expect(traces).toEqual([true, false]);
    expect(await monitor('log rsp')).toMatchObject({
      output: 'usage: monitor log rsp on|off\n',
      reply: 'OK',
    });
  });

  it('fails where the session has no trace to switch', async () => {
    const { session, monitor } = setup();
    delete session.traceRsp;
    expect(await monitor('log rsp on')).toMatchObject({
      output: 'this connection has no packet trace to switch\n',
      reply: 'OK',
    });
  });
});
