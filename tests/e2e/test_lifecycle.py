"""
Lifecycle through the API, under TCG and (where it boots) KVM: launch, what
the guest received, exit statuses, panic, stop (graceful then destroy,
forced), start again, remove, idempotent create, logs (tail, since, follow,
many followers, the size cap), events (order, seq, replay), list filters,
info, paused launch.
"""
import json
import os
import re
import threading
import time

import pytest

import rrlib
from rrlib import CALLING, ending, read_events, returned

ARGV = ["config", "env", "argv", "hostname", "blk", "net", "exit", "0",
        "a b", 'say "hi"', "back\\slash", "", "  two  spaces ", "x'y"[:1]]

END_STATES = ("exited", "stopped", "crashed", "failed")


def pairs(text):
    """The guest config as a list of (key, value): keys repeat."""
    return json.loads(text, object_pairs_hook=lambda kv: kv)


def lines_of(log):
    return log.split("\n")


def events_of(events, name):
    return [e for e in events if e["name"] == name]


def until_state(name, states):
    if isinstance(states, str):
        states = (states,)

    def pred(events):
        return any(e["name"] == name and e["state"] in states and
                   e["type"] == "state" for e in events)
    return pred


def replay(c, until, since=0):
    """The events after since (follow=false), once the state event of each
    (name, state) in until is among them: the view shows a state at once,
    the event is published once the record that says so is on disk
    (ARCHITECTURE.md), so a replay right after wait_state() may end
    before it."""
    def once():
        s = c.stream("/v1/events?since=%d&follow=false" % since)
        s.wait_end(5)
        evs = s.rest_lines()
        s.close()
        done = all(until_state(n, st)(evs) for n, st in until)
        return (evs,) if done else None
    return rrlib.wait_for("the events of %s" % (until,), once, 10)[0]


def check_path(events, final, extra=None):
    """One generation's events: created (pending), then in order starting
    (may be skipped when the console shows main() called before the launch
    call returns), running, final."""
    got = [(e["type"], e["state"]) for e in events]
    assert got[0] == ("created", "pending"), events
    states = [s for _, s in got[1:]]
    if states and states[0] == "paused":
        states = states[1:]
    if states and states[0] == "starting":
        states = states[1:]
    assert states == ["running", final], \
        "states %s, expected pending, starting, running, %s" % (
            [s for _, s in got], final)
    assert all(t == "state" for t, _ in got[1:]), events
    for prev, e in zip(events, events[1:]):
        assert e.get("previous") == prev["state"], events


def check_consecutive(events):
    seqs = [e["seq"] for e in events]
    assert seqs == list(range(seqs[0], seqs[0] + len(seqs))), \
        "event seqs do not increase by one: %s" % seqs


