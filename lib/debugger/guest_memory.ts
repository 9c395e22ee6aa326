import type { Vmm } from '../vmm/vmm';
import { Access } from '../vmm/vmm';

const PAGE = 0x1000n;

/**
 * Reads guest-virtual memory page by page through the vCPU's page tables.
 * Returns the readable prefix: empty when the first byte is unmapped.
 */
export function readVirtual(vmm: Vmm, vcpu: number, address: bigint, length: number): Buffer {
  const parts: Buffer[] = [];
  let done = 0;
  while (done < length) {
    const gla = (address + BigInt(done)) & 0xffffffffffffffffn;
    const inPage = Number(PAGE - (gla % PAGE));
    const chunk = Math.min(inPage, length - done);
    const gpa = vmm.gla2gpa(vcpu, gla, Access.read);
    if (gpa === undefined) break;
    try {
      parts.push(vmm.readPhysical(Number(gpa), chunk));
    } catch {
      break; // mapped, but not to RAM (MMIO or a hole): stop at the readable prefix
    }
    done += chunk;
  }
  return Buffer.concat(parts);
}
