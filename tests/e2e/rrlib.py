"""
rrlib: what the end-to-end tests of rumprund share.

- OpenAPI: openapi.yaml turned into JSON Schema (nullable: true becomes a
  null union, $refs resolve inside the document); validates every answer
  the tests get by path template, method, status and media type.
- Client: HTTP/1.1 over the daemon's unix socket through http.client, one
  connection per request; Stream reads a streaming answer (chunked) as it
  arrives, with a deadline on every wait.
- Daemon: one rumprund on a temp directory (images/, volumes/, state/,
  logs/, its socket and rumprund.conf); start, SIGTERM, kill -9, restart on
  the same state, and the after-test checks (fds, stderr, domains).
- virsh helpers and bounded waits.

Every wait here has a deadline; nothing sleeps longer than a poll step.
"""
import datetime
import http.client
import json
import os
import re
import select
import signal
import socket
import subprocess
import time
from pathlib import Path

import jsonschema
import pytest
import yaml

REPO = Path(__file__).resolve().parents[2]
BUILD = Path(os.environ.get("RR_BUILD", str(REPO / "build"))).resolve()
DAEMON_BIN = Path(os.environ.get("RR_DAEMON", str(BUILD / "rumprund"))).resolve()
GUEST_ELF = BUILD / "guest" / "rrguest"
OPENAPI_PATH = REPO / "openapi.yaml"
ROUTES_C = REPO / "api" / "routes.c"
LIBVIRT_URI = "qemu:///system"
QBOOT = Path("/usr/share/qemu/qboot.rom")

# Markers the test guest prints, like a rumprun guest.
CALLING = '=== calling "rrguest" main() ==='


def returned(n):
    return '=== main() of "rrguest" returned %d ===' % n


def ending(n, unmounted=()):
    """The end of the test guest's console, as rumprun ends it, from the
    returned marker to "halted" (each line ends in a newline): the status,
    a blank line, _exit's line (ERROR when n is not 0), the rump kernel's
    halting lines with unmounted (data disks, last first), /tmp and /."""
    lines = [returned(n), "",
             "=== %s_exit(%d) called ===" % ("ERROR: " if n else "", n),
             "rump kernel halting...", "syncing disks... done",
             "unmounting file systems..."]
    lines += list(unmounted)
    lines += ["unmounted tmpfs on /tmp type tmpfs",
              "unmounted rumpfs on / type rumpfs", "unmounting done",
              "halted"]
    return "".join(l + "\n" for l in lines)


def known_bug(reason):
    """Mark a test that fails because of a reported daemon bug: an xfail
    that fails the run once the bug is fixed (strict), so that the mark
    goes.  RR_E2E_STRICT=1 runs such tests as plain tests."""
    if os.environ.get("RR_E2E_STRICT"):
        return pytest.mark.known_bug(reason)
    return pytest.mark.xfail(strict=True, reason="known bug: " + reason)


class Deadline:
    """A point in time; left() is what remains of it, never negative."""

    def __init__(self, seconds):
        self.seconds = seconds
        self.end = time.monotonic() + seconds

    def left(self):
        return max(0.0, self.end - time.monotonic())

    def passed(self):
        return time.monotonic() >= self.end


def wait_for(what, fn, timeout, step=0.05):
    """Call fn until it returns something true; that value, or fail."""
    dl = Deadline(timeout)
    while True:
        v = fn()
        if v:
            return v
        if dl.passed():
            raise AssertionError("timed out after %.1f s waiting for %s"
                                 % (timeout, what))
        time.sleep(step)


def rss_kib(pid):
    """The resident set size of process pid in KiB (None if not told)."""
    for line in open("/proc/%d/status" % pid):
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    return None


# ---------------------------------------------------------------------------
# OpenAPI validation


def _to_jsonschema(node):
    """OpenAPI 3.0 schema objects to JSON Schema (draft 7)."""
    if isinstance(node, list):
        return [_to_jsonschema(x) for x in node]
    if not isinstance(node, dict):
        return node
    out = {k: _to_jsonschema(v) for k, v in node.items()
           if k not in ("nullable", "example", "discriminator", "xml",
                        "externalDocs", "deprecated", "readOnly",
                        "writeOnly")}
    if node.get("nullable") is True:
        t = out.get("type")
        if isinstance(t, str):
            out["type"] = [t, "null"]
        elif isinstance(t, list) and "null" not in t:
            out["type"] = t + ["null"]
        if "enum" in out and None not in out["enum"]:
            out["enum"] = out["enum"] + [None]
        if "$ref" in out:
            ref = out.pop("$ref")
            out = {"anyOf": [{"$ref": ref}, {"type": "null"}]}
    return out


