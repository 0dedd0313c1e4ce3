"""
Fixtures of the Xen tests: one Xen test machine (machine.py) per session,
and rumprund running in its dom0, reached over TLS with a bearer token
through QEMU's hostfwd.  Every answer is validated against openapi.yaml
(tests/e2e/rrlib.py).

Environment: RR_BUILD (default build) for rrctl and rrxenguest,
RR_XEN_DAEMON (default $RR_BUILD/rumprund) for the rumprund that runs in
dom0.  There is no skip: a machine that cannot be built or booted fails
the session, loudly.
"""
import http.client
import json
import os
import re
import ssl
import sys
import time
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "e2e"))
sys.path.insert(0, str(Path(__file__).resolve().parent))

import rrlib  # noqa: E402
from machine import Machine, TOKEN  # noqa: E402

BUILD = os.environ.get("RR_BUILD", "build")
DAEMON = os.environ.get("RR_XEN_DAEMON", os.path.join(BUILD, "rumprund"))
CONF = "/opt/rr/rumprund.conf"
DLOG = "/var/log/rumprund.stderr"
# What rumprund may log at warning level or worse in this machine without
# a test failing: dom0 has no libvirtd, so the KVM backend is unavailable.
ALLOWED = (re.compile(r"kvm backend unavailable"),
           re.compile(r"libvirt"))


class TLSClient(rrlib.Client):
    """rrlib's client over TLS to the hostfwd, with the bearer token."""

    def __init__(self, port, ca, api):
        super().__init__("(tcp)", api)
        self.port = port
        self.ctx = ssl.create_default_context(cafile=str(ca))

    def request(self, method, path, body=None, headers=None, timeout=30.0,
                validate=True):
        hdrs = dict(headers or {})
        hdrs["Authorization"] = "Bearer " + TOKEN
        if body is not None and not isinstance(body, (bytes, str)):
            body = json.dumps(body)
            hdrs.setdefault("Content-Type", "application/json")
        if isinstance(body, str):
            body = body.encode()
        conn = http.client.HTTPSConnection("127.0.0.1", self.port,
                                           timeout=timeout, context=self.ctx)
        try:
            conn.request(method, path, body=body, headers=hdrs)
            r = conn.getresponse()
            data = r.read()
            resp = rrlib.Response(method, path, r.status, r.getheaders(),
                                  data)
        finally:
            conn.close()
        if validate:
            self.api.validate(method, path, resp.status,
                              resp.header("Content-Type"), resp.body)
        return resp


class Dom0Daemon:
    """rumprund in dom0: started, killed and restarted through the shell."""

    def __init__(self, m, client):
        self.m = m
        self.client = client

    def pid(self):
        rc, out = self.m.run("cat /run/rumprund.pid", check=False)
        return int(out) if rc == 0 and out.strip().isdigit() else None

    def alive(self):
        p = self.pid()
        return p is not None and self.m.run("kill -0 %d" % p,
                                            check=False)[0] == 0

    def start(self, timeout=60):
        # The sanitizers' options of the host's environment (make
        # xen-test runs an ASan+UBSan rumprund) apply in dom0 too.
        env = " ".join("%s=%s" % (k, os.environ[k]) for k in
                       ("ASAN_OPTIONS", "UBSAN_OPTIONS")
                       if k in os.environ and
                       re.fullmatch(r"[\w=:.,/-]*", os.environ[k]))
        self.m.run("mkdir -p /var/log/rumprund /var/lib/rumprund; "
                   "%s /opt/rr/rumprund -d -f %s >>%s 2>&1 & "
                   "echo $! >/run/rumprund.pid" % (env, CONF, DLOG))
        dl = time.monotonic() + timeout
        last = None
        while time.monotonic() < dl:
            try:
                info = self.client.get("/v1/info", timeout=10)
                if info["backends"]["xen"].get("available"):
                    return info
                last = info
            except (OSError, http.client.HTTPException) as e:
                last = e
            if not self.alive():
                break
            time.sleep(0.5)
        raise AssertionError("rumprund in dom0 did not come up with Xen: "
                             "%r\n%s" % (last, self.log_tail()))

    def kill9(self):
        p = self.pid()
        self.m.run("kill -9 %d; while kill -0 %d 2>/dev/null; do "
                   "sleep 0.1; done; rm -f /run/rumprund.pid" % (p, p))

    def terminate(self):
        p = self.pid()
        if p is not None:
            self.m.run("kill %d; i=0; while kill -0 %d 2>/dev/null && "
                       "[ $i -lt 200 ]; do sleep 0.1; i=$((i+1)); done; "
                       "rm -f /run/rumprund.pid" % (p, p), timeout=60)

    def log_tail(self, n=40):
        return self.m.run("tail -n %d %s" % (n, DLOG), check=False)[1]

    def fds(self):
        """What rumprund's fds point at, sorted, sockets and pipes
        without their inode numbers (one closed and another opened is
        no leak)."""
        p = self.pid()
        out = self.m.out_of("ls -l /proc/%d/fd | tail -n +2 | "
                            "sed 's/.* -> //'" % p)
        return sorted(re.sub(r"^(socket|pipe):\[\d+\]$", r"\1", ln)
                      for ln in out.split("\n"))

    def problems(self):
        """Lines of rumprund's log that no test expects: sanitizer
        reports, and warnings or errors but the allowed ones."""
        out = self.m.run("cat %s" % DLOG, check=False)[1]
        bad = []
        for ln in out.split("\n"):
            if ("Sanitizer" in ln or "runtime error" in ln or
                    re.search(r"\b(warning|error|ERROR|WARNING)\b", ln)):
                if not any(a.search(ln) for a in ALLOWED):
                    bad.append(ln)
        return bad


TIMES = {}


def pytest_terminal_summary(terminalreporter):
    if TIMES:
        terminalreporter.write_line(
            "xen: dom0 image %(image).1f s (mkdom0.sh, cached when 0-1 s), "
            "QEMU start to dom0 shell %(boot).1f s; console: %(log)s" % TIMES)


@pytest.fixture(scope="session")
def api():
    return rrlib.OpenAPI()


@pytest.fixture(scope="session")
def machine():
    m = Machine(BUILD, daemon=DAEMON)
    try:
        m.start()
        TIMES.update(image=m.image_s, boot=m.boot_s,
                     log=m.work / "console.log")
        yield m
    finally:
        m.stop()


@pytest.fixture(scope="session")
def dom0d(machine, api):
    c = TLSClient(machine.port, machine.work / "certs" / "ca.pem", api)
    d = Dom0Daemon(machine, c)
    d.start()
    yield d
    d.terminate()


@pytest.fixture
def rr(dom0d):
    """The client, with rumprund running; after the test, no new problem
    in rumprund's log and no domain of a finished test left."""
    if not dom0d.alive():
        dom0d.start()
    before = len(dom0d.problems())
    yield dom0d.client
    # What a failed test left: stopped and forgotten, so that the next
    # test starts from a dom0 without guests.
    c = dom0d.client
    for v in c.list():
        if v["state"] in ("pending", "starting", "running", "paused"):
            c.request("POST", "/v1/unikernels/%s/stop?force=true"
                      % v["name"])
            try:
                c.wait_state(v["name"], ("stopped", "exited", "crashed",
                                         "failed"), timeout=30)
            except AssertionError:
                pass
        c.request("DELETE", "/v1/unikernels/%s?force=true" % v["name"])
    bad = dom0d.problems()[before:]
    assert not bad, "rumprund logged:\n" + "\n".join(bad)
