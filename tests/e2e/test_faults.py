"""
Faults: bad requests get the documented 4xx and leave nothing behind;
rumprund killed (-9) while guests run or while a launch is in flight, then
restarted on the same state, loses no instance, no log line, and leaves no
orphan domain (nor is kept out by a process that still holds its socket); libvirtd restarted under a running guest; SIGTERM leaves
guests running for the next rumprund to adopt.
"""
import ctypes
import json
import os
import re
import socket
import subprocess
import time

import pytest

import rrlib
from rrlib import CALLING, UnixHTTPConnection, wait_for

FINAL = ("exited", "stopped", "crashed", "failed")


def nothing_left(d):
    c = d.client
    assert c.list() == [], c.list()
    assert d.records() == [], d.records()
    assert d.console_logs() == [], d.console_logs()
    assert d.domains() == [], d.domains()


def post_raw(d, body, headers):
    return d.client.request("POST", "/v1/unikernels", body, headers=headers)


def error_of(r, status, code):
    assert r.status == status, r
    body = r.json
    assert body["error"] == code, body
    assert body["message"], body
    return body


def ticks(text):
    return [int(m) for m in re.findall(r"^tick (\d+)$", text, re.M)]


def test_bad_requests(daemon):
    d = daemon()
    c = d.client
    good = d.spec("bad", ["exit", "0"])
    js = {"Content-Type": "application/json"}

    error_of(post_raw(d, b'{"name": "bad", "image": ', js), 400,
             "bad_request")
    error_of(post_raw(d, b'', js), 400, "bad_request")
    error_of(post_raw(d, b'{"name":"bad","name":"bad2","image":"%s"}'
                      % str(d.image).encode(), js), 400, "bad_request")
    error_of(post_raw(d, b'\xff\xfe{}', js), 400, "bad_request")

    # Over 64 KiB: 413, whether announced by Content-Length or not.
    pad = json.dumps(dict(good, labels={"k": "x" * 10}))
    big = pad[:-1] + " " * (65537 - len(pad)) + "}"
    assert len(big) == 65537
    error_of(post_raw(d, big, js), 413, "too_large")
    error_of(post_raw(d, b"x" * (300 * 1024), js), 413, "too_large")
    # Exactly 64 KiB is not too large.
    ok = pad[:-1] + " " * (65536 - len(pad)) + "}"
    r = post_raw(d, ok, js)
    assert r.status == 201, r
    c.wait_state("bad", FINAL)
    c.remove("bad")
    # Chunked, without Content-Length.
    conn = UnixHTTPConnection(d.sock)
    conn.request("POST", "/v1/unikernels",
                 body=iter([big[i:i + 8192].encode()
                            for i in range(0, len(big), 8192)]),
                 headers=js, encode_chunked=True)
    resp = conn.getresponse()
    data = resp.read()
    conn.close()
    d.api.validate("POST", "/v1/unikernels", resp.status,
                   resp.getheader("Content-Type"), data)
    assert resp.status == 413, (resp.status, data)

    # The media type.
    for ctype in ("text/plain", "application/jsonx", "application/x-www-form-"
                  "urlencoded"):
        error_of(post_raw(d, json.dumps(good), {"Content-Type": ctype}), 415,
                 "unsupported_media_type")
    error_of(post_raw(d, json.dumps(good), {}), 415, "unsupported_media_type")

    # Unknown fields, named.
    b = error_of(post_raw(d, json.dumps(dict(good, bogus=1)), js), 422,
                 "invalid")
    assert b["field"] == "bogus", b
    b = error_of(post_raw(d, json.dumps(dict(
        good, blk=[{"source": d.volume("v.img"), "colour": "red"}])), js),
        422, "invalid")
    assert b["field"] == "blk[0].colour", b
    b = error_of(post_raw(d, json.dumps(dict(good, name="Bad Name")), js),
                 422, "invalid")
    assert b["field"] == "name", b
    b = error_of(post_raw(d, json.dumps(dict(good, memory_mib=1 << 20)), js),
                 422, "invalid")
    assert b["field"] == "memory_mib", b
    b = error_of(post_raw(d, json.dumps(dict(good, env={"A": 'q"q'})), js),
                 422, "invalid")
    assert b["field"].startswith("env"), b
    b = error_of(post_raw(d, json.dumps(dict(good, argv=["rrguest", "it's"])),
                          js), 422, "invalid")
    assert b["field"] == "argv[1]", b
    b = error_of(post_raw(d, json.dumps({"image": str(d.image)}), js), 422,
                 "invalid")
    assert b["field"] == "name", b
    nothing_left(d)


