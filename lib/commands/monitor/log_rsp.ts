import { MonitorError, onOff, type MonitorCommand } from './monitor_command';

/** `log rsp on|off`: this connection's packet trace (as --trace-rsp) on or off. */
export const logRsp: MonitorCommand = {
  name: 'log rsp',
  usage: 'on|off',
  summary: "trace this connection's packets on the stub's stderr (as --trace-rsp)",
  run: ({ session }, args, print) => {
    const on = onOff(logRsp, args);
    if (session.traceRsp === undefined) {
      throw new MonitorError('this connection has no packet trace to switch');
    }
    session.traceRsp(on);
    print(on ? 'packet trace on' : 'packet trace off');
  },
};
