"""
Operations on a guest that runs, through the API and rrctl, on KVM
(libvirt) under the daemon's default accelerator: wait (exit status,
conditions, timeout, a client that leaves), pause and resume (the console
stops and goes on; a pause behind rumprund's back with virsh; a paused
guest across kill -9 of rumprund), restart (a new generation, one event
sequence; a restart in flight across kill -9), kill.
"""
import json
import os
import socket
import threading
import time

import pytest

import rrlib
from rrlib import CALLING, read_events, returned, wait_for
from test_rrctl import complete, ok, rrctl, rrctl_bin  # noqa: F401

FINAL = ("exited", "stopped", "crashed", "failed")

# The test guest ignores the ACPI power-off, as rumprun does, so a graceful
# stop or restart (c.stop(name), POST .../restart) always waits out the
# daemon's stop_timeout before the destroy.  conftest's 10 s made this
# file's plain stops wait 10 s each (~90 s of the run); no test here asserts
# how long a plain stop takes (the ones that time a stop give ?timeout=),
# so the daemons here get 1 s: the same path, shutdown sent, then the
# destroy at the deadline.
STOP_S = 1


@pytest.fixture
def daemon(daemon):
    """conftest's daemon factory, with stop_timeout = STOP_S."""
    def make(**kw):
        kw.setdefault("stop_timeout", STOP_S)
        return daemon(**kw)
    return make


def ticks(text):
    return [int(l.split()[1]) for l in text.split("\n")
            if l.startswith("tick ") and len(l.split()) == 2 and
            l.split()[1].isdigit()]


def post(c, name, op, query="", expect=(200,), **kw):
    return c.call("POST", "/v1/unikernels/%s/%s%s" % (name, op, query),
                  expect=expect, **kw)


def domstate(dom):
    return rrlib.virsh("domstate", "--reason", dom).strip()


def log_size(v):
    return os.path.getsize(v["log"]["path"])


def wait_ticking(c, name, more=2):
    """Wait until the guest printed `more` ticks after the last one now."""
    n = (ticks(c.logs(name)) or [0])[-1]
    c.wait_log(name, "tick %d\n" % (n + more), timeout=30)


def test_wait_returns_the_exit_status(daemon):
    d = daemon()
    c = d.client
    c.launch(d.spec("w3", ["sleep", "2", "exit", "3"]))
    t0 = time.monotonic()
    r = post(c, "w3", "wait", timeout=60)
    took = time.monotonic() - t0
    assert r == {"name": "w3", "condition": "ended", "generation": 1,
                 "state": "exited", "met": True, "timed_out": False,
                 "exit_status": 3, "reason": None}, r
    # It waited for the guest's sleep, then answered with its end.
    assert took >= 1.5, took
    assert c.instance("w3")["state"] == "exited"
    # Ended already: at once, the same answer.
    t0 = time.monotonic()
    assert post(c, "w3", "wait") == r
    assert time.monotonic() - t0 < 2
    # A stopped guest: no exit status, met all the same.
    c.launch(d.spec("ws", ["forever"]))
    c.wait_state("ws", "running")
    got = {}
    th = threading.Thread(target=lambda: got.update(
        post(c, "ws", "wait", timeout=60)))
    th.start()
    wait_for("the wait to be in", lambda: c.get("/v1/info")["waits"] == 1, 5)
    c.stop("ws")
    th.join(30)
    assert got["state"] == "stopped" and got["met"] and \
        got["exit_status"] is None, got