def test_launch_what_the_guest_gets(daemon, accel):
    d = daemon(accel=accel)
    c = d.client
    events = c.stream("/v1/events")
    vol = d.volume("data.img")
    spec = d.spec("life", ARGV, env={"FOO": "bar baz", "EMPTY": "",
                                     "PATHLIKE": "/a/b:/c"},
                  hostname="lifehost", labels={"app": "life", "tier": "x"},
                  memory_mib=32,
                  blk=[{"source": vol, "mountpoint": "/data"}],
                  nics=[{"backend": {"type": "tap"},
                         "inet": {"method": "static", "addr": "10.99.0.2/24",
                                  "gw": "10.99.0.1"}}])
    v = c.launch(spec)
    assert v["name"] == "life"
    assert v["state"] in ("starting", "running", "exited"), v
    assert v["generation"] == 1
    assert d.is_domain_of(v["domain"], "life", 1), v["domain"]
    assert v["labels"] == {"app": "life", "tier": "x"}
    assert v["memory_mib"] == 32
    assert v["spec"]["argv"] == ["rrguest"] + ARGV
    assert v["spec"]["env"] == ["FOO=bar baz", "EMPTY=", "PATHLIKE=/a/b:/c"]
    assert len(v["nics"]) == 1
    nic = v["nics"][0]
    assert nic["index"] == 0 and nic["guest_ifname"] == "vioif0"
    assert re.match(r"^[0-9a-f]{2}(:[0-9a-f]{2}){5}$", nic["mac"]), nic
    assert int(nic["mac"][:2], 16) & 1 == 0, "multicast MAC %s" % nic["mac"]
    assert nic["backend"]["type"] == "tap"

    evs = read_events(events, until_state("life", END_STATES), 30,
                      "life to end")
    mine = events_of(evs, "life")
    check_consecutive(evs)
    check_path(mine, "exited")
    assert mine[-1]["exit_status"] == 0
    assert all(e.get("generation") == 1 for e in mine), mine

    v = c.instance("life")
    assert v["state"] == "exited", v
    assert v["exit_status"] == 0 and v["reason"] is None, v
    assert v["started"] and v["finished"], v
    assert v["created"] <= v["started"] <= v["finished"], v

    log = c.logs("life")
    lines = lines_of(log)
    # The exact configuration text, as the guest printed it.
    assert "config=" + v["guest_config"] in lines, (v["guest_config"], log)
    cfg = pairs(v["guest_config"])
    assert [k for k, _ in cfg].count("env") == 3
    for e in ("env=FOO=bar baz", "env=EMPTY=", "env=PATHLIKE=/a/b:/c"):
        assert e in lines, (e, log)
    argv = ["rrguest"] + ARGV
    got = [l for l in lines if l.startswith("argv[")]
    assert got == ["argv[%d]=<%s>" % (i, a) for i, a in enumerate(argv)], \
        (got, v["guest_config"])
    assert "hostname=lifehost" in lines
    assert "blk[0]={source=dev,path=/dev/ld0a,fstype=blk,mountpoint=/data}" \
        in lines, log
    assert "net[0]={if=vioif0,type=inet,method=static,addr=10.99.0.2," \
        "mask=24,gw=10.99.0.1}" in lines, log
    assert lines.count(CALLING) == 1 and returned(0) in lines
    # rumprun's end: the data disk is unmounted before /tmp and /.
    assert log.endswith(ending(0, ["unmounted /dev/ld0a on /data type blk"])),\
        log
    # The log is the file, from its first byte.
    with open(v["log"]["path"], "rb") as f:
        assert f.read().decode() == log
    assert v["log"]["start"] == 0 and v["log"]["size"] == len(log.encode())
    assert not d.domains(), "the domain of an exited guest is still there"


def test_exit_status_and_panic(daemon, accel):
    d = daemon(accel=accel)
    c = d.client
    events = c.stream("/v1/events")
    c.launch(d.spec("three", ["echo", "bye", "exit", "3"]))
    c.launch(d.spec("twofivefive", ["exit", "511"]))
    c.launch(d.spec("boom", ["echo", "before", "panic", "it broke"]))
    c.launch(d.spec("bad", ["nosuchcommand"]))

    def all_ended(evs):
        return all(until_state(n, END_STATES)(evs)
                   for n in ("three", "twofivefive", "boom", "bad"))
    evs = read_events(events, all_ended, 30, "four guests to end")
    check_consecutive(evs)

    v = c.instance("three")
    assert (v["state"], v["exit_status"], v["reason"]) == \
        ("exited", 3, None), v
    assert events_of(evs, "three")[-1]["exit_status"] == 3
    v = c.instance("twofivefive")
    assert (v["state"], v["exit_status"]) == ("exited", 511 & 255), v
    v = c.instance("bad")
    assert (v["state"], v["exit_status"]) == ("exited", 127), v

    v = c.instance("boom")
    assert v["state"] == "crashed", v
    assert v["reason"] == "PANIC: it broke", v
    assert v["exit_status"] is None, v
    last = events_of(evs, "boom")[-1]
    assert last["state"] == "crashed" and last["reason"] == "PANIC: it broke"
    assert "exit_status" not in last, last
    check_path(events_of(evs, "boom"), "crashed")
    log = c.logs("boom")
    assert "PANIC: it broke" in lines_of(log) and "before" in lines_of(log)
    assert not d.domains()


