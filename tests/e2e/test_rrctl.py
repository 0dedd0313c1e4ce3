"""
rrctl, the command-line client, against the real rumprund, libvirtd and
QEMU: every command, every flag of `run`, the exit statuses (0; 1 with the
daemon's message; 2 for usage; 3 with the unreachable-daemon sentence;
`run`'s own 125, 126, 127, 134 and 137 as docker run's),
`run -i` exiting with the guest's status, streaming `logs -f` and
`events`, and Ctrl-C on them.

Each test starts its own rumprund (the `daemon` fixture of conftest.py)
and runs build/rrctl as a subprocess with --host unix://SOCKET, from the
daemon's images/ directory so that `rrctl run rrguest ...` gives the guest
argv[0] "rrguest", as the upstream rumprun tool would.
"""
import json
import os
import re
import signal
import socket
import subprocess
import time

import pytest

import rrlib
from rrlib import CALLING, Deadline, ending, returned, wait_for

RRCTL = rrlib.BUILD / "rrctl"
VERSION = "0.1.0"
NOWHERE = "/tmp/rrctl-test-nowhere/rumprund.sock"



@pytest.fixture(scope="session")
def rrctl_bin():
    if not RRCTL.is_file():
        pytest.fail("missing %s: build it with `make build/rrctl`" % RRCTL,
                    pytrace=False)
    return RRCTL


def rrctl(d, *args, host=None, env=None, timeout=60, cwd=None):
    """Run rrctl against daemon d (or host); the CompletedProcess."""
    e = dict(os.environ)
    e.pop("RUMPRUND_HOST", None)
    e.pop("RRCTL_TOKEN_FILE", None)
    if env:
        e.update(env)
    cmd = [str(RRCTL)]
    if host is not None:
        cmd += ["--host", host]
    elif d is not None:
        cmd += ["--host", "unix://%s" % d.sock]
    cmd += [str(a) for a in args]
    return subprocess.run(cmd, capture_output=True, text=True, env=e,
                          timeout=timeout,
                          cwd=str(cwd if cwd is not None else
                                  (d.images if d is not None else "/")))


def popen(d, *args):
    cmd = [str(RRCTL), "--host", "unix://%s" % d.sock] + [str(a)
                                                         for a in args]
    return subprocess.Popen(cmd, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, cwd=str(d.images))


def ok(p):
    assert p.returncode == 0, "rrctl exited %d\nstdout: %s\nstderr: %s" % (
        p.returncode, p.stdout, p.stderr)
    return p.stdout


def denied(p, message=None):
    """Exit 1 with the daemon's message, one line, "rrctl: MESSAGE"."""
    assert p.returncode == 1, "rrctl exited %d (expected 1)\nstdout: %s\n" \
        "stderr: %s" % (p.returncode, p.stdout, p.stderr)
    assert p.stderr.startswith("rrctl: "), p.stderr
    if message is not None:
        assert message in p.stderr, p.stderr
    return p.stderr


def run_failed(p, message=None, code=125):
    """rrctl run's own failure: 125 (or code), "rrctl: MESSAGE"."""
    assert p.returncode == code, "rrctl exited %d (expected %d)\nstdout: " \
        "%s\nstderr: %s" % (p.returncode, code, p.stdout, p.stderr)
    assert p.stderr.startswith("rrctl: "), p.stderr
    if message is not None:
        assert message in p.stderr, p.stderr
    return p.stderr


def usage(p, message=None):
    assert p.returncode == 2, "rrctl exited %d (expected 2)\nstdout: %s\n" \
        "stderr: %s" % (p.returncode, p.stdout, p.stderr)
    if message is not None:
        assert ("rrctl: %s\n" % message) in p.stderr, p.stderr
    return p.stderr


def read_line(proc, timeout, what="a line"):
    """The next line of a Popen's stdout, within timeout."""
    import select
    dl = Deadline(timeout)
    buf = b""
    fd = proc.stdout.fileno()
    while True:
        r, _, _ = select.select([fd], [], [], dl.left())
        if not r:
            raise AssertionError("no %s from rrctl within %.1f s; got %r"
                                 % (what, timeout, buf))
        ch = os.read(fd, 1)
        if not ch:
            raise AssertionError("rrctl's output ended before %s; got %r"
                                 % (what, buf))
        if ch == b"\n":
            return buf.decode("utf-8", "replace")
        buf += ch


def read_until(proc, pred, timeout, what):
    lines = []
    dl = Deadline(timeout)
    while True:
        line = read_line(proc, dl.left() or 0.01, what)
        lines.append(line)
        if pred(line):
            return lines


