"""
Stress and faults: rumprund under 200 concurrent API clients, and the
faults of the machine it lives on, during that load.

- test_mixed_load: launches, lists, gets, log reads and follows, stops,
  removes, events, for RR_STRESS_SECONDS in three phases (warm-up, A, B):
  only documented answers, no launch `failed`, no crash; after A and after
  B every instance is removed and the daemon's fds are back to its start
  and its RSS grew by at most 2 MiB (or 10 %) from A to B.
- test_kill9_under_load: kill -9 rumprund mid-load, restart it on the same
  state: every record parses, the table is the records, every domain of
  this rumprund belongs to a live instance (adopted, not restarted).
- test_libvirtd_restart_under_load: libvirtd stopped and started mid-load:
  launches, stops and forced removes answer 503 meanwhile, nothing else
  changes; running guests survive; launches work afterwards; no domain
  without an instance.  A create in flight at the moment libvirtd goes is
  reported `failed` although libvirtd may have made the domain: that one
  has a name of its own (one per incarnation), so the next instance of the
  name launches, and the leftover is destroyed at the next list (B4).
- test_virtlogd_killed_under_load: virtlogd killed (-9) mid-load: launches
  fail cleanly (`failed` with libvirt's reason, or 503) until it is back,
  console capture of running guests goes on (QEMU writes the log itself),
  then launches work again.
- test_state_dir_full: the state directory on a small tmpfs, filled up:
  launches are refused (503 "cannot write the record ...") under load,
  nothing is corrupted (every record parses, no temp file left, every
  line of events.jsonl whole, seqs increasing), and a
  restart loads every instance with event sequence numbers that still
  only increase.  An instance stopped while the disk was full keeps its
  `stopped` state across the restart: the record the full disk refused is
  written once there is room (at the latest when rumprund stops); were it
  lost, the test ends as an expected failure naming that bug.
- test_console_spam: a guest printing megabytes per second: the console
  log's allocated size stays near console_log_max (older bytes are punched
  out), offsets keep counting, GETs stay fast meanwhile.

- test_stop_while_libvirtd_is_down: a forced stop while libvirtd is
  down must not spin: a failed destroy is retried once a second.

- test_shared_names_churn (B3, long form of tests/e2e/test_incarnations):
  150 clients create/stop/start/delete/recreate on 3 shared names for
  3 * RR_STRESS_SECONDS with libvirt's lifecycle events 0.7 s late: only
  documented answers, no launch `failed`, every domain accounted for, no
  orphan once all are removed.
- test_shared_names_churn_kill9: the same churn with rumprund killed (-9)
  and restarted in the middle: afterwards every domain is accounted for
  (adopted or destroyed as an orphan) and launches of every name work.

Marks: the fault tests and the spam test are `slow`; `make check` runs
`-m "not slow"` (stress-short: RR_STRESS_SECONDS=4, 16 names).
"""
import json
import os
import signal
import socket
import subprocess
import threading
import time
from concurrent.futures import ThreadPoolExecutor

import pytest

import rrlib
from rrlib import rss_kib, wait_for
from load import Load

MIB = 1024 * 1024


def cleanup(d, timeout=120):
    """Stop and remove every instance (16 at a time)."""
    c = d.client

    def one(name):
        c.request("POST", "/v1/unikernels/%s/stop?force=true" % name,
                  timeout=60)
        c.request("DELETE", "/v1/unikernels/%s?force=true" % name,
                  timeout=60)

    end = time.monotonic() + timeout
    while True:
        names = [i["name"] for i in c.list()]
        if not names:
            return
        assert time.monotonic() < end, "instances left: %s" % names
        with ThreadPoolExecutor(16) as ex:
            list(ex.map(one, names))


def check_records(d):
    """Every record parses and names its file; no temp or broken file."""
    inst = d.state / "instances"
    names = []
    for p in sorted(inst.iterdir()):
        assert not p.name.endswith(".broken"), "a broken record: %s" % p
        assert not p.name.startswith("."), "a temp file left: %s" % p
        if p.suffix == ".json":
            rec = json.loads(p.read_text())
            assert rec["name"] == p.stem, p
            names.append(p.stem)
    return names


