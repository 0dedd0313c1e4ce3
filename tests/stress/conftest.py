"""
Fixtures of the stress tests: the end-to-end suite's (tests/e2e/conftest.py:
api, binaries, daemon and its after-test checks: no fd leaked, no
unexpected warning, no sanitizer report, no domain left, SIGTERM exits 0),
with one change: libvirt is a private virtlogd + libvirtd in a mount
namespace of their own (privlibvirt.sh), so that the fault tests can kill
and restart them without disturbing anything else on the machine.

Environment: RR_STRESS_SECONDS (length of a load phase; default 20, the
short form in `make check` sets 5), RR_STRESS_CLIENTS (default 200), and
the e2e suite's RR_BUILD, RR_DAEMON, RR_E2E_KEEP.
"""
import importlib.util
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pytest

HERE = Path(__file__).resolve().parent
REPO = HERE.parents[1]
sys.path.insert(0, str(REPO / "tests" / "e2e"))
sys.path.insert(0, str(HERE))

import rrlib  # noqa: E402

_spec = importlib.util.spec_from_file_location(
    "e2e_conftest", REPO / "tests" / "e2e" / "conftest.py")
_e2e = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(_e2e)

# The e2e fixtures and hooks, as they are.
api = _e2e.api
binaries = _e2e.binaries
daemon = _e2e.daemon
pytest_configure = _e2e.pytest_configure
pytest_runtest_makereport = _e2e.pytest_runtest_makereport
pytest_runtest_call = _e2e.pytest_runtest_call

PRIV = REPO / "tests" / "stress" / "privlibvirt.sh"


class PrivateLibvirt:
    """A private virtlogd + libvirtd; the interface of e2e's Libvirt."""

    def __init__(self, root):
        self.root = Path(root)
        self.started = True
        self.uri = self._priv("up", str(self.root)).strip().splitlines()[-1]

    def _priv(self, *args, timeout=120):
        p = subprocess.run([str(PRIV)] + list(args), capture_output=True,
                           text=True, timeout=timeout)
        assert p.returncode == 0, "privlibvirt.sh %s: %s%s" % (
            " ".join(args), p.stdout, p.stderr)
        return p.stdout

    @property
    def state_dir(self):
        return self.root / "run" / "rumprund-test"

    def pid(self, what):
        """The pid of libvirtd or virtlogd, or None."""
        try:
            pid = int((self.root / "run" / ("%s.pid" % what)).read_text())
        except (OSError, ValueError):
            return None
        try:
            comm = Path("/proc/%d/comm" % pid).read_text().strip()
        except OSError:
            return None
        return pid if comm == what else None

    def restartable(self):
        return True

    def down(self, what="libvirtd"):
        """Stop libvirtd (guests keep running), as libvirt-down.sh."""
        self._priv("exec", str(self.root),
                   str(REPO / "scripts" / "libvirt-down.sh"), what)

    def up(self):
        return self._priv("exec", str(self.root),
                          str(REPO / "scripts" / "libvirt-up.sh"))

    def ensure(self):
        p = subprocess.run(["virsh", "-q", "-c", self.uri, "version"],
                           capture_output=True, text=True, timeout=30)
        if p.returncode != 0:
            self.up()

    def close(self):
        self._priv("down", str(self.root))


@pytest.fixture(scope="session")
def libvirt(binaries):
    if os.geteuid() != 0:
        pytest.skip("the stress tests run as root (libvirtd, mounts)")
    root = tempfile.mkdtemp(prefix="rrs-lv.", dir="/tmp")
    lv = PrivateLibvirt(root)
    old = rrlib.LIBVIRT_URI
    rrlib.LIBVIRT_URI = lv.uri
    yield lv
    rrlib.LIBVIRT_URI = old
    lv.close()
    if not os.environ.get("RR_E2E_KEEP"):
        subprocess.run(["rm", "-rf", root], timeout=60)


@pytest.fixture
def seconds():
    return float(os.environ.get("RR_STRESS_SECONDS", "20"))


@pytest.fixture
def clients():
    return int(os.environ.get("RR_STRESS_CLIENTS", "200"))


def settle(seconds=0.5):
    time.sleep(seconds)
