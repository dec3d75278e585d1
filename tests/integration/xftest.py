"""Shared helpers for the integration tests: where the binary and the data are, and running
xdrflow as a real process."""
import os
import subprocess
import tempfile
import zipfile

XDRFLOW = os.environ.get("XDRFLOW", "xdrflow")
DATA = os.environ.get("XF_TEST_DATA", os.path.join(os.path.dirname(__file__), "..", "data"))
OTRF = os.environ.get("XF_OTRF_DIR", "")
SCENARIO = os.path.join(DATA, "emotet-outbreak.ecs.jsonl")


def run(*args, check=True, timeout=600, **kw):
    """Runs xdrflow with args; returns the CompletedProcess (text mode)."""
    p = subprocess.run([XDRFLOW, *args], capture_output=True, text=True, timeout=timeout, **kw)
    if check and p.returncode != 0:
        raise AssertionError(f"xdrflow {' '.join(args)} exited {p.returncode}:\n{p.stderr}")
    return p


def otrf_lines(name):
    """The JSON lines of one OTRF Security-Datasets zip."""
    with zipfile.ZipFile(os.path.join(OTRF, name)) as z:
        member = sorted(n for n in z.namelist() if not n.endswith("/"))[0]
        return z.read(member).decode("utf-8").splitlines(keepends=True)


def tempdir():
    return tempfile.TemporaryDirectory(prefix="xf-it-")