def test_paths_outside_the_allowed_dirs(daemon):
    d = daemon()
    c = d.client
    outside = d.root / "outside"
    outside.mkdir()
    (outside / "rrguest").write_bytes(d.image.read_bytes())
    os.symlink(str(outside / "rrguest"), str(d.images / "link"))
    os.symlink(str(outside), str(d.images / "dirlink"))
    (d.images / "sub").mkdir()
    cases = [
        ("/etc/passwd", "image"),
        (str(outside / "rrguest"), "image"),
        (str(d.images) + "/../outside/rrguest", "image"),
        (str(d.images) + "/sub/../../outside/rrguest", "image"),
        (str(d.images / "link"), "image"),
        (str(d.images / "dirlink" / "rrguest"), "image"),
        (str(d.images / "nosuchfile"), "image"),
        (str(d.images), "image"),
        (str(d.images) + "/", "image"),
    ]
    for image, field in cases:
        r = c.request("POST", "/v1/unikernels",
                      {"name": "esc", "image": image})
        assert r.status in (403, 422), (image, r)
        if r.status == 403:
            assert r.json["error"] == "forbidden", r
        assert r.json.get("field") == field, (image, r.json)
    # A disk outside volumes/, through .. and a symlink.
    os.symlink(str(outside / "rrguest"), str(d.volumes / "vlink"))
    for src in (str(d.volumes) + "/../outside/rrguest",
                str(d.volumes / "vlink"), str(d.image)):
        r = c.request("POST", "/v1/unikernels",
                      d.spec("esc", ["exit", "0"], blk=[{"source": src}]))
        assert r.status == 403, (src, r)
        assert r.json["field"] == "blk[0].source", r.json
    # A bridge that the operator did not allow.
    r = c.request("POST", "/v1/unikernels", d.spec(
        "esc", ["exit", "0"], nics=[{"backend": {"type": "bridge",
                                                 "name": "br0"}}]))
    assert r.status == 403 and r.json["field"].startswith("nics[0]"), r
    nothing_left(d)


def listening_socket_of(pid, path):
    """A duplicate, in this process, of the fd on which process pid listens
    on the unix socket file path (pidfd_getfd(2): what a child forked
    without exec holds)."""
    inodes = set()
    with open("/proc/net/unix") as f:
        next(f)
        for line in f:
            fields = line.split()
            # Num RefCount Protocol Flags Type St Inode Path; St 01: listening
            if len(fields) >= 8 and fields[7] == str(path) and \
                    fields[5] == "01":
                inodes.add(fields[6])
    assert inodes, "nobody listens on %s" % path
    fdno = None
    for fd in os.listdir("/proc/%d/fd" % pid):
        try:
            link = os.readlink("/proc/%d/fd/%s" % (pid, fd))
        except OSError:
            continue
        if link.startswith("socket:[") and link[8:-1] in inodes:
            fdno = int(fd)
    assert fdno is not None, "no fd of %d is the socket" % pid
    libc = ctypes.CDLL(None, use_errno=True)
    pidfd = os.pidfd_open(pid)
    try:
        fd = libc.syscall(438, pidfd, fdno, 0)    # SYS_pidfd_getfd
        if fd < 0:
            e = ctypes.get_errno()
            raise OSError(e, "pidfd_getfd: " + os.strerror(e))
        return fd
    finally:
        os.close(pidfd)


