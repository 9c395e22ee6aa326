/**
 * Runs `body` while globalThis.WebAssembly is missing, with a fresh module
 * registry: what `body` requires is loaded as on a Node without it, so the
 * fallbacks to the JavaScript encoders can be tested.
 */
export function withoutWebAssembly(body: () => void): void {
  const host = globalThis as unknown as { WebAssembly: unknown };
  const saved = host.WebAssembly;
  jest.isolateModules(() => {
    host.WebAssembly = undefined;
    try {
      body();
    } finally {
      host.WebAssembly = saved;
    }
  });
}
