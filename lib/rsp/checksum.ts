/** The RSP checksum: the sum of the payload bytes modulo 256. */
export function checksum(data: Uint8Array, start = 0, end = data.length): number {
  let sum = 0;
  let i = start;
  // Large payloads (m and x replies) are summed four bytes at a time: each
  // 32-bit word adds its bytes pairwise into two 16-bit lanes, folded every
  // 32 words (32 * 2 * 255 < 2^14), so that `lanes` stays under 2^30: a
  // small integer to V8, where a larger one turns the loop's arithmetic to
  // floating point and deoptimizes the code compiled for it.
  while (i < end && ((data.byteOffset + i) & 3) !== 0) sum += data[i++]!;
  const words = (end - i) >> 2;
  if (words >= 64) {
    const view = new Uint32Array(data.buffer, data.byteOffset + i, words);
    let lanes = 0;
    for (let w = 0; w < words; w++) {
      const word = view[w]!;
      lanes += (word & 0x00ff00ff) + ((word >>> 8) & 0x00ff00ff);
      if ((w & 31) === 31) {
        sum += (lanes & 0xffff) + (lanes >>> 16);
        lanes = 0;
      }
    }
    sum += (lanes & 0xffff) + (lanes >>> 16);
    i += words * 4;
  }
  while (i < end) sum += data[i++]!;
  return sum & 0xff;
}