_DATE_TIME = re.compile(
    r"^\d{4}-\d{2}-\d{2}[Tt]\d{2}:\d{2}:\d{2}(\.\d+)?([Zz]|[+-]\d{2}:\d{2})$")

_format_checker = jsonschema.FormatChecker(formats=())


@_format_checker.checks("date-time")
def _is_date_time(value):
    if not isinstance(value, str):
        return True
    if not _DATE_TIME.match(value):
        return False
    datetime.datetime.fromisoformat(value.replace("Z", "+00:00")
                                    .replace("z", "+00:00"))
    return True


class ContractViolation(AssertionError):
    pass


class OpenAPI:
    """The contract: which answer shapes each path, method, status has."""

    def __init__(self, path=OPENAPI_PATH):
        with open(path) as f:
            self.doc = yaml.safe_load(f)
        self.components = _to_jsonschema(self.doc.get("components", {}))
        self.paths = []
        for template, item in self.doc["paths"].items():
            rx = "^" + re.sub(r"\\\{[^}]+\\\}", "[^/]+",
                              re.escape(template)) + "$"
            self.paths.append((re.compile(rx), template, item))
        self.violations = []

    def operations(self):
        """Every (METHOD, path template) of the document."""
        ops = set()
        for _, template, item in self.paths:
            for m in item:
                if m in ("get", "put", "post", "delete", "patch", "head",
                         "options", "trace"):
                    ops.add((m.upper(), template))
        return ops

    def _deref(self, node):
        while isinstance(node, dict) and "$ref" in node:
            ref = node["$ref"]
            assert ref.startswith("#/"), ref
            cur = self.doc
            for part in ref[2:].split("/"):
                cur = cur[part]
            node = cur
        return node

    def schema(self, schema):
        """A validator for an OpenAPI schema object of the document."""
        s = {"allOf": [_to_jsonschema(schema)], "components": self.components}
        return jsonschema.Draft7Validator(s, format_checker=_format_checker)

    def component(self, name):
        return self.schema({"$ref": "#/components/schemas/" + name})

    def match(self, path):
        path = path.split("?", 1)[0]
        for rx, template, item in self.paths:
            if rx.match(path):
                return template, item
        return None, None

    def _fail(self, what):
        self.violations.append(what)
        raise ContractViolation(what)

    def _check(self, validator, value, what):
        errors = sorted(validator.iter_errors(value), key=lambda e: e.path)
        if errors:
            msgs = ["%s: %s" % ("/".join(str(p) for p in e.absolute_path)
                                or "(root)", e.message) for e in errors[:5]]
            self._fail("%s does not match openapi.yaml:\n  %s\n  body: %s"
                       % (what, "\n  ".join(msgs),
                          json.dumps(value)[:2000]))

    def validate(self, method, path, status, ctype, body, headers=None):
        """Check one whole answer; body is bytes; headers, when given, a
        list of (name, value): those openapi.yaml requires must be there."""
        what = "%s %s -> %d" % (method, path, status)
        mtype = (ctype or "").split(";", 1)[0].strip().lower()
        template, item = self.match(path)
        op = item.get(method.lower()) if item is not None else None
        if op is None:
            # Unknown path (404) or method (405): still the error shape.
            if status < 400:
                self._fail("%s: a success for an operation that "
                           "openapi.yaml does not have" % what)
            self._validate_json(self.component("Error"), what, mtype, body)
            return
        responses = op.get("responses", {})
        resp = responses.get(str(status)) or responses.get("default")
        if resp is None:
            self._fail("%s: status %d is not documented for %s %s "
                       "(documented: %s); body: %r"
                       % (what, status, method, template,
                          ", ".join(sorted(responses)), body[:500]))
        resp = self._deref(resp)
        if headers is not None:
            have = {k.lower() for k, _ in headers}
            for hname, h in resp.get("headers", {}).items():
                if h.get("required") and hname.lower() not in have:
                    self._fail("%s: no %s header, which openapi.yaml "
                               "requires" % (what, hname))
        content = resp.get("content")
        if not content or method == "HEAD":
            return  # HEAD: GET's headers, never a body
        if mtype not in content:
            self._fail("%s: Content-Type %r, openapi.yaml says %s"
                       % (what, ctype, ", ".join(content)))
        schema = content[mtype].get("schema")
        if schema is None:
            return
        v = self.schema(schema)
        if mtype == "application/json":
            self._validate_json(v, what, mtype, body)
        elif mtype == "application/x-ndjson":
            for line in body.split(b"\n"):
                if line.strip():
                    self.validate_ndjson_line(v, what, line)
        elif mtype.startswith("text/"):
            try:
                text = body.decode("utf-8", "strict")
            except UnicodeDecodeError:
                text = body.decode("latin-1")
            self._check(v, text, what)

    def validate_ndjson_line(self, validator, what, line):
        try:
            obj = json.loads(line)
        except ValueError as e:
            self._fail("%s: a line is not JSON (%s): %r" % (what, e, line))
        self._check(validator, obj, what + " (stream line)")
        return obj

    def _validate_json(self, validator, what, mtype, body):
        if mtype != "application/json":
            self._fail("%s: Content-Type %r, expected application/json"
                       % (what, mtype))
        try:
            obj = json.loads(body)
        except ValueError as e:
            self._fail("%s: body is not JSON (%s): %r" % (what, e, body[:500]))
        self._check(validator, obj, what)

    def stream_validator(self, method, path):
        """For a streaming answer: the schema of one line, if ndjson."""
        template, item = self.match(path)
        op = (item or {}).get(method.lower()) or {}
        resp = self._deref(op.get("responses", {}).get("200", {}))
        content = resp.get("content", {})
        if "application/x-ndjson" in content:
            return self.schema(content["application/x-ndjson"]["schema"])
        return None


