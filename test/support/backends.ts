import { probeHost, type HostProbe } from '../../lib/vmm/select';

// Which backends the integration suites run on. emu always (the fake vmm on
// Unicorn needs nothing from the host); kvm where /dev/kvm opens and the core
// addon carries the kvm backend, otherwise skipped with one printed reason.

/** Whether the kvm backend can run here, and the one line that says so. */
export interface KvmAvailability {
  usable: boolean;
  pvm: boolean;
  /** What runs behind /dev/kvm (`hardware KVM`, `PVM (kvm_pvm)`), or why kvm cannot run. */
  detail: string;
  /** `kvm: hardware KVM`, `kvm: PVM (kvm_pvm)` or `SKIP kvm: <reason>`. */
  line: string;
}

export function kvmAvailability(host: HostProbe = probeHost()): KvmAvailability {
  const unusable = (pvm: boolean, reason: string): KvmAvailability => ({
    usable: false,
    pvm,
    detail: reason,
    line: `SKIP kvm: ${reason}`,
  });
  if (host.platform !== 'linux') return unusable(false, `${host.platform} is not Linux`);
  if (!host.kvmOpens) {
    return unusable(false, `/dev/kvm does not open (${host.kvmError ?? 'unknown error'})`);
  }
  if (!host.available.includes('kvm')) {
    return unusable(
      host.pvm,
      'the kvm backend is not in the core addon (rebuild with `npm run build:native`)',
    );
  }
  const detail = host.pvm
    ? 'PVM (kvm_pvm)'
    : host.hardwareVirtualization
      ? 'hardware KVM'
      : 'KVM without svm/vmx flags';
  return { usable: true, pvm: host.pvm, detail, line: `kvm: ${detail}` };
}

export type TestBackendName = 'emu' | 'kvm';

/** One backend a suite runs on. */
export interface TestBackend {
  name: TestBackendName;
  usable: boolean;
  /** What runs the guest, or why the backend is skipped. */
  detail: string;
  /** kvm served by PVM (software: guest kernel code is emulated). */
  pvm: boolean;
  /**
   * A generous per-test timeout. PVM emulates guest kernel code at about a
   * million instructions a second, so kvm gets far more than emu; tests wait
   * for events and never assert how long anything took.
   */
  timeoutMs: number;
}

let cached: TestBackend[] | undefined;

/** emu, then kvm (usable or not, with the reason). */
export function testBackends(): TestBackend[] {
  if (cached === undefined) {
    const kvm = kvmAvailability();
    cached = [
      {
        name: 'emu',
        usable: true,
        detail: 'the fake vmm on Unicorn',
        pvm: false,
        timeoutMs: 120000,
      },
      { name: 'kvm', usable: kvm.usable, detail: kvm.detail, pvm: kvm.pvm, timeoutMs: 240000 },
    ];
  }
  return cached;
}

/**
 * Declares `body` once per backend, in a describe named `<title> [<backend>]`.
 * A backend that cannot run here gets `describe.skip` and one printed line,
 * `SKIP <backend> <suite> suite: <reason>`; kvm, when it runs, prints what is
 * behind /dev/kvm (hardware KVM or PVM).
 */
export function describeEachBackend(
  suite: string,
  title: string,
  body: (backend: TestBackend) => void,
): void {
  for (const backend of testBackends()) {
    const declare = backend.usable ? describe : describe.skip;
    declare(`${title} [${backend.name}]`, () => {
      if (!backend.usable) console.log(`SKIP ${backend.name} ${suite} suite: ${backend.detail}`);
      else if (backend.name === 'kvm') console.log(`${suite} suite on kvm: ${backend.detail}`);
      body(backend);
    });
  }
}
