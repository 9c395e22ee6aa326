import { ANY_THREAD, parseThreadId } from './thread_id';
import { Errors, type Command } from './types';

/*
 * lldb's thread suffix. After `QThreadSuffixSupported` gets OK, lldb names
 * the thread in the register packets themselves (`g;thread:1;`,
 * `p10;thread:1;`, `P0=..;thread:1;`) instead of sending `Hg` first. The
 * suffix is accepted whether or not lldb asked; gdb never sends one.
 */

/** A packet body with lldb's `;thread:<tid>;` split off. */
export interface ThreadSuffixed {
  body: string;
  /** The vCPU the suffix names; undefined without a suffix (or for thread 0, "any"). */
  vcpu?: number;
}

/**
 * Splits `;thread:<tid>;` (the final `;` optional) off the end of a body.
 * Undefined when a suffix is there but malformed, or names every thread (-1).
 */
export function splitThreadSuffix(body: string): ThreadSuffixed | undefined {
  const at = body.lastIndexOf(';thread:');
  if (at < 0) return { body };
  const match = /^;thread:([0-9a-fA-F]+|-1);?$/.exec(body.slice(at));
  if (match === null) return undefined;
  const vcpu = parseThreadId(match[1]!);
  if (vcpu === undefined || (vcpu < 0 && vcpu !== ANY_THREAD)) return undefined;
  return vcpu === ANY_THREAD ? { body: body.slice(0, at) } : { body: body.slice(0, at), vcpu };
}

/** A request of the wrapped command, and the thread its suffix named. */
export interface SuffixedRequest<Request> {
  request: Request;
  vcpu?: number;
}

/**
 * The same packet, with an optional thread suffix: the wrapped command runs
 * as if `Hg<tid>` had come first, without changing the session's Hg thread
 * (lldb keeps no Hg state once it uses suffixes).
 */
export function withThreadSuffix<Request>(
  command: Command<Request>,
): Command<SuffixedRequest<Request>> {
  return {
    prefix: command.prefix,
    parse: (body) => {
      const suffixed = splitThreadSuffix(body);
      if (suffixed === undefined) return undefined;
      const request = command.parse(suffixed.body);
      if (request === undefined) return undefined;
      return suffixed.vcpu === undefined ? { request } : { request, vcpu: suffixed.vcpu };
    },
    handle: (context, { request, vcpu }) => {
      if (vcpu === undefined) return command.handle(context, request);
      if (vcpu >= context.debugger.vmm.vcpuCount) return Errors.noThread;
      const session = { ...context.session, generalVcpu: vcpu };
      return command.handle({ ...context, session }, request);
    },
  };
}

/** `QThreadSuffixSupported`: OK; the register packets take the suffix from now on. */
export const threadSuffixSupported: Command<true> = {
  prefix: 'QThreadSuffixSupported',
  parse: (body) => (body === '' ? true : undefined),
  handle: () => 'OK',
};
