"""
load: many concurrent API clients against one rumprund, for the stress
tests.

Load(daemon, clients=200) runs `clients` asyncio tasks in a thread of its
own, each looping over a random mix of operations until stop():

    list        GET /v1/unikernels[?state=running]          200
    get         GET /v1/unikernels/{name}                   200 404
    logs        GET /v1/unikernels/{name}/logs?tail=5       200 404
    follow      GET .../logs?follow=true, read <= 1 s, leave 200 404
    launch      POST /v1/unikernels                         201 200 409
    stop        POST .../stop?force=true|timeout=0          200 404
    remove      DELETE /v1/unikernels/{name}[?force=true]   200 404 409
    events      GET /v1/events?since=0&follow=false         200
    info        GET /v1/info, GET /v1/health                200

Names come from a pool of `names` ("s00".."sNN"); each name always gets
the same launch request (a guest that exits, sleeps, ticks, spams a little
or stays), so a repeated launch is idempotent (200) and never a 409 for a
different spec; 409 comes from the instance limit only.

Every answer's status must be in its operation's set above and documented
in openapi.yaml for its path; every error answer and one success in
`validate_every` is validated against openapi.yaml in full.  During a
fault (tolerate(...)) more answers are accepted: transport errors (the
daemon is down) and/or 503.  Everything else is an "unexpected" answer,
kept with its time, operation, status and body.
"""
import asyncio
import json
import random
import socket
import threading
import time

import rrlib

EXPECTED = {
    "list": {200},
    "get": {200, 404},
    "logs": {200, 404},
    "follow": {200, 404},
    "launch": {200, 201, 409},
    "stop": {200, 404},
    "remove": {200, 404, 409},
    "events": {200},
    "info": {200},
}

# Weights of the operations.
MIX = [("list", 25), ("get", 20), ("logs", 8), ("follow", 7),
       ("launch", 14), ("stop", 9), ("remove", 9), ("events", 3),
       ("info", 5)]

# The guest behaviours, by name index.
BEHAVIOURS = [
    ["exit", "0"],
    ["sleepms", "300", "exit", "3"],
    ["tick", "50"],
    ["forever"],
    ["spam", "200", "exit", "0"],
    ["echo", "hi", "sleepms", "1500", "exit", "1"],
]


class TransportError(Exception):
    pass


async def connect(path, timeout):
    """A unix socket connection; (reader, writer).

    A non-blocking connect() to a unix socket whose listen backlog is
    full fails with EAGAIN at once (a blocking one would wait), and
    asyncio then takes the socket for connected: retry instead, as a
    blocking client's connect() would wait."""
    end = time.monotonic() + timeout
    while True:
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        s.setblocking(False)
        try:
            s.connect(path)
            break
        except BlockingIOError:
            s.close()
            if time.monotonic() > end:
                raise TransportError("connect: the listen backlog stayed "
                                     "full for %.0f s" % timeout) from None
            await asyncio.sleep(0.005)
        except OSError as e:
            s.close()
            raise TransportError("connect: %s" % e) from None
    return await asyncio.open_unix_connection(sock=s)


async def request(sock, method, path, body=None, timeout=30.0):
    """One request on a fresh connection; (status, headers, body)."""
    try:
        r, w = await connect(sock, timeout)
    except (OSError, asyncio.TimeoutError) as e:
        raise TransportError("connect: %s" % e) from None
    try:
        data = body.encode() if body is not None else b""
        head = "%s %s HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n" \
            % (method, path)
        if body is not None:
            head += "Content-Type: application/json\r\nContent-Length: %d\r\n" \
                % len(data)
        w.write(head.encode() + b"\r\n" + data)
        await w.drain()
        raw = await asyncio.wait_for(r.read(), timeout)
    except (OSError, asyncio.TimeoutError, asyncio.IncompleteReadError) as e:
        raise TransportError("%s %s: %s" % (method, path, e)) from None
    finally:
        w.close()
    return parse(raw, method, path)


def parse(raw, method, path):
    if b"\r\n\r\n" not in raw:
        raise TransportError("%s %s: no complete answer (%d bytes)"
                             % (method, path, len(raw)))
    head, body = raw.split(b"\r\n\r\n", 1)
    lines = head.decode("latin-1").split("\r\n")
    try:
        status = int(lines[0].split()[1])
    except (IndexError, ValueError):
        raise TransportError("%s %s: bad status line %r"
                             % (method, path, lines[0])) from None
    headers = {}
    for l in lines[1:]:
        if ":" in l:
            k, v = l.split(":", 1)
            headers[k.strip().lower()] = v.strip()
    if "chunked" in headers.get("transfer-encoding", "").lower():
        out = b""
        while True:
            nl = body.find(b"\r\n")
            if nl < 0:
                break
            size = int(body[:nl].split(b";")[0] or b"0", 16)
            if size == 0:
                break
            out += body[nl + 2:nl + 2 + size]
            body = body[nl + 2 + size + 2:]
        body = out
    return status, headers, body


