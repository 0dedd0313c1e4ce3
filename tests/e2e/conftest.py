"""
Fixtures of the end-to-end tests: libvirt, the daemon, the accelerators.

- libvirt (session): scripts/libvirt-up.sh; at the end scripts/libvirt-down.sh
  when this session started libvirtd (the script records what it starts).
- accel: "tcg", and "kvm" when the test guest boots under KVM here (probed
  once with plain QEMU); tests that take it run once per accelerator.
- daemon: a factory.  daemon(accel=..., bridges=[...]) makes a temp
  directory with images/ (a copy of rrguest), volumes/, state/, logs/, a
  socket and rumprund.conf, and starts "rumprund -d -f CONF".  The Daemon
  it returns can be killed and restarted on the same state.  After the
  test, for every daemon: no fd leaked, nothing but expected warnings on
  its stderr, no domain of it left (any is destroyed, and the test fails),
  and SIGTERM makes it exit 0.
- rrd: daemon(), with the warnings of a host without Xen expected
  (rrlib.XEN_WARNINGS).
- api: the parsed openapi.yaml; every answer a test gets is validated
  against it.

Environment: RR_BUILD (build directory, default build/), RR_DAEMON (another
rumprund binary, e.g. an ASan build), RR_E2E_KEEP=1 keeps temp directories.

Under pytest-xdist (make e2e: -n 2 --dist loadfile) every worker is a
session of its own: the workers run libvirt-up.sh one at a time (a lock
in a directory the controller makes, RR_E2E_SHARED), and a worker that
started libvirtd leaves it for the controller to stop once all are done.
Tests marked "serial" stop libvirtd: make e2e runs them on their own,
after the others (-m serial).
"""
import fcntl
import os
import shutil
import subprocess
import tempfile
import time
from pathlib import Path

import pytest

import rrlib
from rrlib import Deadline


def pytest_configure(config):
    config.addinivalue_line("markers", "known_bug(reason): fails because "
                            "of a reported daemon bug (see rrlib.known_bug)")
    config.addinivalue_line("markers", "serial: stops libvirtd under every "
                            "other test: never run beside others (make e2e "
                            "runs these alone, after the rest)")
    # The xdist controller (it runs no test): a directory its workers
    # share, made before it starts them (they inherit the environment).
    if os.environ.get("PYTEST_XDIST_WORKER") is None and \
            getattr(config.option, "numprocesses", None):
        config._rr_shared = tempfile.mkdtemp(prefix="rr-e2e-xdist-")
        os.environ["RR_E2E_SHARED"] = config._rr_shared


def pytest_unconfigure(config):
    """The xdist controller: stop what a worker's libvirt-up.sh started."""
    shared = getattr(config, "_rr_shared", None)
    if shared is None:
        return
    started = os.path.join(shared, "started")
    if os.path.exists(started):
        with open(started) as f:
            what = f.read().strip()
        subprocess.run([str(rrlib.REPO / "scripts/libvirt-down.sh"), what],
                       capture_output=True, text=True, timeout=60)
    shutil.rmtree(shared, ignore_errors=True)


@pytest.fixture(scope="session")
def api():
    return rrlib.OpenAPI()


@pytest.fixture(scope="session")
def binaries():
    missing = [str(p) for p in (rrlib.DAEMON_BIN, rrlib.GUEST_ELF)
               if not p.is_file()]
    if missing:
        pytest.fail("missing %s: build with `make all build/guest/rrguest` "
                    "(RR_BUILD and RR_DAEMON override the paths)"
                    % ", ".join(missing), pytrace=False)
    return rrlib.DAEMON_BIN, rrlib.GUEST_ELF