# ---------------------------------------------------------------------------
# HTTP over the unix socket


class UnixHTTPConnection(http.client.HTTPConnection):
    """http.client over an AF_UNIX stream socket."""

    def __init__(self, unix_path, timeout=30.0):
        super().__init__("localhost", timeout=timeout)
        self.unix_path = str(unix_path)

    def connect(self):
        # With a timeout the socket is non-blocking inside, and connect()
        # to a unix socket whose listen backlog is full fails with EAGAIN
        # at once where a blocking client would wait: wait, within the
        # timeout (rumprund's backlog is 128; the stress load opens 200).
        dl = Deadline(self.timeout if self.timeout is not None else 30.0)
        while True:
            s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            s.settimeout(self.timeout)
            try:
                s.connect(self.unix_path)
            except BlockingIOError:
                s.close()
                if dl.passed():
                    raise
                time.sleep(0.005)
                continue
            except OSError:
                s.close()
                raise
            self.sock = s
            return


class Response:
    def __init__(self, method, path, status, headers, body):
        self.method = method
        self.path = path
        self.status = status
        self.headers = headers
        self.body = body

    @property
    def json(self):
        return json.loads(self.body)

    def header(self, name):
        for k, v in self.headers:
            if k.lower() == name.lower():
                return v
        return None

    def __repr__(self):
        return "<%s %s -> %d %s>" % (self.method, self.path, self.status,
                                     self.body[:300])


