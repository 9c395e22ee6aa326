import { setTimeout as sleep } from 'node:timers/promises';
import { describeEachBackend } from '../support/backends';
import { examinedBytes, printed, stubLauncher } from '../support/gdb';
import { symbol } from '../support/kernels';
import { RspClient } from '../support/rsp_client';
import { hexEncode } from '../../lib/rsp/hex';

// Real gdb (batch mode) and monitor commands (qRcmd), qXfer:threads and
// qXfer:memory-map, against `vmm-gdbstub run`. gdb prints a monitor
// command's O output on its stderr.

/** A batch gdb's stderr without the monitor output: what remains must be no error. */
function expectOnlyMonitorOutput(stderr: string, allowed: RegExp[] = []): void {
  const lines = stderr.split('\n').filter((line) => line.trim() !== '');
  const errors = lines.filter(
    (line) => /error|warning|cannot/i.test(line) && !allowed.some((a) => a.test(line)),
  );
  expect(errors).toEqual([]);
}

/** Sends `monitor <text>` over raw RSP; resolves with the console text and the final reply. */
async function monitor(
  client: RspClient,
  text: string,
): Promise<{ output: string; reply: string }> {
  client.send('qRcmd,' + hexEncode(text));
  let output = '';
  for (;;) {
    const packet = await client.next();
    if (packet.startsWith('O') && packet !== 'OK') {
      output += Buffer.from(packet.slice(1), 'hex').toString();
      continue;
    }
    return { output, reply: packet };
  }
}