def interrupt(proc, timeout=3.0):
    """SIGINT; the exit status, which must come within timeout."""
    t0 = time.monotonic()
    proc.send_signal(signal.SIGINT)
    try:
        rc = proc.wait(timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()
        raise AssertionError("rrctl did not exit within %.1f s of SIGINT"
                             % timeout)
    return rc, time.monotonic() - t0


def launch(d, name, *argv, extra=()):
    """rrctl run -N name [extra] rrguest argv...; the instance view."""
    out = ok(rrctl(d, "run", *extra, "-N", name, "rrguest", *argv))
    assert out == name + "\n"
    return d.client.instance(name)


# ---------------------------------------------------------------------------
# Without a daemon


def test_usage_and_help(rrctl_bin):
    p = rrctl(None, host=NOWHERE)
    usage(p)
    assert p.stderr.startswith("usage: rrctl [--host url]"), p.stderr
    commands = ["run", "ps", "stop", "start", "rm", "logs", "inspect",
                "events", "info", "version", "help"]
    for c in commands:
        assert re.search(r"^\t%s( |$)" % c, p.stderr, re.M), (c, p.stderr)

    out = ok(rrctl(None, "help", host=NOWHERE))
    assert out.startswith("usage: rrctl"), out
    assert ok(rrctl(None, "--help", host=NOWHERE)) == out
    for c in commands:
        h = ok(rrctl(None, "help", c, host=NOWHERE))
        assert h.startswith("usage: rrctl %s" % c), h
        # --help after the command says the same.
        assert ok(rrctl(None, c, "--help", host=NOWHERE)) == h
    h = ok(rrctl(None, "help", "run", host=NOWHERE))
    for flag in ("-b", "-d", "-e", "-I", "-i", "-M", "-N", "-p", "-W",
                 "--platform", "--label", "--vcpus", "--accel",
                 "--dry-run"):
        assert re.search(r"^  %s\b" % re.escape(flag), h, re.M), (flag, h)

    usage(rrctl(None, "help", "nope", host=NOWHERE), "no command nope")
    # An unknown command: one line of usage, and a hint when one fits.
    p = rrctl(None, "nope", host=NOWHERE)
    assert usage(p) == "rrctl: no command nope\nusage: rrctl [global " \
        "options] command [arg ...]; 'rrctl help' lists the commands\n"
    for typed, meant in (("pss", "ps"), ("lgos", "logs"), ("ls", "ps"),
                         ("suspend", "pause"), ("inpsect", "inspect"),
                         ("evnets", "events"), ("remove", "rm")):
        p = rrctl(None, typed, "x", host=NOWHERE)
        assert usage(p).splitlines()[0] == "rrctl: no command %s; did you " \
            "mean 'rrctl %s'?" % (typed, meant), p.stderr
        assert len(p.stderr.splitlines()) == 2, p.stderr
    usage(rrctl(None, "--bogus", "ps", host=NOWHERE),
          "unknown option --bogus")
    usage(rrctl(None, "ps", "--bogus", host=NOWHERE),
          "unknown option --bogus")
    usage(rrctl(None, "ps", "-x", host=NOWHERE), "unknown option -x")
    usage(rrctl(None, "ps", "extra", host=NOWHERE),
          "unexpected argument extra")
    usage(rrctl(None, "ps", "--filter", "colour=red", host=NOWHERE))
    usage(rrctl(None, "stop", host=NOWHERE),
          "give the names to stop, or --all")
    usage(rrctl(None, "stop", "--all", "a", host=NOWHERE),
          "give names or --all, not both")
    usage(rrctl(None, "stop", "-t", "soon", "a", host=NOWHERE),
          "-t soon: give seconds from 0 to 3600")
    usage(rrctl(None, "stop", "-t", host=NOWHERE),
          "option -t needs an argument")
    usage(rrctl(None, "start", host=NOWHERE), "give the names to start")
    usage(rrctl(None, "rm", host=NOWHERE), "give the names to remove")
    usage(rrctl(None, "logs", host=NOWHERE), "give one name")
    usage(rrctl(None, "logs", "a", "b", host=NOWHERE), "give one name")
    usage(rrctl(None, "logs", "--tail", "-1", "a", host=NOWHERE),
          "--tail -1: give a number of lines up to 100000")
    usage(rrctl(None, "inspect", host=NOWHERE), "give one name")
    usage(rrctl(None, "events", "--since", "x", host=NOWHERE),
          "--since x: give an event number, a duration (10m) or a time "
          "(2026-12-01T10:00:00Z)")
    usage(rrctl(None, "info", "x", host=NOWHERE), "unexpected argument x")
    usage(rrctl(None, "stop", "--json", "a", host=NOWHERE),
          "unknown option --json")
    usage(rrctl(None, "--host", "ftp://x", "ps"),
          "--host ftp://x: must be unix:///PATH or http(s)://HOST:PORT")
    usage(rrctl(None, "--token-file", "/nonexistent/token", "ps",
                host=NOWHERE),
          "--token-file /nonexistent/token: No such file or directory")
    p = rrctl(None, "--version", host=NOWHERE)
    assert ok(p) == "rrctl %s\n" % VERSION


def unreachable_msg(host, reason="No such file or directory"):
    return "rrctl: cannot reach rumprund at %s: %s\n" % (host, reason)


def test_unreachable(rrctl_bin, tmp_path):
    host = "unix://" + NOWHERE
    for args in (["ps"], ["ps", "-a", "--json"], ["stop", "a"],
                 ["stop", "-f", "a", "b", "c"], ["start", "a", "b"],
                 ["stop", "--all"], ["start", "a"], ["rm", "-f", "a"],
                 ["logs", "a"], ["logs", "-f", "a"], ["inspect", "a"],
                 ["events"], ["info"], ["version"],
                 ["run", "/bin/true"], ["run", "-i", "/bin/true"]):
        p = rrctl(None, *args, host=host)
        # run's own: 125, apart from any guest's 3.
        assert p.returncode == (125 if args[0] == "run" else 3), (args, p)
        assert p.stderr == unreachable_msg(host), (args, p.stderr)
    # version still says its own.
    p = rrctl(None, "version", host=host)
    assert p.stdout == "rrctl %s\n" % VERSION

    # RUMPRUND_HOST, and the bare path form.
    p = rrctl(None, "ps", env={"RUMPRUND_HOST": host})
    assert (p.returncode, p.stderr) == (3, unreachable_msg(host))
    p = rrctl(None, "ps", host=NOWHERE)
    assert (p.returncode, p.stderr) == (3, unreachable_msg(host))

    # A socket nobody listens on; a TCP port nobody listens on.
    path = tmp_path / "dead.sock"
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.bind(str(path))
    s.close()
    p = rrctl(None, "ps", host="unix://%s" % path)
    assert (p.returncode, p.stderr) == (
        3, unreachable_msg("unix://%s" % path, "Connection refused"))
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    p = rrctl(None, "info", host="http://127.0.0.1:%d" % port)
    assert (p.returncode, p.stderr) == (
        3, unreachable_msg("http://127.0.0.1:%d" % port,
                           "Connection refused"))


def test_dry_run_upstream_examples(rrctl_bin, tmp_path):
    """The upstream README's nginx lines, with `rumprun` -> `rrctl run`."""
    (tmp_path / "bin").mkdir()
    (tmp_path / "bin" / "nginx").write_bytes(b"\x7fELF")
    (tmp_path / "nginxdata.iso").write_bytes(b"")
    root = str(tmp_path.resolve())
    p = rrctl(None, "run", "kvm", "--dry-run", "-b", "nginxdata.iso,/etc",
              "-I", "if0,vioif,-net tap,ifname=tap0", "-W", "if0,inet,dhcp",
              "bin/nginx", "-c", "/etc/nginx/conf/nginx.conf",
              host=NOWHERE, cwd=tmp_path)
    assert json.loads(ok(p)) == {
        "name": "rumprun-nginx", "platform": "kvm",
        "image": root + "/bin/nginx",
        "argv": ["bin/nginx", "-c", "/etc/nginx/conf/nginx.conf"],
        "blk": [{"source": root + "/nginxdata.iso", "mountpoint": "/etc"}],
        "nics": [{"backend": {"type": "tap", "name": "tap0"},
                  "inet": {"method": "dhcp"}}]}
    p = rrctl(None, "run", "xen", "--dry-run", "-b", "nginxdata.iso,/etc",
              "-I", "if0,xenif", "-W", "if0,inet,dhcp", "bin/nginx", "-c",
              "/etc/nginx/conf/nginx.conf", host=NOWHERE, cwd=tmp_path)
    req = json.loads(ok(p))
    assert req["platform"] == "xen"
    # A Xen vif joins xl's default bridge.
    assert req["nics"] == [{"backend": {"type": "bridge", "name": "xenbr0"},
                            "inet": {"method": "dhcp"}}]
    # Pretty-printed, ending with a newline.
    assert p.stdout.startswith("{\n  \"name\"") and p.stdout.endswith("}\n")

    # Usage errors of run, with their sentences.
    for args, msg in (
            (["run", "kvm", "-D", "1234", "bin/nginx"],
             "-D (a gdb server for the guest) is not supported by rrctl"),
            (["run", "kvm", "-g", "-s", "bin/nginx"],
             "-g (arguments for the hypervisor) is not supported by rrctl"),
            (["run", "kvm", "-I", "if0,vioif", "-W", "if1,inet,dhcp",
              "bin/nginx"],
             "-W if1,inet,dhcp: no interface tagged if1: create it with "
             "-I if1,... before"),
            (["run", "kvm", "-M", "lots", "bin/nginx"],
             "-M lots: not a memory size in MiB"),
            (["run", "kvm"], "missing IMAGE")):
        p = rrctl(None, *args, host=NOWHERE, cwd=tmp_path)
        # run's usage errors are 125, as docker run's.
        run_failed(p, msg)
        assert "usage: rrctl run" in p.stderr, p.stderr
        assert p.stdout == ""
    # An image that is not there: 127, as docker's command not found.
    p = rrctl(None, "run", "kvm", "nosuchfile", host=NOWHERE, cwd=tmp_path)
    run_failed(p, "nosuchfile: No such file or directory", 127)


# ---------------------------------------------------------------------------
# With a daemon


def test_run_ps_inspect(rrd, api, rrctl_bin):
    d = rrd()
    # --dry-run launches nothing.
    req = json.loads(ok(rrctl(d, "run", "--dry-run", "rrguest", "x")))
    assert req == {"name": "rumprun-rrguest", "platform": "kvm",
                   "image": str(d.image), "argv": ["rrguest", "x"]}
    assert d.client.list() == []

    # The default name, argv[0] as typed.
    assert ok(rrctl(d, "run", "kvm", "rrguest", "forever")) == \
        "rumprun-rrguest\n"
    inst = d.client.wait_state("rumprun-rrguest", "running")
    assert inst["spec"]["argv"] == ["rrguest", "forever"]
    assert inst["spec"]["image"] == str(d.image)
    assert CALLING in d.client.wait_log("rumprun-rrguest", CALLING)

    launch(d, "ended", "exit", "3", extra=["--label", "team=web",
                                           "--label", "tier=db"])
    d.client.wait_state("ended", "exited")
    launch(d, "web", "forever", extra=["--label", "team=web", "-M", "96"])
    d.client.wait_state("web", "running")

    # The table: header, columns sized to content, running ones only.
    out = ok(rrctl(d, "ps"))
    lines = out.splitlines()
    assert re.match(r"^NAME +STATUS +PLATFORM +MEMORY +ADDRESS$",
                    lines[0]), out
    cols = [m.start() for m in re.finditer(r"\S+", lines[0])]

    def row(line):
        """A line cut at the header's columns."""
        return [line[a:b].strip() for a, b in
                zip(cols, cols[1:] + [len(line)])]
    rows = {row(l)[0]: row(l) for l in lines[1:]}
    assert sorted(rows) == ["rumprun-rrguest", "web"], out
    w = rows["web"]
    assert re.match(r"^up \d+s$", w[1]), w
    assert w[2:] == ["kvm", "96MiB", "-"], w
    # The name column is as wide as the longest name (+ two spaces).
    assert cols[1] == len("rumprun-rrguest") + 2

    # -a: the ended ones too: how and how long ago, as docker ps's STATUS.
    lines = ok(rrctl(d, "ps", "-a")).splitlines()
    cols = [m.start() for m in re.finditer(r"\S+", lines[0])]
    rows = {row(l)[0]: row(l) for l in lines[1:]}
    assert sorted(rows) == ["ended", "rumprun-rrguest", "web"]
    assert re.match(r"^exited \(3\) \d+s ago$", rows["ended"][1]), rows
    # name=: the names that contain it; status= is state='s docker word.
    assert ok(rrctl(d, "ps", "-aq", "--filter", "name=e")).split() == \
        ["rumprun-rrguest", "ended", "web"]
    assert ok(rrctl(d, "ps", "-aq", "--filter", "name=web")).split() == \
        ["web"]
    assert ok(rrctl(d, "ps", "-q", "--filter", "status=exited")).split() \
        == ["ended"]
    # -o: the columns asked for; --format jsonl: a JSON instance a line.
    out = ok(rrctl(d, "ps", "-a", "-o", "name,state,exit,generation"))
    assert [l.split() for l in out.splitlines()] == [
        ["NAME", "STATE", "EXIT", "GENERATION"],
        ["rumprun-rrguest", "running", "-", "1"],
        ["ended", "exited", "3", "1"], ["web", "running", "-", "1"]], out
    usage(rrctl(d, "ps", "-o", "name,colour"), "-o name,colour: no column "
          "'colour'; the columns: name, status, state, platform, memory, "
          "address, exit, uptime, generation, created, hostdev")
    out = ok(rrctl(d, "ps", "-a", "--format", "jsonl"))
    assert [json.loads(l) for l in out.splitlines()] == d.client.list()
    # Creation order, across a restart of rumprund too.
    d.restart()
    assert ok(rrctl(d, "ps", "-aq")).split() == \
        ["rumprun-rrguest", "ended", "web"]

    # -q, --json, filters.
    assert ok(rrctl(d, "ps", "-q")).split() == ["rumprun-rrguest", "web"]
    assert ok(rrctl(d, "ps", "-aq")).split() == \
        ["rumprun-rrguest", "ended", "web"]
    arr = json.loads(ok(rrctl(d, "ps", "--json")))
    v = api.schema({"type": "array",
                    "items": {"$ref": "#/components/schemas/Instance"}})
    assert list(v.iter_errors(arr)) == []
    assert [i["name"] for i in arr] == ["rumprun-rrguest", "web"]
    assert json.loads(ok(rrctl(d, "--json", "ps", "-a"))) == \
        d.client.list()
    assert ok(rrctl(d, "ps", "-q", "--filter", "state=exited")).split() == \
        ["ended"]
    assert ok(rrctl(d, "ps", "-aq", "--filter", "label=team=web")).split() \
        == ["ended", "web"]
    assert ok(rrctl(d, "ps", "-q", "--filter", "label=team")).split() == \
        ["web"]
    assert ok(rrctl(d, "ps", "-aq", "--filter", "label=team=web",
                    "--filter", "label=tier=db")).split() == ["ended"]
    assert ok(rrctl(d, "ps", "-aq", "--filter", "label=tier",
                    "--filter", "label=team=nope")).split() == []
    assert ok(rrctl(d, "ps", "-q", "--filter", "platform=kvm")).split() == \
        ["rumprun-rrguest", "web"]
    out = ok(rrctl(d, "ps", "--filter", "platform=xen"))
    assert out.splitlines() == ["NAME  STATUS  PLATFORM  MEMORY  ADDRESS"]
    denied(rrctl(d, "ps", "--filter", "state=sleepy"), "state: not a state")

    # inspect: pretty JSON of the instance.
    p = rrctl(d, "inspect", "web")
    view = json.loads(ok(p))
    assert p.stdout.startswith("{\n  \"name\": \"web\"")
    assert list(api.component("Instance").iter_errors(view)) == []
    assert view["memory_mib"] == 96 and view["labels"] == {"team": "web"}
    assert view["spec"]["hostname"] == "web"
    p = rrctl(d, "inspect", "nope")
    assert denied(p) == "rrctl: no instance named nope\n"
    assert p.stdout == ""


def test_run_every_flag(rrd, rrctl_bin):
    d = rrd()
    vol = d.volume("data.img")
    vol2 = d.volume("raw.img")
    tap = "rrctltap%d" % (os.getpid() % 1000)
    p = rrctl(d, "run", "kvm", "-N", "flags", "-M", "128", "--vcpus", "2",
              "--accel", "tcg", "--label", "k=v",
              "-b", vol2, "-b", "%s,/data" % vol,
              "-e", "A=1", "-e", "GREETING=hello world",
              "-I", "if0,vioif,-net tap,ifname=%s" % tap,
              "-I", "if1,vioif",
              "-W", "if0,inet,static,10.0.0.2/24,10.0.0.1",
              "-W", "if1,inet6,auto",
              "-i", "rrguest", "--", "env", "hostname", "blk", "net", "argv",
              "exit", "7", "a b", 'say "hi"', "back\\slash", "")
    assert p.returncode == 7, p
    out = p.stdout
    assert CALLING in out and returned(7) in out, out
    for want in ("env=A=1", "env=GREETING=hello world", "hostname=flags",
                 "blk[0]={source=dev,path=/dev/ld1a,fstype=blk,"
                 "mountpoint=/data}",
                 "net[0]={if=vioif0,type=inet,method=static,addr=10.0.0.2,"
                 "mask=24,gw=10.0.0.1}",
                 "net[1]={if=vioif1,type=inet6,method=auto}",
                 "argv[0]=<rrguest>", "argv[8]=<a b>", 'argv[9]=<say "hi">',
                 "argv[10]=<back\\slash>", "argv[11]=<>"):
        assert want in out, (want, out)
    view = d.client.instance("flags")
    assert view["state"] == "exited" and view["exit_status"] == 7
    spec = view["spec"]
    assert (spec["memory_mib"], spec["vcpus"], spec["accel"]) == \
        (128, 2, "tcg")
    assert spec["labels"] == {"k": "v"} and spec["hostname"] == "flags"
    assert spec["blk"] == [{"source": vol2, "readonly": False},
                           {"source": vol, "mountpoint": "/data",
                            "readonly": False}]
    assert [n["backend"] for n in view["nics"]] == [
        {"type": "tap", "name": tap}, {"type": "tap"}]
    assert view["nics"][0]["addr"] == "10.0.0.2/24"
    assert d.client.logs("flags") == out

    # -p: created paused; start resumes it.
    assert ok(rrctl(d, "run", "-p", "-N", "paused", "rrguest", "exit",
                    "0")) == "paused\n"
    assert d.client.instance("paused")["state"] == "paused"
    assert ok(rrctl(d, "start", "paused")) == "paused\n"
    d.client.wait_state("paused", "exited")

    # -d: removed once ended; -i still says the exit status; stderr says
    # it will go.
    p = rrctl(d, "run", "-d", "-i", "-N", "gone", "rrguest", "exit", "5")
    assert p.returncode == 5, p
    assert p.stderr == "rrctl: gone and its console log will be removed " \
        "when it ends (-d, --rm)\n", p.stderr
    # --rm: the same, docker's word.
    p = rrctl(d, "run", "--rm", "-p", "-N", "gone2", "rrguest", "exit", "0")
    assert (p.returncode, p.stdout) == (0, "gone2\n"), p
    assert p.stderr == "rrctl: gone2 and its console log will be removed " \
        "when it ends (-d, --rm)\n", p.stderr
    assert d.client.instance("gone2")["spec"]["auto_remove"] is True
    ok(rrctl(d, "start", "gone2"))
    wait_for("gone2 to be removed", lambda: "gone2" not in
             [i["name"] for i in d.client.list()], 10)
    # Without: not a word on stderr.
    p = rrctl(d, "run", "-p", "-N", "kept", "rrguest", "exit", "0")
    assert (p.returncode, p.stderr) == (0, ""), p
    wait_for("gone to be removed", lambda: "gone" not in
             [i["name"] for i in d.client.list()], 10)

    # qemu (the upstream word for kvm without acceleration), --platform.
    launch(d, "q", "exit", "0", extra=["--platform", "kvm"])
    p = rrctl(d, "run", "qemu", "-N", "qq", "rrguest", "exit", "0")
    assert ok(p) == "qq\n"
    assert d.client.instance("qq")["spec"]["accel"] == "tcg"
    assert d.client.instance("q")["spec"]["platform"] == "kvm"

    # Xen is not here: the daemon says no.
    p = rrctl(d, "run", "xen", "-N", "x", "rrguest")
    run_failed(p)
    assert p.stdout == ""


def test_run_i_exit_status(rrd, accel, rrctl_bin):
    d = rrd(accel=accel)
    p = rrctl(d, "run", "-i", "rrguest", "echo", "hi", "exit", "3")
    assert p.returncode == 3, p
    assert p.stdout.endswith("\nhi\n\n" + ending(3)), p.stdout
    assert p.stdout == d.client.logs("rumprun-rrguest")
    assert p.stderr == ""
    p = rrctl(d, "run", "-i", "-N", "zero", "rrguest", "exit", "0")
    assert (p.returncode, p.stderr) == (0, "")

    # run does not permute: what follows the image is the guest's.
    p = rrctl(d, "run", "-i", "-N", "perm", "rrguest", "argv", "echo", "-d",
              "echo", "--rm", "exit", "4")
    assert p.returncode == 4, p
    assert "argv[3]=<-d>" in p.stdout and "argv[5]=<--rm>" in p.stdout, p
    assert d.client.instance("perm")["state"] == "exited"

    # Exit 1 and 2 are the guest's; rrctl's usage error is 125.
    for n in (1, 2):
        p = rrctl(d, "run", "-i", "-N", "g%d" % n, "rrguest", "exit", n)
        assert (p.returncode, p.stderr) == (n, ""), p
    run_failed(rrctl(d, "run", "-i", "-M", "lots", "rrguest"), "-M lots")
    run_failed(rrctl(d, "run", "--bogus", "rrguest"), "--bogus")

    # A panic: 134 and the reason.
    p = rrctl(d, "run", "-i", "-N", "boom", "rrguest", "panic", "oops")
    assert p.returncode == 134, p
    assert p.stderr == "rrctl: boom crashed: PANIC: oops\n", p.stderr
    assert "PANIC: oops" in p.stdout

    # The same command again without -N: a new instance, with the next
    # free name, as docker and upstream run another copy.
    p = rrctl(d, "run", "-i", "rrguest", "echo", "hi", "exit", "3")
    assert (p.returncode, p.stderr) == (3, ""), p
    assert p.stdout == d.client.logs("rumprun-rrguest-2")
    assert d.client.instance("rumprun-rrguest")["generation"] == 1

    # With -N, an ended instance: run again as a new generation, its own
    # console only, its own status.
    p = rrctl(d, "run", "-i", "-N", "zero", "rrguest", "exit", "0")
    assert p.returncode == 0, p
    assert p.stderr == "rrctl: zero had ended (exited) with this request: " \
        "running it again\n", p.stderr
    v = d.client.instance("zero")
    assert (v["generation"], v["state"]) == (2, "exited"), v
    log = d.client.logs("zero")
    assert log.count(CALLING) == 2 and p.stdout.count(CALLING) == 1, p
    assert log.endswith(p.stdout) and p.stdout.endswith(ending(0)), p
    # Without -i too: started again, the name said.
    p = rrctl(d, "run", "-N", "zero", "rrguest", "exit", "0")
    assert p.returncode == 0 and p.stdout == "zero\n", p
    assert "running it again" in p.stderr, p
    assert d.client.wait_state("zero", "exited")["generation"] == 3


def test_run_i_stopped_and_interrupted(rrd, rrctl_bin):
    d = rrd()
    proc = popen(d, "run", "-i", "-N", "t", "rrguest", "tick", "100")
    read_until(proc, lambda l: l == "tick 2", 20, "tick 2")
    rc, took = interrupt(proc)
    assert rc == 130 and took < 2, (rc, took)
    err = proc.stderr.read().decode()
    assert err == "rrctl: stopped following t; it keeps running\n", err
    assert d.client.instance("t")["state"] == "running"

    # Stopped by someone else while attached: 137, the state said.
    proc = popen(d, "run", "-i", "-N", "s", "rrguest", "tick", "100")
    read_until(proc, lambda l: l == "tick 1", 20, "tick 1")
    d.client.stop("s", force=True)
    rc = proc.wait(10)
    assert rc == 137
    assert proc.stderr.read().decode().startswith("rrctl: s stopped"), rc


def test_run_conflicts(rrd, rrctl_bin):
    d = rrd()
    assert ok(rrctl(d, "run", "-N", "a", "rrguest", "forever")) == "a\n"
    d.client.wait_state("a", "running")
    # Again: the same request, not launched again.
    p = rrctl(d, "run", "-N", "a", "rrguest", "forever")
    assert ok(p) == "a\n"
    assert p.stderr == "rrctl: a already exists with this request " \
        "(running): not launched again\n", p.stderr
    # Another request under that name: the daemon's 409, saying how to
    # proceed.
    p = rrctl(d, "run", "-N", "a", "rrguest", "exit", "1")
    assert run_failed(p) == "rrctl: name: an instance named a exists with " \
        "a different request: remove it first (rrctl rm a) or choose " \
        "another name (rrctl run -N)\n"
    assert p.stdout == ""

    # Without -N: the first free rumprun-IMAGE[-N], whatever the request.
    d.client.launch(d.spec("rumprun-rrguest-2", ["forever"]))
    names = [ok(rrctl(d, "run", "rrguest", "exit", str(i))).strip()
             for i in range(3)]
    assert names == ["rumprun-rrguest", "rumprun-rrguest-3",
                     "rumprun-rrguest-4"], names
    assert d.client.instance("rumprun-rrguest-4")["spec"]["argv"] == [
        "rrguest", "exit", "2"]
    assert "hostname" not in d.client.instance("rumprun-rrguest")["spec"]
    # A field the daemon refuses: its message, 125.
    p = rrctl(d, "run", "-N", "b", "rrguest", "it's")
    run_failed(p, "argv[1]")
    p = rrctl(d, "run", "-N", "b", "-M", "999999", "rrguest")
    run_failed(p, "memory_mib")
    # An image outside the image directories: 126 (may not be run), with
    # -i too; one that does not exist: 127.
    for i in ([], ["-i"]):
        run_failed(rrctl(d, "run", *i, "-N", "b", "/bin/true"), "image",
                   126)
        run_failed(rrctl(d, "run", *i, "-N", "b",
                         str(d.images / "nope")), "does not exist", 127)


def test_stop(rrd, rrctl_bin):
    d = rrd(stop_timeout=30)
    for n in ("a", "b", "c", "e"):
        launch(d, n, "forever")
    for n in ("a", "b", "c", "e"):
        d.client.wait_state(n, "running")

    # -t: the guest ignores the power button; destroyed after 1 s.
    t0 = time.monotonic()
    assert ok(rrctl(d, "stop", "-t", "1", "a")) == "a\n"
    took = time.monotonic() - t0
    assert 0.8 < took < 8, took
    assert d.client.instance("a")["state"] == "stopped"

    # -f: at once (after the name: options are permuted).
    t0 = time.monotonic()
    assert ok(rrctl(d, "stop", "b", "-f")) == "b\n"
    assert time.monotonic() - t0 < 5
    assert d.client.instance("b")["state"] == "stopped"

    # Several names: all at once; a missing one makes it exit 1.
    p = rrctl(d, "stop", "-f", "c", "nope", "a")
    assert p.returncode == 1, p
    assert p.stdout == "c\na\n", p.stdout
    assert p.stderr == "rrctl: no instance named nope\n", p.stderr

    # --all: everything that has not ended, waited for together.
    launch(d, "f", "forever")
    d.client.wait_state("f", "running")
    t0 = time.monotonic()
    p = rrctl(d, "stop", "--all", "-t", "1")
    assert sorted(ok(p).split()) == ["e", "f"]
    assert time.monotonic() - t0 < 6
    assert ok(rrctl(d, "ps", "-q")) == ""
    assert ok(rrctl(d, "stop", "-a")) == ""


def test_start_rm(rrd, rrctl_bin):
    d = rrd()
    launch(d, "a", "exit", "0")
    d.client.wait_state("a", "exited")
    assert ok(rrctl(d, "start", "a")) == "a\n"
    inst = d.client.wait_state("a", "exited")
    assert inst["generation"] == 2
    p = rrctl(d, "start", "a", "nope")
    assert p.returncode == 1 and p.stdout == "a\n", p
    assert p.stderr == "rrctl: no instance named nope\n"
    d.client.wait_state("a", "exited")

    launch(d, "r", "forever")
    d.client.wait_state("r", "running")
    denied(rrctl(d, "rm", "r"))
    assert d.client.instance("r")["state"] == "running"
    assert ok(rrctl(d, "rm", "r", "--force")) == "r\n"
    assert ok(rrctl(d, "rm", "a")) == "a\n"
    assert d.client.list() == []
    assert denied(rrctl(d, "rm", "a")) == "rrctl: no instance named a\n"


def test_logs(rrd, rrctl_bin):
    d = rrd()
    launch(d, "l", "echo", "one", "echo", "two", "exit", "0")
    d.client.wait_state("l", "exited")
    log = d.client.logs("l")
    assert ok(rrctl(d, "logs", "l")) == log
    assert ok(rrctl(d, "logs", "--tail", "10", "l")) == ending(0)
    # Options after the name (argv permuted), "--" ending them.
    assert ok(rrctl(d, "logs", "l", "--tail", "10")) == ending(0)
    assert ok(rrctl(d, "logs", "l", "-f", "--tail", "1")) == "halted\n"
    assert ok(rrctl(d, "logs", "--", "l")) == log
    usage(rrctl(d, "logs", "l", "--tail"), "option --tail needs an argument")
    usage(rrctl(d, "logs", "l", "--bogus"), "unknown option --bogus")
    assert ok(rrctl(d, "logs", "--tail", "0", "l")) == ""
    # -f on an ended instance: everything, then the end.
    assert ok(rrctl(d, "logs", "-f", "l")) == log
    assert ok(rrctl(d, "logs", "-f", "--tail", "1", "l")) == "halted\n"
    assert denied(rrctl(d, "logs", "nope")) == \
        "rrctl: no instance named nope\n"

    # -f follows as the guest writes, and ends when the guest ends.
    launch(d, "f", "tick", "150", extra=["-p"])
    proc = popen(d, "logs", "--follow", "f")
    ok(rrctl(d, "start", "f"))
    read_until(proc, lambda l: l == "tick 1", 20, "tick 1")
    t1 = time.monotonic()
    read_until(proc, lambda l: l == "tick 3", 5, "tick 3")
    # Two ticks of 150 ms came one by one, not in a late batch.
    assert time.monotonic() - t1 < 2

    # Ctrl-C: rrctl ends at once, the guest keeps running.
    rc, took = interrupt(proc)
    assert rc == 130 and took < 2, (rc, took)
    assert proc.stderr.read() == b""
    assert d.client.instance("f")["state"] == "running"

    # A follower sees the end when the guest is stopped.
    proc = popen(d, "logs", "-f", "--tail", "1", "f")
    read_line(proc, 10)
    d.client.stop("f", force=True)
    assert proc.wait(10) == 0


def test_events(rrd, api, rrctl_bin):
    d = rrd()
    # From the first event on, so that no event can come before the
    # stream is open.
    proc = popen(d, "events", "--since", "0")
    launch(d, "ev", "exit", "4")
    lines = read_until(proc, lambda l: re.search(r" ev exited", l), 20,
                       "the exit event")
    # "SEQ TIME NAME WHAT": the seq that --since takes comes first.
    stamp = r"\d+ \d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?Z"
    assert re.match(r"^%s ev created$" % stamp, lines[0]), lines
    assert re.match(r"^%s ev exited \(exit 4\)$" % stamp, lines[-1]), lines
    for l in lines[1:-1]:
        assert re.match(r"^%s ev (starting|running)$" % stamp, l), lines
    launch(d, "boom", "panic", "bad")
    lines = read_until(proc, lambda l: " boom crashed" in l, 20,
                       "the crash")
    assert lines[-1].endswith(" boom crashed (PANIC: bad)"), lines
    ok(rrctl(d, "rm", "ev"))
    lines = read_until(proc, lambda l: " ev removed" in l, 20, "removed")
    rc, took = interrupt(proc)
    assert rc == 130 and took < 2, (rc, took)

    # --json: the daemon's lines; --since replays; --no-follow ends.
    p = rrctl(d, "events", "--json", "--since", "0", "--no-follow")
    evs = [json.loads(l) for l in ok(p).splitlines()]
    v = api.component("Event")
    for e in evs:
        assert list(v.iter_errors(e)) == [], e
    assert [e["seq"] for e in evs] == list(range(1, len(evs) + 1))
    assert evs[0]["name"] == "ev" and evs[0]["type"] == "created"
    assert any(e.get("exit_status") == 4 for e in evs)
    since = evs[-2]["seq"]
    p = rrctl(d, "--json", "events", "--since", since, "--no-follow")
    assert [json.loads(l) for l in ok(p).splitlines()] == evs[-1:]
    p = rrctl(d, "events", "--since", 0, "--no-follow")
    assert len(ok(p).splitlines()) == len(evs)
    assert [int(l.split()[0]) for l in ok(p).splitlines()] == \
        [e["seq"] for e in evs]

    # --since a duration or a time: the kept events from then on.
    p = rrctl(d, "--json", "events", "--since", "1h", "--no-follow")
    assert [json.loads(l) for l in ok(p).splitlines()] == evs
    time.sleep(1.1)
    mark = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
    time.sleep(1.1)
    launch(d, "late", "exit", "0")
    d.client.wait_state("late", "exited")
    for since in (mark, "2s"):
        p = rrctl(d, "--json", "events", "--since", since, "--no-follow")
        names = {json.loads(l)["name"] for l in ok(p).splitlines()}
        assert names == {"late"}, (since, p.stdout)

    # Events no longer kept: said on stderr, not printed as events.
    d.terminate()
    (d.state / "events.jsonl").write_text(json.dumps(
        {"seq": 5000, "time": "2026-12-01T10:00:00.000Z", "type": "state",
         "name": "old", "state": "exited", "exit_status": 0}) + "\n")
    d.start()
    p = rrctl(d, "events", "--since", "10", "--no-follow")
    assert p.stderr == "rrctl: events 11 to 4999 are no longer kept by " \
        "rumprund\n", p
    assert ok(p) == "5000 2026-12-01T10:00:00.000Z old exited (exit 0)\n"


def test_info_version(rrd, api, rrctl_bin):
    d = rrd()
    launch(d, "i", "exit", "0")
    d.client.wait_state("i", "exited")
    info = d.client.get("/v1/info")
    out = ok(rrctl(d, "info"))
    kv = {l.split(None, 1)[0]: l.split(None, 1)[1] for l in out.splitlines()
          if not l.startswith("cpu model")}
    assert kv["version"] == info["version"]
    assert kv["owner"] == info["owner"]
    assert kv["accel"] == info["accel"]
    assert kv["kvm"].startswith("available, connected"), out
    assert kv["instances"] == "1: 1 exited", out
    assert kv["limits"].startswith("%d instances" %
                                   info["limits"]["max_instances"]), out
    # The policy: where paths may come from, bridges and networks.
    pol = info["policy"]
    assert pol["image_dirs"] == [str(d.images)], pol
    assert str(d.volumes) in pol["volume_dirs"], pol
    lines = {l[:12].strip(): l[12:].strip() for l in out.splitlines()}
    assert lines["image dirs"] == ", ".join(pol["image_dirs"]), out
    assert lines["volume dirs"] == ", ".join(pol["volume_dirs"]), out
    assert lines["bridges"] == (", ".join(pol["bridges"]) or "-"), out
    # A refused path says where to look.
    p = rrctl(d, "run", "-N", "x", "/bin/true")
    assert "is outside the allowed directories (GET /v1/info and rrctl " \
        "info list them)" in p.stderr, p
    got = json.loads(ok(rrctl(d, "info", "--json")))
    assert list(api.component("Info").iter_errors(got)) == []
    assert got["owner"] == info["owner"]

    # The API version and what the daemon was built with (Xen or not).
    assert info["api_version"] == "v1"
    xen = info["built_with"]["xen"]
    assert info["built_with"]["kvm"] is True and isinstance(xen, bool)
    assert xen == (info["backends"]["xen"].get("reason", "").find(
        "not built into") < 0), info
    assert ok(rrctl(d, "version")) == \
        "rrctl %s\nrumprund %s (API v1; built with kvm%s)\n" % (
            VERSION, info["version"], ", xen" if xen else "")
    assert json.loads(ok(rrctl(d, "version", "--json"))) == {
        "rrctl": VERSION, "rumprund": info["version"], "api_version": "v1",
        "built_with": {"kvm": True, "xen": xen}}


def test_host_forms_and_token(rrd, rrctl_bin, tmp_path):
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    # Plain TCP on loopback needs a token (TLS is test_tls.py's).
    tok = tmp_path / "token"
    tok.write_text("# rrctl's e2e token\n\ns3cret-token-0123456789\n")
    tok.chmod(0o600)
    d = rrd(extra_conf="tcp = 127.0.0.1:%d\ntoken_file = %s\n" % (port, tok))
    launch(d, "h", "forever")
    sock = "unix://%s" % d.sock
    assert ok(rrctl(None, "ps", "-q", env={"RUMPRUND_HOST": sock})) == "h\n"
    assert ok(rrctl(None, "ps", "-q", host=str(d.sock))) == "h\n"
    for host in ("http://127.0.0.1:%d" % port, "http://127.0.0.1:%d/" % port):
        assert ok(rrctl(None, "--token-file", tok, "ps", "-q",
                        host=host)) == "h\n"
    assert ok(rrctl(None, "ps", "-q", host="http://127.0.0.1:%d" % port,
                    env={"RRCTL_TOKEN_FILE": str(tok)})) == "h\n"
    # Without the token the daemon says no: exit 1 with its message.
    p = rrctl(None, "ps", "-q", host="http://127.0.0.1:%d" % port)
    assert p.returncode == 1, p
    assert p.stderr.startswith("rrctl: "), p
    # A daemon that goes away during a stream and does not come back:
    # rrctl tries to reconnect for RRCTL_RECONNECT_S, then exits 3.
    proc = subprocess.Popen(
        [str(RRCTL), "--host", "unix://%s" % d.sock, "logs", "-f", "h"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE,
        env=dict(os.environ, RRCTL_RECONNECT_S="1"))
    wait_for("the log", lambda: "rrguest" in d.client.logs("h"), 10)
    read_line(proc, 10)
    d.kill9()
    rc = proc.wait(10)
    err = proc.stderr.read().decode()
    assert rc == 3, (rc, err)
    assert err.startswith("rrctl: lost the connection to rumprund at "
                          "unix://%s: " % d.sock), err
    assert err.endswith("rrctl: reconnecting for up to 1 s\nrrctl: gave "
                        "up: rumprund at unix://%s did not come back in 1 "
                        "s\n" % d.sock), err
    d.start()


def test_streams_resume_across_restart(rrd, rrctl_bin):
    """rumprund restarts: logs -f, events and run -i go on where they were,
    nothing lost and nothing twice; a stream is never ended as if normally."""
    d = rrd()
    launch(d, "t", "tick", "200", extra=["-p"])
    logs = popen(d, "logs", "-f", "t")
    events = popen(d, "--json", "events")
    attach = popen(d, "run", "-i", "-N", "a", "rrguest", "echo", "before",
                   "sleep", "8", "echo", "after", "exit", "6")
    ok(rrctl(d, "start", "t"))
    read_until(logs, lambda l: l == "tick 2", 20, "tick 2")
    read_until(attach, lambda l: l == "before", 20, "before, of a")
    d.restart()
    launch(d, "after", "exit", "0")
    # logs -f: every tick once, in order, across the restart.
    seen = read_until(logs, lambda l: l == "tick 12", 30, "tick 12")
    ticks = [int(l.split()[1]) for l in seen if l.startswith("tick ")]
    assert ticks == list(range(3, 13)), seen
    rc, took = interrupt(logs)
    err = logs.stderr.read().decode()
    assert rc == 130, (rc, err)
    assert "rrctl: reconnecting for up to 30 s\n" in err, err
    assert "rrctl: reconnected to rumprund at " in err, err
    # events: the new instance's, seqs increasing by one, none twice.
    lines = read_until(events, lambda l: '"after"' in l and '"exited"' in l,
                       30, "the end of after")
    seqs = [json.loads(l)["seq"] for l in lines]
    assert seqs == list(range(seqs[0], seqs[0] + len(seqs))), lines
    interrupt(events)
    assert "reconnected" in events.stderr.read().decode()
    # run -i: follows on to the guest's own exit status.
    out, err = attach.communicate(timeout=60)
    assert attach.returncode == 6, (attach.returncode, out, err)
    # What came after the restart, once: "before" was read above.
    assert out.decode().count("after\n") == 1, out
    assert "before" not in out.decode(), out
    assert out.decode() == d.client.logs("a").split("before\n", 1)[1], out
    assert b"reconnected" in err, err


def complete(d, line):
    """What bash completes at the end of line with rrctl's completion."""
    script = (rrlib.REPO / "client/completion/rrctl.bash").read_text()
    words = line.split(" ")
    prog = 'COMP_WORDS=(%s); COMP_CWORD=%d; _rrctl; printf "%%s\\n" ' \
        '"${COMPREPLY[@]}"' % (" ".join("'%s'" % w for w in words),
                                len(words) - 1)
    p = subprocess.run(["bash", "-c", script + "\n" + prog],
                       capture_output=True, text=True, timeout=30,
                       env=dict(os.environ, PATH="%s:%s" % (
                           RRCTL.parent, os.environ["PATH"])))
    assert p.returncode == 0, p
    return sorted(w for w in p.stdout.split("\n") if w)


def test_bash_completion(rrd, rrctl_bin):
    d = rrd()
    launch(d, "web-1", "exit", "0")
    launch(d, "web-2", "forever")
    launch(d, "db", "exit", "0")
    host = "unix://%s" % d.sock
    assert complete(d, "rrctl st") == ["start", "stats", "stop"]
    assert complete(d, "rrctl --host %s lo" % host) == ["logs"]
    # Names from `rrctl ps -aq`, of the daemon --host names.
    assert complete(d, "rrctl --host %s logs we" % host) == \
        ["web-1", "web-2"]
    assert complete(d, "rrctl --host %s rm " % host) == \
        ["db", "web-1", "web-2"]
    assert complete(d, "rrctl --host %s logs --t" % host) == ["--tail"]
    assert "--rm" in complete(d, "rrctl run --r")
    # No daemon: no names, no error.
    assert complete(d, "rrctl --host unix:///nowhere.sock stop w") == []


def test_logs_timestamps_and_since_time(rrd, rrctl_bin):
    d = rrd()
    launch(d, "t", "echo", "one", "sleepms", "1500", "echo", "two", "exit", "0")
    d.client.wait_state("t", "exited")
    log = d.client.logs("t")
    # -t: each line after the time it arrived, in a fixed width.
    out = ok(rrctl(d, "logs", "-t", "t"))
    stamped = out.splitlines()
    assert [l[25:] for l in stamped] == log.splitlines(), out
    times = {}
    for l in stamped:
        assert re.match(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z $",
                        l[:25]), l
        times.setdefault(l[25:], l[:24])
    t1 = time.mktime(time.strptime(times["one"][:19], "%Y-%m-%dT%H:%M:%S"))
    t2 = time.mktime(time.strptime(times["two"][:19], "%Y-%m-%dT%H:%M:%S"))
    assert 1 <= t2 - t1 <= 3, times
    # --since TIME: from the first line that arrived then.
    out = ok(rrctl(d, "logs", "--since", times["two"], "t"))
    assert out.startswith("two\n") and log.endswith(out), out
    assert ok(rrctl(d, "logs", "--since", "1h", "t")) == log
    usage(rrctl(d, "logs", "--since", "x", "t"), "--since x: give a "
          "duration (10m) or a time (2026-12-01T10:00:00Z)")
    r = d.client.request("GET", "/v1/unikernels/t/logs?since_time=yesterday")
    assert r.status == 400 and r.json["field"] == "since_time", r
    r = d.client.request("GET", "/v1/unikernels/t/logs?tail=1&since_time="
                         "2026-12-01T10:00:00Z")
    assert r.status == 400, r
    # The index is rumprund's memory: after a restart, no times ("-").
    d.restart()
    out = ok(rrctl(d, "logs", "-t", "--tail", "1", "t"))
    assert out == "%-24s halted\n" % "-", out
