"""Shared fixtures: the repository paths and a dcrnn binary.

The binary is $DCRNN_BIN when set, else one built here with `go build`
(tests that need it are skipped when neither is possible).
"""

import os
import shutil
import subprocess
import sys

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
sys.path.insert(0, os.path.join(ROOT, "python"))
GOLDEN = os.path.join(ROOT, "testdata", "torch_golden")


@pytest.fixture(scope="session")
def dcrnn_bin(tmp_path_factory):
    b = os.environ.get("DCRNN_BIN")
    if b:
        return os.path.abspath(b)
    go = shutil.which("go")
    if go is None:
        pytest.skip("no dcrnn binary: set DCRNN_BIN or install Go")
    out = str(tmp_path_factory.mktemp("bin") / "dcrnn")
    subprocess.run([go, "build", "-o", out, "./cmd/dcrnn"], cwd=ROOT, check=True)
    return out


def run(bin_, *args):
    r = subprocess.run([bin_, *map(str, args)], check=False, capture_output=True, text=True)
    if r.returncode != 0:
        raise AssertionError(f"dcrnn {' '.join(map(str, args))}: exit {r.returncode}\n{r.stderr}")
    return r.stdout