describeEachBackend('gdb', 'gdb monitor commands, thread names and the memory map', (backend) => {
  const startStub = stubLauncher(backend);

  it(
    'monitor help, info vcpus, gla2gpa, info breakpoints and an unknown command; info threads shows names',
    async () => {
      const stub = await startStub({ kernel: 'up', ready: /up ok\n/ });
      const addNumbers = symbol('up', 'add_numbers');
      const gdb = await stub.gdb([
        stub.target,
        'monitor help',
        'echo --- vcpus\\n',
        'monitor info vcpus',
        'info registers rip',
        `monitor gla2gpa 0x${addNumbers.toString(16)}`,
        'set breakpoint always-inserted on',
        'break add_numbers',
        'continue',
        'monitor info breakpoints',
        'x/2xb add_numbers',
        'info threads',
        'monitor no-such-command',
        'echo --- after the unknown command\\n',
        'delete',
        'monitor info breakpoints',
        'detach',
      ]);
      expectOnlyMonitorOutput(gdb.stderr);
      expect(gdb.stderr).not.toMatch(/Protocol error/);
      // help: one line per command.
      expect(gdb.stderr).toMatch(/^vmm-gdbstub monitor commands:$/m);
      for (const name of [
        'help',
        'info vcpus',
        'info breakpoints',
        'phys on\\|off',
        'gla2gpa ADDR',
        'pause N',
        'resume N',
        'log rsp on\\|off',
      ]) {
        expect(gdb.stderr).toMatch(new RegExp(`^  ${name} {2,}\\S`, 'm'));
      }
      // info vcpus: the one vCPU, parked, at the rip gdb reads.
      const rip = /^rip\s+(0x[0-9a-f]+)/m.exec(gdb.stdout)![1]!;
      expect(gdb.stderr).toMatch(new RegExp(`^vCPU 0 \\(thread 1\\): parked, rip ${rip}$`, 'm'));
      // gla2gpa: up.elf is identity-mapped.
      const at = `0x${addNumbers.toString(16)}`;
      expect(gdb.stderr).toContain(`${at} -> ${at} (vCPU 0)\n`);
      // info breakpoints while gdb keeps its breakpoint in: GVA, GPA and the shadow byte,
      // which is the first byte of add_numbers (lea: 0x48) that gdb reads back.
      expect(gdb.stdout).toMatch(/Breakpoint 1, add_numbers /);
      expect(examinedBytes(gdb.stdout, 'add_numbers')[0]).toBe(0x48);
      expect(gdb.stderr).toContain(
        `1 software breakpoint(s) (int3), by guest-physical address:\n  GVA ${at} -> GPA ${at}, shadow byte 0x48\n`,
      );
      // qXfer:threads: gdb shows the name and the state.
      expect(gdb.stdout).toMatch(/^\* 1 +Thread 1 "vCPU 0" \(parked\) +add_numbers /m);
      // An unknown command: our line alone; the script goes on.
      expect(gdb.stderr).toMatch(
        /^unknown monitor command "no-such-command"; try "monitor help"\n(?!Protocol error)/m,
      );
      expect(gdb.stdout).toMatch(/^--- after the unknown command$/m);
      expect(gdb.stderr).toMatch(/^no software breakpoints are inserted$/m);
      expect(gdb.stdout).toMatch(/\[Inferior 1 \(Remote target\) detached\]/);
    },
    backend.timeoutMs,
  );

  it(
    'on the higher-half kernel: the memory map lets virtual reads through, phys on reads physical 0x100000',
    async () => {
      const stub = await startStub({ kernel: 'higher', ready: /higher ok\n/ });
      const gdb = await stub.gdb([
        stub.target,
        'info mem',
        'x/2xg &hh_marker',
        'x/4xb 0x100000',
        'monitor phys on',
        'x/4xb 0x100000',
        'x/8xb 0x101000',
        'monitor phys off',
        'x/2xg &hh_marker',
        'monitor gla2gpa 0xffffffff80101000',
        'monitor gla2gpa 0x100000',
        'x/xg 0x8000000000000000',
        'detach',
      ]);
      expectOnlyMonitorOutput(gdb.stderr, [
        /^Cannot access memory at address 0x100000$/,
        /^Cannot access memory at address 0x8000000000000000$/,
      ]);
      // The map gdb took: the two canonical halves, as RAM.
      expect(gdb.stdout).toMatch(/^Using memory regions provided by the target\.$/m);
      expect(gdb.stdout).toMatch(/^0\s+y\s+0x0000000000000000 0x0100000000000000 rw nocache/m);
      expect(gdb.stdout).toMatch(/^1\s+y\s+0xff00000000000000 0x10000000000000000 rw nocache/m);
      // hh_marker at its virtual address, before and after phys mode.
      const marker = [...gdb.stdout.matchAll(/<hh_marker>:\s+(0x[0-9a-f]+)/g)].map((m) => m[1]);
      expect(marker).toEqual(['0x52454b52414d4848', '0x52454b52414d4848']);
      // 0x100000 is not mapped virtually; physically it is the Multiboot header.
      const lines = gdb.stderr.split('\n');
      expect(lines).toContain('Cannot access memory at address 0x100000');
      expect(gdb.stdout).toMatch(/0x100000 <multiboot_header>:\t0x02\t0xb0\t0xad\t0x1b$/m);
      // Physical 0x101000 holds hh_marker ("HHMARKER").
      expect(gdb.stdout).toMatch(
        /^0x101000[^:]*:\t0x48\t0x48\t0x4d\t0x41\t0x52\t0x4b\t0x45\t0x52$/m,
      );
      expect(lines).toContain(
        'phys on: memory and Z0 addresses are guest-physical (symbols are virtual addresses)',
      );
      expect(lines).toContain('0xffffffff80101000 -> 0x101000 (vCPU 0)');
      expect(lines).toContain('0x100000: not mapped (vCPU 0)');
      // A non-canonical address is outside the map: gdb refuses it by itself.
      expect(lines).toContain('Cannot access memory at address 0x8000000000000000');
    },
    backend.timeoutMs,
  );

  it(
    'monitor pause keeps a vCPU parked across continue: only the other vCPU hits the breakpoint',
    async () => {
      const stub = await startStub({
        kernel: 'smp',
        args: ['--cpus', '2', '--cmdline', 'cpus=2'],
        ready: /smp 2 cpus up\n/,
      });
      const gdb = await stub.gdb([
        stub.target,
        'thread 1', // gdb sends Hg1 when it reads registers, whatever the attach stop was
        'monitor pause 1',
        'print counters[1]',
        'break *cpu_loop+2',
        'continue',
        'continue',
        'continue',
        'print counters[1]',
        'monitor info vcpus',
        'info threads',
        'monitor resume 1',
        'monitor info vcpus',
        'delete',
        'detach',
      ]);
      expectOnlyMonitorOutput(gdb.stderr);
      expect(gdb.stderr).toMatch(
        /^vCPU 1 paused: it stays parked across continue until `monitor resume 1`$/m,
      );
      const hits = [
        ...gdb.stdout.matchAll(
          /^Thread (\d+) "vCPU (\d+)" hit Breakpoint 1, cpu_loop \(id=id@entry=(\d+)\)/gm,
        ),
      ];
      expect(hits.map((m) => [m[1], m[2], m[3]])).toEqual([
        ['1', '0', '0'],
        ['1', '0', '0'],
        ['1', '0', '0'],
      ]);
      const [before, after] = printed(gdb.stdout);
      expect(after).toBe(before);
      expect(gdb.stderr).toMatch(/^vCPU 1 \(thread 2\): parked, held by monitor pause, rip 0x/m);
      expect(gdb.stdout).toMatch(/^ +2 +Thread 2 "vCPU 1" \(parked, held by monitor pause\)/m);
      expect(gdb.stderr).toMatch(/^vCPU 1 released: it runs again on the next continue$/m);
      expect(gdb.stderr).toMatch(/^vCPU 1 \(thread 2\): parked, rip 0x/m);
    },
    backend.timeoutMs,
  );

  it(
    'monitor pause of a vCPU waiting for SIPI prints the reason alone, with no gdb error under it',
    async () => {
      const stub = await startStub({ kernel: 'up', args: ['--cpus', '4'], ready: /up ok\n/ });
      const gdb = await stub.gdb([stub.target, 'monitor pause 3', 'monitor info vcpus', 'detach']);
      const lines = gdb.stderr.split('\n');
      const at = lines.indexOf('vCPU 3 is waiting for SIPI: it can be paused once it runs');
      expect(at).toBeGreaterThanOrEqual(0);
      expect(lines[at + 1]).toBe(
        'vCPU 0 (thread 1): parked, rip ' + lines[at + 1]!.split('rip ')[1],
      );
      expect(gdb.stderr).not.toMatch(/Protocol error|error/i);
      expect(gdb.stderr).toMatch(/^vCPU 3 \(thread 4\): waiting for SIPI/m);
    },
    backend.timeoutMs,
  );

  it(
    'monitor resume lets the vCPU run with the next continue (raw RSP, Ctrl-C to stop)',
    async () => {
      const stub = await startStub({
        kernel: 'smp',
        args: ['--cpus', '2', '--cmdline', 'cpus=2'],
        ready: /smp 2 cpus up\n/,
      });
      const client = await RspClient.connect({ host: '127.0.0.1', port: stub.port });
      try {
        const counter1 = async () => {
          const hex = await client.request(`m${symbol('smp', 'counters').toString(16)},10`);
          return Buffer.from(hex, 'hex').readBigUInt64LE(8);
        };
        const runFor = async (ms: number) => {
          client.send('vCont;c');
          await sleep(ms);
          client.interrupt();
          expect(await client.next(backend.timeoutMs / 4)).toMatch(/^T/);
        };
        expect(await client.request('?')).toMatch(/^T/);
        expect(await monitor(client, 'pause 1')).toMatchObject({ reply: 'OK' });
        const held = await counter1();
        await runFor(500);
        expect(await counter1()).toBe(held);
        expect(await monitor(client, 'resume 1')).toEqual({
          output: 'vCPU 1 released: it runs again on the next continue\n',
          reply: 'OK',
        });
        await runFor(500);
        expect(await counter1()).toBeGreaterThan(held);
        expect(await monitor(client, 'pause 7')).toEqual({
          output: 'no vCPU 7: the guest has vCPUs 0-1\n',
          reply: 'OK',
        });
        expect(await client.request('D')).toBe('OK');
      } finally {
        await client.close();
      }
    },
    backend.timeoutMs,
  );

  it(
    "monitor log rsp on/off traces this connection on the stub's stderr",
    async () => {
      const stub = await startStub({ kernel: 'up', ready: /up ok\n/ });
      const gdb = await stub.gdb([
        stub.target,
        'monitor log rsp on',
        'print counter',
        'monitor log rsp off',
        'print last_sum',
        'detach',
      ]);
      expectOnlyMonitorOutput(gdb.stderr);
      const trace = stub.cli.stderr();
      const counter = symbol('up', 'counter').toString(16);
      const lastSum = symbol('up', 'last_sum').toString(16);
      expect(trace).toMatch(new RegExp(`^vmm-gdbstub: rsp <- m${counter},8$`, 'm'));
      expect(trace).toMatch(/^vmm-gdbstub: rsp <- qRcmd,6c6f6720727370206f6666$/m);
      expect(trace).not.toMatch(new RegExp(`m${lastSum},`));
    },
    backend.timeoutMs,
  );
});