class Libvirt:
    """What the session knows about libvirtd."""

    def __init__(self, state_dir, started):
        self.state_dir = Path(state_dir)
        self.started = started

    def restartable(self):
        """True when libvirt-down.sh knows the libvirtd that runs."""
        pidfile = self.state_dir / "libvirtd.pid"
        try:
            pid = int(pidfile.read_text().strip())
            return Path("/proc/%d/comm" % pid).read_text().strip() == \
                "libvirtd"
        except (OSError, ValueError):
            return False

    def down(self, what="libvirtd"):
        p = subprocess.run([str(rrlib.REPO / "scripts/libvirt-down.sh"), what],
                           capture_output=True, text=True, timeout=60)
        assert p.returncode == 0, "libvirt-down.sh: %s%s" % (p.stdout,
                                                             p.stderr)

    def ensure(self):
        """libvirtd answers, or is started again (something else on this
        machine may have stopped it since the session began)."""
        p = subprocess.run(["virsh", "-q", "-c", rrlib.LIBVIRT_URI, "version"],
                           capture_output=True, text=True, timeout=30)
        if p.returncode != 0:
            self.up()

    def up(self):
        p = subprocess.run([str(rrlib.REPO / "scripts/libvirt-up.sh")],
                           capture_output=True, text=True, timeout=60)
        assert p.returncode == 0, "libvirt-up.sh: %s%s" % (p.stdout,
                                                           p.stderr)
        return p.stdout


@pytest.fixture(scope="session")
def libvirt(binaries):
    if os.geteuid() != 0:
        pytest.skip("the end-to-end tests run as root (libvirtd, taps, "
                    "bridges)")
    state = os.environ.get("RR_LIBVIRT_STATE", "/run/rumprund-test")
    shared = os.environ.get("RR_E2E_SHARED")
    lock = None
    if shared is not None:
        # An xdist worker: one libvirt-up.sh at a time, or two would both
        # start a libvirtd.
        lock = open(os.path.join(shared, "lock"), "w")
        fcntl.flock(lock, fcntl.LOCK_EX)
    try:
        p = subprocess.run([str(rrlib.REPO / "scripts/libvirt-up.sh")],
                           capture_output=True, text=True, timeout=120)
        started_libvirtd = "started libvirtd" in p.stdout
        started_virtlogd = "started virtlogd" in p.stdout
        what = "all" if started_virtlogd else "libvirtd"
        if shared is not None and started_libvirtd:
            # The other workers still need it: the controller stops it.
            with open(os.path.join(shared, "started"), "w") as f:
                f.write(what)
    finally:
        if lock is not None:
            lock.close()
    if p.returncode != 0:
        pytest.fail("scripts/libvirt-up.sh failed (%d):\n%s%s"
                    % (p.returncode, p.stdout, p.stderr), pytrace=False)
    lv = Libvirt(state, started_libvirtd)
    yield lv
    if started_libvirtd and shared is None:
        # Stop what this session started, and only that.
        subprocess.run([str(rrlib.REPO / "scripts/libvirt-down.sh"), what],
                       capture_output=True, text=True, timeout=60)


def _probe_kvm():
    """None when rrguest boots under KVM with plain QEMU, else why not.
    The firmware is SeaBIOS, QEMU's default, as in rumprund's default
    configuration: under qboot the test guest, like rumprun, is silent.
    SeaBIOS takes seconds under this machine's software KVM."""
    if not os.path.exists("/dev/kvm"):
        return "no /dev/kvm"
    qemu = shutil.which("qemu-system-x86_64")
    if qemu is None:
        return "no qemu-system-x86_64"
    with tempfile.TemporaryDirectory(prefix="rr-kvm-probe-") as d:
        log = os.path.join(d, "serial.log")
        cmd = [qemu, "-accel", "kvm", "-kernel", str(rrlib.GUEST_ELF),
               "-append", '{"cmdline":"rrguest exit 0"}', "-nodefaults",
               "-display", "none", "-vga", "none", "-no-reboot", "-m", "32",
               "-serial", "file:" + log]
        p = subprocess.Popen(cmd, stdin=subprocess.DEVNULL,
                             stdout=subprocess.DEVNULL,
                             stderr=subprocess.PIPE)
        dl = Deadline(30)
        ok = False
        while not dl.passed() and p.poll() is None:
            try:
                with open(log) as f:
                    if rrlib.returned(0) in f.read():
                        ok = True
                        break
            except OSError:
                pass
            time.sleep(0.02)
        p.kill()
        _, err = p.communicate(timeout=10)
        if ok:
            return None
        return "the test guest does not boot under KVM here: %s" % (
            err.decode(errors="replace").strip()[-300:] or "no output")


@pytest.fixture(scope="session")
def kvm_reason(binaries):
    return _probe_kvm()


