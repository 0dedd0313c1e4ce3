"""
Incarnations of a name: every launch of an instance (a start again, or a
new instance under the name of a removed one) has a domain of its own
(rr-<owner8>-<name>-<generation>-<tag>), so nothing of an earlier one
touches a later one.

- test_shared_names_churn (B3): RR_CHURN_CLIENTS (150) clients create,
  stop, start, delete and delete-then-create on 3 shared names for
  RR_CHURN_SECONDS (12), with libvirt's lifecycle events reaching rumprund
  0.7 s late (tests/e2e/evdelay.c, LD_PRELOAD), as on a loaded host:
  only documented answers, no launch `failed` (before the fix: "a domain
  named rr-...-NAME-1 already exists" once a late STOPPED had ended a new
  instance and left its domain running), and at the end every live
  instance has its running domain, every running domain of this rumprund
  belongs to a live instance, and once all are removed no domain is left.
  The long form is tests/stress (test_shared_names_churn, `make stress`).
- test_create_during_forced_remove (B7): POST of the same spec while
  DELETE ?force=true of that name is destroying the domain answers 409,
  never 200 with the instance that is about to go (which the next GET
  then says is 404).  5 rounds.
"""
import http.client
import os
import random
import socket
import threading
import time
from concurrent.futures import ThreadPoolExecutor

import rrlib
from rrlib import wait_for

LIVE = ("pending", "starting", "paused", "running", "stopping")

# Documented answers of each operation under this churn.  A create of a
# name that exists with another spec, or that is being removed, is 409.
ALLOWED = {
    "create": (200, 201, 409),
    "stop": (200, 404),
    "start": (200, 404, 409),
    "delete": (200, 404, 409),
}


class Churn:
    """Clients hammering a few names with create/stop/start/delete."""

    def __init__(self, d, clients, names, seed):
        self.d = d
        self.clients = clients
        self.names = ["sh%d" % i for i in range(names)]
        self.rng = random.Random(seed)
        self.stop_at = None
        self.lock = threading.Lock()
        self.counts = {}
        self.unexpected = []
        self.failed = []
        self.retries = 0
        self.transport_ok = False
        self.transport_errors = 0

    def spec(self, name, rng):
        # Two specs per name: creates also meet "exists with a different
        # spec"; some guests end on their own.
        argv = ["forever"] if rng.random() < 0.7 else ["sleep", "1",
                                                       "exit", "0"]
        return self.d.spec(name, argv, memory_mib=32)

    def request(self, *args, **kw):
        # 150 connects at once overflow the socket's listen backlog (128):
        # the client sees EAGAIN and tries again, as a client would.
        # While rumprund restarts (transport_ok), the socket refuses or
        # vanishes, and requests in flight are cut: counted, not errors.
        for _ in range(1000):
            try:
                return self.d.client.request(*args, timeout=60, **kw)
            except (BlockingIOError, ConnectionRefusedError,
                    FileNotFoundError):
                with self.lock:
                    self.retries += 1
                time.sleep(0.01)
            except (OSError, http.client.HTTPException):
                if not self.transport_ok:
                    raise
                with self.lock:
                    self.transport_errors += 1
                return None
        raise AssertionError("cannot connect to rumprund")

    def one(self, rng):
        c = self
        name = rng.choice(self.names)
        op = rng.choice(("create", "create", "stop", "start", "delete",
                         "recreate"))
        if op == "create":
            r = c.request("POST", "/v1/unikernels", self.spec(name, rng))
        elif op == "stop":
            r = c.request("POST", "/v1/unikernels/%s/stop?force=%s" % (
                name, "true" if rng.random() < 0.5 else "false"))
        elif op == "start":
            r = c.request("POST", "/v1/unikernels/%s/start" % name)
        elif op == "delete":
            r = c.request("DELETE", "/v1/unikernels/%s?force=true" % name)
        else:
            # Remove, and at once create again: a late event of the domain
            # just destroyed meets the new instance of the name.
            r = c.request("DELETE", "/v1/unikernels/%s?force=true" % name)
            if r is None:
                return
            self.count("delete", name, r)
            if r.status != 200:
                return
            op = "create"
            r = c.request("POST", "/v1/unikernels", self.spec(name, rng))
        if r is not None:
            self.count(op, name, r)

    def count(self, op, name, r):
        with self.lock:
            key = "%s %d" % (op, r.status)
            self.counts[key] = self.counts.get(key, 0) + 1
            if r.status not in ALLOWED[op]:
                self.unexpected.append((op, name, r.status, r.body[:300]))
            elif op in ("create", "start") and r.status in (200, 201) and \
                    r.json["state"] == "failed":
                self.failed.append((op, name, r.json["reason"]))

    def client(self, k):
        rng = random.Random(self.rng.random() + k)
        while time.monotonic() < self.stop_at:
            self.one(rng)

    def run(self, seconds):
        self.stop_at = time.monotonic() + seconds
        with ThreadPoolExecutor(self.clients) as ex:
            list(ex.map(self.client, range(self.clients)))
        return self

    def report(self):
        return ("answers: %s; unexpected: %s; failed launches: %s; "
                "connects tried again: %d; cut by a restart: %d" % (
                    sorted(self.counts.items()), self.unexpected[:10],
                    self.failed[:10], self.retries, self.transport_errors))


