"""
Records and the event log on a full state disk (B5): the state directory
is a small tmpfs (mounted by the test, unmounted at the end), filled up.

- test_full_disk_then_kill9: a guest launched when the disk has room for
  its first record only (one free page) runs and exits 0 while every later
  write fails; rumprund is killed (-9) and started again.  The guest comes
  back exited 0, not "failed ... the domain was never created"; a follower
  saw every event while the disk was full; events.jsonl holds whole lines
  only, is 0600, and no seq number given out before the kill is given out
  again after it; since= inside the gap the lost events left goes on with
  the next one kept.  Against main: the guest comes back failed, and a seq
  is reused.
"""
import json
import os
import stat
import subprocess

import pytest

import rrlib

PAGE = 4096


def fill(path):
    """Fill the filesystem of path with a file of whole pages."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT, 0o600)
    try:
        while True:
            os.write(fd, b"\0" * PAGE)
    except OSError:
        pass
    finally:
        os.close(fd)
    size = os.path.getsize(path) // PAGE * PAGE
    os.truncate(path, size)
    return size


def file_events(d):
    """The lines of events.jsonl, each of which must be whole JSON."""
    out = []
    data = (d.state / "events.jsonl").read_bytes()
    assert data == b"" or data.endswith(b"\n"), "a torn last line"
    for line in data.splitlines():
        try:
            out.append(json.loads(line))
        except ValueError:
            raise AssertionError("a torn line in events.jsonl: %r" % line)
    return out


def api_seqs(c, since=0):
    """The seqs the API gives after since; a gap comes as a "lost" line
    (openapi.yaml EventLine), which has none."""
    body = c.request("GET", "/v1/events?since=%d&follow=false" % since).body
    lines = [json.loads(line) for line in body.splitlines()]
    return [e["seq"] for e in lines if e.get("type") != "lost"]


@pytest.fixture
def tmpfs_daemon(daemon):
    """daemon(start=False) with its state directory on a 256 KiB tmpfs.
    The test ends with finish(d): the after-test checks that need the
    state (fds, domains left) while it is mounted, then SIGTERM."""
    made = []

    def make(**kw):
        d = daemon(start=False, **kw)
        subprocess.run(["mount", "-t", "tmpfs", "-o",
                        "size=256k,mode=0700", "rre2e", str(d.state)],
                       check=True)
        made.append(d)
        return d
    try:
        yield make
    finally:
        for d in made:
            # After a failure: nothing may outlive the test, and the
            # daemon fixture cannot see the owner id once unmounted.
            if d.alive():
                d.proc.kill()
                d.proc.wait(10)
                d.stopped_by_test = True
            for name in d.domains():
                rrlib.virsh("destroy", name, check=False)
            subprocess.run(["umount", "-l", str(d.state)])


def finish(d):
    bad = d.check_fds()
    assert bad is None, bad
    assert not d.domains(), d.domains()
    d.terminate()


def test_full_disk_then_kill9(tmpfs_daemon):
    d = tmpfs_daemon(stop_timeout=1)
    c = d.client
    d.allow_warnings(r"cannot write the record", r"No space left",
                     r"events\.jsonl", r"events\.seq",
                     r"httpd: POST /v1/unikernels: ")
    d.start()
    c.launch(d.spec("early", ["exit", "0"], memory_mib=32))
    c.wait_state("early", "exited")
    follower = c.stream("/v1/events")

    filler = d.state / "filler"
    size = fill(filler)
    # Room for one page: the record written before the launch, no more.
    os.truncate(filler, size - PAGE)
    c.launch(d.spec("ran", ["sleep", "1", "exit", "0"], memory_mib=32))
    v = c.wait_state("ran", "exited", timeout=30)
    assert v["exit_status"] == 0, v
    r = c.request("POST", "/v1/unikernels",
                  d.spec("nospace", ["exit", "0"], memory_mib=32))
    assert r.status == 503, r
    rec = json.loads((d.state / "instances" / "ran.json").read_text())
    assert rec["state"] == "pending" and not rec["launched"], \
        "the disk took more than the first record: %s" % rec["state"]

    # The follower had every event of ran, written or not.
    seen = []
    while True:
        e = follower.next_line(10)
        seen.append(e)
        if e["name"] == "ran" and e["state"] == "exited":
            break
    states = [e["state"] for e in seen if e["name"] == "ran"]
    assert states[0] == "pending" and "running" in states and \
        states[-1] == "exited", seen
    seqs_before = [e["seq"] for e in seen]
    assert seqs_before == sorted(set(seqs_before)), seqs_before
    follower.close()
    on_disk = file_events(d)

    d.kill9()
    filler.unlink()
    d.start()
    # Until rumprund has listed libvirt's domains it shows what the
    # console replay says (running, exit status 0); then it ends.
    v = c.wait_state("ran", ("exited", "stopped", "crashed", "failed"))
    assert (v["state"], v["exit_status"], v["reason"]) == \
        ("exited", 0, None), v
    assert c.instance("early")["state"] == "exited"
    assert file_events(d)[:len(on_disk)] == on_disk
    assert stat.S_IMODE(os.stat(d.state / "events.jsonl").st_mode) == 0o600

    c.launch(d.spec("after", ["exit", "0"], memory_mib=32))
    c.wait_state("after", "exited")
    seqs = api_seqs(c)
    assert seqs == sorted(set(seqs)), seqs
    new = [e["seq"] for e in file_events(d) if e["name"] == "after"]
    assert new and min(new) > max(seqs_before), \
        "seq numbers given out again: %s after %s" % (new, seqs_before)
    # since= inside the gap of the events lost with the kill goes on
    # with the next kept one.
    lost = sorted(set(seqs_before) - set(seqs))
    if lost:
        assert api_seqs(c, lost[0])[0] == min(s for s in seqs
                                              if s > lost[0])
    for n in ("early", "ran", "after"):
        c.remove(n)
    finish(d)
