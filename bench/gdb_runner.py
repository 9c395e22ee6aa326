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


def run_row(row):
    emit("start", key=row["key"])
    samples = []
    try:
        for command in row["setup"]:
            run(command)
        started = time.perf_counter()
        for i in range(row["repeat"]):
            for command in row["before"]:
                run(command)
            if row.get("interruptAfterMs") is not None:
                seconds = interrupted(row["timed"], row["interruptAfterMs"])
            else:
                t0 = time.perf_counter()
                for command in row["timed"]:
                    run(command)
                seconds = time.perf_counter() - t0
            samples.append(seconds * 1000)
            for command in row["after"]:
                run(command)
            if (time.perf_counter() - started) * 1000 >= row["budgetMs"]:
                break
        emit("done", key=row["key"], samples=samples)
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
        run_row(row)
    emit("end")


main()
