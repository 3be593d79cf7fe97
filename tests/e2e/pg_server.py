"""A real PostgreSQL server for the end-to-end tests (issue 16): initdb + pg_ctl in a temporary directory,
on a free loopback port, password (SCRAM) authentication over TCP as a production server has it. Run as
root (CI), the server runs as the `postgres` user, since initdb refuses root."""
import os
import shutil
import subprocess
import tempfile
from pathlib import Path

from conftest import HOST, free_port


def pg_bin():
    for v in ("17", "16", "15"):
        d = Path(f"/usr/lib/postgresql/{v}/bin")
        if (d / "initdb").exists():
            return d
    raise AssertionError("no PostgreSQL server programs under /usr/lib/postgresql/*/bin: "
                         "install postgresql-15 (scripts/install-deps.sh does)")


class PostgresServer:
    USER = "kurier"
    PASSWORD = "s3cret pass/word?"  # characters a URL must percent-encode

    def __init__(self):
        self.bin = pg_bin()
        self.dir = Path(tempfile.mkdtemp(prefix="kurier-e2e-pg-"))
        self.port = free_port()
        self.root = os.geteuid() == 0
        if self.root:
            shutil.chown(self.dir, "postgres", "postgres")
        pwfile = self.dir / "pw"
        pwfile.write_text(self.PASSWORD + "\n")
        if self.root:
            shutil.chown(pwfile, "postgres", "postgres")
        self._run([self.bin / "initdb", "-D", self.dir / "data", "-U", self.USER, "--pwfile", pwfile,
                   "--auth-host=scram-sha-256", "--auth-local=trust", "-E", "UTF8", "--no-sync"])
        self.start()

    def _run(self, cmd, check=True):
        prefix = ["setpriv", "--reuid=postgres", "--regid=postgres", "--init-groups"] if self.root else []
        p = subprocess.run(prefix + [str(c) for c in cmd], capture_output=True, text=True, timeout=120)
        if check and p.returncode != 0:
            raise AssertionError(f"{cmd[0]} failed ({p.returncode}):\n{p.stdout}\n{p.stderr}")
        return p

    def start(self):
        self._run([self.bin / "pg_ctl", "-D", self.dir / "data", "-l", self.dir / "server.log", "-w", "-t", "60",
                   "-o", f"-p {self.port} -c listen_addresses={HOST} -k {self.dir}", "start"])

    def stop(self, mode="fast"):
        self._run([self.bin / "pg_ctl", "-D", self.dir / "data", "-m", mode, "-w", "stop"], check=False)

    def psql(self, db, sql):
        """Runs `sql` as the superuser over the local socket; returns its rows as lists of strings."""
        p = self._run([self.bin / "psql", "-h", self.dir, "-p", self.port, "-U", self.USER, "-d", db,
                       "-X", "-q", "-A", "-t", "-F", "\t", "-v", "ON_ERROR_STOP=1", "-c", sql])
        return [line.split("\t") for line in p.stdout.splitlines() if line]

    def createdb(self, name):
        self.psql("postgres", f'CREATE DATABASE "{name}"')
        return name

    def url(self, db, with_password=False):
        from urllib.parse import quote
        auth = f"{self.USER}:{quote(self.PASSWORD, safe='')}" if with_password else self.USER
        return f"postgresql://{auth}@{HOST}:{self.port}/{db}"

    def close(self):
        self.stop("immediate")
        shutil.rmtree(self.dir, ignore_errors=True)