def test_kill9_while_another_process_holds_the_socket(daemon):
    # On Xen, libxl runs xc_domain_destroy in a child forked without exec,
    # which inherits rumprund's listening socket; when rumprund dies by
    # kill -9 while such a child hangs, the socket still takes connections
    # into its backlog, and the next rumprund must not take that for a
    # server that answers.
    d = daemon()
    held = listening_socket_of(d.pid, d.sock)
    try:
        # While rumprund lives, a second one on its socket is refused.
        second = subprocess.run(
            [str(rrlib.DAEMON_BIN), "-d", "-f", str(d.conf)],
            stdin=subprocess.DEVNULL, capture_output=True, env=d.env,
            cwd=str(d.root), timeout=30)
        assert second.returncode != 0, second
        assert b"another server is listening on" in second.stderr, second
        assert d.client.get("/v1/info")

        d.kill9()
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        s.connect(str(d.sock))     # a backlog, and nobody to accept
        s.close()
        d.allow_warnings(r"the server that listened on it \(pid %d\) is "
                         r"gone" % d.proc.pid)
        d.start()
        assert d.client.get("/v1/info")
        assert "is gone, another process still holds it" in \
            d.stderr_text()
    finally:
        os.close(held)
    nothing_left(d)


def test_kill9_while_guests_run(daemon):
    d = daemon()
    c = d.client
    c.launch(d.spec("tk", ["tick", "100"]))
    c.launch(d.spec("ex", ["exit", "5"]))
    c.wait_state("ex", "exited")
    c.wait_log("tk", "tick 5\n")
    before = {i["name"]: i for i in c.list()}
    dom = before["tk"]["domain"]
    domid = rrlib.domain_id(dom)
    assert domid is not None

    d.kill9()
    # The guest goes on while rumprund is down.
    logpath = before["tk"]["log"]["path"]
    size0 = os.path.getsize(logpath)
    wait_for("the guest to write while rumprund is down",
             lambda: os.path.getsize(logpath) > size0 + 20, 5)
    d.start()

    after = {i["name"]: i for i in c.list()}
    assert sorted(after) == ["ex", "tk"]
    assert after["ex"]["state"] == "exited" and \
        after["ex"]["exit_status"] == 5, after["ex"]
    tk = after["tk"]
    assert tk["state"] == "running", tk
    for k in ("domain", "generation", "created", "started", "guest_config"):
        assert tk[k] == before["tk"][k], (k, before["tk"], tk)
    assert rrlib.domain_id(dom) == domid, "the domain was restarted"
    n = ticks(c.logs("tk"))[-1]
    c.wait_log("tk", "tick %d\n" % (n + 3))

    v = c.stop("tk", timeout=1)
    assert v["state"] == "stopped", v
    log = c.logs("tk")
    t = ticks(log)
    assert t == list(range(1, len(t) + 1)), "tick lines lost: %s" % t
    assert log.count(CALLING) == 1
    assert not d.domains()


def test_kill9_during_launch(daemon):
    d = daemon()
    c = d.client
    names = []
    for i, delay in enumerate((0.0, 0.01, 0.02, 0.035, 0.05, 0.1)):
        name = "infl%d" % i
        names.append(name)
        conn = UnixHTTPConnection(d.sock)
        conn.request("POST", "/v1/unikernels",
                     body=json.dumps(d.spec(name, ["tick", "200"])),
                     headers={"Content-Type": "application/json"})
        time.sleep(delay)
        run = d.runs[-1]
        d.kill9()
        conn.close()
        recorded = ("%s: launching on" % name) in run.read_text()
        d.start()

        def settled():
            v = c.list()
            return [v] if all(i["state"] != "pending" for i in v) else None
        views = {i["name"]: i for i in
                 wait_for("no instance pending after the restart", settled,
                          15)[0]}
        if recorded:
            assert name in views, "%s was recorded, then lost: %s" % (
                name, sorted(views))
        if name in views:
            v = views[name]
            assert v["state"] in ("starting", "running", "failed"), v
            if v["state"] == "failed":
                assert v["reason"], v
        else:
            assert not [n for n in d.domains() if "-%s-" % name in n]

        check_no_orphans(d)
    # A create that libvirtd finished after a restart would show late.
    time.sleep(1.0)
    check_no_orphans(d)
    # Adopted guests are followed: each one's console shows main() called.
    final = {i["name"]: i for i in c.list()}
    assert set(final) <= set(names)
    for n, v in final.items():
        if v["state"] not in FINAL:
            c.wait_state(n, "running", timeout=10)
            c.stop(n, force=True)


