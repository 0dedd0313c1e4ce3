"""
Restart policies (openapi.yaml RestartPolicy) on KVM with real libvirtd
and QEMU (TCG), booting the test guest.

- on-failure: a guest that exits 1 is restarted with growing delays (1, 2,
  2 s: backoff_initial_s 1, backoff_max_s 2) up to max_retries, each time
  as a new generation (a new domain name) whose console follows a
  separator line in the same log, with a "restart" event; then it stays
  exited, its reason saying the policy gave up; ps shows "backoff (retry N
  in Ss)" meanwhile.
- always: a guest whose domain is destroyed under it (virsh destroy: a
  crash to rumprund) comes back; one stopped through the API does not.
- A host reboot, simulated: rumprund stopped, the domains destroyed (as a
  reboot does), the boot id file (rumprund.conf boot_id_file, for tests)
  changed, rumprund started.  always and unless-stopped guests come back,
  in creation order; a guest without a policy ends crashed, "the host
  rebooted ..."; an unless-stopped guest stopped through the API stays
  stopped, an always one comes back (docker's rule).
- rrctl run -i --restart: attached to the first run, as docker run; its
  exit status, and a word on stderr that the policy starts it again.
- A restart in flight survives kill -9 of rumprund: one guest runs after,
  no domain is left over.
- A pending backoff survives kill -9 of rumprund: a deadline missed while
  rumprund was down fires at once; one still ahead fires at its time, not
  a full delay after the restart.

Differences from a genuine rumprun guest: none that matters here; the
test guest's "exit 1" prints the same end markers rumprun prints.
"""
import datetime
import re
import time
import uuid

import rrlib
from rrlib import read_events

from test_rrctl import rrctl, rrctl_bin  # noqa: F401

END_STATES = ("exited", "stopped", "crashed", "failed")
SEPARATOR = re.compile(r"^--- rumprund \S+Z: restart (\d+) \(generation "
                       r"(\d+)\): (.*) ---$", re.M)
REBOOTED = "the host rebooted while it ran (a new kernel boot id)"


def ts(s):
    """An RFC 3339 time of the API, in seconds since the epoch."""
    return datetime.datetime.strptime(
        s, "%Y-%m-%dT%H:%M:%S.%fZ").replace(
        tzinfo=datetime.timezone.utc).timestamp()


def policy(name, **kw):
    r = {"policy": name}
    r.update(kw)
    return r


def restarts(events, name):
    return [e for e in events if e["name"] == name and
            e["type"] == "restart"]


def test_on_failure_backoff_gives_up(rrd, rrctl_bin):
    d = rrd(accel="tcg")
    c = d.client
    events = c.stream("/v1/events?since=0")
    c.launch(d.spec("flaky", ["exit", "1"], restart=policy(
        "on-failure", max_retries=3, backoff_initial_s=1, backoff_max_s=2,
        reset_after_s=600)))
    seen_ps = []

    def until(got):
        # While the second backoff runs, ps says so.
        backoffs = [e for e in got if e["type"] == "state" and
                    e["state"] == "backoff"]
        if len(backoffs) == 2 and not seen_ps:
            seen_ps.append(rrctl(d, "ps").stdout)
        return any(e["type"] == "state" and e["state"] in END_STATES
                   for e in got)

    evs = read_events(events, until, 90, "flaky to end for good")
    v = c.instance("flaky")
    assert v["state"] == "exited" and v["exit_status"] == 1, v
    assert v["generation"] == 4, v
    assert v["reason"] == "restart policy on-failure: gave up after 3 " \
        "restarts", v
    r = v["restart"]
    assert (r["policy"], r["count"], r["attempt"], r["last_exit_status"],
            r["last_state"], r["next_attempt"]) == \
        ("on-failure", 3, 3, 1, "exited", None), r

    # Each end went to backoff with the exit status, then a restart event.
    backoffs = [e for e in evs if e["type"] == "state" and
                e["state"] == "backoff"]
    rs = restarts(evs, "flaky")
    assert [e["exit_status"] for e in backoffs] == [1, 1, 1], backoffs
    assert [(e["attempt"], e["generation"], e["restart_count"],
             e["reason"]) for e in rs] == \
        [(1, 2, 1, "exit status 1"), (2, 3, 2, "exit status 1"),
         (3, 4, 3, "exit status 1")], rs
    # Growing delays: 1, 2, 2 s from the end to the restart (the tick is
    # 0.2 s; a busy machine adds more, never less).
    delays = [ts(r["time"]) - ts(b["time"]) for b, r in zip(backoffs, rs)]
    for got, want in zip(delays, (1, 2, 2)):
        assert want - 0.05 <= got <= want + 2.5, delays

    assert re.search(r"^flaky\s+backoff \(retry 2 in [0-2]s\)", seen_ps[0],
                     re.M), seen_ps

    # One log, a separator before each new generation's console.
    log = c.logs("flaky")
    seps = SEPARATOR.findall(log)
    assert seps == [("1", "2", "exit status 1"), ("2", "3", "exit status 1"),
                    ("3", "4", "exit status 1")], log
    assert log.count(rrlib.returned(1)) == 4, log

    # Every generation had its own domain; none is left.
    assert d.domains() == []
    p = rrctl(d, "inspect", "flaky")
    assert '"count": 3' in p.stdout or '"count":3' in p.stdout, p.stdout