def accounted_for(d, timeout=30):
    """Every live instance has its domain running and every running domain
    of d belongs to a live instance (what is in flight settles first)."""
    last = []

    def check():
        views = d.client.list()
        live = {v["domain"] for v in views if v["state"] in LIVE}
        running = set(d.domains(running_only=True))
        last[:] = [sorted(running - live), sorted(live - running)]
        return running == live
    try:
        wait_for("every domain accounted for", check, timeout, step=0.2)
    except AssertionError:
        raise AssertionError("running domains without a live instance: %s; "
                             "live instances without their domain: %s"
                             % tuple(last)) from None


def remove_all(d, timeout=60):
    c = d.client
    dl = rrlib.Deadline(timeout)
    while True:
        names = [v["name"] for v in c.list()]
        if not names:
            return
        assert not dl.passed(), "instances left: %s" % names
        for n in names:
            c.request("DELETE", "/v1/unikernels/%s?force=true" % n,
                      timeout=60)


def churn_and_check(d, clients, seconds, names, seed):
    churn = Churn(d, clients, names, seed).run(seconds)
    print(churn.report())
    assert not churn.unexpected, churn.report()
    assert not churn.failed, churn.report()
    assert churn.counts.get("create 201", 0) > 0, churn.report()
    assert churn.counts.get("delete 200", 0) > 0, churn.report()
    accounted_for(d)
    # The table is the records.
    assert sorted(v["name"] for v in d.client.list()) == d.records()
    remove_all(d)
    wait_for("no domain of this rumprund left", lambda: not d.domains(),
             30, step=0.2)
    return churn


EVDELAY = rrlib.BUILD / "tests" / "evdelay.so"


def delay_events(d, ms=700):
    """Start d with libvirt's lifecycle events delivered ms late (the
    tests/e2e/evdelay.c shim, LD_PRELOAD)."""
    assert EVDELAY.exists(), "%s is not built (make %s)" % (EVDELAY,
                                                             EVDELAY)
    env = dict(d.env)
    env["LD_PRELOAD"] = str(EVDELAY)
    env["RR_EVENT_DELAY_MS"] = str(ms)
    # ASan wants to come first in the library list; the shim does not
    # care (it only wraps a libvirt function).
    asan = env.get("ASAN_OPTIONS", "")
    env["ASAN_OPTIONS"] = (asan + ":" if asan else "") + \
        "verify_asan_link_order=0"
    d.env = env
    d.start()
    return d


def test_shared_names_churn(daemon):
    d = delay_events(daemon(start=False, stop_timeout=1))
    churn_and_check(d, int(os.environ.get("RR_CHURN_CLIENTS", "150")),
                    float(os.environ.get("RR_CHURN_SECONDS", "12")),
                    names=3, seed=13)
    assert d.alive()


def test_create_during_forced_remove(daemon):
    d = daemon()
    c = d.client
    spec = d.spec("doomed", ["forever"], memory_mib=32)
    for rnd in range(5):
        c.launch(spec)
        c.wait_state("doomed", "running")
        # The DELETE is sent (and so read by rumprund before the POST's
        # connection even exists); its answer waits for the destroy,
        # which takes ~0.2 s: the POST comes inside that window.
        s = socket.socket(socket.AF_UNIX)
        s.connect(str(d.sock))
        s.sendall(b"DELETE /v1/unikernels/doomed?force=true HTTP/1.1\r\n"
                  b"Host: x\r\nContent-Length: 0\r\n\r\n")
        time.sleep(0.05)
        r = c.request("POST", "/v1/unikernels", spec, timeout=60)
        s.settimeout(60)
        head = s.recv(4096)
        s.close()
        assert head.startswith(b"HTTP/1.1 200 "), head[:200]
        g = c.request("GET", "/v1/unikernels/doomed")
        print("round %d: POST %d, then GET %d" % (rnd, r.status, g.status))
        # 409 while the remove is in flight; 201 (a new instance, which
        # GET then shows) only if the remove had already finished.
        assert r.status in (201, 409), r
        if r.status == 409:
            assert "being removed" in r.json["message"], r.json
            assert g.status == 404, g
        else:
            assert g.status == 200, g
            c.stop("doomed", force=True)
            c.remove("doomed")
    assert not d.domains()