@pytest.fixture(params=["tcg", "kvm"])
def accel(request, kvm_reason):
    if request.param == "kvm" and kvm_reason is not None:
        pytest.skip(kvm_reason)
    return request.param


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    rep = outcome.get_result()
    if rep.failed:
        for d in getattr(item, "_rr_daemons", []):
            rep.sections.append(("rumprund %s stderr (last lines)" % d.root,
                                 d.log_tail(60)))


def _cleanup(d, problems, test_failed, libvirt):
    """After a test: the checks of one daemon; problems get appended.
    Whatever fails here, the daemon and its domains do not outlive it."""
    c = d.client
    c.close_streams()
    if d.alive():
        try:
            bad = d.check_fds()
            if bad:
                problems.append(bad)
            # Stop what still runs, so that nothing outlives the test.
            for inst in c.list():
                if inst["state"] in ("pending", "starting", "paused",
                                     "running", "stopping"):
                    c.stop(inst["name"], force=True, timeout=None)
        except Exception as e:  # noqa: BLE001 (reported, then cleaned up)
            problems.append("cleanup: %s: %s" % (type(e).__name__, e))
    elif not d.stopped_by_test and d.proc is not None:
        problems.append("rumprund died during the test (status %s)"
                        % d.proc.returncode)
    # Give destroys a moment to be seen by libvirt.
    left = []
    dl = Deadline(3)
    while (d.state / "owner").exists():
        try:
            left = d.domains()
        except AssertionError as e:
            # libvirtd went away (something else on the machine may stop
            # it): start it again, or this test's guests would outlive it.
            problems.append("cannot list domains: %s" % e)
            try:
                libvirt.ensure()
                left = d.domains()
            except AssertionError as e2:
                problems.append("libvirtd: %s" % e2)
            break
        if not left or dl.passed():
            break
        time.sleep(0.1)
    for name in left:
        rrlib.virsh("destroy", name, check=False)
        rrlib.virsh("undefine", name, check=False)
    if left:
        problems.append("domains of this rumprund left behind (destroyed "
                        "now): %s" % ", ".join(left))
    if d.alive():
        try:
            d.terminate()
        except Exception as e:  # noqa: BLE001
            problems.append(str(e))
    if d.alive():
        d.proc.kill()
        d.proc.wait(10)
    bad = d.check_log()
    if bad:
        problems.append("rumprund's stderr:\n  " + "\n  ".join(bad))
    if d.api.violations and not test_failed:
        # Violations the test swallowed; a failed test has shown its own.
        problems.append("answers that break openapi.yaml:\n  "
                        + "\n  ".join(v.splitlines()[0]
                                      for v in d.api.violations))


@pytest.fixture
def daemon(request, libvirt, api, binaries):
    """daemon(start=True, accel=..., bridges=(), networks=(),
    console_log_max=65536, stop_timeout=10, extra_conf="") -> a started
    rrlib.Daemon (see the module's doc)."""
    made = []
    request.node._rr_daemons = made
    libvirt.ensure()
    api.violations = []
    env = dict(os.environ)

    # The accelerator of the parametrization, unless the test says.
    callspec = getattr(request.node, "callspec", None)
    default_accel = callspec.params.get("accel", "tcg") if callspec else "tcg"

    def make(start=True, **kw):
        kw.setdefault("accel", default_accel)
        # Short: a unix socket path has at most 107 bytes.
        root = tempfile.mkdtemp(prefix="rr-e2e-", dir="/tmp")
        d = rrlib.Daemon(root, api, env, **kw)
        made.append(d)
        if start:
            d.start()
        return d

    yield make

    problems = []
    test_failed = getattr(request.node, "_rr_failed", False)
    for d in made:
        _cleanup(d, problems, test_failed, libvirt)
    failed = problems or test_failed
    if not failed and not os.environ.get("RR_E2E_KEEP"):
        for d in made:
            shutil.rmtree(d.root, ignore_errors=True)
    if problems:
        pytest.fail("after the test:\n" + "\n".join(problems) +
                    "".join(d.describe() for d in made), pytrace=False)


@pytest.fixture
def rrd(daemon):
    """daemon(), with the warnings of a host without Xen expected."""
    def make(**kw):
        d = daemon(**kw)
        d.allow_warnings(*rrlib.XEN_WARNINGS)
        return d
    return make


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_call(item):
    outcome = yield
    # An expected failure (xfail) keeps no temp directory.
    if outcome.excinfo is not None and \
            item.get_closest_marker("xfail") is None:
        item._rr_failed = True