def test_stop_graceful_forced_and_start_again(daemon, accel):
    d = daemon(accel=accel)
    c = d.client
    c.launch(d.spec("fv", ["echo", "up", "forever"]))
    c.wait_state("fv", "running")
    v = c.instance("fv")
    xml = rrlib.virsh("dumpxml", v["domain"])
    want = "kvm" if accel == "kvm" else "qemu"
    assert re.search(r"<domain type=.%s." % want, xml), xml[:300]

    # Starting a running instance answers it as is.
    v2 = c.start("fv")
    assert v2["generation"] == 1 and v2["state"] == "running"

    # The guest ignores the ACPI power-off: destroyed after the timeout.
    t0 = time.monotonic()
    v = c.stop("fv", timeout=1)
    dt = time.monotonic() - t0
    assert v["state"] == "stopped", v
    assert v["exit_status"] is None
    assert 0.9 <= dt <= 4.0, "stop with timeout=1 took %.2f s" % dt
    assert not d.domains()
    # Stopping an ended instance answers it as is.
    assert c.stop("fv")["state"] == "stopped"

    # Start again: a new generation, a new domain, the same log.
    first = c.instance("fv")["domain"]
    v = c.start("fv")
    assert v["generation"] == 2, v
    assert d.is_domain_of(v["domain"], "fv", 2), v["domain"]
    assert v["domain"] != first
    assert v["state"] in ("starting", "running"), v
    assert v["finished"] is None
    c.wait_state("fv", "running")
    log = rrlib.wait_for("the second run's output", lambda: (
        lambda l: l if lines_of(l).count("up") == 2 else None)(
            c.logs("fv")), 10)
    assert lines_of(log).count(CALLING) == 2, log
    # Both runs, in order, in the one log.
    assert log.index(CALLING) < log.index("\nup\n") < \
        log.rindex(CALLING) < log.rindex("\nup\n"), log

    # Forced: at once, not after stop_timeout (10 s).
    t0 = time.monotonic()
    v = c.stop("fv", force=True)
    dt = time.monotonic() - t0
    assert v["state"] == "stopped" and v["generation"] == 2, v
    assert dt < 3.0, "forced stop took %.2f s" % dt
    log = c.logs("fv")
    assert lines_of(log).count(CALLING) == 2
    assert not d.domains()


def test_stop_shows_stopping_and_default_is_prompt(daemon, accel):
    # The daemon's default stop_timeout (0): a rumprun guest ignores ACPI
    # power-off, so a plain stop destroys at once instead of waiting.
    d = daemon(accel=accel, stop_timeout=None)
    c = d.client
    events = c.stream("/v1/events")
    c.launch(d.spec("sp", ["echo", "up", "forever"]))
    c.wait_state("sp", "running")
    t0 = time.monotonic()
    v = c.stop("sp")
    dt = time.monotonic() - t0
    assert v["state"] == "stopped" and v["exit_status"] is None, v
    assert dt < 3.0, "a default stop took %.2f s" % dt
    assert not d.domains()
    evs = read_events(events, until_state("sp", END_STATES), 10,
                      "sp to end")
    got = [(e["state"], e.get("previous")) for e in events_of(evs, "sp")
           if e["type"] == "state"]
    assert got[-2:] == [("stopping", "running"), ("stopped", "stopping")], \
        got

    # Graceful (timeout=2): the view says stopping until the destroy.
    c.start("sp")
    c.wait_state("sp", "running")
    res = {}
    th = threading.Thread(
        target=lambda: res.update(v=c.stop("sp", timeout=2)))
    t0 = time.monotonic()
    th.start()
    try:
        v = rrlib.wait_for("sp to leave running", lambda: (
            lambda x: x if x["state"] != "running" else None)(
                c.instance("sp")), 5)
        assert v["state"] == "stopping" and v["finished"] is None, v
        time.sleep(1.0)
        assert c.instance("sp")["state"] == "stopping"
    finally:
        th.join(15)
    dt = time.monotonic() - t0
    assert res["v"]["state"] == "stopped", res
    assert 1.9 <= dt <= 5.0, "stop with timeout=2 took %.2f s" % dt
    assert not d.domains()