def events_seqs(c):
    """The seqs of the kept events (past 2000, a "lost" line without a
    seq comes first: openapi.yaml EventLine)."""
    body = c.request("GET", "/v1/events?since=0&follow=false").body
    lines = [json.loads(l) for l in body.splitlines() if l.strip()]
    return [e["seq"] for e in lines if e.get("type") != "lost"]


def check_event_file(d):
    """events.jsonl holds whole JSON lines only, with increasing seqs."""
    data = (d.state / "events.jsonl").read_bytes()
    assert data == b"" or data.endswith(b"\n"), "a torn last line"
    seqs = []
    for line in data.splitlines():
        try:
            seqs.append(json.loads(line)["seq"])
        except ValueError:
            raise AssertionError("a torn line in events.jsonl: %r" % line)
    assert seqs == sorted(set(seqs)), seqs


def no_orphans(d, timeout=20):
    """Every running domain of d belongs to a live instance of its table."""
    last = []

    def settled():
        live = {i["domain"] for i in d.client.list()
                if i["state"] in ("pending", "starting", "paused",
                                  "running", "stopping")}
        doms = set(d.domains(running_only=True))
        last[:] = [sorted(doms - live)]
        return doms <= live
    try:
        wait_for("every running domain to belong to a live instance",
                 settled, timeout, step=0.2)
    except AssertionError:
        raise AssertionError("domains without a live instance: %s"
                             % last[0]) from None


NAMES = int(os.environ.get("RR_STRESS_NAMES", "40"))


def run_load(d, clients, seconds, **kw):
    kw.setdefault("names", NAMES)
    load = Load(d, clients=clients, **kw).start()
    time.sleep(seconds)
    load.stop()
    print(load.report())
    return load


def assert_clean(load):
    assert not load.unexpected, load.report()
    assert not load.failed_launches, load.report()


# ---------------------------------------------------------------------------


