"""
Scale: 20 guests launched at once, each from its own thread; every one is
created (201), ends with its own exit status, and the event stream tells
each one's story in order.
"""
import threading
import time

import rrlib
from rrlib import read_events

N = 20


def test_twenty_at_once(daemon):
    d = daemon()
    c = d.client
    events = c.stream("/v1/events")
    results = [None] * N
    barrier = threading.Barrier(N)

    def launch(i):
        try:
            barrier.wait(10)
            results[i] = c.request("POST", "/v1/unikernels", d.spec(
                "g%02d" % i, ["echo", "guest%d" % i, "exit", str(i)]),
                timeout=60)
        except Exception as e:  # reported below, with the others
            results[i] = e

    t0 = time.monotonic()
    threads = [threading.Thread(target=launch, args=(i,)) for i in range(N)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(90)
    launch_s = time.monotonic() - t0
    bad = [(i, r) for i, r in enumerate(results)
           if not isinstance(r, rrlib.Response) or r.status != 201]
    assert not bad, "launches that did not answer 201: %s%s" % (
        bad, d.describe())

    names = {"g%02d" % i for i in range(N)}

    def all_ended(evs):
        ended = {e["name"] for e in evs
                 if e["type"] == "state" and e["state"] in
                 ("exited", "stopped", "crashed", "failed")}
        return names <= ended
    evs = read_events(events, all_ended, 90, "20 guests to end")
    total_s = time.monotonic() - t0
    seqs = [e["seq"] for e in evs]
    assert seqs == list(range(seqs[0], seqs[0] + len(seqs)))

    for i in range(N):
        name = "g%02d" % i
        v = c.instance(name)
        assert v["state"] == "exited", v
        assert v["exit_status"] == i, v
        assert v["reason"] is None, v
        log = c.logs(name).split("\n")
        assert "guest%d" % i in log and rrlib.returned(i) in log, log
        mine = [e for e in evs if e["name"] == name]
        assert mine[0]["type"] == "created"
        assert mine[-1]["state"] == "exited" and \
            mine[-1]["exit_status"] == i, mine
    info = c.get("/v1/info")
    assert info["instances"] == N and info["counts"].get("exited") == N
    assert not d.domains()
    # Bounded: on 2 cores this takes a few seconds.
    assert total_s < 60, "20 guests took %.1f s (launches %.1f s)" % (
        total_s, launch_s)
