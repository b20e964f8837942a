"""Shared pieces of the harness: processes it starts, runners it talks to,
statistics, and facts about the machine."""

import json
import os
import platform
import re
import select
import signal
import socket
import statistics
import subprocess
import sys
import time


class BenchError(Exception):
    """A failure the harness reports and stops on."""


def log(message):
    print(f"[bench {time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


def free_port():
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_for_port(port, proc=None, timeout=120.0, what="server"):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc is not None and proc.poll() is not None:
            raise BenchError(f"{what} exited with status {proc.returncode} before listening")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1):
                return
        except OSError:
            time.sleep(0.1)
    raise BenchError(f"{what} did not listen on 127.0.0.1:{port} within {timeout:.0f} s")


def wait_for_listening(log_path, proc, timeout=120.0, what="weir"):
    """The port a server bound to 127.0.0.1:0 itself, read from the line
    "listening on 127.0.0.1:PORT" it logs (no port picked, released and
    bound again, which another process could take in between)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise BenchError(f"{what} exited with status {proc.returncode} before listening")
        match = re.search(r"listening on 127\.0\.0\.1:(\d+)", log_path.read_text(errors="replace"))
        if match:
            return int(match.group(1))
        time.sleep(0.1)
    raise BenchError(f"{what} did not log its address within {timeout:.0f} s (see {log_path})")


class Processes:
    """Every process the harness starts, stopped by pid on exit or signal."""

    def __init__(self):
        self._procs = []

    def start(self, argv, **kwargs):
        proc = subprocess.Popen(argv, start_new_session=True, **kwargs)
        self._procs.append(proc)
        return proc

    def stop(self, proc, timeout=15.0):
        if proc.poll() is None:
            try:
                os.killpg(proc.pid, signal.SIGTERM)
            except ProcessLookupError:
                pass
            try:
                proc.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                try:
                    os.killpg(proc.pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
                proc.wait()
        if proc in self._procs:
            self._procs.remove(proc)

    def stop_all(self):
        for proc in reversed(list(self._procs)):
            self.stop(proc)


class Runner:
    """A long-lived query runner speaking JSON lines (see bench/src/main.rs)."""

    def __init__(self, name, argv, procs, env=None, ready_timeout=120.0):
        self.name = name
        self.argv = argv
        self._procs = procs
        self.proc = procs.start(
            argv,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            env=env,
            text=True,
            bufsize=1,
        )
        answer = self._read(ready_timeout)
        if not answer.get("ready"):
            raise BenchError(f"{name}: unexpected first answer {answer}")

    def _read(self, timeout):
        ready, _, _ = select.select([self.proc.stdout], [], [], timeout)
        if not ready:
            self.close()
            raise BenchError(f"{self.name}: no answer within {timeout:.0f} s")
        line = self.proc.stdout.readline()
        if not line:
            err = self.proc.stderr.read() if self.proc.poll() is not None else ""
            raise BenchError(f"{self.name} exited: {err.strip()[-2000:]}")
        return json.loads(line)

    def run(self, sql, fmt="binary", timeout=1800.0, answer=False):
        """Run one statement; returns the runner's answer dict (ok, rows, bytes, ms | error),
        with the rows themselves as text cells under "answer" when `answer` is set."""
        request = {"sql": sql, "format": fmt}
        if answer:
            request["answer"] = True
        self.proc.stdin.write(json.dumps(request) + "\n")
        self.proc.stdin.flush()
        return self._read(timeout)

    def close(self):
        try:
            if self.proc.stdin:
                self.proc.stdin.close()
        except OSError:
            pass
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            pass
        self._procs.stop(self.proc)


def summarize(values):
    """Median, min and max of a list of numbers (None when empty)."""
    if not values:
        return None
    return {
        "median": statistics.median(values),
        "min": min(values),
        "max": max(values),
        "n": len(values),
    }


# How close two engines' numbers must be to count as the same answer: a
# relative difference of at most 1e-6 (or an absolute one of 1e-6 near
# zero). Engines differ in how many decimals an average or a ratio of
# decimals keeps (DataFusion cuts avg() of a decimal(15,2) to 6 decimals,
# PostgreSQL keeps 16, DuckDB computes in double), which is far inside that;
# a wrong row, a missing row or a wrong digit in the first six is not.
TOLERANCE = 1e-6


def _number(cell):
    try:
        return float(cell)
    except (TypeError, ValueError):
        return None


def same_cell(a, b):
    if a is None or b is None:
        return a is None and b is None
    x, y = _number(a), _number(b)
    if x is not None and y is not None:
        return abs(x - y) <= TOLERANCE * max(1.0, abs(x), abs(y))
    return a == b


def compare_answers(got, want, limit=3):
    """Differences between two answers (lists of rows of text cells),
    compared cell by cell with TOLERANCE; rows are matched after sorting,
    so ties an ORDER BY leaves open do not count. [] when they agree."""
    if got is None or want is None:
        return ["no answer to compare"]
    if len(got) != len(want):
        return [f"{len(got)} rows, expected {len(want)}"]

    def key(row):
        return [("" if c is None else (f"{_number(c):.6g}" if _number(c) is not None else c)) for c in row]

    problems = []
    for i, (g, w) in enumerate(zip(sorted(got, key=key), sorted(want, key=key))):
        if len(g) != len(w) or not all(same_cell(a, b) for a, b in zip(g, w)):
            problems.append(f"row {i}: {g} vs {w}")
            if len(problems) >= limit:
                break
    return problems


def ratio(a, b):
    if a is None or b is None or b == 0:
        return None
    return a / b


def peak_rss_kib(pid):
    """VmHWM of a process, in KiB (Linux)."""
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1])
    except OSError:
        return None
    return None


def command_version(argv):
    try:
        out = subprocess.run(argv, capture_output=True, text=True, timeout=60)
        return (out.stdout or out.stderr).strip().splitlines()[0]
    except (OSError, IndexError, subprocess.TimeoutExpired):
        return None


def machine():
    info = {
        "cores": os.cpu_count(),
        "kernel": platform.release(),
        "python": platform.python_version(),
    }
    try:
        with open("/proc/cpuinfo") as f:
            m = re.search(r"^model name\s*:\s*(.+)$", f.read(), re.M)
            info["cpu"] = m.group(1).strip() if m else None
    except OSError:
        info["cpu"] = None
    try:
        with open("/proc/meminfo") as f:
            m = re.search(r"^MemTotal:\s*(\d+) kB", f.read(), re.M)
            info["memory_gib"] = round(int(m.group(1)) / 1024 / 1024, 1) if m else None
    except OSError:
        info["memory_gib"] = None
    try:
        load = os.getloadavg()
        info["load_average_at_start"] = [round(x, 2) for x in load]
    except OSError:
        pass
    return info