def test_remove(daemon, accel):
    d = daemon(accel=accel)
    c = d.client
    c.launch(d.spec("rmme", ["forever"]))
    c.launch(d.spec("done", ["exit", "0"]))
    v = c.wait_state("rmme", ("starting", "running"))
    logpath = v["log"]["path"]
    assert os.path.exists(logpath)

    # 201 says where the new instance is; 200 (the same again) does not.
    r = c.request("POST", "/v1/unikernels", d.spec("loc", ["exit", "0"]))
    assert r.status == 201 and r.header("Location") == "/v1/unikernels/loc"
    r = c.request("POST", "/v1/unikernels", d.spec("loc", ["exit", "0"]))
    assert r.status == 200 and r.header("Location") is None, r
    c.remove("loc", force=True)

    r = c.request("DELETE", "/v1/unikernels/rmme")
    assert r.status == 409 and r.json["error"] == "conflict", r
    # It says how to proceed, naming the field.
    assert r.json["field"] == "name", r
    assert r.json["message"] == "name: rmme has not ended: stop it first " \
        "(rrctl stop rmme), or remove it with force=true (rrctl rm -f " \
        "rmme)", r
    assert c.instance("rmme")["state"] in ("starting", "running")

    v = c.remove("rmme", force=True)
    assert v["name"] == "rmme"
    r = c.request("GET", "/v1/unikernels/rmme")
    assert r.status == 404 and r.json["error"] == "not_found", r
    assert c.request("GET", "/v1/unikernels/rmme/logs").status == 404
    assert not os.path.exists(logpath)
    assert "rmme" not in d.records()
    assert not [n for n in d.domains() if "-rmme-" in n]

    v = c.wait_state("done", "exited")
    c.remove("done")
    assert c.request("GET", "/v1/unikernels/done").status == 404
    assert not os.path.exists(v["log"]["path"])
    assert d.records() == []
    r = c.request("DELETE", "/v1/unikernels/nosuch")
    assert r.status == 404, r
    # The name is free again.
    c.launch(d.spec("done", ["exit", "1"]))
    assert c.wait_state("done", "exited")["exit_status"] == 1