def check_no_orphans(d):
    """Every domain of ours is a live instance's, and those run."""
    c = d.client
    views = c.list()
    live = {i["domain"] for i in views if i["state"] not in FINAL}
    doms = set(d.domains())
    assert doms <= live, "orphan domains %s (live instances: %s)" % (
        sorted(doms - live), sorted(live)) + d.describe()
    running = set(d.domains(running_only=True))
    for v in views:
        if v["state"] in ("starting", "running"):
            assert v["domain"] in running, v


@pytest.mark.serial
def test_libvirtd_restart_under_a_guest(daemon, libvirt):
    if not libvirt.restartable():
        pytest.skip("libvirtd was not started by scripts/libvirt-up.sh: "
                    "not ours to restart")
    d = daemon()
    c = d.client
    d.allow_warnings(r"kvm: lost the hypervisor connection",
                     r"cannot list domains",
                     r"httpd: POST /v1/unikernels: .*lost its hypervisor "
                     r"connection")
    c.launch(d.spec("lv", ["tick", "100"]))
    v = c.wait_state("lv", "running")
    c.wait_log("lv", "tick 1\n")
    domid = rrlib.domain_id(v["domain"])
    try:
        libvirt.down("libvirtd")
        wait_for("rumprund to see libvirtd gone",
                 lambda: not c.get("/v1/health")["kvm_connected"], 30)
        # During the outage: a launch is refused with 503, or works.
        r = c.request("POST", "/v1/unikernels",
                      d.spec("during", ["exit", "6"]))
        assert r.status in (201, 503), r
        during_ok = r.status == 201
        if not during_ok:
            assert r.json["error"] == "unavailable", r
        assert c.instance("lv")["state"] == "running"
        n = len(c.logs("lv"))
        c.wait_log("lv", "tick %d\n" % (ticks(c.logs("lv"))[-1] + 2), 5)
        assert len(c.logs("lv")) > n
    finally:
        libvirt.up()
    wait_for("rumprund to reconnect",
             lambda: c.get("/v1/health")["kvm_connected"], 30)
    v = c.instance("lv")
    assert v["state"] == "running", v
    assert rrlib.domain_id(v["domain"]) == domid
    if not during_ok:
        c.launch(d.spec("during", ["exit", "6"]))
    assert c.wait_state("during", FINAL)["exit_status"] == 6
    v = c.stop("lv", force=True)
    assert v["state"] == "stopped", v
    assert not d.domains()
    t = ticks(c.logs("lv"))
    assert t == list(range(1, len(t) + 1))


def test_sigterm_leaves_guests_running(daemon):
    d = daemon()
    c = d.client
    c.launch(d.spec("st", ["tick", "100"]))
    p = c.launch(d.spec("pz", ["echo", "resumed", "exit", "9"], paused=True))
    v = c.wait_state("st", "running")
    domid = rrlib.domain_id(v["domain"])
    d.terminate()
    assert v["domain"] in rrlib.running_domains(), "SIGTERM stopped the guest"
    assert p["domain"] in rrlib.all_domains()
    size0 = os.path.getsize(v["log"]["path"])
    wait_for("the guest to write while rumprund is down",
             lambda: os.path.getsize(v["log"]["path"]) > size0 + 20, 5)
    d.start()
    v2 = c.instance("st")
    assert v2["state"] == "running", v2
    assert v2["domain"] == v["domain"] and v2["started"] == v["started"]
    assert rrlib.domain_id(v["domain"]) == domid
    c.wait_log("st", "tick %d\n" % (ticks(c.logs("st"))[-1] + 2))
    assert c.stop("st", force=True)["state"] == "stopped"
    t = ticks(c.logs("st"))
    assert t == list(range(1, len(t) + 1))
    # The paused one is still paused, and resumes.
    assert c.instance("pz")["state"] == "paused"
    c.start("pz")
    v = c.wait_state("pz", FINAL)
    assert (v["state"], v["exit_status"]) == ("exited", 9), v
    assert not d.domains()


