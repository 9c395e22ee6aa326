/**
 * The format strings of agent `printf` (dprintf): parsed at insertion as
 * gdb's format_pieces parses them (C escapes, then `%` directives), and
 * applied at each hit with C's printf semantics for the integer and string
 * conversions. Floating-point conversions are refused: the stack holds
 * integers only.
 */

/** What size an argument is taken at, as C's printf would read it. */
type ArgumentSize = 'int' | 'short' | 'char' | 'long';

export interface Directive {
  kind: 'directive';
  flags: string;
  width: number | undefined;
  precision: number | undefined;
  size: ArgumentSize;
  conversion: 'd' | 'i' | 'u' | 'o' | 'x' | 'X' | 'c' | 's' | 'p';
}

export type FormatPiece = { kind: 'literal'; text: string } | Directive;

const ESCAPES: Record<string, string> = {
  '\\': '\\',
  a: '\x07',
  b: '\b',
  e: '\x1b',
  f: '\f',
  n: '\n',
  r: '\r',
  t: '\t',
  v: '\v',
  '"': '"',
};

/** Longest width or precision accepted: a format must not ask for megabytes of padding. */
const MAX_FIELD = 4096;

/** Parses a format string; a string naming why when it cannot be printed by the agent. */
export function parseFormat(format: string): FormatPiece[] | string {
  let text = '';
  for (let i = 0; i < format.length; i++) {
    const c = format[i]!;
    if (c !== '\\') {
      text += c;
      continue;
    }
    const escaped = ESCAPES[format[i + 1] ?? ''];
    if (escaped === undefined) return `unknown escape \\${format[i + 1] ?? ''} in the format`;
    text += escaped;
    i++;
  }
  const pieces: FormatPiece[] = [];
  let literal = '';
  const directive = /^%([-+ #0']*)(\d+)?(?:\.(\d*))?(hh|h|ll|l|L|z|j|t)?([a-zA-Z%])/;
  for (let i = 0; i < text.length;) {
    if (text[i] !== '%') {
      literal += text[i++];
      continue;
    }
    const match = directive.exec(text.slice(i));
    if (match === null) return `malformed directive at "${text.slice(i, i + 8)}"`;
    const [whole, flags, width, precision, length, conversion] = match as unknown as [
      string,
      string,
      string | undefined,
      string | undefined,
      string | undefined,
      string,
    ];
    i += whole.length;
    if (conversion === '%') {
      if (whole !== '%%') return `malformed directive "${whole}"`;
      literal += '%';
      continue;
    }
    if ('eEfFgGaA'.includes(conversion)) return `"${whole}": floating point is not supported`;
    if (!'diuoxXcsp'.includes(conversion)) return `"${whole}": unknown conversion`;
    if ((conversion === 's' || conversion === 'p' || conversion === 'c') && length !== undefined) {
      return `"${whole}": a length modifier with %${conversion} is not supported`;
    }
    const widthValue = width === undefined ? undefined : Number(width);
    const precisionValue = precision === undefined ? undefined : Number(precision || '0');
    if ((widthValue ?? 0) > MAX_FIELD || (precisionValue ?? 0) > MAX_FIELD) {
      return `"${whole}": width or precision over ${MAX_FIELD}`;
    }
    if (literal !== '') pieces.push({ kind: 'literal', text: literal });
    literal = '';
    let size: ArgumentSize = 'int';
    if (length === 'h') size = 'short';
    else if (length === 'hh') size = 'char';
    else if (length !== undefined) size = 'long';
    if (conversion === 'p') size = 'long';
    pieces.push({
      kind: 'directive',
      flags,
      width: widthValue,
      precision: precisionValue,
      size,
      conversion: conversion as Directive['conversion'],
    });
  }
  if (literal !== '') pieces.push({ kind: 'literal', text: literal });
  return pieces;
}

export function directiveCount(pieces: readonly FormatPiece[]): number {
  return pieces.reduce((n, p) => n + (p.kind === 'directive' ? 1 : 0), 0);
}

const BITS: Record<ArgumentSize, number> = { char: 8, short: 16, int: 32, long: 64 };

function pad(body: string, prefix: string, directive: Directive, zeroAllowed: boolean): string {
  const width = directive.width ?? 0;
  const length = prefix.length + body.length;
  if (length >= width) return prefix + body;
  const fill = width - length;
  if (directive.flags.includes('-')) return prefix + body + ' '.repeat(fill);
  if (zeroAllowed && directive.flags.includes('0')) return prefix + '0'.repeat(fill) + body;
  return ' '.repeat(fill) + prefix + body;
}

function formatInteger(directive: Directive, raw: bigint): string {
  const bits = BITS[directive.size];
  const signed = directive.conversion === 'd' || directive.conversion === 'i';
  const value = signed ? BigInt.asIntN(bits, raw) : BigInt.asUintN(bits, raw);
  const negative = value < 0n;
  const magnitude = negative ? -value : value;
  const radix = directive.conversion === 'o' ? 8 : 'xXp'.includes(directive.conversion) ? 16 : 10;
  let digits = magnitude.toString(radix);
  if (directive.conversion === 'X') digits = digits.toUpperCase();
  const precision = directive.precision;
  if (precision !== undefined) {
    digits = precision === 0 && magnitude === 0n ? '' : digits.padStart(precision, '0');
  }
  let prefix = '';
  if (signed) {
    if (negative) prefix = '-';
    else if (directive.flags.includes('+')) prefix = '+';
    else if (directive.flags.includes(' ')) prefix = ' ';
  } else if (directive.flags.includes('#')) {
    if (directive.conversion === 'o' && !digits.startsWith('0')) digits = '0' + digits;
    if ((directive.conversion === 'x' || directive.conversion === 'X') && magnitude !== 0n) {
      prefix = directive.conversion === 'x' ? '0x' : '0X';
    }
  }
  return pad(digits, prefix, directive, precision === undefined);
}

/**
 * Prints the pieces with `args` (as many as there are directives); `readString`
 * reads a NUL-terminated guest string of at most `max` bytes (or throws).
 */
export function formatPieces(
  pieces: readonly FormatPiece[],
  args: readonly bigint[],
  readString: (address: bigint, max: number) => string,
): string {
  let out = '';
  let next = 0;
  for (const piece of pieces) {
    if (piece.kind === 'literal') {
      out += piece.text;
      continue;
    }
    const arg = args[next++] ?? 0n;
    switch (piece.conversion) {
      case 's': {
        const text = arg === 0n ? '(null)' : readString(arg, piece.precision ?? MAX_STRING_BYTES);
        const shown = piece.precision === undefined ? text : text.slice(0, piece.precision);
        out += pad(shown, '', piece, false);
        break;
      }
      case 'c':
        out += pad(String.fromCharCode(Number(arg & 0xffn)), '', piece, false);
        break;
      case 'p':
        out +=
          arg === 0n
            ? pad('(nil)', '', piece, false)
            : pad(arg.toString(16), '0x', piece, piece.precision === undefined);
        break;
      default:
        out += formatInteger(piece, arg);
    }
  }
  return out;
}

/** The most a %s reads from the guest (without a precision). */
export const MAX_STRING_BYTES = 4096;