def test_rrctl_run_i_with_restart(rrd, rrctl_bin):
    # As docker run: attached to the first run; its exit status.
    d = rrd(accel="tcg")
    c = d.client
    p = rrctl(d, "run", "-i", "-N", "once", "--restart", "on-failure:1",
              "--restart-backoff", "1", "rrguest", "exit", "5")
    assert p.returncode == 5, p
    assert p.stderr == "rrctl: once exited (5); its restart policy starts " \
        "it again\n", p.stderr
    assert rrlib.returned(5) in p.stdout and "--- rumprund" not in \
        p.stdout, p.stdout
    v = c.wait_state("once", END_STATES, timeout=60)
    assert (v["state"], v["exit_status"], v["generation"], v["reason"]) == \
        ("exited", 5, 2, "restart policy on-failure: gave up after 1 "
         "restart"), v
    assert d.domains() == []


def test_always_after_crash_not_after_stop(rrd):
    d = rrd(accel="tcg")
    c = d.client
    events = c.stream("/v1/events?since=0")
    c.launch(d.spec("svc", ["sleep", "600"], restart=policy(
        "always", backoff_initial_s=1, backoff_max_s=1)))
    v = c.wait_state("svc", ("running",), timeout=60)
    first = v["domain"]
    rrlib.virsh("destroy", first)
    evs = read_events(events, lambda got: any(
        e["type"] == "restart" for e in got), 30, "the restart of svc")
    crash = [e for e in evs if e["type"] == "state" and
             e["state"] == "backoff"][-1]
    assert crash["reason"] == "the domain was destroyed outside rumprund", \
        crash
    assert restarts(evs, "svc")[0]["reason"] == \
        "crashed: the domain was destroyed outside rumprund", evs
    v = c.wait_state("svc", ("running",), timeout=60)
    assert v["generation"] == 2 and v["domain"] != first, v
    assert d.is_domain_of(v["domain"], "svc", 2), v
    assert v["restart"]["last_state"] == "crashed", v

    # A stop through the API is never undone.
    v = c.stop("svc", timeout=1)
    assert v["state"] == "stopped", v
    time.sleep(3)
    v = c.instance("svc")
    assert (v["state"], v["generation"], v["restart"]["count"]) == \
        ("stopped", 2, 1), v
    assert d.domains() == []


def write_boot_id(path):
    path.write_text("%s\n" % uuid.uuid4())


def test_host_reboot(rrd):
    d = rrd(accel="tcg", start=False)
    boot_id = d.root / "boot_id"
    write_boot_id(boot_id)
    d.conf.write_text(d.conf.read_text() + "boot_id_file = %s\n" % boot_id)
    d.start()
    c = d.client
    fast = dict(backoff_initial_s=1, backoff_max_s=1)
    # Created in this order; the reboot brings them back in it.
    c.launch(d.spec("z-always", ["sleep", "600"],
                    restart=policy("always", **fast)))
    c.launch(d.spec("b-none", ["sleep", "600"]))
    c.launch(d.spec("c-unless", ["sleep", "600"],
                    restart=policy("unless-stopped", **fast)))
    c.launch(d.spec("a-stopped-always", ["sleep", "600"],
                    restart=policy("always", **fast)))
    c.launch(d.spec("e-stopped-unless", ["sleep", "600"],
                    restart=policy("unless-stopped", **fast)))
    for n in ("z-always", "b-none", "c-unless", "a-stopped-always",
              "e-stopped-unless"):
        c.wait_state(n, ("running",), timeout=60)
    c.stop("a-stopped-always", force=True)
    c.stop("e-stopped-unless", force=True)

    # A restart of rumprund alone (same boot id) changes nothing.
    d.restart()
    time.sleep(1)
    assert sorted((v["name"], v["state"], v["generation"])
                  for v in c.list()) == \
        [("a-stopped-always", "stopped", 1), ("b-none", "running", 1),
         ("c-unless", "running", 1), ("e-stopped-unless", "stopped", 1),
         ("z-always", "running", 1)]

    # The "reboot": rumprund down, every domain gone, a new boot id.
    d.terminate()
    for dom in d.domains():
        rrlib.virsh("destroy", dom)
    write_boot_id(boot_id)
    d.start()
    events = c.stream("/v1/events?since=0")
    evs = read_events(events, lambda got: len([
        e for e in got if e["type"] == "restart"]) >= 3, 60,
        "three restarts after the reboot")
    rs = [e for e in evs if e["type"] == "restart"]
    assert [e["name"] for e in rs] == ["z-always", "c-unless",
                                       "a-stopped-always"], rs
    assert all(e["reason"] == "the host rebooted" and e["attempt"] == 1
               for e in rs), rs
    # One a second at most.
    times = [ts(e["time"]) for e in rs]
    assert all(b - a >= 0.9 for a, b in zip(times, times[1:])), times
    for n in ("z-always", "c-unless", "a-stopped-always"):
        v = c.wait_state(n, ("running",), timeout=60)
        assert v["generation"] == 2, v
    v = c.instance("b-none")
    assert (v["state"], v["reason"]) == ("crashed", REBOOTED), v
    v = c.instance("e-stopped-unless")
    assert (v["state"], v["generation"]) == ("stopped", 1), v
    v = c.instance("z-always")
    assert v["restart"]["last_reason"] == REBOOTED, v

    # Once known, the boot id is no news at the next restart.
    d.restart()
    time.sleep(1)
    assert [v["generation"] for v in c.list("?state=running")] == [2, 2, 2]
    for n in ("z-always", "c-unless", "a-stopped-always"):
        c.stop(n, force=True)
    assert d.domains() == []