class Client:
    """Requests to one rumprund; every answer is checked against the spec."""

    def __init__(self, sock_path, api, daemon=None):
        self.sock_path = str(sock_path)
        self.api = api
        self.daemon = daemon
        self.streams = []

    def _describe(self):
        return self.daemon.describe() if self.daemon is not None else ""

    def request(self, method, path, body=None, headers=None, timeout=30.0,
                validate=True):
        """One request; body may be bytes, str, or a JSON value."""
        hdrs = dict(headers or {})
        if body is not None and not isinstance(body, (bytes, str)):
            body = json.dumps(body)
            hdrs.setdefault("Content-Type", "application/json")
        if isinstance(body, str):
            body = body.encode()
        conn = UnixHTTPConnection(self.sock_path, timeout=timeout)
        try:
            conn.request(method, path, body=body, headers=hdrs)
            r = conn.getresponse()
            data = r.read()
            resp = Response(method, path, r.status, r.getheaders(), data)
        finally:
            conn.close()
        if validate:
            self.api.validate(method, path, resp.status,
                              resp.header("Content-Type"), resp.body,
                              r.getheaders())
        return resp

    def call(self, method, path, body=None, expect=(200,), **kw):
        """A request whose status must be one of expect; its JSON body."""
        r = self.request(method, path, body, **kw)
        if isinstance(expect, int):
            expect = (expect,)
        if r.status not in expect:
            raise AssertionError("%s %s: status %d, expected %s: %s%s"
                                 % (method, path, r.status, expect,
                                    r.body[:2000].decode("utf-8", "replace"),
                                    self._describe()))
        ctype = (r.header("Content-Type") or "")
        return r.json if ctype.startswith("application/json") else r.body

    # Shorthands.
    def get(self, path, **kw):
        return self.call("GET", path, **kw)

    def launch(self, spec, expect=(201,), **kw):
        return self.call("POST", "/v1/unikernels", spec, expect=expect, **kw)

    def instance(self, name):
        return self.get("/v1/unikernels/" + name)

    def stop(self, name, force=False, timeout=None, expect=(200,), **kw):
        q = []
        if force:
            q.append("force=true")
        if timeout is not None:
            q.append("timeout=%d" % timeout)
        path = "/v1/unikernels/%s/stop%s" % (name, "?" + "&".join(q) if q
                                             else "")
        return self.call("POST", path, expect=expect, **kw)

    def start(self, name, expect=(200,), **kw):
        return self.call("POST", "/v1/unikernels/%s/start" % name,
                         expect=expect, **kw)

    def remove(self, name, force=False, expect=(200,), **kw):
        return self.call("DELETE", "/v1/unikernels/%s%s"
                         % (name, "?force=true" if force else ""),
                         expect=expect, **kw)

    def logs(self, name, query=""):
        r = self.request("GET", "/v1/unikernels/%s/logs%s" % (name, query))
        if r.status != 200:
            raise AssertionError("logs of %s: %d %s%s" % (
                name, r.status, r.body[:500], self._describe()))
        return r.body.decode("utf-8", "replace")

    def list(self, query=""):
        return self.get("/v1/unikernels" + query)

    def wait_state(self, name, states, timeout=60.0):
        """Poll until the instance is in one of states; its view."""
        if isinstance(states, str):
            states = (states,)
        last = [None]

        def check():
            last[0] = self.instance(name)
            return last[0] if last[0]["state"] in states else None
        try:
            return wait_for("%s to be %s" % (name, "/".join(states)), check,
                            timeout)
        except AssertionError as e:
            raise AssertionError("%s; last view: %s%s" % (
                e, json.dumps(last[0])[:1500], self._describe())) from None

    def wait_log(self, name, text, timeout=60.0):
        """Poll the console log until it contains text; the log."""
        last = [""]

        def check():
            last[0] = self.logs(name)
            return last[0] if text in last[0] else None
        try:
            return wait_for("%r in the log of %s" % (text, name), check,
                            timeout)
        except AssertionError as e:
            raise AssertionError("%s; log tail: %r%s" % (
                e, last[0][-800:], self._describe())) from None

    def stream(self, path, timeout=10.0):
        s = Stream(self, path, timeout)
        self.streams.append(s)
        return s

    def close_streams(self):
        for s in self.streams:
            s.close()
        self.streams = []


class StreamTimeout(AssertionError):
    pass