async def follow(sock, path, seconds):
    """A follower that reads for up to `seconds`, then leaves; status."""
    try:
        r, w = await connect(sock, 10)
    except (OSError, asyncio.TimeoutError) as e:
        raise TransportError("connect: %s" % e) from None
    try:
        w.write(("GET %s HTTP/1.1\r\nHost: localhost\r\n"
                 "Connection: close\r\n\r\n" % path).encode())
        await w.drain()
        head = await asyncio.wait_for(r.readuntil(b"\r\n\r\n"), 10)
        status = int(head.split(b" ", 2)[1])
        headers = {}
        for l in head.decode("latin-1").split("\r\n")[1:]:
            if ":" in l:
                k, v = l.split(":", 1)
                headers[k.strip().lower()] = v.strip()
        if status == 200:
            end = time.monotonic() + seconds
            while time.monotonic() < end:
                try:
                    chunk = await asyncio.wait_for(
                        r.read(65536), max(0.01, end - time.monotonic()))
                except asyncio.TimeoutError:
                    break
                if not chunk:
                    break
            body = b""
        else:
            body = await asyncio.wait_for(r.read(), 10)
        if "chunked" in headers.get("transfer-encoding", "").lower():
            body = parse(head + body, "GET", path)[2]
        return status, headers, body
    except (OSError, asyncio.TimeoutError, asyncio.IncompleteReadError,
            ValueError, IndexError) as e:
        raise TransportError("%s: %s" % (path, e)) from None
    finally:
        w.close()


