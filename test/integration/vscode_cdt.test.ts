import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { DebugClient } from '@vscode/debugadapter-testsupport';
import type { DebugProtocol } from '@vscode/debugprotocol';
import { testBackends } from '../support/backends';
import { runGdb, stubLauncher } from '../support/gdb';
import { kernelPath, ROOT } from '../support/kernels';

// VS Code and Eclipse CDT through cdt-gdb-adapter (the Debug Adapter
// Protocol adapter that drives gdb), as docs/vscode.md configures it: its
// debugTargetAdapter attaches to the stub. gdb must be installed (CI has it):
// without it the test fails instead of skipping.

const emu = testBackends().find((b) => b.name === 'emu')!;
const ADAPTER = require.resolve('cdt-gdb-adapter/dist/debugTargetAdapter.js');
const UP_C = path.join(ROOT, 'test', 'fixtures', 'guest', 'up', 'up.c');
/** `return a + b;` in add_numbers. */
const ADD_NUMBERS_LINE = 28;

/** docs/vscode.md's configuration with ${workspaceFolder}/kernel.elf and port 1234 filled in. */
function launchConfiguration(kernel: string, port: number): DebugProtocol.AttachRequestArguments {
  const doc = fs.readFileSync(path.join(ROOT, 'docs', 'vscode.md'), 'utf8');
  const marker = doc.indexOf('<!-- launch.json');
  const block = /```json\n([\s\S]*?)\n\s*```/.exec(doc.slice(marker))![1]!;
  const config = (JSON.parse(block) as { configurations: Record<string, unknown>[] })
    .configurations[0]!;
  expect(config).toMatchObject({ type: 'gdbtarget', request: 'attach' });
  const text = JSON.stringify(config)
    .replaceAll('${workspaceFolder}/kernel.elf', kernel)
    .replaceAll('127.0.0.1:1234', `127.0.0.1:${port}`);
  return JSON.parse(text) as DebugProtocol.AttachRequestArguments;
}

describe('cdt-gdb-adapter (VS Code, Eclipse CDT) against the stub', () => {
  const startStub = stubLauncher(emu);
  let dc: DebugClient | undefined;
  afterEach(async () => {
    await dc?.stop();
    dc = undefined;
  });

  it('finds gdb', () => {
    expect(execFileSync('gdb', ['--version'], { encoding: 'utf8' })).toMatch(/^GNU gdb/);
  });

  it(
    'attaches, stops at a breakpoint by source line, shows the stack, evaluates, reads registers, steps and disconnects',
    async () => {
      const stub = await startStub({ kernel: 'up', args: ['--wait'] });
      dc = new DebugClient(process.execPath, ADAPTER, 'gdbtarget');
      dc.defaultTimeout = emu.timeoutMs / 2;
      await dc.start();
      const client = dc;

      // The launch.json of docs/vscode.md, as VS Code sends it.
      const attach = launchConfiguration(kernelPath('up'), stub.port);
      const initialized = client.waitForEvent('initialized');
      const firstStop = client.waitForEvent('stopped');
      await client.initializeRequest();
      const attached = client.attachRequest(attach);
      await initialized;
      const breakpoints = await client.setBreakpointsRequest({
        source: { path: UP_C },
        breakpoints: [{ line: ADD_NUMBERS_LINE }],
      });
      expect(breakpoints.body.breakpoints).toMatchObject([
        { verified: true, line: ADD_NUMBERS_LINE },
      ]);
      await client.configurationDoneRequest();
      await attached;

      // Held at its first instruction, the guest runs on configurationDone into the breakpoint.
      const stop = (await firstStop).body as DebugProtocol.StoppedEvent['body'];
      expect(stop.reason).toBe('breakpoint');
      const threadId = stop.threadId!;

      const stack = await client.stackTraceRequest({ threadId });
      const frames = stack.body.stackFrames;
      expect(frames[0]).toMatchObject({ name: 'add_numbers', line: ADD_NUMBERS_LINE });
      expect(frames[0]!.source?.path).toBe(UP_C);
      expect(frames[1]).toMatchObject({ name: 'kmain', line: 69 });

      const frameId = frames[0]!.id;
      const counter = await client.evaluateRequest({
        expression: 'counter',
        frameId,
        context: 'repl',
      });
      expect(counter.body.result).toBe('1');
      const sum = await client.evaluateRequest({ expression: 'a + b', frameId, context: 'watch' });
      expect(sum.body.result).toBe('0');

      const scopes = await client.scopesRequest({ frameId });
      const registers = scopes.body.scopes.find((s) => s.name === 'Registers')!;
      const values = await client.variablesRequest({
        variablesReference: registers.variablesReference,
      });
      const byName = new Map(values.body.variables.map((v) => [v.name, v.value]));
      const addNumbers = execFileSync('nm', [kernelPath('up')], { encoding: 'utf8' }).match(
        /^([0-9a-f]+) T add_numbers$/m,
      )![1]!;
      expect(BigInt(byName.get('rip')!)).toBe(BigInt('0x' + addNumbers));
      expect(BigInt(byName.get('cr0')!) & 0x80000001n).toBe(0x80000001n); // PG and PE

      const stepped = client.waitForEvent('stopped');
      await client.nextRequest({ threadId });
      expect(((await stepped).body as DebugProtocol.StoppedEvent['body']).reason).toBe('step');
      const after = (await client.stackTraceRequest({ threadId })).body.stackFrames[0]!;
      expect(after.source?.path).toBe(UP_C);
      expect([after.name, after.line]).not.toEqual(['add_numbers', ADD_NUMBERS_LINE]);

      await client.disconnectRequest({});
      // The stub took the disconnect as a detach: the guest runs on, and the next debugger sees it.
      const gdb = await runGdb(kernelPath('up'), [stub.target, 'print counter', 'detach']);
      expect(Number(/^\$1 = (\d+)$/m.exec(gdb.stdout)![1])).toBeGreaterThan(1);
    },
    emu.timeoutMs,
  );
});