class Stream:
    """A streaming GET (logs follow, events), read as bytes arrive."""

    def __init__(self, client, path, timeout=10.0):
        self.client = client
        self.path = path
        self.conn = UnixHTTPConnection(client.sock_path, timeout=timeout)
        self.conn.request("GET", path)
        self.sock = self.conn.sock
        self.sock.setblocking(False)
        self.raw = b""
        self.body = b""
        self.ended = False	# the last chunk came
        self.eof = False	# the server closed the connection
        self.truncated = False	# it closed without the last chunk
        self.chunked = False
        self.length = None
        self.status = None
        self.headers = []
        self.consumed = 0	# of body, by next_line()
        self.line_validator = None
        dl = Deadline(timeout)
        while b"\r\n\r\n" not in self.raw:
            if not self._fill(dl):
                raise StreamTimeout("no answer headers for GET %s within "
                                    "%.1f s%s" % (path, timeout,
                                                  client._describe()))
        head, self.raw = self.raw.split(b"\r\n\r\n", 1)
        lines = head.decode("latin-1").split("\r\n")
        self.status = int(lines[0].split()[1])
        for l in lines[1:]:
            k, v = l.split(":", 1)
            self.headers.append((k.strip(), v.strip()))
        te = (self.header("Transfer-Encoding") or "").lower()
        self.chunked = "chunked" in te
        cl = self.header("Content-Length")
        self.length = int(cl) if cl is not None else None
        if self.status != 200:
            # An error: read it whole and check its shape.
            self.wait_end(timeout)
            client.api.validate("GET", path, self.status,
                                self.header("Content-Type"), self.body)
        else:
            client.api.validate("GET", path, 200,
                                self.header("Content-Type"), b"")
            self.line_validator = client.api.stream_validator("GET", path)
        self._decode()

    def header(self, name):
        for k, v in self.headers:
            if k.lower() == name.lower():
                return v
        return None

    def _fill(self, dl):
        """Wait (until dl) for bytes; False on timeout or EOF."""
        if self.eof:
            return False
        r, _, _ = select.select([self.sock], [], [], dl.left())
        if not r:
            return False
        try:
            data = self.sock.recv(65536)
        except BlockingIOError:
            return True
        except OSError:
            self.eof = True
            return False
        if not data:
            self.eof = True
            return False
        self.raw += data
        return True

    def _decode(self):
        if self.status is None:
            return
        if not self.chunked:
            self.body += self.raw
            self.raw = b""
            if self.length is not None and len(self.body) >= self.length:
                self.ended = True
            if self.eof:
                self.ended = True
            return
        while not self.ended:
            nl = self.raw.find(b"\r\n")
            if nl < 0:
                break
            size = int(self.raw[:nl].split(b";")[0], 16)
            if size == 0:
                # The last chunk, then trailers (none expected) and CRLF.
                rest = self.raw[nl + 2:]
                if rest.startswith(b"\r\n") or b"\r\n\r\n" in rest:
                    self.ended = True
                    self.raw = b""
                break
            if len(self.raw) < nl + 2 + size + 2:
                break
            self.body += self.raw[nl + 2:nl + 2 + size]
            self.raw = self.raw[nl + 2 + size + 2:]
        if self.eof and not self.ended:
            # The server closed the connection without the last chunk.
            self.truncated = True
            self.ended = True

    def pump(self, timeout):
        """Read what arrives within timeout; True if something came."""
        before = len(self.body)
        dl = Deadline(timeout)
        while not self.ended and len(self.body) == before:
            if not self._fill(dl):
                if self.eof:
                    self._decode()
                    self.ended = True
                break
            self._decode()
        return len(self.body) > before

    def read_until(self, pred, timeout, what="data"):
        """Read until pred(body) is true; the body."""
        dl = Deadline(timeout)
        while True:
            self._decode()
            if pred(self.body):
                return self.body
            if self.ended:
                raise AssertionError(
                    "GET %s ended before %s came; got %r%s"
                    % (self.path, what, self.body[-800:],
                       self.client._describe()))
            if not self._fill(dl):
                if self.eof:
                    continue
                raise StreamTimeout(
                    "GET %s: %s did not come within %.1f s; got %r%s"
                    % (self.path, what, timeout, self.body[-800:],
                       self.client._describe()))

    def wait_end(self, timeout):
        """Read until the answer ends; the body."""
        dl = Deadline(timeout)
        while not self.ended:
            self._decode()
            if self.ended:
                break
            if not self._fill(dl):
                if self.eof:
                    self._decode()
                    self.ended = True
                    break
                raise StreamTimeout(
                    "GET %s did not end within %.1f s; got %r%s"
                    % (self.path, timeout, self.body[-800:],
                       self.client._describe()))
        return self.body

    def next_line(self, timeout):
        """The next whole line (without \\n), validated when ndjson."""
        start = self.consumed
        self.read_until(lambda b: b.find(b"\n", start) >= 0, timeout,
                        "a line")
        nl = self.body.index(b"\n", start)
        line = self.body[start:nl]
        self.consumed = nl + 1
        if self.line_validator is not None:
            return self.client.api.validate_ndjson_line(
                self.line_validator, "GET %s" % self.path, line)
        return line.decode("utf-8", "replace")

    def rest_lines(self):
        """The whole lines received and not yet consumed."""
        out = []
        while True:
            nl = self.body.find(b"\n", self.consumed)
            if nl < 0:
                return out
            line = self.body[self.consumed:nl]
            self.consumed = nl + 1
            if self.line_validator is not None:
                out.append(self.client.api.validate_ndjson_line(
                    self.line_validator, "GET %s" % self.path, line))
            else:
                out.append(line.decode("utf-8", "replace"))

    def close(self):
        try:
            self.sock.close()
        except OSError:
            pass
        self.conn.close()


# ---------------------------------------------------------------------------
# libvirt