class Load:
    def __init__(self, daemon, clients=200, names=40, seed=1,
                 validate_every=20, image=None):
        self.d = daemon
        self.sock = str(daemon.sock)
        self.api = daemon.api
        self.clients = clients
        self.names = ["s%02d" % i for i in range(names)]
        self.image = str(image or daemon.image)
        self.rng = random.Random(seed)
        self.validate_every = validate_every
        self.stop_flag = threading.Event()
        self.thread = None
        self.lock = threading.Lock()
        self.counts = {}		# (op, status) -> n
        self.unexpected = []		# (t, op, what)
        self.tolerated = {}		# what -> n
        self.failed_launches = []	# launch answers in state failed
        self.latency = {}		# op -> [seconds]
        self._tolerate = set()
        self.started = None
        self.ops = 0
        self.grace = 1.0
        self.left = 0

    # -- what a test declares during a fault

    def tolerate(self, *what):
        """Accept these too until tolerate() again: "transport" and/or
        (op, status) pairs, or ("*", status)."""
        with self.lock:
            self._tolerate = set(what)

    def spec(self, name):
        i = int(name[1:])
        return {"name": name, "image": self.image, "memory_mib": 32,
                "argv": ["rrguest"] + BEHAVIOURS[i % len(BEHAVIOURS)]}

    # -- running

    def start(self):
        self.started = time.monotonic()
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()
        return self

    def stop(self, timeout=120):
        self.stop_flag.set()
        self.thread.join(timeout)
        assert not self.thread.is_alive(), "the load did not stop"
        return self

    def _run(self):
        asyncio.run(self._main())

    async def _main(self):
        tasks = [asyncio.ensure_future(self._client(i))
                 for i in range(self.clients)]
        while not self.stop_flag.is_set():
            await asyncio.sleep(0.05)
        # Requests still waiting (a stop waits for the guest's end) get a
        # moment; then their clients leave, which the daemon must take too.
        done, pending = await asyncio.wait(tasks, timeout=self.grace)
        for t in pending:
            t.cancel()
        if pending:
            await asyncio.wait(pending)
        self.left = len(pending)

    async def _client(self, i):
        rng = random.Random(self.rng.random() + i)
        ops = [op for op, w in MIX for _ in range(w)]
        # Spread the start over 0.2 s.
        await asyncio.sleep(rng.random() * 0.2)
        while not self.stop_flag.is_set():
            op = rng.choice(ops)
            name = rng.choice(self.names)
            t0 = time.monotonic()
            try:
                method, path, status, headers, body = await self._op(
                    op, name, rng)
            except TransportError as e:
                self._note(op, None, str(e))
                await asyncio.sleep(0.05)
                continue
            except Exception as e:  # noqa: BLE001 (a bug of the load)
                self._note(op, None, "load bug: %s: %s"
                           % (type(e).__name__, e), force_unexpected=True)
                continue
            dt = time.monotonic() - t0
            self._check(op, method, path, status, headers, body, dt)

    async def _op(self, op, name, rng):
        s = self.sock
        if op == "list":
            path = "/v1/unikernels" + ("?state=running" if rng.random() <
                                       0.3 else "")
            return ("GET", path) + await request(s, "GET", path)
        if op == "get":
            path = "/v1/unikernels/" + name
            return ("GET", path) + await request(s, "GET", path)
        if op == "logs":
            path = "/v1/unikernels/%s/logs?tail=5" % name
            return ("GET", path) + await request(s, "GET", path)
        if op == "follow":
            path = "/v1/unikernels/%s/logs?follow=true" % name
            return ("GET", path) + await follow(s, path, rng.random())
        if op == "launch":
            path = "/v1/unikernels"
            return ("POST", path) + await request(
                s, "POST", path, json.dumps(self.spec(name)))
        if op == "stop":
            q = "force=true" if rng.random() < 0.7 else "timeout=0"
            path = "/v1/unikernels/%s/stop?%s" % (name, q)
            return ("POST", path) + await request(s, "POST", path)
        if op == "remove":
            path = "/v1/unikernels/" + name + ("?force=true" if rng.random()
                                               < 0.3 else "")
            return ("DELETE", path) + await request(s, "DELETE", path)
        if op == "events":
            path = "/v1/events?since=0&follow=false"
            return ("GET", path) + await request(s, "GET", path)
        path = "/v1/info" if rng.random() < 0.5 else "/v1/health"
        return ("GET", path) + await request(s, "GET", path)

    def _note(self, op, status, what, force_unexpected=False):
        with self.lock:
            tol = self._tolerate
            if not force_unexpected and (
                    (status is None and "transport" in tol) or
                    (op, status) in tol or ("*", status) in tol):
                key = "transport" if status is None else "%s %s" % (op,
                                                                    status)
                self.tolerated[key] = self.tolerated.get(key, 0) + 1
                return
            self.unexpected.append((round(time.monotonic() - self.started,
                                          2), op, what))

    def _check(self, op, method, path, status, headers, body, dt):
        with self.lock:
            self.ops += 1
            n = self.ops
            self.counts[(op, status)] = self.counts.get((op, status), 0) + 1
            self.latency.setdefault(op, []).append(dt)
        if status not in EXPECTED[op]:
            self._note(op, status, "%s %s -> %d: %s" % (
                method, path, status, body[:300].decode("utf-8", "replace")))
            return
        ctype = headers.get("content-type")
        if status >= 400 or n % self.validate_every == 0:
            try:
                if op == "follow" and status == 200:
                    self.api.validate(method, path, status, ctype, b"")
                else:
                    self.api.validate(method, path, status, ctype, body)
            except rrlib.ContractViolation as e:
                self._note(op, status, "contract: %s" % str(e)[:500],
                           force_unexpected=True)
        if op == "launch" and status in (200, 201):
            try:
                v = json.loads(body)
            except ValueError:
                return
            if v.get("state") == "failed":
                with self.lock:
                    self.failed_launches.append(
                        (round(time.monotonic() - self.started, 2),
                         v.get("name"), v.get("reason")))

    # -- results

    def report(self):
        lines = ["%d operations by %d clients in %.1f s" % (
            self.ops, self.clients, time.monotonic() - self.started)]
        for (op, st), n in sorted(self.counts.items(),
                                  key=lambda x: (x[0][0], x[0][1] or 0)):
            lines.append("  %-7s %s: %d" % (op, st, n))
        for op, v in sorted(self.latency.items()):
            v = sorted(v)
            lines.append("  %-7s latency p50 %.1f ms, p99 %.1f ms, max %.1f"
                         " ms" % (op, 1000 * v[len(v) // 2],
                                  1000 * v[min(len(v) - 1,
                                               int(0.99 * len(v)))],
                                  1000 * v[-1]))
        if self.left:
            lines.append("  clients that left with a request in flight "
                         "at the end: %d" % self.left)
        if self.tolerated:
            lines.append("  tolerated during faults: %s" % self.tolerated)
        if self.failed_launches:
            lines.append("  launches answered `failed`: %d, e.g. %s" % (
                len(self.failed_launches), self.failed_launches[:3]))
        if self.unexpected:
            lines.append("  UNEXPECTED: %d, e.g.:" % len(self.unexpected))
            lines += ["    %s" % (u,) for u in self.unexpected[:10]]
        return "\n".join(lines)

    def count(self, op, status=None):
        return sum(n for (o, s), n in self.counts.items()
                   if o == op and (status is None or s == status))


def cleanup(d, timeout=60):
    """Stop and remove every instance of d (sequentially)."""
    c = d.client
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        insts = c.list()
        if not insts:
            return
        for inst in insts:
            c.request("POST", "/v1/unikernels/%s/stop?force=true"
                      % inst["name"], timeout=60)
            c.request("DELETE", "/v1/unikernels/%s?force=true" % inst["name"],
                      timeout=60)
    raise AssertionError("instances left after %d s: %s"
                         % (timeout, [i["name"] for i in c.list()]))