def test_idempotent_create(daemon, accel):
    d = daemon(accel=accel)
    c = d.client
    spec = d.spec("same", ["exit", "0"], env={"A": "1", "B": "2"},
                  labels={"k": "v"})
    v1 = c.launch(spec, expect=201)
    v2 = c.launch(spec, expect=200)
    assert v2["created"] == v1["created"] and v2["domain"] == v1["domain"]
    assert v2["generation"] == 1
    # The same launch in another form (env as an array) is the same.
    spec_arr = dict(spec, env=["A=1", "B=2"])
    v3 = c.launch(spec_arr, expect=200)
    assert v3["created"] == v1["created"]
    c.wait_state("same", "exited")
    assert c.launch(spec, expect=200)["state"] == "exited"
    # A different request under the name: 409, and nothing changes.
    r = c.request("POST", "/v1/unikernels",
                  dict(spec, argv=["rrguest", "exit", "1"]))
    assert r.status == 409 and r.json["error"] == "conflict", r
    assert r.json["field"] == "name", r
    assert r.json["message"] == "name: an instance named same exists with " \
        "a different request: remove it first (rrctl rm same) or choose " \
        "another name (rrctl run -N)", r
    r = c.request("POST", "/v1/unikernels", dict(spec, memory_mib=128))
    assert r.status == 409, r
    v = c.instance("same")
    assert v["spec"]["argv"] == ["rrguest", "exit", "0"]
    assert len(c.list()) == 1

    # The same request from several clients at once: one creates it.
    race = d.spec("race", ["exit", "0"])
    statuses = []
    threads = [threading.Thread(target=lambda: statuses.append(
        c.request("POST", "/v1/unikernels", race).status)) for _ in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    assert sorted(statuses) == [200] * 5 + [201], statuses
    c.wait_state("race", "exited")


def test_logs_tail_and_since(daemon, accel):
    d = daemon(accel=accel)
    c = d.client
    c.launch(d.spec("chatty", ["spam", "20", "exit", "0"]))
    v = c.wait_state("chatty", "exited")
    full = c.logs("chatty")
    assert len(full.encode()) == v["log"]["size"]
    lines = full.splitlines(keepends=True)
    assert lines[-1] == "halted\n"
    for n in (1, 5, 22):
        assert c.logs("chatty", "?tail=%d" % n) == "".join(lines[-n:])
    assert c.logs("chatty", "?tail=0") == ""
    assert c.logs("chatty", "?tail=100000") == full
    raw = full.encode()
    for off in (0, 1, 100, len(raw) - 7, len(raw)):
        assert c.logs("chatty", "?since=%d" % off).encode() == raw[off:]
    assert c.logs("chatty", "?since=%d" % (len(raw) + 1000)) == ""
    # follow on an ended guest: everything, then the end.
    s = c.stream("/v1/unikernels/chatty/logs?follow=true&tail=3")
    assert s.wait_end(5).decode() == "".join(lines[-3:])
    s.close()
    for q in ("?tail=3&since=0", "?tail=-1", "?tail=abc", "?since=x",
              "?follow=maybe", "?tail=100001"):
        r = c.request("GET", "/v1/unikernels/chatty/logs" + q)
        assert r.status == 400 and r.json["error"] == "bad_request", (q, r)
    r = c.request("GET", "/v1/unikernels/nosuch/logs")
    assert r.status == 404, r


def ticks(text):
    return [int(m) for m in re.findall(r"^tick (\d+)$", text, re.M)]


def test_logs_follow_many_readers(daemon, accel):
    d = daemon(accel=accel)
    c = d.client
    c.launch(d.spec("ticker", ["tick", "100"]))
    followers = [c.stream("/v1/unikernels/ticker/logs?follow=true")
                 for _ in range(10)]
    t0 = time.monotonic()
    # Ticks come as the guest prints them, to every reader.
    for f in followers:
        f.read_until(lambda b: b"tick 3\n" in b, 15, "tick 3")
    first = followers[0]
    got = ticks(first.body.decode())
    assert got[:3] == [1, 2, 3]
    assert got[-1] <= 8, "ticks arrive in bursts, not as printed: %s" % got
    n_before = got[-1]
    first.read_until(lambda b: ("tick %d\n" % (n_before + 3)).encode() in b,
                     5, "three more ticks")
    dt = time.monotonic() - t0
    # A reader that leaves does not disturb the others (MHD says so).
    d.allow_warnings(r"httpd: Failed to send the chunked response body")
    followers[1].close()
    late = c.stream("/v1/unikernels/ticker/logs?follow=true&tail=1")
    late.read_until(lambda b: b.count(b"\n") >= 2, 5, "two lines")
    assert len(ticks(late.body.decode())) >= 1

    c.stop("ticker", force=True)
    readers = [f for i, f in enumerate(followers) if i != 1] + [late]
    for f in readers:
        f.wait_end(5)
        assert not f.truncated, "a follow stream ended without its last chunk"
    full = c.logs("ticker")
    for f in readers[:-1]:
        assert f.body.decode() == full, "a follower's bytes differ from the log"
    t = ticks(full)
    assert t == list(range(1, len(t) + 1)), t
    assert dt < 15
    # The late reader got the tail and everything after it.
    assert full.endswith(late.body.decode())


def test_console_log_cap(daemon, accel):
    # console_log_max is 65536 in the tests: about 160 kB of output.
    d = daemon(accel=accel)
    c = d.client
    c.launch(d.spec("flood", ["spam", "2000", "exit", "0"]))
    v = c.wait_state("flood", "exited", timeout=60)
    assert v["exit_status"] == 0
    size, start = v["log"]["size"], v["log"]["start"]
    assert size >= 2000 * 80, v["log"]
    assert start > 0, "the log was not capped: %s" % v["log"]
    assert size - start <= 65536 + 4096, v["log"]
    body = c.logs("flood").encode()
    assert len(body) == size - start
    assert body.endswith(b"\n" + ending(0).encode())
    # Offsets never move: since below start gives from start.
    assert c.logs("flood", "?since=0").encode() == body
    assert c.logs("flood", "?since=%d" % (size - 7)) == "halted\n"
    assert c.logs("flood", "?tail=10") == ending(0)
    spam = [int(m) for m in re.findall(rb"^spam (\d+) ", body, re.M)]
    assert spam and spam[-1] == 2000
    # Reads begin at a whole line, never mid-line nor with NUL bytes.
    assert body.startswith(b"spam %d " % spam[0]), body[:100]
    assert b"\0" not in body
    assert spam == list(range(spam[0], 2001)), "lines lost inside the kept part"
    # The file: NUL bytes up to a block boundary (the punched part), then
    # the rest of the line that was cut, then log.start.
    raw = open(v["log"]["path"], "rb").read()
    assert len(raw) == size and raw[start:] == body
    punched = len(raw[:start]) - len(raw[:start].lstrip(b"\0"))
    assert punched % 4096 == 0 and 0 < punched < start, (punched, start)
    cut = raw[punched:start]
    assert cut.endswith(b"\n") and cut.count(b"\n") == 1, cut
    # The same after a restart.
    d.restart()
    assert c.instance("flood")["log"]["start"] == start
    assert c.logs("flood").encode() == body


def test_events_replay(daemon, accel):
    d = daemon(accel=accel)
    c = d.client
    c.launch(d.spec("e1", ["exit", "0"]))
    c.launch(d.spec("e2", ["exit", "1"]))
    c.wait_state("e1", "exited")
    c.wait_state("e2", "exited")
    evs = replay(c, [("e1", "exited"), ("e2", "exited")])
    assert evs and evs[0]["seq"] == 1, evs
    check_consecutive(evs)
    n = evs[-1]["seq"]
    assert {e["name"] for e in evs} == {"e1", "e2"}
    check_path(events_of(evs, "e1"), "exited")
    check_path(events_of(evs, "e2"), "exited")
    s = c.stream("/v1/events?since=%d&follow=false" % (n - 2))
    s.wait_end(5)
    assert [e["seq"] for e in s.rest_lines()] == [n - 1, n]
    s.close()
    s = c.stream("/v1/events?since=%d&follow=false" % n)
    assert s.wait_end(5) == b""
    s.close()
    # since=N then follow: the replay, then what happens next.
    s = c.stream("/v1/events?since=%d" % (n - 1))
    first = s.next_line(5)
    assert first["seq"] == n
    c.remove("e1")
    e = s.next_line(5)
    assert (e["seq"], e["type"], e["name"]) == (n + 1, "removed", "e1"), e
    for q in ("?since=x", "?since=-1", "?follow=perhaps"):
        r = c.request("GET", "/v1/events" + q)
        assert r.status == 400, (q, r)


def test_events_survive_restart(daemon, accel):
    d = daemon(accel=accel)
    c = d.client
    c.launch(d.spec("r1", ["exit", "0"]))
    c.wait_state("r1", "exited")
    before = replay(c, [("r1", "exited")])
    d.restart()
    c.launch(d.spec("r2", ["exit", "0"]))
    c.wait_state("r2", "exited")
    after = replay(c, [("r2", "exited")])
    assert after[:len(before)] == before
    check_consecutive(after)
    assert after[len(before)]["name"] == "r2"


def test_events_heartbeat_and_lost(daemon):
    d = daemon()
    c = d.client
    c.launch(d.spec("hb", ["exit", "0"]))
    c.wait_state("hb", "exited")
    evs = replay(c, [("hb", "exited")])
    last = evs[-1]["seq"]
    # An idle followed stream: a heartbeat each second asked, with the
    # last seq.
    s = c.stream("/v1/events?heartbeat=1")
    t0 = time.monotonic()
    hb = s.next_line(5)
    assert hb["type"] == "heartbeat" and hb["seq"] == last, hb
    assert 0.8 < time.monotonic() - t0 < 3
    assert s.next_line(5)["type"] == "heartbeat"
    s.close()
    r = c.request("GET", "/v1/events?heartbeat=3601&follow=false")
    assert r.status == 400 and r.json["field"] == "heartbeat", r

    # since= older than what is kept: "lost" says which, then the kept.
    d.terminate()
    (d.state / "events.jsonl").write_text(json.dumps(
        {"seq": 5000, "time": "2026-12-01T10:00:00.000Z", "type": "state",
         "name": "old", "state": "exited", "exit_status": 0}) + "\n")
    d.start()
    s = c.stream("/v1/events?since=10&follow=false")
    s.wait_end(5)
    lines = s.rest_lines()
    assert lines[0]["type"] == "lost", lines
    assert (lines[0]["from"], lines[0]["to"]) == (11, 4999), lines
    assert lines[1]["seq"] == 5000 and lines[1]["name"] == "old", lines
    # Nothing lost: no notice.
    s = c.stream("/v1/events?since=4999&follow=false")
    s.wait_end(5)
    assert [e["seq"] for e in s.rest_lines()][:1] == [5000]


def test_list_filters_and_info(daemon, accel):
    d = daemon(accel=accel)
    c = d.client
    c.launch(d.spec("la", ["exit", "0"], labels={"app": "a", "tier": "web"}))
    c.launch(d.spec("lb", ["exit", "0"], labels={"app": "b"}))
    c.launch(d.spec("lc", ["exit", "2"], labels={"app": "a", "tier": "db"}))
    c.launch(d.spec("ld", ["forever"], labels={"x.y/z-1": "with space"}))
    for n in ("la", "lb", "lc"):
        c.wait_state(n, "exited")
    c.wait_state("ld", "running")

    def names(q):
        return sorted(i["name"] for i in c.list(q))
    assert names("") == ["la", "lb", "lc", "ld"]
    assert names("?label=app") == ["la", "lb", "lc"]
    assert names("?label=app=a") == ["la", "lc"]
    assert names("?label=tier") == ["la", "lc"]
    assert names("?label=tier=web") == ["la"]
    assert names("?label=x.y/z-1=with%20space") == ["ld"]
    assert names("?label=nope") == []
    assert names("?label=app=") == []
    assert names("?state=exited") == ["la", "lb", "lc"]
    assert names("?state=running") == ["ld"]
    assert names("?state=failed") == []
    assert names("?platform=kvm") == ["la", "lb", "lc", "ld"]
    assert names("?platform=xen") == []
    assert names("?state=exited&label=app=a") == ["la", "lc"]
    for q in ("?state=bogus", "?platform=vmware", "?label=", "?label==v",
              "?label=app&label="):
        r = c.request("GET", "/v1/unikernels" + q)
        assert r.status == 400 and r.json["error"] == "bad_request", (q, r)
    # Repeated labels: every one must hold (AND).
    assert names("?label=app=a&label=tier=db") == ["lc"]
    assert names("?label=app&label=tier") == ["la", "lc"]
    assert names("?label=app=a&label=app=b") == []
    assert names("?label=tier=web&state=exited&label=app") == ["la"]
    # Unknown query parameters are refused, naming them, on every path;
    # so is a parameter given twice that is not an array.
    for path, param, takes in (
            ("/v1/unikernels?lable=app", "lable", "state, platform, label"),
            ("/v1/unikernels?state=exited&State=x", "State",
             "state, platform, label"),
            ("/v1/unikernels/la?verbose=1", "verbose", "none"),
            ("/v1/unikernels/la/logs?tial=3", "tial",
             "tail, since, follow, timestamps, since_time"),
            ("/v1/events?sinse=1&follow=false", "sinse",
             "since, follow, heartbeat"),
            ("/v1/info?x", "x", "none"),
            ("/v1/health?x=1", "x", "none")):
        r = c.request("GET", path)
        assert r.status == 400 and r.json["field"] == param, (path, r)
        assert r.json["message"] == "%s: unknown query parameter; %s " \
            "takes %s" % (param, path.split("?")[0], takes), (path, r)
    for method, path in (("POST", "/v1/unikernels/lb/start?force=true"),
                         ("DELETE", "/v1/unikernels/lb?forse=true")):
        r = c.request(method, path)
        assert r.status == 400 and r.json["error"] == "bad_request", r
    assert c.instance("lb")["generation"] == 1
    r = c.request("GET", "/v1/unikernels?state=exited&state=running")
    assert r.status == 400 and r.json["field"] == "state", r
    assert r.json["message"] == "state: given 2 times; give it once", r

    info = c.get("/v1/info")
    assert info["instances"] == 4
    counts = {k: v for k, v in info["counts"].items() if v}
    assert counts == {"exited": 3, "running": 1}, info["counts"]
    assert info["accel"] == accel
    assert info["owner"] == d.owner
    assert info["backends"]["kvm"] == {"available": True, "connected": True}
    assert info["backends"]["xen"]["available"] is False
    assert info["backends"]["xen"]["reason"]
    assert info["limits"]["max_instances"] >= 4


def test_paused_launch(daemon, accel):
    d = daemon(accel=accel)
    c = d.client
    events = c.stream("/v1/events")
    v = c.launch(d.spec("pz", ["echo", "awake", "exit", "4"], paused=True))
    assert v["state"] == "paused", v
    assert v["domain"] in d.domains(running_only=False)
    time.sleep(0.5)
    assert c.instance("pz")["state"] == "paused"
    assert CALLING not in c.logs("pz")
    v = c.start("pz")
    assert v["generation"] == 1, v
    v = c.wait_state("pz", "exited")
    assert v["exit_status"] == 4
    assert "awake" in lines_of(c.logs("pz"))
    evs = read_events(events, until_state("pz", "exited"), 10)
    mine = events_of(evs, "pz")
    assert mine[1]["state"] == "paused", mine
    check_path(mine, "exited")


def test_auto_remove(daemon, accel):
    d = daemon(accel=accel)
    c = d.client
    events = c.stream("/v1/events")
    v = c.launch(d.spec("gone", ["echo", "bye", "exit", "0"],
                        auto_remove=True))
    assert v["spec"]["auto_remove"] is True
    evs = read_events(events, lambda evs: any(e["type"] == "removed"
                                              for e in evs), 15,
                      "the removed event")
    check_consecutive(evs)
    check_path([e for e in evs if e["type"] != "removed"], "exited")
    assert evs[-1]["type"] == "removed" and evs[-1]["state"] == "exited"
    assert c.request("GET", "/v1/unikernels/gone").status == 404
    assert d.records() == [] and d.console_logs() == []
    assert not d.domains()


def test_remove_while_followed(daemon, accel):
    # Readers of a log whose instance goes away see their stream end.
    d = daemon(accel=accel)
    c = d.client
    c.launch(d.spec("fol", ["tick", "50"]))
    readers = [c.stream("/v1/unikernels/fol/logs?follow=true")
               for _ in range(3)]
    for r in readers:
        r.read_until(lambda b: b"tick 2\n" in b, 10, "tick 2")
    c.remove("fol", force=True)
    for r in readers:
        r.wait_end(5)
        assert not r.truncated
        t = ticks(r.body.decode())
        assert t == list(range(1, len(t) + 1))
    assert c.request("GET", "/v1/unikernels/fol/logs").status == 404
    assert d.console_logs() == []


def test_reset_is_a_crash(daemon, accel):
    # A triple fault resets the machine; on_reboot=destroy ends the domain.
    # main() did not return, so this is no exit: the contract's "crashed"
    # (the domain died under it), with a reason.
    d = daemon(accel=accel)
    c = d.client
    c.launch(d.spec("rs", ["echo", "x", "reset"]))
    v = c.wait_state("rs", END_STATES)
    assert v["exit_status"] is None, v
    assert v["reason"], v
    assert v["state"] == "crashed", \
        "a guest that reset ended %s (%s), not crashed" % (v["state"],
                                                           v["reason"])


def test_accel_per_request(daemon, kvm_reason):
    # A request may choose its accelerator over the daemon's default.
    if kvm_reason is not None:
        pytest.skip(kvm_reason)
    d = daemon(accel="tcg")
    c = d.client
    for name, accel, want in (("dflt", None, "qemu"), ("onkvm", "kvm", "kvm"),
                              ("ontcg", "tcg", "qemu")):
        extra = {"accel": accel} if accel else {}
        v = c.launch(d.spec(name, ["forever"], **extra))
        xml = rrlib.virsh("dumpxml", v["domain"])
        assert re.search(r"<domain type=.%s." % want, xml), (name, xml[:200])
        c.wait_state(name, "running")
        c.stop(name, force=True)
