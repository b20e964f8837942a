"""bench/run: generate the data, start Weir and its peers, run the suites,
stop what was started, write bench/results/<suite>-<date>.{md,json}.

Suites live in suites/<name>.py; each exposes NEEDS (what it needs started)
and run(ctx) -> dict (figures, tables for the report, target checks). Adding
a suite is adding a module and a line in SUITES."""

import argparse
import datetime
import os
import pathlib
import shlex
import signal
import sys
import time

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent))

from common import BenchError, Processes, command_version, log, machine  # noqa: E402
import peers  # noqa: E402
import report  # noqa: E402
from suites import concurrency, federation, governance, isolation, lakehouse, tpch, wire  # noqa: E402

SUITES = {"tpch": tpch, "wire": wire, "concurrency": concurrency, "lakehouse": lakehouse,
          "federation": federation, "isolation": isolation, "governance": governance}
REPO = pathlib.Path(__file__).resolve().parents[2]


def parse_args(argv):
    p = argparse.ArgumentParser(
        prog="bench/run",
        description="Measure Weir beside its peers (DuckDB, DataFusion in-process, PostgreSQL) in one run.",
    )
    p.add_argument("--suite", action="append",
                   help="suite(s) to run, comma-separated or repeated: "
                        + ", ".join(sorted(SUITES) + ["all"]) + " (default: all)")
    p.add_argument("--sf", type=float, help="TPC-H scale factor (default 1; 0.01 with --quick)")
    p.add_argument("--runs", type=int, help="measured runs per figure, after warm-up (default 5; 1 with --quick)")
    p.add_argument("--warmup", type=int, help="warm-up runs per figure (default 1; 0 with --quick)")
    p.add_argument("--duration", type=int, help="seconds per pgbench run (default 10; 1 with --quick)")
    p.add_argument("--clients", help="pgbench client counts, comma-separated (default 1,16,64; 1,4 with --quick)")
    p.add_argument("--quick", action="store_true",
                   help="tiny scale, one run: checks the harness works (CI runs this)")
    p.add_argument("--profile", default=None, choices=["release", "dev"],
                   help="Cargo profile of the Weir build (default release; CI's quick run uses dev, already built by the tests)")
    p.add_argument("--data-dir", type=pathlib.Path,
                   default=pathlib.Path(os.environ.get("WEIR_BENCH_DATA", pathlib.Path.home() / ".cache" / "weir-bench")),
                   help="where generated data and the PostgreSQL cluster are kept between runs")
    p.add_argument("--pg-dir", type=pathlib.Path, default=None,
                   help="the private PostgreSQL cluster's directory (default /var/tmp/weir-bench-pg-sf<SF>)")
    p.add_argument("--out", type=pathlib.Path, default=None,
                   help="report directory (default bench/results; bench/results/quick with --quick)")
    p.add_argument("--no-build", action="store_true", help="use the binaries already built")
    args = p.parse_args(argv)
    q = args.quick
    args.sf = args.sf if args.sf is not None else (0.01 if q else 1.0)
    args.runs = args.runs if args.runs is not None else (1 if q else 5)
    args.warmup = args.warmup if args.warmup is not None else (0 if q else 1)
    args.duration = args.duration if args.duration is not None else (1 if q else 10)
    args.clients = [int(c) for c in (args.clients or ("1,4" if q else "1,16,64")).split(",")]
    args.profile = args.profile or "release"
    args.out = args.out or (REPO / "bench" / "results" / ("quick" if q else ""))
    suites = [s.strip() for arg in (args.suite or ["all"]) for s in arg.split(",") if s.strip()]
    unknown = [s for s in suites if s not in SUITES and s != "all"]
    if unknown or not suites:
        p.error(f"unknown suite {', '.join(unknown) or '(none)'}; choose from {', '.join(sorted(SUITES))} or all")
    args.suites = list(SUITES) if "all" in suites else list(dict.fromkeys(suites))
    if args.runs < 1 or args.sf <= 0:
        p.error("--runs must be at least 1 and --sf positive")
    return args


class Context:
    """What a suite gets: settings, the build, data, started servers and peers."""

    def __init__(self, args, procs, build, python):
        self.args = args
        self.procs = procs
        self.build = build
        self.python = python
        self.weir_dir = None
        self.lake = None
        self._postgres = None
        self.commands = {}

    def postgres(self):
        if self._postgres is None:
            pg_dir = self.args.pg_dir or pathlib.Path(f"/var/tmp/weir-bench-pg-sf{self.args.sf:g}")
            self._postgres = peers.Postgres(pg_dir, self.procs)
            self.commands["postgres"] = self._postgres.command
        return self._postgres

    def start_weir(self, extra_config="", database="lake"):
        weir = peers.Weir(self.build, self.weir_dir, self.procs, extra_config, database)
        self.commands["weir"] = weir.command
        return weir


def main(argv):
    args = parse_args(argv)
    procs = Processes()

    def on_signal(signum, _frame):
        log(f"signal {signum}: stopping what the harness started")
        procs.stop_all()
        sys.exit(130)

    signal.signal(signal.SIGINT, on_signal)
    signal.signal(signal.SIGTERM, on_signal)

    started = datetime.datetime.now(datetime.timezone.utc)
    build = peers.Build(REPO, args.profile)
    python = sys.executable
    failures = []
    try:
        if not args.no_build:
            build.build()
        for binary in (build.weir, build.weir_bench):
            if not binary.exists():
                raise BenchError(f"{binary} is missing: build it, or drop --no-build")
        ctx = Context(args, procs, build, python)
        ctx.weir_dir, ctx.lake = peers.tpch_lake(build, args.data_dir, args.sf)
        ctx.commands["generate"] = f"{build.weir_bench} gen-tpch --sf {args.sf:g} --lake {ctx.lake}"
        common_info = {
            "date": started.isoformat(timespec="seconds"),
            "machine": machine(),
            "versions": {
                "weir": build.version(),
                "weir_commit": command_version(["git", "-C", str(REPO), "rev-parse", "--short", "HEAD"]),
                "weir_profile": args.profile,
                "rustc": command_version(["rustc", "--version"]),
                "duckdb": peers.duckdb_version(python),
                "pgbench": command_version(["pgbench", "--version"]),
            },
            "settings": {
                "sf": args.sf,
                "runs": args.runs,
                "warmup": args.warmup,
                "quick": args.quick,
                "pgbench_seconds": args.duration,
                "pgbench_clients": args.clients,
            },
            "invocation": " ".join(["bench/run"] + ([shlex.join(argv)] if argv else [])),
        }
        args.out.mkdir(parents=True, exist_ok=True)
        for name in args.suites:
            log(f"suite {name}")
            suite_started = time.monotonic()
            result = SUITES[name].run(ctx)
            result["seconds"] = round(time.monotonic() - suite_started, 1)
            doc = dict(common_info, suite=name, commands=dict(ctx.commands), result=result)
            if ctx._postgres is not None:
                doc["versions"]["postgres"] = ctx._postgres.version
            md, js = report.write(args.out, name, started, doc)
            log(f"wrote {md} and {js}")
            failures += [f"{name}: {f}" for f in result.get("failures", [])]
    except BenchError as e:
        log(f"error: {e}")
        return 1
    finally:
        procs.stop_all()
    if failures:
        for f in failures:
            log(f"FAILED {f}")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