def virsh(*args, check=True, timeout=30):
    p = subprocess.run(["virsh", "-q", "-c", LIBVIRT_URI] + list(args),
                       capture_output=True, text=True, timeout=timeout)
    if check and p.returncode != 0:
        raise AssertionError("virsh %s: %s" % (" ".join(args),
                                               p.stderr.strip()))
    return p.stdout


def all_domains():
    out = virsh("list", "--all", "--name")
    return [l.strip() for l in out.splitlines() if l.strip()]


def running_domains():
    out = virsh("list", "--name")
    return [l.strip() for l in out.splitlines() if l.strip()]


def domain_id(name):
    """The id of a running domain (a new QEMU gets a new id)."""
    out = virsh("domid", name, check=False).strip()
    return int(out) if out.isdigit() else None


# ---------------------------------------------------------------------------
# The daemon


LOG_CHECKS = (
    (re.compile(r"AddressSanitizer|LeakSanitizer"), "a sanitizer report"),
    (re.compile(r"runtime error:"), "an UBSan report"),
    (re.compile(r"\bfatal\b", re.I), "a fatal error"),
)


# Warnings about this machine rather than about the test: expected always.
HOST_WARNINGS = (
    # No Xen hypervisor on the test host (Xen runs nested only in
    # tests/xen): a rumprund built with the Xen
    # backend says so once at start.
    re.compile(r"warning xen backend unavailable: Xen is not available on "
               r"this host"),
)

# The warnings a test may see on a host without Xen when it asks for Xen
# (rrctl ... --platform xen): allowed by conftest's rrd fixture.
XEN_WARNINGS = (r"xen backend unavailable",
                r"the xen backend is unavailable")


