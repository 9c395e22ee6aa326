import * as fs from 'node:fs';
import * as path from 'node:path';
import { benchLines, lldbMark, runnerEvent } from '../../../bench/real_clients';
import { REAL_ROWS, SESSIONS } from '../../../bench/real_rows';

const LINES_C = path.join(__dirname, '..', '..', 'fixtures', 'guest', 'lines', 'lines.c');

describe('the real-client section', () => {
  it('finds each line of lines.c that a next row names by its bench: comment', () => {
    const lines = benchLines(fs.readFileSync(LINES_C, 'utf8'));
    const source = fs.readFileSync(LINES_C, 'utf8').split('\n');
    for (const text of ['next over a call', 'next over a loop']) {
      const n = lines.get(text);
      expect(n).toBeDefined();
      expect(source[n! - 1]).toContain(`/* bench: ${text} */`);
    }
  });

  it("reads gdb_runner.py's lines and leaves gdb's own", () => {
    expect(runnerEvent('@@bench {"kind": "done", "key": "gdb-stepi", "samples": [1.5]}')).toEqual({
      kind: 'done',
      key: 'gdb-stepi',
      samples: [1.5],
    });
    expect(runnerEvent('Breakpoint 1, add_numbers (a=0, b=0) at up.c:28')).toBeUndefined();
  });

  it("reads lldb's echo of a mark, and only that", () => {
    expect(lldbMark('(lldb) # @@bench t0 lldb-step-inst')).toEqual({
      what: 't0',
      key: 'lldb-step-inst',
    });
    expect(lldbMark('(lldb) thread step-inst')).toBeUndefined();
    expect(lldbMark('  # @@bench t0 lldb-step-inst')).toBeUndefined();
  });

  it('opens every session with the one row that connects', () => {
    for (const session of Object.keys(SESSIONS)) {
      const rows = REAL_ROWS.filter((r) => r.session === session);
      expect(rows[0]?.connects).toBe(true);
      expect(rows.filter((r) => r.connects === true)).toHaveLength(1);
    }
    const keys = REAL_ROWS.map((r) => r.key);
    expect(new Set(keys).size).toBe(keys.length);
  });
});
