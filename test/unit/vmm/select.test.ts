import { BackendUnavailableError, chooseBackend, type HostProbe } from '../../../lib/vmm/select';

function host(overrides: Partial<HostProbe>): HostProbe {
  return {
    platform: 'linux',
    kvmOpens: false,
    kvmError: 'ENOENT',
    hardwareVirtualization: false,
    pvm: false,
    available: ['emu', 'kvm'],
    ...overrides,
  };
}

describe('chooseBackend(auto)', () => {
  it('picks kvm on hardware KVM', () => {
    const choice = chooseBackend('auto', host({ kvmOpens: true, hardwareVirtualization: true }));
    expect(choice.backend).toBe('kvm');
  });

  it('picks emu on PVM and says why in one line', () => {
    const choice = chooseBackend('auto', host({ kvmOpens: true, pvm: true }));
    expect(choice.backend).toBe('emu');
    expect(choice.reason).toMatch(/PVM/);
    expect(choice.reason).not.toMatch(/\n/);
  });

  it('picks emu when /dev/kvm does not open, naming the error', () => {
    const choice = chooseBackend('auto', host({ kvmOpens: false, kvmError: 'EACCES' }));
    expect(choice).toEqual({ backend: 'emu', reason: '/dev/kvm does not open (EACCES): emu' });
  });

  it('picks emu when the kvm backend is not built', () => {
    const choice = chooseBackend(
      'auto',
      host({ kvmOpens: true, hardwareVirtualization: true, available: ['emu'] }),
    );
    expect(choice.backend).toBe('emu');
  });

  it('picks bhyve on FreeBSD', () => {
    const choice = chooseBackend('auto', host({ platform: 'freebsd', available: ['bhyve'] }));
    expect(choice.backend).toBe('bhyve');
  });

  it('fails clearly when nothing is available', () => {
    expect(() => chooseBackend('auto', host({ available: [] }))).toThrow(BackendUnavailableError);
  });
});

describe('chooseBackend(explicit)', () => {
  it('honours a forced kvm on PVM', () => {
    expect(chooseBackend('kvm', host({ kvmOpens: true, pvm: true })).backend).toBe('kvm');
  });

  it('refuses a backend that is not available, saying why', () => {
    expect(() => chooseBackend('bhyve', host({}))).toThrow(/needs FreeBSD/);
    expect(() => chooseBackend('kvm', host({ available: ['emu'] }))).toThrow(/does not open/);
  });

  it('refuses kvm when its addon loaded but /dev/kvm does not open, saying what to do', () => {
    const probe = host({ available: ['emu', 'kvm'], kvmOpens: false, kvmError: 'EACCES' });
    expect(() => chooseBackend('kvm', probe)).toThrow(BackendUnavailableError);
    expect(() => chooseBackend('kvm', probe)).toThrow(
      'the kvm backend needs /dev/kvm, which does not open (EACCES): use --backend emu, or get read-write access to /dev/kvm',
    );
  });
});