class Daemon:
    """One rumprund on its own directory; restartable on the same state."""

    def __init__(self, root, api, env, name="rumprund", accel="tcg",
                 bridges=(), networks=(), console_log_max=65536,
                 stop_timeout=10, extra_conf=""):
        self.root = Path(root)
        self.api = api
        self.env = env
        self.name = name
        self.images = self.root / "images"
        self.volumes = self.root / "volumes"
        self.state = self.root / "state"
        self.logs = self.root / "logs"
        self.guests = self.root / "guests"
        self.sock = self.root / "rumprund.sock"
        self.conf = self.root / "rumprund.conf"
        self.accel = accel
        for d in (self.images, self.volumes, self.state, self.logs):
            d.mkdir(parents=True, exist_ok=True)
        # QEMU runs as libvirt-qemu: it must reach the image and volumes.
        for d in (self.root, self.images, self.volumes):
            os.chmod(d, 0o755)
        self.image = self.images / "rrguest"
        if not self.image.exists():
            self.image.write_bytes(GUEST_ELF.read_bytes())
        self.write_conf(accel=accel, bridges=bridges, networks=networks,
                        console_log_max=console_log_max,
                        stop_timeout=stop_timeout, extra_conf=extra_conf)
        self.proc = None
        self.runs = []		# stderr files, one per start
        self.allowed_warnings = list(HOST_WARNINGS)
        self.baseline_fds = None
        self.client = Client(self.sock, api, self)
        self.stopped_by_test = False
        self.exit_codes = []
        # A command to run rumprund under (systemd-socket-activate ...).
        self.wrap = []

    def write_conf(self, accel="tcg", bridges=(), networks=(),
                   console_log_max=65536, stop_timeout=10, extra_conf=""):
        lines = [
            "# Written by tests/e2e.",
            "socket = %s" % self.sock,
            "state_dir = %s" % self.state,
            "log_dir = %s" % self.logs,
            "guest_dir = %s" % self.guests,
            "image_dir = %s" % self.images,
            "volume_dir = %s" % self.volumes,
            "libvirt_uri = %s" % LIBVIRT_URI,
            "accel = %s" % accel,
            "firmware = auto",
            "console_log_max = %d" % console_log_max,
        ]
        # None: the daemon's default.
        if stop_timeout is not None:
            lines.append("stop_timeout = %d" % stop_timeout)
        lines += ["bridge = %s" % b for b in bridges]
        lines += ["network = %s" % n for n in networks]
        self.conf.write_text("\n".join(lines) + "\n" + extra_conf)

    # -- what a test declares

    def allow_warnings(self, *patterns):
        """Warning lines matching one of patterns are expected."""
        self.allowed_warnings += [re.compile(p) for p in patterns]

    # -- process control

    @property
    def pid(self):
        return self.proc.pid if self.proc is not None else None

    def alive(self):
        return self.proc is not None and self.proc.poll() is None

    def start(self, timeout=15.0, wait_connected=True):
        assert not self.alive(), "rumprund already runs"
        n = len(self.runs) + 1
        errpath = self.root / ("rumprund.%d.stderr" % n)
        self.runs.append(errpath)
        with open(errpath, "wb") as err:
            self.proc = subprocess.Popen(
                self.wrap + [str(DAEMON_BIN), "-d", "-f", str(self.conf)],
                stdin=subprocess.DEVNULL, stdout=err, stderr=err,
                cwd=str(self.root), close_fds=True, env=self.env)
        self.stopped_by_test = False
        dl = Deadline(timeout)
        last = None
        while True:
            if self.proc.poll() is not None:
                raise AssertionError("rumprund exited with %d at start%s"
                                     % (self.proc.returncode,
                                        self.describe()))
            try:
                r = self.client.request("GET", "/v1/health", timeout=2)
                last = r.json
                if r.status == 200 and (not wait_connected or
                                        last.get("kvm_connected")):
                    break
            except (OSError, http.client.HTTPException):
                pass
            if dl.passed():
                raise AssertionError(
                    "rumprund did not answer /v1/health%s within %.0f s "
                    "(last: %s)%s" % (" with kvm_connected" if wait_connected
                                      else "", timeout, last,
                                      self.describe()))
            time.sleep(0.02)
        # A warm-up request, then the fds to compare with at the end.
        self.client.get("/v1/info")
        self.baseline_fds = self.settled_fds()
        return self

    def signal(self, sig):
        if self.alive():
            os.kill(self.proc.pid, sig)

    def terminate(self, timeout=20.0):
        """SIGTERM; the exit status (must be 0)."""
        assert self.alive(), "rumprund is not running" + self.describe()
        self.proc.send_signal(signal.SIGTERM)
        try:
            rc = self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(5)
            raise AssertionError("rumprund did not exit within %.0f s of "
                                 "SIGTERM%s" % (timeout, self.describe()))
        self.exit_codes.append(rc)
        self.stopped_by_test = True
        if rc != 0:
            raise AssertionError("rumprund exited %d after SIGTERM%s"
                                 % (rc, self.describe()))
        return rc

    def kill9(self):
        assert self.alive(), "rumprund is not running" + self.describe()
        self.proc.kill()
        self.proc.wait(10)
        self.stopped_by_test = True

    def restart(self, **kw):
        if self.alive():
            self.terminate()
        return self.start(**kw)

    # -- state

    @property
    def owner(self):
        return (self.state / "owner").read_text().strip()

    @property
    def domain_prefix(self):
        return "rr-%s-" % self.owner[:8]

    def is_domain_of(self, domain, name, generation):
        """Whether domain is a name of instance name's generation:
        rr-<owner8>-<name>-<generation>-<8 hex digits>, a new tag for
        each incarnation (daemon/backend.h)."""
        return re.fullmatch(re.escape("%s%s-%d-" % (
            self.domain_prefix, name, generation)) + "[0-9a-f]{8}",
            domain) is not None

    def domains(self, running_only=False):
        """Our domains, as libvirt lists them."""
        names = running_domains() if running_only else all_domains()
        try:
            prefix = self.domain_prefix
        except OSError:
            return []
        return [n for n in names if n.startswith(prefix)]

    def records(self):
        d = self.state / "instances"
        return sorted(p.stem for p in d.glob("*.json")) if d.exists() else []

    def console_logs(self):
        d = self.logs / "console"
        return sorted(p.name for p in d.glob("*.log")) if d.exists() else []

    def volume(self, name, size=1 << 20):
        p = self.volumes / name
        with open(p, "wb") as f:
            f.truncate(size)
        os.chmod(p, 0o644)
        return str(p)

    def spec(self, name, argv, **kw):
        """A launch request for the test guest."""
        s = {"name": name, "image": str(self.image), "argv": ["rrguest"] +
             list(argv)}
        s.update(kw)
        return s

    # -- fds

    def fds(self):
        """fd -> what it points at, of the running daemon."""
        out = {}
        d = "/proc/%d/fd" % self.proc.pid
        for fd in os.listdir(d):
            try:
                out[int(fd)] = os.readlink(os.path.join(d, fd))
            except OSError:
                pass
        return out

    def _classify(self, fds, names):
        """The fds less console logs of live instances and inotify."""
        console_dir = str(self.logs / "console") + "/"
        rest, problems = [], []
        seen_logs = {}
        inotify = 0
        for fd, target in sorted(fds.items()):
            if target.startswith(console_dir):
                inst = target[len(console_dir):]
                inst = inst[:-4] if inst.endswith(".log") else inst
                seen_logs[inst] = seen_logs.get(inst, 0) + 1
                if inst not in names:
                    problems.append("fd %d: %s (no such instance)"
                                    % (fd, target))
                elif seen_logs[inst] > 1:
                    problems.append("fd %d: %s (opened %d times)"
                                    % (fd, target, seen_logs[inst]))
            elif target == "anon_inode:inotify":
                inotify += 1
                if inotify > 1:
                    problems.append("fd %d: a second inotify fd" % fd)
            else:
                kind = re.sub(r"\[\d+\]", "", target)
                rest.append(kind)
        return sorted(rest), problems

    def settled_fds(self, timeout=3.0):
        """The fd list once it stops changing for a moment."""
        prev = None
        dl = Deadline(timeout)
        while True:
            cur = self.fds()
            if cur == prev or dl.passed():
                return cur
            prev = cur
            time.sleep(0.1)

    def check_fds(self, streams_open=0, timeout=5.0):
        """No fd leaked since start (console logs of live instances and
        the inotify fd aside); None, or what is wrong."""
        if self.baseline_fds is None or not self.alive():
            return None
        names = set(i["name"] for i in self.client.list())
        base, _ = self._classify(self.baseline_fds, names)
        dl = Deadline(timeout)
        while True:
            cur, problems = self._classify(self.fds(), names)
            extra = list(cur)
            for k in base:
                if k in extra:
                    extra.remove(k)
            # An open stream holds one socket.
            socks = [k for k in extra if k.startswith("socket:")]
            if len(socks) <= streams_open and len(extra) == len(socks) \
                    and not problems:
                return None
            if dl.passed():
                return ("fds leaked: %s%s (baseline: %d fds besides console "
                        "logs, now %d)" % (
                            ", ".join(extra) or "none",
                            "; " + "; ".join(problems) if problems else "",
                            len(base), len(cur)))
            time.sleep(0.1)

    # -- its log

    def stderr_text(self):
        out = []
        for p in self.runs:
            try:
                out.append(p.read_text(errors="replace"))
            except OSError:
                pass
        return "".join(out)

    def log_tail(self, n=40):
        lines = self.stderr_text().splitlines()
        return "\n".join(lines[-n:])

    def describe(self):
        return "\n--- rumprund (%s) stderr, last lines:\n%s\n---" % (
            self.root, self.log_tail())

    def check_log(self):
        """Lines of the daemon's stderr that no test expects."""
        bad = []
        for i, p in enumerate(self.runs, 1):
            try:
                text = p.read_text(errors="replace")
            except OSError:
                continue
            for line in text.splitlines():
                for rx, what in LOG_CHECKS:
                    if rx.search(line):
                        bad.append("run %d: %s: %s" % (i, what, line))
                        break
                else:
                    if "warning" in line.lower() and not any(
                            rx.search(line) for rx in self.allowed_warnings):
                        bad.append("run %d: unexpected warning: %s"
                                   % (i, line))
        return bad


# ---------------------------------------------------------------------------
# Events


def read_events(stream, until, timeout, what="events"):
    """Events from stream until until(events) is true; the events.  The
    other lines of an event stream (openapi.yaml EventLine: heartbeats of
    an idle stream, "lost" for a gap in the kept seqs) are left out."""
    got = []
    dl = Deadline(timeout)
    while not until(got):
        if dl.passed():
            raise AssertionError("timed out waiting for %s; got %s%s"
                                 % (what, json.dumps(got)[-2000:],
                                    stream.client._describe()))
        try:
            line = stream.next_line(dl.left())
        except StreamTimeout:
            continue
        if line.get("type") not in ("heartbeat", "lost"):
            got.append(line)
    return got


def routes_from_c(path=ROUTES_C):
    """The (METHOD, path) pairs of routes_table in api/routes.c."""
    text = Path(path).read_text()
    m = re.search(r"routes_table\s*\[\s*\]\s*=\s*\{(.*?)\n\};", text, re.S)
    assert m, "routes_table not found in %s" % path
    body = re.sub(r"/\*.*?\*/", "", m.group(1), flags=re.S)
    return set(re.findall(r'\{\s*"([A-Z]+)"\s*,\s*"([^"]+)"\s*,', body))
