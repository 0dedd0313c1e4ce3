"""
rumprund under systemd, without systemd as PID 1: the units pass
`systemd-analyze verify`; systemd-socket-activate (from the systemd
package) passes sockets the way systemd does, and a datagram socket of the
test stands in for systemd's notification socket ($NOTIFY_SOCKET).
"""
import os
import re
import shutil
import socket
import subprocess
import threading
import time
from pathlib import Path

import pytest

import rrlib
from rrlib import Deadline
# certs is test_tls's fixture (the test CA and certificates), used here too.
from test_tls import (TCP, TOKEN, certs, free_port,  # noqa: F401
                      tls_conf, tokens_file)

REPO = rrlib.REPO
ACTIVATE = shutil.which("systemd-socket-activate")
ANALYZE = shutil.which("systemd-analyze")


def need(tool, name):
    if tool is None:
        pytest.fail("%s is missing: scripts/deps.sh installs the systemd "
                    "package" % name, pytrace=False)


class Notify:
    """A datagram socket where rumprund's sd_notify messages arrive."""

    def __init__(self, root, abstract=False):
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        if abstract:
            name = "rr-e2e-notify-%d-%s" % (os.getpid(), Path(root).name)
            self.sock.bind("\0" + name)
            self.env = "@" + name
        else:
            path = str(Path(root) / "notify.sock")
            self.sock.bind(path)
            self.env = path

    def next(self, timeout=15.0):
        """The next message as a dict (KEY -> VALUE)."""
        self.sock.settimeout(timeout)
        data = self.sock.recv(4096).decode()
        return dict(l.split("=", 1) for l in data.split("\n") if l)

    def nothing(self, wait=0.3):
        self.sock.settimeout(wait)
        try:
            data = self.sock.recv(4096)
        except socket.timeout:
            return True
        raise AssertionError("unexpected notification %r" % data)

    def close(self):
        self.sock.close()


def activate_argv(listen, *env):
    """systemd-socket-activate passes on only the variables named."""
    argv = [ACTIVATE]
    for e in ("PATH", "ASAN_OPTIONS", "UBSAN_OPTIONS") + env:
        if e in os.environ or "=" in e:
            argv += ["-E", e]
    for l in listen:
        argv += ["-l", l]
    return argv


def test_units_verify(tmp_path):
    need(ANALYZE, "systemd-analyze")
    # Installed with PREFIX at a temp root, so that ExecStart= names a
    # binary that exists, and Documentation= a man page that man finds.
    root = tmp_path / "root"
    p = subprocess.run(["make", "-s", "-C", str(REPO), "install",
                        "PREFIX=%s" % root, "SYSCONFDIR=%s/etc" % root],
                       capture_output=True, text=True, timeout=600)
    assert p.returncode == 0, p.stdout + p.stderr
    units = root / "lib/systemd/system"
    service = units / "rumprund.service"
    text = service.read_text()
    assert "\nExecStart=%s/sbin/rumprund -d\n" % root in text
    for line in ("Type=notify", "KillMode=process", "Restart=on-failure",
                 "ProtectSystem=strict", "RuntimeDirectory=rumprund",
                 "RuntimeDirectoryPreserve=yes", "StateDirectory=rumprund",
                 "LogsDirectory=rumprund", "NoNewPrivileges=yes"):
        assert "\n%s\n" % line in text, line
    env = dict(os.environ, MANPATH=str(root / "share/man"))
    argv = [ANALYZE, "verify"]
    if shutil.which("man") is None:
        argv.append("--man=no")
    p = subprocess.run(argv + [str(service), str(units / "rumprund.socket")],
                       capture_output=True, text=True, env=env, timeout=60)
    assert p.returncode == 0 and p.stdout + p.stderr == "", \
        p.stdout + p.stderr
    # The unit files of the tree are the same, but for ExecStart=.
    src = (REPO / "systemd/rumprund.service").read_text()
    assert src.replace("/usr/sbin/rumprund", "%s/sbin/rumprund" % root) == \
        text


def test_notify_ready_after_the_api_answers(daemon):
    d = daemon(start=False)
    n = Notify(d.root)
    d.env = dict(d.env, NOTIFY_SOCKET=n.env)
    probe = rrlib.Client(d.sock, d.api)
    started = []
    t = threading.Thread(target=lambda: started.append(d.start()))
    t.start()
    try:
        msg = n.next()
        # The moment READY=1 is there, the API answers.
        r = probe.request("GET", "/v1/health", timeout=5)
        assert r.status == 200, r
        assert msg.get("READY") == "1", msg
        assert msg.get("MAINPID") == str(d.pid), (msg, d.pid)
    finally:
        t.join(30)
    assert started, "rumprund did not start" + d.describe()
    n.nothing()
    d.terminate()
    assert n.next().get("STOPPING") == "1"
    n.close()


