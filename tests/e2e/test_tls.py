"""
Who may talk to rumprund over TCP (daemon/auth.h): TLS with a server
certificate, bearer tokens from token_file, client certificates from
tls_client_ca, plain HTTP on loopback only, and the configurations that
rumprund refuses to start with.

The certificates are made for each session by mkcerts.sh (openssl): a test
CA, a server certificate for 127.0.0.1, a client certificate, one for
servers only, and a client certificate of another CA.  Requests go through
Python's ssl and http.client; every HTTP answer is checked against
openapi.yaml.
"""
import http.client
import json
import os
import re
import signal
import socket
import ssl
import subprocess
import time
from pathlib import Path

import pytest

import rrlib
from rrlib import Deadline

HERE = Path(__file__).resolve().parent
TOKEN = "e2e-token-0123456789abcdef"
TOKEN2 = "second.token_with~all+chars/="
# What a refused TLS client sees instead of an answer.
NO_ANSWER = (ssl.SSLError, ConnectionError, http.client.BadStatusLine,
             socket.timeout)


@pytest.fixture(scope="session")
def certs(tmp_path_factory):
    d = tmp_path_factory.mktemp("certs")
    p = subprocess.run([str(HERE / "mkcerts.sh"), str(d)],
                       capture_output=True, text=True, timeout=60)
    assert p.returncode == 0, "mkcerts.sh: %s%s" % (p.stdout, p.stderr)
    return d


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def write_private(path, text):
    path.write_text(text)
    os.chmod(path, 0o600)
    return path


class TCP:
    """Requests to one rumprund's TCP listener."""

    def __init__(self, api, port, certs=None, host="127.0.0.1"):
        self.api = api
        self.port = port
        self.certs = certs
        self.host = host

    def context(self, cert=None, tls_max=None):
        ctx = ssl.create_default_context(cafile=str(self.certs / "ca.pem"))
        if cert is not None:
            ctx.load_cert_chain(str(self.certs / (cert + ".pem")),
                                str(self.certs / (cert + ".key")))
        if tls_max is not None:
            ctx.maximum_version = tls_max
        return ctx

    def connection(self, tls=True, cert=None, tls_max=None, timeout=10):
        if not tls:
            return http.client.HTTPConnection(self.host, self.port,
                                              timeout=timeout)
        return http.client.HTTPSConnection(
            self.host, self.port, timeout=timeout,
            context=self.context(cert, tls_max))

    def request(self, method, path, token=None, body=None, headers=None,
                tls=True, cert=None, validate=True):
        hdrs = dict(headers or {})
        if token is not None:
            hdrs["Authorization"] = "Bearer " + token
        if body is not None and not isinstance(body, (bytes, str)):
            body = json.dumps(body)
            hdrs.setdefault("Content-Type", "application/json")
        conn = self.connection(tls=tls, cert=cert)
        try:
            conn.request(method, path, body=body, headers=hdrs)
            r = conn.getresponse()
            resp = rrlib.Response(method, path, r.status, r.getheaders(),
                                  r.read())
        finally:
            conn.close()
        if validate:
            self.api.validate(method, path, resp.status,
                              resp.header("Content-Type"), resp.body)
        return resp

    def refused(self, cert=None, tls_max=None, token=None):
        """A TLS client that must get no HTTP answer: returns how it
        failed (handshake, or the first read)."""
        conn = self.connection(cert=cert, tls_max=tls_max)
        try:
            try:
                conn.connect()
            except NO_ANSWER as e:
                return "handshake", e
            hdrs = {"Authorization": "Bearer " + token} if token else {}
            try:
                conn.request("GET", "/v1/health", headers=hdrs)
                r = conn.getresponse()
            except NO_ANSWER as e:
                return "read", e
            raise AssertionError("an answer where none was due: %d %s"
                                 % (r.status, r.read()[:200]))
        finally:
            conn.close()


def tls_conf(certs, port, token_file=None, client_ca=False, extra=""):
    lines = ["tcp = 127.0.0.1:%d" % port,
             "tls_cert = %s" % (certs / "server.pem"),
             "tls_key = %s" % (certs / "server.key")]
    if token_file is not None:
        lines.append("token_file = %s" % token_file)
    if client_ca:
        lines.append("tls_client_ca = %s" % (certs / "ca.pem"))
    return "\n".join(lines) + "\n" + extra


