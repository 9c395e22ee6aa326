/**
 * Run-length encoding of reply data (GDB manual, "Overview" of the remote
 * protocol): a run of one character becomes the character, `*`, and the
 * number of extra repeats plus 29 as one printable byte. It applies to the
 * data as sent, that is after binary escaping, and only to replies; gdb and
 * lldb decode it in every reply, text or binary.
 *
 * Rules kept here:
 * - Only runs of 4 or more are encoded (3 extra repeats give ' ', the first
 *   printable count; shorter runs would not shrink).
 * - A count of 6 or 7 extra repeats would be sent as `#` or `$`, which end or
 *   start a packet: such runs are encoded with 5 repeats and the rest is sent
 *   as it is. The largest count is 97 (`~`); longer runs are split.
 * - `}` and the byte after it are an escape pair and are copied untouched; a
 *   run never starts on the escaped byte. gdb expands runs before it
 *   unescapes, lldb does both in one pass and repeats the byte it decoded
 *   last: starting a run only on a plain byte is what makes both agree.
 *   (Escaped data holds no lone `*`, `#` or `$`, so nothing else is
 *   ambiguous; a `*` that is somehow in the data is never treated as a run.)
 */
const STAR = 0x2a;
const ESCAPE = 0x7d;
const COUNT_BIAS = 29;
const MIN_RUN = 4;
const MAX_REPEATS = 126 - COUNT_BIAS;
const HASH_REPEATS = 0x23 - COUNT_BIAS;
const DOLLAR_REPEATS = 0x24 - COUNT_BIAS;

/**
 * Encodes buffer[start, end) in place (the encoding is never longer, and
 * writes never overtake reads); returns the new end.
 */
export function runLengthEncodeInPlace(buffer: Buffer, start: number, end: number): number {
  return runLengthEncodeWithChecksum(buffer, start, end).end;
}

/**
 * As runLengthEncodeInPlace, and sums the encoded bytes on the way (the RSP
 * checksum of what is sent): one pass over the reply instead of two.
 */
export function runLengthEncodeWithChecksum(
  buffer: Buffer,
  start: number,
  end: number,
): { end: number; sum: number } {
  let read = start;
  let write = start;
  let sum = 0;
  while (read < end) {
    const byte = buffer[read]!;
    if (byte === ESCAPE) {
      buffer[write++] = byte;
      sum += byte;
      read++;
      if (read < end) {
        const escaped = buffer[read++]!;
        buffer[write++] = escaped;
        sum += escaped;
      }
      continue;
    }
    // Most bytes start no run: one look at the next three settles it.
    if (
      byte !== STAR &&
      read + MIN_RUN <= end &&
      buffer[read + 1] === byte &&
      buffer[read + 2] === byte &&
      buffer[read + 3] === byte
    ) {
      let run = MIN_RUN;
      while (read + run < end && run <= MAX_REPEATS && buffer[read + run] === byte) run++;
      let repeats = run - 1;
      if (repeats === HASH_REPEATS || repeats === DOLLAR_REPEATS) repeats = HASH_REPEATS - 1;
      buffer[write++] = byte;
      buffer[write++] = STAR;
      buffer[write++] = repeats + COUNT_BIAS;
      sum += byte + STAR + repeats + COUNT_BIAS;
      read += repeats + 1;
      continue;
    }
    // Until the first run is encoded, the byte is already where it belongs.
    if (write !== read) buffer[write] = byte;
    write++;
    read++;
    sum += byte;
  }
  return { end: write, sum: sum & 0xff };
}
