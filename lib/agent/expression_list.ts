/**
 * The conditions and commands gdb appends to Z0 and Z1 (its remote.c
 * writes `;X len,hex` for each condition, back to back, and
 * `;cmds:persist,X len,hex...` for the commands; gdbserver also takes a
 * `;` between them). Only the syntax is checked here; verifyProgram
 * checks each expression.
 */
export interface ExpressionList {
  conditions: Uint8Array[];
  /** Agent expressions run at each hit whose condition holds (dprintf); none: stop. */
  commands: Uint8Array[];
  /** gdb's `persist` flag for the commands (kept after it disconnects). */
  persist: boolean;
}

/** Parses `X len,hex` at `text[at]`; the expression and where the text goes on. */
function parseExpression(text: string, at: number): { bytes: Uint8Array; next: number } | string {
  const match = /^X([0-9a-fA-F]{1,8}),/.exec(text.slice(at, at + 11));
  if (match === null) return `expected "X len," at ${at}`;
  const length = parseInt(match[1]!, 16);
  const start = at + match[0].length;
  const hex = text.slice(start, start + 2 * length);
  if (hex.length !== 2 * length || !/^[0-9a-fA-F]*$/.test(hex)) {
    return `expression at ${at}: ${length} bytes of hex expected`;
  }
  return { bytes: Uint8Array.from(Buffer.from(hex, 'hex')), next: start + 2 * length };
}

/** Parses what follows a Z packet's kind (from its `;`); a string naming the fault otherwise. */
export function parseExpressionList(suffix: string): ExpressionList | string {
  const list: ExpressionList = { conditions: [], commands: [], persist: false };
  let at = 0;
  let inCommands = false;
  while (at < suffix.length) {
    if (suffix[at] === ';') {
      at++;
      if (suffix.startsWith('cmds:', at)) {
        if (inCommands) return 'a second cmds: list';
        const persist = suffix[at + 5];
        if ((persist !== '0' && persist !== '1') || suffix[at + 6] !== ',') {
          return `cmds: wants 0 or 1 and a comma at ${at}`;
        }
        list.persist = persist === '1';
        inCommands = true;
        at += 7;
      }
    } else if (at === 0) {
      return 'the list must start with ;';
    }
    const parsed = parseExpression(suffix, at);
    if (typeof parsed === 'string') return parsed;
    (inCommands ? list.commands : list.conditions).push(parsed.bytes);
    at = parsed.next;
  }
  if (inCommands && list.commands.length === 0) return 'cmds: without a command';
  return list;
}
