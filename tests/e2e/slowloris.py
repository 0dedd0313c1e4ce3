"""
slowloris: clients that hold rumprund's connections open by sending their
requests one byte at a time (issue 13, B6), and a well-behaved client
timed meanwhile.

- Trickle(connect, n, every): n connections, each sending a request's
  bytes one at a time, one byte per connection every `every` seconds, the
  way the attack was measured (1100 connections, a byte every 4 s: each
  byte restarts libmicrohttpd's idle timeout).  connect() returns a
  connected blocking socket (plain or TLS, handshake done); the trickle
  makes it non-blocking.  With reopen=True a connection that rumprund
  closed is opened again at the next tick, so that the pressure lasts.
  alive() counts the connections rumprund has not closed.
- good_requests(fn, seconds, trickle): call fn() (one whole request, which
  must succeed) every 0.1 s for `seconds`, ticking the trickle in
  between; returns the latencies.
- raise_fd_limit(n): the test process needs an fd per connection.

Nothing here sleeps longer than a tick step; every wait has a deadline.
"""
import errno
import resource
import select
import socket
import ssl
import time

# A request that never ends: its headers go on for ever, one byte a tick.
SLOW_REQUEST = (b"GET /v1/health HTTP/1.1\r\nHost: rumprund\r\n" +
                b"X-Slow: " + b"a" * 100000)


def raise_fd_limit(n):
    """Make sure this process may open n fds; False if it cannot."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft >= n:
        return True
    try:
        resource.setrlimit(resource.RLIMIT_NOFILE,
                           (n, max(hard, n) if hard != resource.RLIM_INFINITY
                            else hard))
    except (ValueError, OSError):
        return False
    return True


class Trickle:
    def __init__(self, connect, n, every=4.0, request=SLOW_REQUEST,
                 reopen=False):
        self.connect = connect
        self.n = n
        self.every = every
        self.request = request
        self.reopen = reopen
        self.conns = []         # [socket or None, bytes sent]
        self.opened = 0
        self.failed_opens = 0
        self.closed_by_server = 0
        self.next_tick = 0.0
        for _ in range(n):
            self.conns.append([self._open(), 0])

    def _open(self):
        try:
            s = self.connect()
        except (OSError, ssl.SSLError):
            self.failed_opens += 1
            return None
        s.setblocking(False)
        self.opened += 1
        return s

    def _closed(self, c):
        try:
            c[0].close()
        except OSError:
            pass
        c[0] = None
        self.closed_by_server += 1

    def _reap(self):
        """Notice the connections rumprund has closed."""
        by_fd = {c[0].fileno(): c for c in self.conns if c[0] is not None}
        p = select.poll()
        for fd in by_fd:
            p.register(fd, select.POLLIN)
        for fd, _ in p.poll(0):
            c = by_fd[fd]
            try:
                c[0].recv(4096)
            except (ssl.SSLWantReadError, BlockingIOError):
                continue    # a TLS record that was no data (a ticket)
            except (OSError, ssl.SSLError):
                pass
            # The end of the stream, or an answer (not expected, but it
            # also ends the attack on this connection).
            self._closed(c)

    def tick(self):
        """One byte on every connection, if a tick is due."""
        now = time.monotonic()
        if now < self.next_tick:
            return
        self.next_tick = now + self.every
        self._reap()
        for c in self.conns:
            if c[0] is None:
                if not self.reopen:
                    continue
                c[0], c[1] = self._open(), 0
                if c[0] is None:
                    continue
            try:
                c[0].send(self.request[c[1]:c[1] + 1])
                c[1] += 1
            except (BlockingIOError, ssl.SSLWantWriteError,
                    ssl.SSLWantReadError):
                pass
            except (OSError, ssl.SSLError) as e:
                if getattr(e, "errno", None) not in (errno.EAGAIN,):
                    self._closed(c)

    def alive(self):
        self._reap()
        return sum(1 for c in self.conns if c[0] is not None)

    def close(self):
        for c in self.conns:
            if c[0] is not None:
                try:
                    c[0].close()
                except OSError:
                    pass
                c[0] = None


def unix_connect(path, patience=2.0):
    """A unix socket connect that, like a blocking one, waits (up to
    patience seconds) while the server's backlog is full."""
    def connect():
        end = time.monotonic() + patience
        while True:
            s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            s.setblocking(False)
            try:
                s.connect(str(path))
                s.setblocking(True)
                return s
            except BlockingIOError:
                s.close()
                if time.monotonic() >= end:
                    raise
                time.sleep(0.01)
            except OSError:
                s.close()
                raise
    return connect


def tls_connect(port, ctx, host="127.0.0.1"):
    def connect():
        raw = socket.create_connection((host, port), timeout=10)
        try:
            return ctx.wrap_socket(raw, server_hostname=host)
        except BaseException:
            raw.close()
            raise
    return connect


def good_requests(fn, seconds, trickle, step=0.1):
    """Latencies of fn() every step seconds for seconds, the trickle going
    on; fn raises when the answer is wrong."""
    lat = []
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        trickle.tick()
        t = time.monotonic()
        fn()
        lat.append(time.monotonic() - t)
        trickle.tick()
        time.sleep(step)
    return lat