def tokens_file(root, *tokens):
    return write_private(Path(root) / "tokens",
                         "# tokens of the e2e tests\n\n" +
                         "\n".join(tokens) + "\n")


def assert_401(r, invalid):
    assert r.status == 401, r
    assert r.json["error"] == "unauthorized", r
    assert r.json["message"], r
    www = r.header("WWW-Authenticate")
    assert www is not None and www.startswith("Bearer realm=\"rumprund\""), r
    assert ('error="invalid_token"' in www) == invalid, www


def wait_log(d, pattern, timeout=5.0):
    rx = re.compile(pattern)
    dl = Deadline(timeout)
    while not rx.search(d.stderr_text()):
        assert not dl.passed(), "no log line like %r%s" % (pattern,
                                                          d.describe())
        time.sleep(0.05)


def test_tokens(daemon, api, certs):
    port = free_port()
    d = daemon(start=False)
    toks = tokens_file(d.root, TOKEN, "  %s  # with a comment" % TOKEN2)
    d.write_conf(extra_conf=tls_conf(certs, port, token_file=toks))
    d.start()
    t = TCP(api, port, certs)

    # A good token (either of them, the scheme in any case) goes through.
    r = t.request("GET", "/v1/health", token=TOKEN)
    assert r.status == 200 and r.json["status"] == "ok", r
    r = t.request("GET", "/v1/info", headers={
        "Authorization": "bearer   " + TOKEN2})
    assert r.status == 200, r

    # None, a wrong one, another scheme: 401 before any route.
    assert_401(t.request("GET", "/v1/health"), invalid=False)
    assert_401(t.request("GET", "/v1/health", token=TOKEN + "x"),
               invalid=True)
    assert_401(t.request("GET", "/v1/health", token=TOKEN[:-1]),
               invalid=True)
    assert_401(t.request("GET", "/v1/health", headers={
        "Authorization": "Basic " + TOKEN}), invalid=True)
    assert_401(t.request("GET", "/v1/nothing/here"), invalid=False)
    assert_401(t.request("PUT", "/v1/health", token="x" * 20),
               invalid=True)
    # A refused request's body is dropped, whatever it says.
    assert_401(t.request("POST", "/v1/unikernels",
                         body=d.spec("nope", ["exit", "0"])),
               invalid=False)
    assert_401(t.request("POST", "/v1/unikernels", body=b"x" * 200000,
                         headers={"Content-Type": "application/json"}),
               invalid=False)
    assert d.client.list() == []

    # With a token, the whole API: a launch over TCP, logged with who.
    c = d.client
    r = t.request("POST", "/v1/unikernels", token=TOKEN2,
                  body=d.spec("tcp1", ["exit", "0"]))
    assert r.status == 201, r
    c.wait_state("tcp1", "exited")
    wait_log(d, r"tcp1: launch requested over TCP by 127\.0\.0\.1:\d+ "
                r"\(token_file line 4\)")
    wait_log(d, r"GET /v1/health from 127\.0\.0\.1:\d+: refused: no bearer")
    # The unix socket needs no token.
    assert c.get("/v1/health")["status"] == "ok"


def test_tokens_reread_on_sighup(daemon, api, certs):
    port = free_port()
    d = daemon(start=False)
    toks = tokens_file(d.root, TOKEN)
    d.write_conf(extra_conf=tls_conf(certs, port, token_file=toks))
    d.start()
    t = TCP(api, port, certs)
    assert t.request("GET", "/v1/health", token=TOKEN).status == 200

    tokens_file(d.root, TOKEN2)
    d.signal(signal.SIGHUP)
    wait_log(d, r"token_file reread")
    assert_401(t.request("GET", "/v1/health", token=TOKEN), invalid=True)
    assert t.request("GET", "/v1/health", token=TOKEN2).status == 200

    # A broken file keeps the tokens in use, and says why.
    d.allow_warnings(r"token_file: .*a token has 16 to 4096 characters; "
                     r"the tokens in use stay")
    tokens_file(d.root, "short")
    d.signal(signal.SIGHUP)
    wait_log(d, r"the tokens in use stay")
    assert t.request("GET", "/v1/health", token=TOKEN2).status == 200