def test_sigterm_answers_waiting_requests(daemon):
    # A stop that waits on a guest gets 503 when rumprund stops.
    d = daemon()
    c = d.client
    c.launch(d.spec("w", ["forever"]))
    c.wait_state("w", "running")
    d.allow_warnings(r"httpd: POST /v1/unikernels/w/stop: rumprund is "
                     r"shutting down")
    conn = UnixHTTPConnection(d.sock)
    conn.request("POST", "/v1/unikernels/w/stop?timeout=30")
    time.sleep(0.3)
    d.signal(15)
    resp = conn.getresponse()
    data = resp.read()
    conn.close()
    d.api.validate("POST", "/v1/unikernels/w/stop", resp.status,
                   resp.getheader("Content-Type"), data)
    assert resp.status == 503, (resp.status, data)
    assert d.proc.wait(20) == 0
    d.stopped_by_test = True
    d.start()
    # The stop was asked for and may be carried on; either way it ends.
    assert c.instance("w")["state"] in ("running", "stopping", "stopped")
    assert c.stop("w", force=True)["state"] == "stopped"
    assert not d.domains()


def test_guests_end_while_rumprund_is_down(daemon):
    d = daemon()
    c = d.client
    c.launch(d.spec("late", ["sleepms", "800", "exit", "7"]))
    c.launch(d.spec("pan", ["sleepms", "800", "panic", "late"]))
    c.launch(d.spec("gone", ["forever"]))
    for n in ("late", "pan", "gone"):
        c.wait_state(n, "running")
    gone_dom = c.instance("gone")["domain"]
    d.kill9()
    rrlib.virsh("destroy", gone_dom)
    log = d.logs / "console" / "pan.log"
    wait_for("the guest to panic while rumprund is down",
             lambda: b"PANIC: late" in log.read_bytes(), 10)
    wait_for("the other to halt", lambda: b"halted" in
             (d.logs / "console" / "late.log").read_bytes(), 10)
    d.start()
    v = c.wait_state("late", FINAL)
    assert (v["state"], v["exit_status"]) == ("exited", 7), v
    v = c.wait_state("pan", FINAL)
    assert (v["state"], v["reason"]) == ("crashed", "PANIC: late"), v
    v = c.wait_state("gone", FINAL)
    assert v["state"] == "crashed" and v["reason"], v
    wait_for("rumprund to destroy the halted guests", lambda: not d.domains(),
             5)


def test_domain_destroyed_outside(daemon):
    d = daemon()
    c = d.client
    c.launch(d.spec("ext", ["forever"]))
    v = c.wait_state("ext", "running")
    rrlib.virsh("destroy", v["domain"])
    v = c.wait_state("ext", FINAL, timeout=10)
    assert v["state"] == "crashed" and v["reason"], v
    assert v["exit_status"] is None
    # It can run again.
    v = c.start("ext")
    assert v["generation"] == 2
    c.wait_state("ext", "running")
    assert c.stop("ext", force=True)["state"] == "stopped"


def test_limits(daemon):
    d = daemon(extra_conf="max_instances = 3\nmax_total_memory_mib = 100\n"
               "max_memory_mib = 64\n")
    c = d.client
    r = c.request("POST", "/v1/unikernels", d.spec("big", ["exit", "0"],
                                                   memory_mib=65))
    assert r.status == 422 and r.json["field"] == "memory_mib", r
    c.launch(d.spec("m1", ["forever"], memory_mib=64))
    c.wait_state("m1", "running")
    r = c.request("POST", "/v1/unikernels", d.spec("m2", ["exit", "0"],
                                                   memory_mib=40))
    assert r.status == 409 and r.json["error"] == "conflict", r
    c.launch(d.spec("m2", ["exit", "0"], memory_mib=32))
    c.wait_state("m2", "exited")
    c.launch(d.spec("m3", ["exit", "0"], memory_mib=8))
    c.wait_state("m3", "exited")
    r = c.request("POST", "/v1/unikernels", d.spec("m4", ["exit", "0"],
                                                   memory_mib=8))
    assert r.status == 409 and r.json["error"] == "conflict", r
    c.stop("m1", force=True)
    c.remove("m3")
    c.launch(d.spec("m4", ["exit", "0"], memory_mib=64))
    assert c.wait_state("m4", "exited")["exit_status"] == 0
    info = c.get("/v1/info")
    assert info["limits"]["max_instances"] == 3
    assert info["limits"]["max_total_memory_mib"] == 100
    assert info["limits"]["max_memory_mib"] == 64
    assert d.records() == ["m1", "m2", "m4"]