def test_wait_condition_and_timeout(daemon):
    d = daemon()
    c = d.client
    c.launch(d.spec("wc", ["forever"]))
    # running: met once main() is called.
    r = post(c, "wc", "wait", "?condition=running&timeout=60")
    assert (r["met"], r["state"], r["timed_out"]) == (True, "running",
                                                      False), r
    # A timeout that passes: 200, timed_out, not met, after about that long.
    t0 = time.monotonic()
    r = post(c, "wc", "wait", "?timeout=1")
    took = time.monotonic() - t0
    assert (r["met"], r["timed_out"], r["state"]) == (False, True,
                                                      "running"), r
    assert 0.9 <= took < 5, took
    r = post(c, "wc", "wait", "?timeout=0&condition=running")
    assert (r["met"], r["timed_out"]) == (True, False), r
    r = post(c, "wc", "wait", "?timeout=0")
    assert (r["met"], r["timed_out"]) == (False, True), r
    # A state the generation ends without reaching: not met, at its end.
    got = {}
    th = threading.Thread(target=lambda: got.update(
        post(c, "wc", "wait", "?condition=exited", timeout=60)))
    th.start()
    wait_for("the wait to be in", lambda: c.get("/v1/info")["waits"] == 1, 5)
    post(c, "wc", "kill")
    th.join(30)
    assert (got["met"], got["state"], got["timed_out"]) == (False, "stopped",
                                                            False), got
    # Bad input names the parameter.
    e = post(c, "wc", "wait", "?condition=sleeping", expect=400)
    assert e["field"] == "condition", e
    e = post(c, "wc", "wait", "?timeout=86401", expect=400)
    assert e["field"] == "timeout", e
    e = post(c, "wc", "wait", "?signal=9", expect=400)
    assert e["field"] == "signal", e
    post(c, "nosuch", "wait", expect=404)


def test_wait_of_a_client_that_leaves_is_dropped(daemon):
    d = daemon()
    c = d.client
    c.launch(d.spec("wl", ["forever"]))
    c.wait_state("wl", "running")
    socks = []
    for _ in range(5):
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        s.connect(str(d.sock))
        s.sendall(b"POST /v1/unikernels/wl/wait HTTP/1.1\r\nHost: x\r\n"
                  b"Content-Length: 0\r\n\r\n")
        socks.append(s)
    wait_for("5 waits", lambda: c.get("/v1/info")["waits"] == 5, 5)
    for s in socks:
        s.close()
    # Freed within a tick or two of the client leaving.
    wait_for("the waits to go", lambda: c.get("/v1/info")["waits"] == 0, 3)
    # The instance is as it was and answers a new wait.
    r = post(c, "wl", "wait", "?timeout=0&condition=running")
    assert r["met"], r
    c.stop("wl")


def test_pause_stops_the_console_and_resume_continues(daemon):
    d = daemon()
    c = d.client
    events = c.stream("/v1/events")
    v = c.launch(d.spec("pr", ["tick", "100"]))
    c.wait_state("pr", "running")
    wait_ticking(c, "pr", 3)
    v = post(c, "pr", "pause")
    assert v["state"] == "paused", v
    assert domstate(v["domain"]) == "paused (user)"
    # Bytes on their way when it paused come in first; then nothing.
    time.sleep(0.5)
    size = log_size(v)
    time.sleep(2)
    assert log_size(v) == size, "the console went on while paused"
    assert c.instance("pr")["state"] == "paused"
    # Pausing again is no change.
    assert post(c, "pr", "pause")["state"] == "paused"
    v = post(c, "pr", "resume")
    assert v["state"] == "running", v
    assert domstate(v["domain"]) == "running (unpaused)"
    wait_ticking(c, "pr", 3)
    t = ticks(c.logs("pr"))
    assert t == list(range(1, len(t) + 1)), t
    assert post(c, "pr", "resume")["state"] == "running"
    evs = read_events(events, lambda evs: sum(
        e["type"] == "state" and e["previous"] == "paused"
        for e in evs) == 1, 10)
    states = [(e["state"], e.get("previous")) for e in evs
              if e["name"] == "pr" and e["type"] == "state"]
    assert states[-2:] == [("paused", "running"), ("running", "paused")], \
        states
    # Not the same generation's boot again: generation 1 all along.
    assert c.instance("pr")["generation"] == 1
    c.stop("pr")


def test_pause_of_a_paused_guest_then_stop_destroys_it(daemon):
    d = daemon()
    c = d.client
    c.launch(d.spec("ps", ["tick", "100"]))
    c.wait_state("ps", "running")
    post(c, "ps", "pause")
    # A paused guest hears no shutdown: a stop with a timeout is prompt.
    t0 = time.monotonic()
    v = c.stop("ps", timeout=30)
    assert v["state"] == "stopped", v
    assert time.monotonic() - t0 < 10
    e = post(c, "ps", "pause", expect=409)
    assert e["field"] == "name" and "ended" in e["message"], e
    post(c, "ps", "resume", expect=409)
    post(c, "nosuch", "pause", expect=404)


