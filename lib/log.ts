/**
 * Namespaced debug logging, off by default: DEBUG=vmm-gdbstub:* (or a
 * comma-separated list such as vmm-gdbstub:rsp,vmm-gdbstub:debugger) turns
 * namespaces on; lines go to stderr.
 */
export type Logger = ((message: string) => void) & { enabled: boolean };

const enabledPatterns = (process.env.DEBUG ?? '')
  .split(',')
  .map((p) => p.trim())
  .filter((p) => p.length > 0)
  .map((p) => new RegExp('^' + p.replace(/[.+?^${}()|[\]\\]/g, '\\$&').replace(/\*/g, '.*') + '$'));

export function createLogger(namespace: string): Logger {
  const logger = ((message: string) => {
    if (logger.enabled) process.stderr.write(`${namespace} ${message}\n`);
  }) as Logger;
  logger.enabled = enabledPatterns.some((p) => p.test(namespace));
  return logger;
}

export const log = {
  rsp: createLogger('vmm-gdbstub:rsp'),
  debugger: createLogger('vmm-gdbstub:debugger'),
  vmm: createLogger('vmm-gdbstub:vmm'),
  guest: createLogger('vmm-gdbstub:guest'),
};