def test_client_certificates(daemon, api, certs):
    port = free_port()
    d = daemon(start=False)
    d.write_conf(extra_conf=tls_conf(certs, port, client_ca=True))
    d.start()
    t = TCP(api, port, certs)

    r = t.request("GET", "/v1/health", cert="client")
    assert r.status == 200, r
    r = t.request("POST", "/v1/unikernels", cert="client",
                  body=d.spec("mtls", ["exit", "0"]))
    assert r.status == 201, r
    d.client.wait_state("mtls", "exited")
    wait_log(d, r"mtls: launch requested over TCP by 127\.0\.0\.1:\d+ "
                r"\(certificate CN=rr-client\)")

    # No certificate, another CA's, one for servers only: under TLS 1.2
    # the handshake fails; under TLS 1.3 (where the client finishes first)
    # the connection ends before any answer.
    for cert in (None, "rogue", "serveronly"):
        how, e = t.refused(cert=cert, tls_max=ssl.TLSVersion.TLSv1_2)
        assert how == "handshake", (cert, how, e)
        t.refused(cert=cert)
    wait_log(d, r"a TLS handshake failed")
    # Nothing of that reached a route.
    assert [i["name"] for i in d.client.list()] == ["mtls"]


def test_client_certificate_and_token(daemon, api, certs):
    port = free_port()
    d = daemon(start=False)
    toks = tokens_file(d.root, TOKEN)
    d.write_conf(extra_conf=tls_conf(certs, port, token_file=toks,
                                     client_ca=True))
    d.start()
    t = TCP(api, port, certs)
    assert t.request("GET", "/v1/health", cert="client",
                     token=TOKEN).status == 200
    assert_401(t.request("GET", "/v1/health", cert="client"), invalid=False)
    t.refused(token=TOKEN)


def test_plain_http_on_the_tls_port(daemon, api, certs):
    port = free_port()
    d = daemon(start=False)
    toks = tokens_file(d.root, TOKEN)
    d.write_conf(extra_conf=tls_conf(certs, port, token_file=toks))
    d.start()
    t = TCP(api, port, certs)
    with pytest.raises(NO_ANSWER):
        t.request("GET", "/v1/health", token=TOKEN, tls=False,
                  validate=False)
    # The listener still serves TLS clients.
    assert t.request("GET", "/v1/health", token=TOKEN).status == 200


def test_stream_over_tls_client_leaves(daemon, api, certs):
    # A suspended stream's client that leaves (close_notify, then FIN) is
    # noticed: its connection does not outlive it.
    port = free_port()
    d = daemon(start=False)
    toks = tokens_file(d.root, TOKEN)
    d.write_conf(extra_conf=tls_conf(certs, port, token_file=toks))
    d.start()
    t = TCP(api, port, certs)
    for goodbye in (True, False, True):
        conn = t.connection()
        conn.request("GET", "/v1/events",
                     headers={"Authorization": "Bearer " + TOKEN})
        r = conn.getresponse()
        assert r.status == 200
        time.sleep(0.2)		# the stream is asleep now
        if goodbye:
            # close_notify first (bytes the daemon cannot tell from a
            # request without decrypting), then the FIN.
            conn.sock.settimeout(0.5)
            try:
                conn.sock.unwrap()
            except (ssl.SSLError, OSError):
                pass
        conn.close()
    problem = d.check_fds(timeout=5.0)
    assert problem is None, problem


def test_plain_tcp_insecure_on_loopback(daemon, api):
    port = free_port()
    d = daemon(start=False)
    d.write_conf(extra_conf="tcp = 127.0.0.1:%d\ntcp_insecure = yes\n"
                 % port)
    d.start()
    t = TCP(api, port)
    r = t.request("GET", "/v1/health", tls=False)
    assert r.status == 200, r


def test_plain_tcp_with_token_on_loopback(daemon, api, certs):
    port = free_port()
    d = daemon(start=False)
    toks = tokens_file(d.root, TOKEN)
    d.write_conf(extra_conf="tcp = 127.0.0.1:%d\ntoken_file = %s\n"
                 % (port, toks))
    d.start()
    t = TCP(api, port)
    assert t.request("GET", "/v1/health", tls=False,
                     token=TOKEN).status == 200
    assert_401(t.request("GET", "/v1/health", tls=False), invalid=False)


