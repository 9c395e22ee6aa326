/** The RSP checksum: the sum of the payload bytes modulo 256. */
export function checksum(data: Uint8Array, start = 0, end = data.length): number {
  let sum = 0;
  let i = start;
  // Large payloads (m and x replies) are summed four bytes at a time.
  while (i < end && ((data.byteOffset + i) & 3) !== 0) sum += data[i++]!;
  const words = (end - i) >> 2;
  if (words >= 64) {
    sum += sumWords(data, i, words);
    i += words * 4;
  }
  while (i < end) sum += data[i++]!;
  return sum & 0xff;
}

/**
 * The sum of the bytes of `words` aligned 32-bit words at data[at...]: each
 * word adds its bytes pairwise into two 16-bit lanes, folded every 32 words
 * (32 * 2 * 255 < 2^14) and after the last, so that `lanes` stays under
 * 2^30, a small integer to V8; a larger one turns the loop's arithmetic to
 * floating point. Nothing follows the loop but the return: V8 compiles the
 * loop mid-call, and statements after it that had not run by then
 * deoptimized every later call (a client verifying 512 KiB replies saw
 * that once a reply).
 */
function sumWords(data: Uint8Array, at: number, words: number): number {
  const view = new Uint32Array(data.buffer, data.byteOffset + at, words);
  let sum = 0;
  let lanes = 0;
  for (let w = 0; w < words; w++) {
    const word = view[w]!;
    lanes += (word & 0x00ff00ff) + ((word >>> 8) & 0x00ff00ff);
    if ((w & 31) === 31 || w === words - 1) {
      sum += (lanes & 0xffff) + (lanes >>> 16);
      lanes = 0;
    }
  }
  return sum;
}
