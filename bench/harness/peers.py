"""What the suites run against: Weir itself, a private PostgreSQL, DuckDB,
and DataFusion in-process. Each is started by the harness and stopped by pid."""

import glob
import json
import os
import pathlib
import shlex
import shutil
import time
import subprocess

from common import (
    BenchError,
    Runner,
    command_version,
    free_port,
    log,
    wait_for_listening,
    wait_for_port,
)

HARNESS = pathlib.Path(__file__).resolve().parent
TPCH_TABLES = ["region", "nation", "supplier", "customer", "part", "partsupp", "orders", "lineitem"]

WEIR_USER = "bench"
WEIR_PASSWORD = "bench-password"


class Build:
    """The Weir binaries the harness runs, built with one Cargo profile."""

    def __init__(self, repo, profile):
        self.repo = repo
        self.profile = profile
        target = os.environ.get("CARGO_TARGET_DIR") or str(repo / "target")
        self.bin_dir = pathlib.Path(target) / ("debug" if profile == "dev" else profile)
        self.weir = self.bin_dir / "weir"
        self.weir_bench = self.bin_dir / "weir-bench"
        self.command = f"cargo build --locked --profile {profile} -p weir-gateway -p weir-bench"

    def build(self):
        log(f"building: {self.command}")
        result = subprocess.run(self.command.split(), cwd=self.repo)
        if result.returncode != 0:
            raise BenchError(f"cargo build failed (exit {result.returncode})")

    def version(self):
        return command_version([str(self.weir), "--version"])


def tpch_lake(build, data_root, sf):
    """The lake directory holding TPC-H at `sf` as Parquet, generated once and reused."""
    weir_dir = data_root / f"tpch-sf{sf:g}"
    lake = weir_dir / "lake"
    complete = all((lake / "tpch" / t).is_dir() for t in TPCH_TABLES)
    if not complete:
        log(f"generating TPC-H SF {sf:g} into {lake}/tpch (kept for later runs)")
    result = subprocess.run(
        [str(build.weir_bench), "gen-tpch", "--sf", f"{sf:g}", "--lake", str(lake)],
        capture_output=True,
        text=True,
    )
    if result.returncode != 0:
        raise BenchError(f"TPC-H generation failed: {result.stderr.strip()}")
    return weir_dir, lake


class Weir:
    """A Weir server on a free loopback port over an existing data directory."""

    def __init__(self, build, data_dir, procs, extra_config="", database="lake"):
        self.build = build
        self.data_dir = data_dir
        self.procs = procs
        self.user, self.database = WEIR_USER, database
        self.config = data_dir / "bench-weir.toml"
        self.config.write_text(
            "\n".join(
                [
                    "# Written by bench/run.",
                    "[server]",
                    'listen = "127.0.0.1:0"',
                    f"data_dir = {json.dumps(str(data_dir))}",
                    "max_connections = 512",
                    "[[auth.users]]",
                    f'name = "{WEIR_USER}"',
                    'password = "${WEIR_BENCH_PASSWORD}"',
                    "[demo]",
                    "tpch_scale_factor = 0",
                    extra_config,
                    "",
                ]
            )
        )
        argv = [str(build.weir), "serve", "--config", str(self.config)]
        self.command = shlex.join(argv)
        env = dict(os.environ, WEIR_BENCH_PASSWORD=WEIR_PASSWORD, RUST_LOG="warn")
        self.log_path = data_dir / "bench-weir.log"
        self._log = open(self.log_path, "w")
        self.proc = procs.start(argv, stdout=self._log, stderr=subprocess.STDOUT, env=env)
        self.port = wait_for_listening(self.log_path, self.proc)
        log(f"weir pid {self.proc.pid} listening on 127.0.0.1:{self.port}")

    def url(self):
        return f"postgresql://{self.user}:{WEIR_PASSWORD}@127.0.0.1:{self.port}/{self.database}"

    def libpq_env(self):
        return {"PGPASSWORD": WEIR_PASSWORD}

    def pid(self):
        return self.proc.pid

    def stop(self):
        self.procs.stop(self.proc)
        self._log.close()


def postgres_bin():
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"), key=lambda p: int(p.split("/")[4]))
    if not found:
        raise BenchError(
            "no PostgreSQL server binaries (initdb) found under /usr/lib/postgresql; "
            "install the postgresql package"
        )
    return pathlib.Path(found[-1]).parent


