import { FEATURES, type GdbFeature } from './gdb_registers';

/** A flags type: one name per bit (single-bit fields read as booleans in gdb). */
function flags(id: string, size: number, bits: Record<number, string>): string {
  const fields = Object.entries(bits).map(
    ([bit, name]) => `<field name="${name}" start="${bit}" end="${bit}"/>`,
  );
  return `<flags id="${id}" size="${size}">${fields.join('')}</flags>`;
}

const EFLAGS = flags('i386_eflags', 4, {
  0: 'CF',
  1: '',
  2: 'PF',
  4: 'AF',
  6: 'ZF',
  7: 'SF',
  8: 'TF',
  9: 'IF',
  10: 'DF',
  11: 'OF',
  14: 'NT',
  16: 'RF',
  17: 'VM',
  18: 'AC',
  19: 'VIF',
  20: 'VIP',
  21: 'ID',
});

const MXCSR = flags('i386_mxcsr', 4, {
  0: 'IE',
  1: 'DE',
  2: 'ZE',
  3: 'OE',
  4: 'UE',
  5: 'PE',
  6: 'DAZ',
  7: 'IM',
  8: 'DM',
  9: 'ZM',
  10: 'OM',
  11: 'UM',
  12: 'PM',
  15: 'FZ',
});

// The field names are gdb's own for xmm registers, so `p $xmm0.v4_int32` works as usual.
const VEC128 = [
  '<vector id="v4f" type="ieee_single" count="4"/>',
  '<vector id="v2d" type="ieee_double" count="2"/>',
  '<vector id="v16i8" type="int8" count="16"/>',
  '<vector id="v8i16" type="int16" count="8"/>',
  '<vector id="v4i32" type="int32" count="4"/>',
  '<vector id="v2i64" type="int64" count="2"/>',
  '<union id="vec128">',
  '<field name="v4_float" type="v4f"/>',
  '<field name="v2_double" type="v2d"/>',
  '<field name="v16_int8" type="v16i8"/>',
  '<field name="v8_int16" type="v8i16"/>',
  '<field name="v4_int32" type="v4i32"/>',
  '<field name="v2_int64" type="v2i64"/>',
  '<field name="uint128" type="uint128"/>',
  '</union>',
].join('');

const CR0 = flags('x86_cr0', 8, {
  0: 'PE',
  1: 'MP',
  2: 'EM',
  3: 'TS',
  4: 'ET',
  5: 'NE',
  16: 'WP',
  18: 'AM',
  29: 'NW',
  30: 'CD',
  31: 'PG',
});

const CR4 = flags('x86_cr4', 8, {
  0: 'VME',
  1: 'PVI',
  2: 'TSD',
  3: 'DE',
  4: 'PSE',
  5: 'PAE',
  6: 'MCE',
  7: 'PGE',
  8: 'PCE',
  9: 'OSFXSR',
  10: 'OSXMMEXCPT',
  11: 'UMIP',
  12: 'LA57',
  13: 'VMXE',
  14: 'SMXE',
  16: 'FSGSBASE',
  17: 'PCIDE',
  18: 'OSXSAVE',
  20: 'SMEP',
  21: 'SMAP',
  22: 'PKE',
  23: 'CET',
  24: 'PKS',
});

const EFER = flags('x86_efer', 8, {
  0: 'SCE',
  8: 'LME',
  10: 'LMA',
  11: 'NXE',
  12: 'SVME',
  13: 'LMSLE',
  14: 'FFXSR',
  15: 'TCE',
});

/** The types each feature defines before its registers (a type is local to its feature). */
const FEATURE_TYPES: Record<string, string> = {
  'org.gnu.gdb.i386.core': EFLAGS,
  'org.gnu.gdb.i386.sse': VEC128 + MXCSR,
  'org.vmm-gdbstub.x86.sys': CR0 + CR4 + EFER,
};

function featureXml(feature: GdbFeature, firstRegnum: number): string {
  const regs = feature.registers.map((reg, i) => {
    const group = reg.group === undefined ? '' : ` group="${reg.group}"`;
    return (
      `<reg name="${reg.name}" bitsize="${reg.size * 8}" type="${reg.type}"` +
      ` regnum="${firstRegnum + i}"${group}/>`
    );
  });
  const types = FEATURE_TYPES[feature.name] ?? '';
  return `<feature name="${feature.name}">${types}${regs.join('')}</feature>`;
}

function buildTargetXml(): string {
  let regnum = 0;
  const features = FEATURES.map((feature) => {
    const xml = featureXml(feature, regnum);
    regnum += feature.registers.length;
    return xml;
  });
  return (
    '<?xml version="1.0"?><!DOCTYPE target SYSTEM "gdb-target.dtd">' +
    '<target version="1.0"><architecture>i386:x86-64</architecture>' +
    features.join('') +
    '</target>'
  );
}

/** The target description documents qXfer:features:read serves, by annex. */
export const TARGET_DESCRIPTION: ReadonlyMap<string, Buffer> = new Map([
  ['target.xml', Buffer.from(buildTargetXml(), 'utf8')],
]);
