import { Debugger } from '../../lib/debugger/debugger';
import { GdbStub } from '../../lib/gdb_stub';
import { bootKernel, type BootedGuest } from './emu_guest';
import { symbol } from './kernels';
import { RspClient } from './rsp_client';

/**
 * The up kernel booted on emu under an in-process stub, for raw RSP tests:
 * a fresh one for each test (beforeEach), every client closed after it.
 */
export interface StubFixture {
  guest(): BootedGuest;
  stub(): GdbStub;
  connect(): Promise<RspClient>;
  /** The kernel's `counter`, read from guest memory. */
  counter(): bigint;
}

export function useUpKernelStub(): StubFixture {
  let guest: BootedGuest;
  let stub: GdbStub;
  let port: number;
  const clients: RspClient[] = [];

  beforeEach(async () => {
    guest = bootKernel('up');
    await guest.waitForConsole(/up ok/);
    stub = new GdbStub(new Debugger(guest.vmm), { listen: { host: '127.0.0.1', port: 0 } });
    port = Number((await stub.listen()).split(':').pop());
  });

  afterEach(async () => {
    await Promise.all(clients.splice(0).map((c) => c.close()));
    await stub.close();
    guest.destroy();
  });

  return {
    guest: () => guest,
    stub: () => stub,
    async connect() {
      const client = await RspClient.connect({ host: '127.0.0.1', port });
      clients.push(client);
      return client;
    },
    counter: () => guest.vmm.readPhysical(Number(symbol('up', 'counter')), 8).readBigUInt64LE(),
  };
}