def test_pause_behind_rumprunds_back(daemon):
    d = daemon()
    c = d.client
    v = c.launch(d.spec("bb", ["tick", "100"]))
    c.wait_state("bb", "running")
    rrlib.virsh("suspend", v["domain"])
    c.wait_state("bb", "paused", timeout=10)
    rrlib.virsh("resume", v["domain"])
    c.wait_state("bb", "running", timeout=10)
    wait_ticking(c, "bb", 2)
    c.stop("bb")


def test_paused_survives_kill9(daemon):
    d = daemon()
    c = d.client
    v = c.launch(d.spec("pk", ["tick", "100"]))
    w = c.launch(d.spec("pb", ["tick", "100"]))
    c.wait_state("pk", "running")
    c.wait_state("pb", "running")
    post(c, "pk", "pause")
    d.kill9()
    # pb is paused while nobody listens.
    rrlib.virsh("suspend", w["domain"])
    d.start()
    assert c.instance("pk")["state"] == "paused"
    assert domstate(v["domain"]) == "paused (user)"
    c.wait_state("pb", "paused", timeout=10)
    size = log_size(v)
    time.sleep(1)
    assert log_size(v) == size
    assert post(c, "pk", "resume")["state"] == "running"
    # rrctl start resumes a paused guest too.
    assert c.start("pb")["state"] == "running"
    wait_ticking(c, "pk", 2)
    wait_ticking(c, "pb", 2)
    for n in ("pk", "pb"):
        t = ticks(c.logs(n))
        assert t == list(range(1, len(t) + 1)), (n, t)
        assert c.instance(n)["generation"] == 1
        c.stop(n)


def test_restart_is_one_operation(daemon):
    d = daemon()
    c = d.client
    v = c.launch(d.spec("rs", ["tick", "100"]))
    c.wait_state("rs", "running")
    wait_ticking(c, "rs", 2)
    events = c.stream("/v1/events")
    v2 = post(c, "rs", "restart")
    assert v2["generation"] == 2, v2
    assert v2["state"] in ("starting", "running"), v2
    assert v2["domain"] != v["domain"]
    assert v["domain"] not in d.domains()
    c.wait_state("rs", "running")
    evs = read_events(events, lambda evs: any(
        e["type"] == "state" and e["state"] == "running" for e in evs), 30)
    got = [(e["type"], e["state"], e.get("generation")) for e in evs
           if e["name"] == "rs"]
    assert got[0] == ("restarting", "running", 1), got
    seq = [(t, s) for t, s, _ in got[1:]]
    if ("state", "starting") not in seq:
        seq.insert(3, ("state", "starting"))
    assert seq == [("state", "stopping"), ("state", "stopped"),
                   ("state", "pending"), ("state", "starting"),
                   ("state", "running")], got
    assert [g for _, _, g in got[1:]] == [1, 1, 2, 2, 2][:len(got) - 1]
    # The console: the first generation's ticks, then the new one's.
    wait_for("the new generation to tick", lambda: "tick 2\n" in
             c.logs("rs").split(CALLING)[-1], 30)
    log = c.logs("rs")
    assert log.count(CALLING) == 2, log
    assert ticks(log.split(CALLING)[2])[:2] == [1, 2]
    # An ended instance: restart is start.
    c.stop("rs")
    v3 = post(c, "rs", "restart")
    assert v3["generation"] == 3, v3
    c.stop("rs")


def test_restart_in_flight_survives_kill9(daemon):
    d = daemon()
    c = d.client
    v = c.launch(d.spec("rk", ["tick", "100"]))
    c.wait_state("rk", "running")
    # A graceful stop that the guest ignores: stopping for 4 s.
    errs = []

    def restart():
        try:
            c.request("POST", "/v1/unikernels/rk/restart?timeout=4",
                      timeout=30, validate=False)
        except Exception as e:     # the daemon dies under the request
            errs.append(e)
    events = c.stream("/v1/events?since=0")
    th = threading.Thread(target=restart)
    th.start()
    # The event, not GET's state: an event goes out only once the record
    # that says the same (restart_pending) is on disk.
    read_events(events, lambda got: any(
        e["type"] == "restarting" and e["name"] == "rk" for e in got), 10,
        "the restarting event")
    events.close()
    d.kill9()
    th.join(10)
    d.start()
    v2 = c.wait_state("rk", "running", timeout=60)
    assert v2["generation"] == 2, v2
    assert v["domain"] not in d.domains()
    assert d.domains() == [v2["domain"]]
    rec = json.loads((d.state / "instances" / "rk.json").read_text())
    assert rec["restart_pending"] is False and rec["generation"] == 2, rec
    c.stop("rk")