def test_socket_activation(daemon, api):
    need(ACTIVATE, "systemd-socket-activate")
    d = daemon(start=False)
    n = Notify(d.root, abstract=True)
    act = d.root / "activated.sock"
    d.wrap = activate_argv([str(act)], "NOTIFY_SOCKET=" + n.env)
    d.client = rrlib.Client(act, api, d)
    # systemd-socket-activate binds the socket at once and starts rumprund
    # on the first connection (d.start() polls it), as systemd does.
    d.start()
    ino = act.stat().st_ino
    msg = n.next()
    assert msg.get("READY") == "1" and msg.get("MAINPID") == str(d.pid), msg
    # The socket of rumprund.conf was never made: the passed one serves.
    assert not d.sock.exists()
    assert re.search(r"serving on the unix socket passed by systemd",
                     d.stderr_text())
    c = d.client
    c.launch(d.spec("act", ["exit", "7"]))
    assert c.wait_state("act", "exited")["exit_status"] == 7
    d.terminate()
    assert n.next().get("STOPPING") == "1"
    # rumprund leaves the socket file to whoever made it.
    assert act.exists() and act.stat().st_ino == ino
    n.close()


def test_socket_activation_tcp_with_tls(daemon, api, certs):
    need(ACTIVATE, "systemd-socket-activate")
    port = free_port()
    d = daemon(start=False)
    toks = tokens_file(d.root, TOKEN)
    # No tcp key: the TCP socket comes from systemd, the rest from here.
    conf = tls_conf(certs, port, token_file=toks)
    conf = "\n".join(l for l in conf.splitlines() if not l.startswith("tcp"))
    d.write_conf(extra_conf=conf + "\n")
    act = d.root / "activated.sock"
    d.wrap = activate_argv([str(act), "127.0.0.1:%d" % port])
    d.client = rrlib.Client(act, api, d)
    d.start()
    t = TCP(api, port, certs)
    assert t.request("GET", "/v1/health", token=TOKEN).status == 200
    r = t.request("GET", "/v1/health")
    assert r.status == 401, r
    assert "and the TCP socket passed by systemd (TLS)" in d.stderr_text()


def test_socket_activation_refuses_an_open_tcp_socket(tmp_path):
    # The rule of rumprund.conf holds for a socket that systemd passes.
    need(ACTIVATE, "systemd-socket-activate")
    conf = tmp_path / "rumprund.conf"
    conf.write_text("socket = %s\nstate_dir = %s\nlog_dir = %s\n"
                    "tcp_insecure = yes\n"
                    % (tmp_path / "s.sock", tmp_path / "state",
                       tmp_path / "logs"))
    with socket.socket() as s:
        s.bind(("0.0.0.0", 0))
        port = s.getsockname()[1]
    p = subprocess.Popen(activate_argv(["0.0.0.0:%d" % port]) +
                         [str(rrlib.DAEMON_BIN), "-d", "-f", str(conf)],
                         stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                         text=True)
    try:
        # The first connection starts it, and it refuses to serve.
        dl = Deadline(10)
        while True:
            try:
                with socket.create_connection(("127.0.0.1", port), 1):
                    break
            except OSError:
                assert not dl.passed(), "nobody listens on %d" % port
                time.sleep(0.05)
        out, _ = p.communicate(timeout=30)
    finally:
        if p.poll() is None:
            p.kill()
            p.wait()
    assert p.returncode == 1, out
    assert re.search(r"the TCP socket passed by systemd: tcp_insecure = yes "
                     r"serves loopback addresses only .*not 0\.0\.0\.0",
                     out), out
    assert not (tmp_path / "s.sock").exists()


def test_socket_activation_refuses_other_sockets(tmp_path):
    # A datagram socket is not something rumprund can serve.
    need(ACTIVATE, "systemd-socket-activate")
    conf = tmp_path / "rumprund.conf"
    conf.write_text("socket = %s\nstate_dir = %s\nlog_dir = %s\n"
                    % (tmp_path / "s.sock", tmp_path / "state",
                       tmp_path / "logs"))
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    p = subprocess.Popen(activate_argv(["127.0.0.1:%d" % port]) +
                         ["--datagram", str(rrlib.DAEMON_BIN), "-d", "-f",
                          str(conf)],
                         stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                         stderr=subprocess.STDOUT, text=True)
    try:
        # It starts rumprund on the first datagram.
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
            dl = Deadline(10)
            while p.poll() is None and not dl.passed():
                s.sendto(b"x", ("127.0.0.1", port))
                time.sleep(0.1)
        out, _ = p.communicate(timeout=30)
    finally:
        if p.poll() is None:
            p.kill()
            p.wait()
    assert p.returncode == 1, out
    assert "fd 3 is not a listening stream socket" in out, out
