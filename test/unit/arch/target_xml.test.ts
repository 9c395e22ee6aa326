import { GDB_REGISTERS, REGISTER_BYTES } from '../../../lib/arch/x86_64/gdb_registers';
import { TARGET_DESCRIPTION } from '../../../lib/arch/x86_64/target_xml';
import { g } from '../../../lib/commands/g';
import { Debugger } from '../../../lib/debugger/debugger';
import { MockVmm } from '../../../lib/vmm/mock_vmm';

interface Element {
  name: string;
  attrs: Record<string, string>;
  children: Element[];
  text: string;
}

/** Just enough XML for a target description: elements, attributes, text; no entities. */
function parseXml(xml: string): Element {
  const root: Element = { name: '#root', attrs: {}, children: [], text: '' };
  const stack = [root];
  const token =
    /<\?[^>]*\?>|<!DOCTYPE[^>]*>|<!--[\s\S]*?-->|<(\/?)([\w:.-]+)([^>]*?)(\/?)>|([^<]+)/g;
  for (const match of xml.matchAll(token)) {
    const [whole, closing, name, rest, selfClosing, text] = match;
    const top = stack[stack.length - 1]!;
    if (text !== undefined) {
      top.text += text.trim();
    } else if (name === undefined) {
      if (!/^<[?!]/.test(whole)) throw new Error(`bad token ${whole}`);
    } else if (closing === '/') {
      if (top.name !== name) throw new Error(`</${name}> closes <${top.name}>`);
      stack.pop();
    } else {
      const attrs: Record<string, string> = {};
      for (const [, key, value] of rest!.matchAll(/([\w:-]+)="([^"]*)"/g)) attrs[key!] = value!;
      const element: Element = { name, attrs, children: [], text: '' };
      top.children.push(element);
      if (selfClosing !== '/') stack.push(element);
    }
  }
  if (stack.length !== 1) throw new Error(`<${stack[stack.length - 1]!.name}> is not closed`);
  return root;
}

const xml = TARGET_DESCRIPTION.get('target.xml')!.toString('utf8');
const target = parseXml(xml).children.find((e) => e.name === 'target')!;
const features = target.children.filter((e) => e.name === 'feature');
const regs = features.flatMap((f) => f.children.filter((e) => e.name === 'reg'));

// gdb's predefined target description types.
const BUILT_IN = new Set([
  'int8', 'int16', 'int32', 'int64', 'int128', 'uint8', 'uint16', 'uint32', 'uint64',
  'uint128', 'int', 'code_ptr', 'data_ptr', 'ieee_single', 'ieee_double', 'i387_ext', 'bool',
]); // prettier-ignore

describe('target.xml', () => {
  it('describes i386:x86-64 with gdb core, SSE, segments and our system feature', () => {
    expect(target.children.find((e) => e.name === 'architecture')?.text).toBe('i386:x86-64');
    expect(features.map((f) => f.attrs.name)).toEqual([
      'org.gnu.gdb.i386.core',
      'org.gnu.gdb.i386.sse',
      'org.gnu.gdb.i386.segments',
      'org.vmm-gdbstub.x86.sys',
    ]);
  });

  it('numbers registers 0.. in the order of gdb_registers.ts', () => {
    expect(regs.map((r) => Number(r.attrs.regnum))).toEqual(regs.map((_, i) => i));
    expect(regs.map((r) => r.attrs.name)).toEqual(GDB_REGISTERS.map((r) => r.name));
  });

  it('has bitsizes that add up to the g reply', () => {
    const vmm = new MockVmm();
    const context = {
      debugger: new Debugger(vmm),
      session: { generalVcpu: 0, continueVcpu: -1, packetSize: 0x4000 },
    };
    const reply = g.handle(context, true) as string;
    const bits = regs.reduce((sum, r) => sum + Number(r.attrs.bitsize), 0);
    expect(reply.length * 4).toBe(bits);
    expect(bits).toBe(REGISTER_BYTES * 8);
  });

  it('names the registers gdb expects in each of its features', () => {
    const names = (feature: string) =>
      features
        .find((f) => f.attrs.name === feature)!
        .children.filter((e) => e.name === 'reg')
        .map((r) => r.attrs.name);
    const gprs = ['rax', 'rbx', 'rcx', 'rdx', 'rsi', 'rdi', 'rbp', 'rsp'];
    const numbered = [8, 9, 10, 11, 12, 13, 14, 15].map((i) => `r${i}`);
    const st = [0, 1, 2, 3, 4, 5, 6, 7].map((i) => `st${i}`);
    const x87 = ['fctrl', 'fstat', 'ftag', 'fiseg', 'fioff', 'foseg', 'fooff', 'fop'];
    expect(names('org.gnu.gdb.i386.core')).toEqual([
      ...gprs,
      ...numbered,
      'rip',
      'eflags',
      ...['cs', 'ss', 'ds', 'es', 'fs', 'gs'],
      ...st,
      ...x87,
    ]);
    const xmm = Array.from({ length: 16 }, (_, i) => `xmm${i}`);
    expect(names('org.gnu.gdb.i386.sse')).toEqual([...xmm, 'mxcsr']);
    expect(names('org.gnu.gdb.i386.segments')).toEqual(['fs_base', 'gs_base']);
    expect(names('org.vmm-gdbstub.x86.sys')).toEqual([
      'k_gs_base',
      'cr0',
      'cr2',
      'cr3',
      'cr4',
      'cr8',
      'efer',
    ]);
  });

  it('uses only built-in types and types its own feature defines', () => {
    for (const feature of features) {
      const defined = new Set(
        feature.children.filter((e) => e.name !== 'reg').map((e) => e.attrs.id),
      );
      for (const element of feature.children) {
        const used = element.name === 'reg' ? [element.attrs.type!] : [];
        // Vector element types and union field types must resolve as well.
        if (element.name === 'vector') used.push(element.attrs.type!);
        if (element.name === 'union') used.push(...element.children.map((f) => f.attrs.type!));
        for (const type of used) {
          expect([feature.attrs.name, type, BUILT_IN.has(type) || defined.has(type)]).toEqual([
            feature.attrs.name,
            type,
            true,
          ]);
        }
      }
    }
  });

  it('gives eflags, mxcsr, cr0, cr4 and efer flags types with the usual bits', () => {
    const flagsOf = (id: string) => {
      const element = features.flatMap((f) => f.children).find((e) => e.attrs.id === id)!;
      expect(element.name).toBe('flags');
      return Object.fromEntries(element.children.map((f) => [f.attrs.name, Number(f.attrs.start)]));
    };
    const typeOf = (name: string) => regs.find((r) => r.attrs.name === name)!.attrs.type!;
    expect(flagsOf(typeOf('eflags'))).toMatchObject({ CF: 0, ZF: 6, IF: 9, ID: 21 });
    expect(flagsOf(typeOf('mxcsr'))).toMatchObject({ IE: 0, IM: 7, FZ: 15 });
    expect(flagsOf(typeOf('cr0'))).toMatchObject({ PE: 0, ET: 4, WP: 16, PG: 31 });
    expect(flagsOf(typeOf('cr4'))).toMatchObject({ PAE: 5, OSFXSR: 9, LA57: 12 });
    expect(flagsOf(typeOf('efer'))).toMatchObject({ SCE: 0, LME: 8, LMA: 10, NXE: 11 });
    expect(typeOf('rip')).toBe('code_ptr');
    expect(typeOf('xmm3')).toBe('vec128');
    expect(typeOf('st0')).toBe('i387_ext');
  });
});