# ---------------------------------------------------------------------------
# Configurations rumprund refuses: "rumprund -n" says so naming the file and
# line, and rumprund does not start (nor serve its unix socket).


def refused(tmp_path, extra, expect):
    conf = tmp_path / "rumprund.conf"
    sock = tmp_path / "rumprund.sock"
    conf.write_text("socket = %s\nstate_dir = %s\nlog_dir = %s\n%s"
                    % (sock, tmp_path / "state", tmp_path / "logs", extra))
    n = subprocess.run([str(rrlib.DAEMON_BIN), "-n", "-f", str(conf)],
                       capture_output=True, text=True, timeout=30)
    assert n.returncode == 1, n
    assert re.search(expect, n.stderr), n.stderr
    p = subprocess.run([str(rrlib.DAEMON_BIN), "-d", "-f", str(conf)],
                       capture_output=True, text=True, timeout=30)
    assert p.returncode == 1, p
    assert re.search(expect, p.stderr), p.stderr
    assert not sock.exists()
    return n.stderr


def test_tcp_without_authentication_refused(tmp_path):
    port = free_port()
    refused(tmp_path, "tcp = 127.0.0.1:%d\n" % port,
            r"rumprund\.conf:4: tcp: nothing authenticates TCP clients: "
            r"set token_file .* or tcp_insecure = yes")


def test_tcp_insecure_off_loopback_refused(tmp_path):
    port = free_port()
    refused(tmp_path, "tcp = 0.0.0.0:%d\ntcp_insecure = yes\n" % port,
            r"rumprund\.conf:4: tcp: tcp_insecure = yes serves loopback "
            r"addresses only .*not 0\.0\.0\.0")
    refused(tmp_path, "tcp_insecure = yes\ntcp = [::]:%d\n" % port,
            r"rumprund\.conf:5: tcp: tcp_insecure = yes serves loopback "
            r"addresses only .*not ::")


def test_plain_tcp_off_loopback_refused(tmp_path, certs):
    toks = tokens_file(tmp_path, TOKEN)
    refused(tmp_path, "tcp = 0.0.0.0:%d\ntoken_file = %s\n"
            % (free_port(), toks),
            r"rumprund\.conf:4: tcp: plain HTTP .* loopback addresses only")


@pytest.mark.parametrize("case", [
    "missing_cert", "not_a_cert", "key_mismatch", "key_readable",
    "cert_without_key", "ca_without_tls", "short_token", "no_token",
    "token_readable", "bad_token_char"])
def test_tls_configuration_errors(tmp_path, certs, case):
    port = free_port()
    good_toks = tokens_file(tmp_path, TOKEN)
    base = {"tcp": "127.0.0.1:%d" % port,
            "tls_cert": certs / "server.pem",
            "tls_key": certs / "server.key",
            "token_file": good_toks}
    expect = None
    if case == "missing_cert":
        base["tls_cert"] = tmp_path / "nonexistent.pem"
        expect = r":5: tls_cert: .*nonexistent\.pem: No such file"
    elif case == "not_a_cert":
        base["tls_cert"] = good_toks
        expect = r":5: tls_cert: .* holds no PEM certificate"
    elif case == "key_mismatch":
        base["tls_key"] = certs / "client.key"
        expect = r":6: tls_key: .*client\.key does not go with tls_cert"
    elif case == "key_readable":
        key = tmp_path / "server.key"
        key.write_bytes((certs / "server.key").read_bytes())
        os.chmod(key, 0o644)
        base["tls_key"] = key
        expect = r":6: tls_key: .* may be read or written by others " \
                 r"\(mode 0644\)"
    elif case == "cert_without_key":
        del base["tls_key"]
        expect = r":5: tls_cert: needs tls_key too"
    elif case == "ca_without_tls":
        del base["tls_cert"], base["tls_key"]
        base["tls_client_ca"] = certs / "ca.pem"
        expect = r":6: tls_client_ca: needs tls_cert and tls_key"
    elif case == "short_token":
        base["token_file"] = tokens_file(tmp_path, TOKEN, "short")
        expect = r":7: token_file: .*tokens:4: a token has 16 to 4096"
    elif case == "no_token":
        base["token_file"] = write_private(tmp_path / "empty", "# none\n")
        expect = r":7: token_file: .*empty holds no token"
    elif case == "token_readable":
        os.chmod(good_toks, 0o640 | 0o004)
        expect = r":7: token_file: .* may be read or written by others"
    elif case == "bad_token_char":
        base["token_file"] = tokens_file(tmp_path, "with space inside it")
        expect = r":7: token_file: .*tokens:3: a token is one word"
    extra = "".join("%s = %s\n" % kv for kv in base.items())
    refused(tmp_path, extra, r"rumprund\.conf" + expect)


