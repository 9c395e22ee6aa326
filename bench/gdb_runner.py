# Runs the benchmark's gdb rows inside gdb (gdb -batch -x gdb_runner.py) and
# times each with gdb's own clock, so that gdb's start-up and the pipe to the
# benchmark stay out of the figures. The rows come as JSON in the file named by
# VMM_BENCH_SPEC (bench/real_clients.ts writes it); each result is one line
# "@@bench {json}" on stdout.
import json
import os
import signal
import threading
import time

import gdb


def emit(kind, **fields):
    fields["kind"] = kind
    print("@@bench " + json.dumps(fields), flush=True)


def process_cpu_ns(pid):
    """CPU time of every live thread of a process (the stub's vCPU threads too), in ns."""
    total = 0
    try:
        tids = os.listdir("/proc/%d/task" % pid)
    except OSError:
        return 0
    for tid in tids:
        try:
            with open("/proc/%d/task/%s/schedstat" % (pid, tid)) as stat:
                total += int(stat.read().split()[0])
        except (OSError, ValueError, IndexError):
            pass
    return total


def run(command):
    # As if typed at the prompt: some commands print less with from_tty off.
    gdb.execute(command, from_tty=True)


def interrupted(commands, after_ms):
    """Runs `commands`, sends gdb a SIGINT (Ctrl-C) after `after_ms`; the time from it to the prompt."""
    sent = []

    def ctrl_c():
        time.sleep(after_ms / 1000)
        sent.append(time.perf_counter())
        os.kill(os.getpid(), signal.SIGINT)

    kicker = threading.Thread(target=ctrl_c)
    kicker.start()
    for command in commands:
        run(command)
    done = time.perf_counter()
    kicker.join()
    if not sent or sent[0] > done:
        raise gdb.GdbError("the command returned before the Ctrl-C")
    return done - sent[0]


def run_row(row, target_pid):
    emit("start", key=row["key"])
    samples = []
    # CPU time of gdb and of the target during the timed commands, in ms.
    client_cpu = 0.0
    target_cpu = 0.0
    try:
        for command in row["setup"]:
            run(command)
        started = time.perf_counter()
        for i in range(row["repeat"]):
            for command in row["before"]:
                run(command)
            c0 = time.process_time_ns()
            s0 = process_cpu_ns(target_pid)
            if row.get("interruptAfterMs") is not None:
                seconds = interrupted(row["timed"], row["interruptAfterMs"])
            else:
                t0 = time.perf_counter()
                for command in row["timed"]:
                    run(command)
                seconds = time.perf_counter() - t0
            client_cpu += (time.process_time_ns() - c0) / 1e6
            target_cpu += (process_cpu_ns(target_pid) - s0) / 1e6
            samples.append(seconds * 1000)
            for command in row["after"]:
                run(command)
            if (time.perf_counter() - started) * 1000 >= row["budgetMs"]:
                break
        if row.get("interruptAfterMs") is not None:
            # Its CPU time covers the guest's run before the Ctrl-C too: not comparable.
            emit("done", key=row["key"], samples=samples)
        else:
            emit("done", key=row["key"], samples=samples, clientCpuMs=client_cpu, targetCpuMs=target_cpu)
    except BaseException as error:  # gdb.error, and KeyboardInterrupt from the bench's rescue
        emit("error", key=row["key"], message=str(error) or type(error).__name__, samples=samples)
    for command in row["teardown"]:
        try:
            run(command)
        except BaseException as error:
            emit("error", key=row["key"], message="teardown: " + (str(error) or type(error).__name__))


def main():
    with open(os.environ["VMM_BENCH_SPEC"]) as spec_file:
        spec = json.load(spec_file)
    for row in spec["rows"]:
        run_row(row, spec["targetPid"])
    emit("end")


main()