def test_sighup(daemon):
    d = daemon()
    d.signal(1)
    wait_for("log reopened", lambda: "log reopened" in d.stderr_text(), 5)
    assert d.alive()
    assert d.client.get("/v1/health")["status"] == "ok"


def test_client_leaves_during_launch(daemon):
    # The launch goes on; the answer nobody waits for is dropped cleanly
    # (the after-test check looks for a leaked connection).
    d = daemon()
    c = d.client
    for i, delay in enumerate((0.02, 0.05, 0.1)):
        s = socket.socket(socket.AF_UNIX)
        s.connect(str(d.sock))
        body = json.dumps(d.spec("left%d" % i, ["tick", "100"])).encode()
        s.sendall(b"POST /v1/unikernels HTTP/1.1\r\nHost: x\r\n"
                  b"Content-Type: application/json\r\n"
                  b"Content-Length: %d\r\n\r\n%s" % (len(body), body))
        # Long enough for the request to be read, not for the launch.
        time.sleep(delay)
        s.close()
    for i in range(3):
        c.wait_state("left%d" % i, "running")
    # Streams whose client leaves are dropped too.
    for i in range(3):
        st = c.stream("/v1/unikernels/left%d/logs?follow=true" % i)
        st.read_until(lambda b: b"tick 1\n" in b, 10, "tick 1")
        st.close()
        ev = c.stream("/v1/events")
        ev.close()
    d.allow_warnings(r"httpd: Failed to send the chunked response body")
    for i in range(3):
        c.stop("left%d" % i, force=True)


@pytest.mark.serial
def test_start_while_libvirtd_is_down(daemon, libvirt):
    if not libvirt.restartable():
        pytest.skip("libvirtd was not started by scripts/libvirt-up.sh: "
                    "not ours to stop")
    d = daemon(start=False)
    c = d.client
    d.allow_warnings(r"kvm backend unavailable: libvirt is not reachable",
                     r"httpd: POST /v1/unikernels: platform: the kvm "
                     r"backend is unavailable")
    libvirt.down("libvirtd")
    try:
        d.start(wait_connected=False)
        assert c.get("/v1/health") == {"status": "ok",
                                       "kvm_connected": False}
        kvm = c.get("/v1/info")["backends"]["kvm"]
        assert kvm["available"] is False and kvm["reason"], kvm
        r = c.request("POST", "/v1/unikernels", d.spec("x", ["exit", "0"]))
        assert r.status == 503 and r.json["error"] == "unavailable", r
        assert c.list() == [] and d.records() == []
    finally:
        libvirt.up()
    wait_for("rumprund to connect", lambda: c.get(
        "/v1/health")["kvm_connected"], 20)
    # The libvirt connection's fds are new, not leaked.
    d.baseline_fds = d.settled_fds()
    c.launch(d.spec("x", ["exit", "0"]))
    assert c.wait_state("x", "exited")["exit_status"] == 0


def test_sigterm_with_open_streams(daemon):
    # Followers and event readers do not hold rumprund up: it exits 0 at
    # once, and their answers end WITHOUT the last chunk, so that a client
    # can tell a restart from the normal end of a stream and resume
    # (openapi.yaml; issue 14 item 4).
    d = daemon()
    c = d.client
    c.launch(d.spec("t", ["tick", "100"]))
    streams = [c.stream("/v1/unikernels/t/logs?follow=true")
               for _ in range(5)] + [c.stream("/v1/events") for _ in range(5)]
    streams[0].read_until(lambda b: b"tick 2\n" in b, 10, "tick 2")
    t0 = time.monotonic()
    d.terminate()
    assert time.monotonic() - t0 < 3
    for s in streams:
        s.wait_end(3)
        assert s.truncated, "a stream ended with its last chunk"
    d.start()
    assert c.instance("t")["state"] == "running"
    c.stop("t", force=True)
