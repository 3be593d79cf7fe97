#!/usr/bin/env python3
"""pg_nodes.py - end-to-end throughput of kurier nodes that share one PostgreSQL database (issue 16).

Starts one smtp-sink (--sink), then injects N messages with smtp-source split evenly over the nodes'
relay listeners (--target, repeatable; S sessions in all, split too), and times until the sink has
counted N more messages and every node's queue is empty. Prints
  RESULT-LINE <name> e2e_mps=<N/seconds> cpu_kurier=<s> cpu_postgres=<s>
with the CPU seconds the kurier processes (--pid, repeatable) and the PostgreSQL server (--pg-pid, its
postmaster; children counted through /proc) used during the run, so a shared 2-core machine's split is
reported as it is."""
import argparse, os, shutil, signal, subprocess, sys, tempfile, time


def ticks(pid):
    try:
        with open(f"/proc/{pid}/stat") as f:
            v = f.read().rsplit(")", 1)[1].split()
        return int(v[11]) + int(v[12]) + int(v[13]) + int(v[14])  # utime stime cutime cstime
    except FileNotFoundError:
        return 0


def tree_ticks(root):
    total, seen = 0, set()
    stack = [root]
    while stack:
        p = stack.pop()
        if p in seen:
            continue
        seen.add(p)
        total += ticks(p)
        try:
            with open(f"/proc/{p}/task/{p}/children") as f:
                stack += [int(c) for c in f.read().split()]
        except FileNotFoundError:
            pass
    return total


def sink_count(path):
    try:
        with open(path, "rb") as f:
            tail = f.read()[-200:].decode("ascii", "replace")
    except FileNotFoundError:
        return 0
    i = tail.rfind("mesg=")
    if i < 0:
        return 0
    j = i + 5
    while j < len(tail) and tail[j].isdigit():
        j += 1
    return int(tail[i + 5:j] or 0)


def main():
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))  # the sink is stopped in `finally`
    ap = argparse.ArgumentParser()
    ap.add_argument("--name", required=True)
    ap.add_argument("--target", action="append", required=True)
    ap.add_argument("--pid", action="append", type=int, default=[])
    ap.add_argument("--pg-pid", type=int, required=True)
    ap.add_argument("--queue-empty-cmd", action="append", default=[])
    ap.add_argument("--sink", default="127.0.0.1:2526")
    ap.add_argument("-n", type=int, default=20000)
    ap.add_argument("-s", type=int, default=32)
    ap.add_argument("-l", type=int, default=4096)
    ap.add_argument("--warmup", type=int, default=500, help="messages per target sent and delivered before timing")
    a = ap.parse_args()
    work = tempfile.mkdtemp(prefix="kurier-pgnodes-")
    count_file = os.path.join(work, "sink.count")
    sink = subprocess.Popen(["smtp-sink", "-c", "-u", "root", "-R", work, a.sink, "256"],
                            stdout=open(count_file, "wb"), stderr=subprocess.DEVNULL)
    try:
        time.sleep(0.5)
        for t in a.target:  # warm-up, delivered into this sink before the clock starts
            subprocess.run(["smtp-source", "-s", "8", "-l", str(a.l), "-m", str(a.warmup), "-f", "from@example.com",
                            "-t", "to@example.net", t], stdout=subprocess.DEVNULL, check=True)
        while sink_count(count_file) < a.warmup * len(a.target):
            time.sleep(0.05)
        base = sink_count(count_file)
        hz = os.sysconf("SC_CLK_TCK")
        k0 = sum(tree_ticks(p) for p in a.pid)
        p0 = tree_ticks(a.pg_pid)
        t0 = time.time()
        per = a.n // len(a.target)
        sessions = max(1, a.s // len(a.target))
        sources = [subprocess.Popen(["smtp-source", "-s", str(sessions), "-l", str(a.l), "-m", str(per),
                                     "-f", "from@example.com", "-t", "to@example.net", t],
                                    stdout=subprocess.DEVNULL) for t in a.target]
        for s in sources:
            if s.wait() != 0:
                sys.exit("smtp-source failed")
        want = base + per * len(a.target)
        while sink_count(count_file) < want:
            if time.time() - t0 > 900:
                sys.exit(f"timeout: the sink counted {sink_count(count_file) - base} of {want - base}")
            time.sleep(0.01)
        for cmd in a.queue_empty_cmd:
            while subprocess.run(cmd, shell=True).returncode != 0:
                time.sleep(0.05)
        took = time.time() - t0
        k1 = sum(tree_ticks(p) for p in a.pid)
        p1 = tree_ticks(a.pg_pid)
        print(f"RESULT-LINE {a.name} e2e_mps={per * len(a.target) / took:.0f} seconds={took:.2f} "
              f"cpu_kurier={(k1 - k0) / hz:.1f} cpu_postgres={(p1 - p0) / hz:.1f}")
    finally:
        sink.terminate()
        sink.wait()
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