def test_kill_ends_it_at_once(daemon):
    d = daemon()
    c = d.client
    v = c.launch(d.spec("kl", ["tick", "100"]))
    c.wait_state("kl", "running")
    t0 = time.monotonic()
    v = post(c, "kl", "kill")
    took = time.monotonic() - t0
    assert v["state"] == "stopped", v
    assert v["reason"] == "killed through the API", v
    assert took < 5, took
    assert not d.domains()
    e = post(c, "kl", "kill", expect=409)
    assert e["field"] == "name" and "nothing to kill" in e["message"], e
    post(c, "nosuch", "kill", expect=404)
    # A paused guest is killed too.
    c.start("kl")
    c.wait_state("kl", "running")
    post(c, "kl", "pause")
    assert post(c, "kl", "kill")["state"] == "stopped"


def test_rrctl_lifeops(daemon, rrctl_bin):
    d = daemon()
    c = d.client
    c.launch(d.spec("ra", ["sleep", "2", "exit", "3"]))
    c.launch(d.spec("rb", ["sleep", "1", "exit", "5"]))
    p = rrctl(d, "wait", "ra", "rb")
    assert p.returncode == 3, (p.returncode, p.stdout, p.stderr)
    assert p.stdout == "3\n5\n", p.stdout
    c.launch(d.spec("rt", ["tick", "100"]))
    c.wait_state("rt", "running")
    assert ok(rrctl(d, "pause", "rt")) == "rt\n"
    assert c.instance("rt")["state"] == "paused"
    assert ok(rrctl(d, "unpause", "rt")) == "rt\n"
    assert c.instance("rt")["state"] == "running"
    assert ok(rrctl(d, "pause", "rt")) == "rt\n"
    assert ok(rrctl(d, "resume", "rt")) == "rt\n"
    assert c.instance("rt")["state"] == "running"
    assert ok(rrctl(d, "restart", "-t", "0", "rt")) == "rt\n"
    assert c.instance("rt")["generation"] == 2
    p = rrctl(d, "wait", "-t", "1", "rt")
    assert p.returncode == 124 and p.stdout == "", (p.returncode, p.stdout,
                                                    p.stderr)
    assert "rt: timed out" in p.stderr, p.stderr
    assert ok(rrctl(d, "wait", "--condition", "running", "rt")) == \
        "running\n"
    p = rrctl(d, "kill", "-s", "TERM", "rt")
    assert p.returncode == 2 and "only KILL" in p.stderr, p.stderr
    assert ok(rrctl(d, "kill", "-s", "KILL", "rt")) == "rt\n"
    assert c.instance("rt")["state"] == "stopped"
    # A killed guest: 137, as docker wait says of one.
    p = rrctl(d, "wait", "rt")
    assert p.returncode == 137 and p.stdout == "137\n", (p.returncode,
                                                          p.stdout)
    p = rrctl(d, "wait", "nosuch")
    assert p.returncode == 1 and "no instance named nosuch" in p.stderr
    # Completion: the commands, their options, names and values.
    host = "unix://%s" % d.sock
    assert complete(d, "rrctl wa") == ["wait"]
    assert complete(d, "rrctl re") == ["restart", "resume"]
    assert complete(d, "rrctl un") == ["unpause"]
    assert complete(d, "rrctl --host %s pause r" % host) == \
        ["ra", "rb", "rt"]
    assert complete(d, "rrctl kill --s") == ["--signal"]
    assert complete(d, "rrctl kill -s ") == ["KILL"]
    assert complete(d, "rrctl wait --condition ru") == ["running"]
    assert complete(d, "rrctl restart -") == ["--help", "--time", "-t"]
