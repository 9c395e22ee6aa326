/** The RSP checksum: the sum of the payload bytes modulo 256. */
export function checksum(data: Uint8Array, start = 0, end = data.length): number {
  let sum = 0;
  for (let i = start; i < end; i++) sum += data[i]!;
  return sum & 0xff;
}