def test_mixed_load(daemon, seconds, clients):
    d = daemon(stop_timeout=2)
    warm, phase = seconds * 0.2, seconds * 0.4
    assert_clean(run_load(d, clients, warm, seed=1))
    cleanup(d)
    time.sleep(0.5)
    d.baseline_fds = d.settled_fds()

    a = run_load(d, clients, phase, seed=2)
    assert_clean(a)
    cleanup(d)
    rss_a = rss_kib(d.pid)
    bad = d.check_fds()
    assert bad is None, bad

    b = run_load(d, clients, phase, seed=3)
    assert_clean(b)
    cleanup(d)
    rss_b = rss_kib(d.pid)
    bad = d.check_fds()
    assert bad is None, bad
    print("RSS after A: %d KiB, after B: %d KiB" % (rss_a, rss_b))
    assert rss_b - rss_a <= max(2048, rss_a // 10), \
        "RSS grew from %d to %d KiB between two equal load phases" % (
            rss_a, rss_b)
    # The load did what it says.  (Stops and removes of running guests
    # may all still be in flight at the end of a short phase: a stop waits
    # for the destroy, which queues behind launches in rumprund's pool.)
    for load in (a, b):
        assert load.count("launch", 201) > 0, load.report()
        assert load.count("follow", 200) > 0, load.report()
        assert load.count("list", 200) > 0, load.report()
    assert d.alive()
    check_records(d)


@pytest.mark.slow
def test_kill9_under_load(daemon, seconds, clients):
    d = daemon(stop_timeout=2)
    c = d.client
    load = Load(d, clients=clients, names=NAMES, seed=4).start()
    try:
        time.sleep(seconds * 0.3)
        load.tolerate("transport")
        d.kill9()
        time.sleep(0.3)
        d.start(timeout=30)
        time.sleep(1)
        load.tolerate()
        time.sleep(seconds * 0.3)
    finally:
        load.stop()
    print(load.report())
    # Launches caught by the kill may have ended in `failed` (their
    # create raced the restart); that is what the API documents.
    assert not load.unexpected, load.report()
    names = check_records(d)
    assert sorted(i["name"] for i in c.list()) == sorted(names)
    no_orphans(d)
    cleanup(d)


@pytest.mark.slow
def test_libvirtd_restart_under_load(daemon, libvirt, seconds, clients):
    d = daemon(stop_timeout=2)
    c = d.client
    d.allow_warnings(r"kvm: lost the hypervisor connection",
                     r"cannot list domains",
                     r"lost its hypervisor connection",
                     r"libvirt is not reachable",
                     r"without a current instance",
                     r"destroy: ", r"shutdown: ")
    c.launch(d.spec("keep", ["tick", "100"], memory_mib=32))
    keep = c.wait_state("keep", "running")
    domid = rrlib.domain_id(keep["domain"])
    load = Load(d, clients=clients, names=NAMES, seed=5).start()
    window = []
    try:
        try:
            time.sleep(seconds * 0.3)
            load.tolerate(("launch", 503), ("stop", 503), ("remove", 503))
            window.append(time.monotonic() - load.started)
            libvirt.down("libvirtd")
            wait_for("rumprund to see libvirtd gone",
                     lambda: not c.get("/v1/health")["kvm_connected"], 30)
            time.sleep(1)
            libvirt.up()
            wait_for("rumprund to reconnect",
                     lambda: c.get("/v1/health")["kvm_connected"], 30)
            time.sleep(1)
            window.append(time.monotonic() - load.started)
            load.tolerate()
            time.sleep(seconds * 0.3)
        finally:
            load.stop()
        print(load.report())
        assert not load.unexpected, load.report()
        v = c.instance("keep")
        assert v["state"] == "running" and \
            rrlib.domain_id(v["domain"]) == domid
        c.launch(d.spec("after", ["exit", "5"], memory_mib=32))
        assert c.wait_state("after", ("exited",))["exit_status"] == 5
        no_orphans(d)
        late = [f for f in load.failed_launches if not
                window[0] <= f[0] <= window[1] + 2]
        assert not late, "launches failed outside the outage: %s" % late
    finally:
        cleanup(d)
    # Leftover domains fail the after-test check.


@pytest.mark.slow
def test_stop_while_libvirtd_is_down(daemon, libvirt):
    d = daemon(stop_timeout=1)
    c = d.client
    d.allow_warnings(r"kvm: lost the hypervisor connection",
                     r"cannot list domains", r"libvirt is not reachable",
                     r"lost its hypervisor connection",
                     r"destroy: ", r"shutdown: ")
    c.launch(d.spec("victim", ["forever"], memory_mib=32))
    c.wait_state("victim", "running")
    try:
        libvirt.down("libvirtd")
        wait_for("rumprund to see libvirtd gone",
                 lambda: not c.get("/v1/health")["kvm_connected"], 30)
        # The stop waits for the end; ask without waiting for it.
        s = socket.socket(socket.AF_UNIX)
        s.connect(str(d.sock))
        s.sendall(b"POST /v1/unikernels/victim/stop?force=true HTTP/1.1\r\n"
                  b"Host: x\r\nContent-Length: 0\r\n\r\n")
        time.sleep(3)
        s.close()
    finally:
        libvirt.up()
    wait_for("rumprund to reconnect",
             lambda: c.get("/v1/health")["kvm_connected"], 30)
    c.wait_state("victim", ("stopped",), timeout=20)
    n = sum(1 for line in d.stderr_text().splitlines()
            if "destroy: libvirt is not reachable" in line)
    print("'destroy: libvirt is not reachable' lines in 3 s: %d" % n)
    assert n < 50, "%d destroy retries logged in 3 s" % n
    cleanup(d)


@pytest.mark.slow
def test_virtlogd_killed_under_load(daemon, libvirt, seconds, clients):
    d = daemon(stop_timeout=2)
    c = d.client
    d.allow_warnings(r"destroy: ", r"shutdown: ")
    c.launch(d.spec("keep", ["tick", "50"], memory_mib=32))
    c.wait_state("keep", "running")
    load = Load(d, clients=clients, names=NAMES, seed=6).start()
    try:
        time.sleep(seconds * 0.3)
        pid = libvirt.pid("virtlogd")
        assert pid, "no virtlogd"
        load.tolerate(("launch", 503))
        t_kill = time.monotonic() - load.started
        os.kill(pid, signal.SIGKILL)
        before = len(c.logs("keep"))
        time.sleep(1.5)
        # QEMU writes the console log itself (stdio_handler = "file").
        assert len(c.logs("keep")) > before, \
            "console capture stopped with virtlogd"
        r = c.request("POST", "/v1/unikernels",
                      d.spec("during", ["exit", "0"], memory_mib=32))
        print("launch without virtlogd: %d %s" % (r.status, r.body[:300]))
        assert r.status in (201, 503), r
        libvirt.up()		# starts virtlogd again
        t_back = time.monotonic() - load.started
        time.sleep(1)
        load.tolerate()
        time.sleep(seconds * 0.3)
    finally:
        load.stop()
    print(load.report())
    assert not load.unexpected, load.report()
    late = [f for f in load.failed_launches
            if not t_kill <= f[0] <= t_back + 2]
    assert not late, "launches failed with virtlogd running: %s" % late
    c.launch(d.spec("after", ["exit", "7"], memory_mib=32))
    assert c.wait_state("after", ("exited",))["exit_status"] == 7
    assert c.instance("keep")["state"] == "running"
    cleanup(d)


@pytest.mark.slow
def test_state_dir_full(daemon, seconds, clients):
    d = daemon(start=False, stop_timeout=2)
    c = d.client
    subprocess.run(["mount", "-t", "tmpfs", "-o", "size=256k,mode=0700",
                    "rrstress", str(d.state)], check=True)
    try:
        d.allow_warnings(r"cannot write the record", r"No space left",
                         r"events\.jsonl", r"httpd: POST /v1/unikernels: ")
        d.start()
        for i in range(3):
            c.launch(d.spec("pre%d" % i, ["forever"], memory_mib=32))
        c.launch(d.spec("done", ["exit", "4"], memory_mib=32))
        c.wait_state("done", "exited")
        # Fill the filesystem.
        filler = d.state / "filler"
        fd = os.open(filler, os.O_WRONLY | os.O_CREAT, 0o600)
        try:
            while True:
                os.write(fd, b"\0" * 4096)
        except OSError:
            pass
        finally:
            os.close(fd)
        seqs_before = events_seqs(c)
        load = Load(d, clients=min(clients, 50), seed=7)
        load.tolerate(("launch", 503))
        load.start()
        time.sleep(max(2, seconds * 0.2))
        load.stop()
        print(load.report())
        assert not load.unexpected, load.report()
        refused = load.tolerated.get("launch 503", 0)
        r = c.request("POST", "/v1/unikernels",
                      d.spec("nospace", ["exit", "0"], memory_mib=32))
        assert r.status == 503, r
        assert "cannot write the record" in r.json["message"], r.json
        assert refused > 0 or r.status == 503
        # A state change while full: kept in memory, logged.
        c.stop("pre0", force=True)
        check_event_file(d)
        names = check_records(d)
        assert "nospace" not in names
        table = {i["name"]: i["state"] for i in c.list()}
        # Room again; restart on the same state.
        filler.unlink()
        d.terminate()
        d.start()
        names = check_records(d)
        after = {i["name"]: i["state"] for i in c.list()}
        assert sorted(after) == sorted(names)
        assert set(after) >= {"pre1", "pre2", "done"}, after
        for n in ("pre1", "pre2"):
            assert after[n] == "running", (n, after)
        assert after["done"] == "exited"
        print("table before the restart: %s" % table)
        print("table after the restart:  %s" % after)
        # Sequence numbers go on increasing after the restart.
        last = max(seqs_before) if seqs_before else 0
        c.launch(d.spec("newer", ["exit", "0"], memory_mib=32))
        c.wait_state("newer", "exited")
        seqs = events_seqs(c)
        assert seqs == sorted(seqs) and len(seqs) == len(set(seqs)), seqs
        assert max(seqs) > last
        check_event_file(d)
        cleanup(d)
        d.terminate()
        if after["pre0"] != table["pre0"]:
            # Last: every check above holds.
            pytest.xfail("known bug: a state change that could not be "
                         "written (disk full) is lost at the next restart: "
                         "pre0 was %s, after the restart %s" % (
                             table["pre0"], after["pre0"]))
    finally:
        if d.alive():
            d.proc.kill()
            d.proc.wait(10)
        subprocess.run(["umount", "-l", str(d.state)])


@pytest.mark.slow
def test_console_spam(daemon):
    # The test guest's serial output under TCG through libvirt's pty runs
    # at ~0.15-0.5 MB/s here: a small cap so that it is passed many times.
    cap = 128 * 1024
    d = daemon(console_log_max=cap, stop_timeout=2)
    c = d.client
    c.launch(d.spec("spam", ["spam", "1000000", "exit", "0"],
                    memory_mib=32))
    c.wait_state("spam", "running")
    logf = d.logs / "console" / "spam.log"
    t0 = time.monotonic()
    lat, peak_alloc, sizes = [], 0, []
    end = t0 + 20
    while time.monotonic() < end and (not sizes or sizes[-1][1] < 6 * cap):
        t = time.monotonic()
        c.instance("spam")
        c.list()
        lat.append(time.monotonic() - t)
        st = os.stat(logf)
        peak_alloc = max(peak_alloc, st.st_blocks * 512)
        sizes.append((time.monotonic() - t0, st.st_size))
        time.sleep(0.02)
    v = c.instance("spam")
    rate = sizes[-1][1] / sizes[-1][0]
    lat.sort()
    p99 = lat[int(0.99 * (len(lat) - 1))]
    print("spam: %.2f MB/s into the log; file size %d, allocated peak %d, "
          "log %s; GET+list p50 %.1f ms p99 %.1f ms max %.1f ms" % (
              rate / 1e6, sizes[-1][1], peak_alloc, v["log"],
              1000 * lat[len(lat) // 2], 1000 * p99, 1000 * lat[-1]))
    assert sizes[-1][1] > 4 * cap, "the guest printed too little to test " \
        "the cap (%d bytes)" % sizes[-1][1]
    # Punched in 4 KiB blocks down to half the cap once over it.
    assert peak_alloc <= cap + cap // 2 + 64 * 1024, peak_alloc
    assert v["log"]["start"] > 0
    assert p99 < 0.1, "GETs slow during the spam: p99 %.1f ms" % (1000 * p99)
    # The kept bytes are the newest ones, and read back whole lines.
    tail = c.logs("spam", "?tail=3")
    assert tail.count("spam ") >= 2, tail[:300]
    c.stop("spam", force=True)
    cleanup(d)


# ---------------------------------------------------------------------------
# B3: incarnations of shared names (the short form is in tests/e2e).

from test_incarnations import (Churn, accounted_for,  # noqa: E402
                               churn_and_check, delay_events)


@pytest.mark.slow
def test_shared_names_churn(daemon, seconds):
    d = delay_events(daemon(start=False, stop_timeout=1))
    churn_and_check(d, 150, 3 * seconds, names=3, seed=31)
    assert d.alive()


@pytest.mark.slow
def test_shared_names_churn_kill9(daemon, seconds):
    d = daemon(stop_timeout=1)
    c = d.client
    d.allow_warnings(r"without a current instance")
    churn = Churn(d, 150, 3, seed=32)
    churn.transport_ok = True
    t = threading.Thread(target=churn.run, args=(seconds,))
    t.start()
    try:
        time.sleep(seconds / 2)
        d.kill9()
        time.sleep(0.3)
        d.start(timeout=30)
    finally:
        t.join(seconds + 120)
    print(churn.report())
    # Transport errors while rumprund was down are all the churn may see
    # besides the documented answers.
    assert not churn.unexpected, churn.report()
    accounted_for(d)
    assert sorted(v["name"] for v in c.list()) == check_records(d)
    cleanup(d)
    for n in churn.names:
        c.launch(d.spec(n, ["exit", "0"], memory_mib=32))
        assert c.wait_state(n, "exited")["exit_status"] == 0
    cleanup(d)
    wait_for("no domain of this rumprund left", lambda: not d.domains(),
             30, step=0.2)