def test_backoff_survives_kill9(rrd):
    d = rrd(accel="tcg")
    c = d.client
    events = c.stream("/v1/events?since=0")
    # soon: its deadline passes while rumprund is down, and it restarts
    # sooner after rumprund's start than its 5 s delay; later: its deadline
    # does not pass, and it restarts then, not 15 s after the start.
    c.launch(d.spec("soon", ["exit", "3"], restart=policy(
        "on-failure", max_retries=1, backoff_initial_s=5)))
    c.launch(d.spec("later", ["exit", "4"], restart=policy(
        "on-failure", max_retries=1, backoff_initial_s=15)))
    read_events(events, lambda got: len([
        e for e in got if e["type"] == "state" and
        e["state"] == "backoff"]) == 2, 60, "both in backoff")
    later_at = ts(c.instance("later")["restart"]["next_attempt"])
    soon = c.instance("soon")
    assert soon["state"] == "backoff", soon
    d.kill9()
    time.sleep(max(0.0, ts(soon["restart"]["next_attempt"]) + 0.5 -
                   time.time()))
    t_start = time.time()
    d.start()
    assert later_at - time.time() > 3, "the test was too slow to tell"
    events = c.stream("/v1/events?since=0")
    evs = read_events(events, lambda got: len([
        e for e in got if e["type"] == "restart"]) == 2, 60,
        "both restarts")
    rs = {e["name"]: e for e in evs if e["type"] == "restart"}
    assert ts(rs["soon"]["time"]) - t_start < 4.5, (rs, t_start)
    assert later_at - 0.05 <= ts(rs["later"]["time"]) <= later_at + 2.5, \
        (rs, later_at)
    for n, st in (("soon", 3), ("later", 4)):
        v = c.wait_state(n, END_STATES, timeout=60)
        assert (v["state"], v["exit_status"], v["generation"],
                v["restart"]["count"]) == ("exited", st, 2, 1), v
    assert d.domains() == []


def test_restart_in_flight_survives_kill9(rrd):
    # kill -9 just after the restart event: the new generation's record
    # is written, its domain being created (or not yet).  Back, rumprund
    # adopts the domain or finds it missing (a failure, restarted by the
    # policy); either way one guest runs, no domain is left over.
    d = rrd(accel="tcg")
    d.allow_warnings(r"a domain of this rumprund without a current "
                     r"instance; destroying it")
    c = d.client
    events = c.stream("/v1/events?since=0")
    c.launch(d.spec("svc", ["sleep", "600"], restart=policy(
        "always", backoff_initial_s=1, backoff_max_s=1)))
    v = c.wait_state("svc", ("running",), timeout=60)
    rrlib.virsh("destroy", v["domain"])
    read_events(events, lambda got: any(
        e["type"] == "restart" for e in got), 30, "the restart of svc")
    d.kill9()
    d.start()
    v = c.wait_state("svc", ("running",), timeout=60)
    # An interrupted restart is tried again as the same attempt: the
    # guest did not fail, rumprund did.
    assert v["generation"] >= 2 and v["restart"]["attempt"] == 1, v
    rrlib.wait_for("only the current domain", lambda: d.domains() ==
                   [v["domain"]], 30)
    c.stop("svc", force=True)
    assert d.domains() == []