class Postgres:
    """A private PostgreSQL cluster (initdb) on a free port, kept between runs
    so tables loaded once are reused; started and stopped by the harness."""

    def __init__(self, cluster_dir, procs):
        self.bin = postgres_bin()
        self.dir = cluster_dir
        self.procs = procs
        self.port = free_port()
        self.as_postgres = os.geteuid() == 0
        self.user = "postgres" if self.as_postgres else os.environ.get("USER", "postgres")
        self.database = "postgres"
        if not (self.dir / "PG_VERSION").exists():
            log(f"initdb {self.dir}")
            self.dir.mkdir(parents=True, exist_ok=True)
            if self.as_postgres:
                shutil.chown(self.dir, "postgres", "postgres")
                os.chmod(self.dir, 0o700)
            self._run([str(self.bin / "initdb"), "-D", str(self.dir), "--auth=trust", "--locale=C", "-E", "UTF8", "-U", self.user])
        self.settings = {
            "shared_buffers": "2GB",
            "max_connections": "300",
            "fsync": "off",
            "synchronous_commit": "off",
            "full_page_writes": "off",
            "listen_addresses": "127.0.0.1",
            "unix_socket_directories": str(self.dir),
        }
        argv = [str(self.bin / "postgres"), "-D", str(self.dir), "-p", str(self.port)]
        for k, v in self.settings.items():
            argv += ["-c", f"{k}={v}"]
        if self.as_postgres:
            argv = ["runuser", "-u", "postgres", "--"] + argv
        self.command = shlex.join(argv)
        self._log = open(self.dir.parent / f"{self.dir.name}.log", "a")
        self.proc = procs.start(argv, stdout=self._log, stderr=subprocess.STDOUT)
        wait_for_port(self.port, self.proc, what="postgres")
        # The port opens before recovery ends (after an earlier run was
        # killed, it replays its WAL): "the database system is starting up".
        deadline = time.monotonic() + 120
        while True:
            try:
                self._psql("SELECT 1")
                break
            except BenchError as e:
                if "starting up" not in str(e) or time.monotonic() > deadline:
                    raise
                time.sleep(0.5)
        log(f"postgres pid {self.proc.pid} listening on 127.0.0.1:{self.port}")
        self.version = self._psql("SHOW server_version").strip()

    def _run(self, argv, **kwargs):
        if self.as_postgres:
            argv = ["runuser", "-u", "postgres", "--"] + argv
        result = subprocess.run(argv, capture_output=True, text=True, **kwargs)
        if result.returncode != 0:
            raise BenchError(f"{' '.join(argv)} failed: {result.stderr.strip()}")
        return result.stdout

    def _psql(self, sql):
        return self._run(
            [str(self.bin / "psql"), "-X", "-q", "-A", "-t", "-v", "ON_ERROR_STOP=1", "-h", "127.0.0.1",
             "-p", str(self.port), "-U", self.user, "-d", "postgres", "-c", sql]
        )

    def url(self):
        return f"postgresql://{self.user}@127.0.0.1:{self.port}/{self.database}"

    def libpq_env(self):
        return {}

    def load(self, lake, tables, python):
        """Copy TPC-H tables from the lake's Parquet into schema tpch, once."""
        self._psql("CREATE SCHEMA IF NOT EXISTS tpch")
        for table in tables:
            loaded = self._psql(
                f"SELECT count(*) FROM pg_tables WHERE schemaname = 'tpch' AND tablename = '{table}'"
            ).strip()
            if loaded == "1":
                continue
            log(f"loading tpch.{table} into postgres (once; kept in {self.dir})")
            csv = self.dir / f"load-{table}.csv"
            ddl = subprocess.run(
                [python, str(HARNESS / "duckdb_runner.py"), "--lake", str(lake), "--export", table, str(csv)],
                capture_output=True,
                text=True,
            )
            if ddl.returncode != 0:
                raise BenchError(f"exporting {table} with duckdb failed: {ddl.stderr.strip()}")
            if self.as_postgres:
                shutil.chown(csv, "postgres", "postgres")
            columns = ddl.stdout.strip()
            key = {"nation": "n_nationkey", "region": "r_regionkey"}.get(table)
            pk = f", PRIMARY KEY ({key})" if key else ""
            self._psql(
                f"BEGIN; CREATE TABLE tpch.{table} ({columns}{pk}); "
                f"COPY tpch.{table} FROM '{csv}' WITH (FORMAT csv, DELIMITER '|'); COMMIT"
            )
            self._psql(f"VACUUM ANALYZE tpch.{table}")
            csv.unlink()

    def pid(self):
        return self.proc.pid

    def stop(self):
        self.procs.stop(self.proc)
        self._log.close()


def weir_wire_runner(build, weir, procs, schema="tpch"):
    return Runner(
        "weir",
        [str(build.weir_bench), "wire", "--url", weir.url(), "--init", f"SET search_path = {schema}"],
        procs,
    )


def postgres_wire_runner(build, pg, procs, schema="tpch"):
    return Runner(
        "postgres",
        [str(build.weir_bench), "wire", "--url", pg.url(), "--init", f"SET search_path = {schema}"],
        procs,
    )


def inproc_runner(build, lake, procs):
    return Runner("datafusion", [str(build.weir_bench), "inproc", "--lake", str(lake)], procs)


def duckdb_runner(python, lake, procs, threads):
    return Runner(
        "duckdb",
        [python, str(HARNESS / "duckdb_runner.py"), "--lake", str(lake), "--threads", str(threads)],
        procs,
    )


def duckdb_version(python):
    return command_version([python, "-c", "import duckdb; print(duckdb.__version__)"])