def test_check_prints_the_tls_settings(tmp_path, certs):
    port = free_port()
    toks = tokens_file(tmp_path, TOKEN)
    conf = tmp_path / "rumprund.conf"
    conf.write_text("socket = %s\ntcp = 127.0.0.1:%d\ntls_cert = %s\n"
                    "tls_key = %s\ntls_client_ca = %s\ntoken_file = %s\n"
                    % (tmp_path / "s.sock", port, certs / "server.pem",
                       certs / "server.key", certs / "ca.pem", toks))
    p = subprocess.run([str(rrlib.DAEMON_BIN), "-n", "-f", str(conf)],
                       capture_output=True, text=True, timeout=30)
    assert p.returncode == 0, p
    out = p.stdout.splitlines()
    assert "tls_cert = %s" % (certs / "server.pem") in out
    assert "tls_client_ca = %s" % (certs / "ca.pem") in out
    assert "token_file = %s" % toks in out
    assert "tcp_insecure = no" in out
    # Nothing secret is printed.
    assert TOKEN not in p.stdout + p.stderr


def test_rrctl_over_tls(daemon, api, certs):
    """rrctl speaks all of it: https with the test CA, a token file in the
    daemon's own format (comments, blank lines), and a client certificate;
    without the certificate, or without the CA, it cannot get through."""
    port = free_port()
    d = daemon(start=False)
    toks = tokens_file(d.root, TOKEN)
    d.write_conf(extra_conf=tls_conf(certs, port, token_file=toks,
                                     client_ca=True))
    d.start()
    rrctl_bin = rrlib.BUILD / "rrctl"
    env = {k: v for k, v in os.environ.items()
           if not k.startswith("RRCTL_") and k != "RUMPRUND_HOST"}
    host = "https://127.0.0.1:%d" % port
    base = [str(rrctl_bin), "--host", host, "--token-file", str(toks),
            "--cacert", str(certs / "ca.pem")]
    client = ["--cert", str(certs / "client.pem"),
              "--key", str(certs / "client.key")]

    def run(*args):
        return subprocess.run([str(a) for a in args], capture_output=True,
                              text=True, env=env, timeout=60)

    p = run(*base, *client, "info", "--json")
    assert p.returncode == 0, p
    assert json.loads(p.stdout)["backends"]["kvm"]["available"] is True
    p = run(*base, *client, "run", "-N", "tlsrun", "-i", d.image,
            "--", "echo", "hi", "exit", "4")
    assert p.returncode == 4, p
    assert "hi" in p.stdout, p
    # The same through environment variables.
    p = subprocess.run([str(rrctl_bin), "--host", host, "ps", "-a", "-q"],
                       capture_output=True, text=True, timeout=60,
                       env=dict(env, RRCTL_TOKEN_FILE=str(toks),
                                RRCTL_CACERT=str(certs / "ca.pem"),
                                RRCTL_CERT=str(certs / "client.pem"),
                                RRCTL_KEY=str(certs / "client.key")))
    assert p.returncode == 0 and p.stdout.split() == ["tlsrun"], p
    # No client certificate: the daemon refuses the connection.
    p = run(*base, "ps")
    assert p.returncode == 3, p
    # No CA: rrctl does not trust the daemon's certificate.
    p = run(str(rrctl_bin), "--host", host, "--token-file", str(toks),
            *client, "ps")
    assert p.returncode == 3, p
    # A missing file is a usage error that names it.
    p = run(*base, "--cert", "/nonexistent.pem", "ps")
    assert p.returncode == 2 and "/nonexistent.pem" in p.stderr, p
