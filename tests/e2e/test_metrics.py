"""
GET /metrics, GET /v1/unikernels/{name}/stats and rrctl stats, against a
real libvirtd and QEMU, and scraped by a real Prometheus (Debian's
`prometheus` package, which scripts/deps.sh installs).

The Prometheus is this test's own: started on a free loopback port with a
temporary storage directory and a scrape configuration that reaches
rumprund over TLS with the token as `authorization: credentials_file`,
scraping every second, and always stopped (the fixture kills it if it does
not end on SIGTERM).  Its HTTP API (/api/v1/query) is what the test asks.
`promtool check metrics` (the same package) lints rumprund's text.

The stand-in: rrguest `tick MS` waits by polling the PIT, so its vCPU is
always busy, where a genuine rumprun guest halts when idle; its CPU time
grows faster than an idle genuine guest's (which still grows between two
reads: libvirt counts the whole QEMU process, timer interrupts included).
The tests assert growth, not a rate, and CPU % only as a number >= 0.
"""
import json
import shutil
import signal
import subprocess
import time
import urllib.parse
import urllib.request

import pytest

from rrlib import Deadline
from test_rrctl import rrctl, ok, denied, RRCTL
from test_tls import TCP, certs, free_port, tls_conf, tokens_file, \
    write_private  # noqa: F401 (certs is a fixture)

TOKEN = "metrics-token-0123456789abcdef"
RUNNING_KVM = 'rumprund_instances{state="running",platform="kvm"}'


def samples(text):
    """The text format's samples: {'name{labels}': value}."""
    out = {}
    for line in text.splitlines():
        if not line or line.startswith("#"):
            continue
        key, _, value = line.rpartition(" ")
        out[key] = float(value)
    return out


def metrics(d):
    """GET /metrics on the unix socket (checked against openapi.yaml)."""
    r = d.client.request("GET", "/metrics")
    assert r.status == 200, r
    assert r.header("Content-Type") == \
        "text/plain; version=0.0.4; charset=utf-8", r
    return r.body.decode()


def wait_for(what, fn, timeout=30.0, pause=0.2):
    dl = Deadline(timeout)
    last = None
    while True:
        last = fn()
        if last:
            return last
        assert not dl.passed(), "no %s within %.0f s" % (what, timeout)
        time.sleep(pause)


def promtool_check(text):
    tool = shutil.which("promtool")
    assert tool, "no promtool: run scripts/deps.sh (package prometheus)"
    p = subprocess.run([tool, "check", "metrics"], input=text,
                       capture_output=True, text=True, timeout=30)
    assert p.returncode == 0 and p.stdout == "" and p.stderr == "", \
        "promtool check metrics: %d\n%s%s" % (p.returncode, p.stdout,
                                              p.stderr)


def test_metrics_text_and_promtool(rrd):
    d = rrd()
    c = d.client
    before = samples(metrics(d))
    assert before[RUNNING_KVM] == 0
    assert before['rumprund_backend_connected{backend="kvm"}'] == 1
    assert before["rumprund_event_stream_clients"] == 0

    c.launch(d.spec("m1", ["tick", "100"]))
    c.wait_state("m1", "running")
    c.launch(d.spec("m2", ["exit", "0"]))
    c.wait_state("m2", "exited")
    c.wait_log("m1", "tick 3")
    ev = c.stream("/v1/events")
    text = metrics(d)
    promtool_check(text)
    s = samples(text)
    assert s[RUNNING_KVM] == 1, text
    assert s['rumprund_instances{state="exited",platform="kvm"}'] == 1
    assert s['rumprund_launches_total{platform="kvm"}'] == \
        before['rumprund_launches_total{platform="kvm"}'] + 2
    # Both reached main(): two observations of the launch latency.
    assert s['rumprund_launch_duration_seconds_count{platform="kvm"}'] == 2
    assert 0 < s['rumprund_launch_duration_seconds_sum{platform="kvm"}'] \
        < 120
    assert s['rumprund_console_bytes_total'] > 0
    assert s["rumprund_event_stream_clients"] == 1
    # The running guest has counters, the exited one none.
    assert s['rumprund_guest_cpu_seconds_total{name="m1",platform="kvm"}'] \
        > 0
    assert s['rumprund_guest_memory_bytes{name="m1",platform="kvm"}'] == \
        64 << 20
    assert not any('name="m2"' in k for k in s), text
    ev.close()
    c.close_streams()

    # A crash counts; the failure counter stays.
    c.launch(d.spec("m3", ["panic"]))
    c.wait_state("m3", "crashed")
    s2 = samples(metrics(d))
    assert s2['rumprund_crashes_total{platform="kvm"}'] == \
        s['rumprund_crashes_total{platform="kvm"}'] + 1
    assert s2['rumprund_failures_total{platform="kvm"}'] == \
        s['rumprund_failures_total{platform="kvm"}']

    # Unknown query parameters are refused, as on every path.
    r = c.request("GET", "/metrics?x=1")
    assert r.status == 400 and r.json["field"] == "x", r
    c.remove("m1", force=True)


def test_stats_route(rrd):
    d = rrd()
    c = d.client
    c.launch(d.spec("s1", ["tick", "100"]))
    c.wait_state("s1", "running")
    a = c.get("/v1/unikernels/s1/stats")
    assert a["name"] == "s1" and a["platform"] == "kvm"
    assert a["memory_bytes"] == 64 << 20
    assert a["memory_rss_bytes"] > 0
    # No disk, no NIC: zero, not unknown.
    assert a["block"]["read_bytes"] == 0 and a["net"]["rx_bytes"] == 0
    time.sleep(1.3)
    b = c.get("/v1/unikernels/s1/stats")
    assert b["time"] > a["time"], (a, b)
    assert b["cpu_time_ns"] > a["cpu_time_ns"] > 0, (a, b)

    # Within the cache's second, the same collection answers.
    x = c.get("/v1/unikernels/s1/stats")
    y = c.get("/v1/unikernels/s1/stats")
    assert x["time"] == y["time"] or y["time"] > x["time"]

    r = c.request("GET", "/v1/unikernels/nope/stats")
    assert r.status == 404, r
    r = c.request("GET", "/v1/unikernels/s1/stats?all=1")
    assert r.status == 400 and r.json["field"] == "all", r
    c.stop("s1", force=True)
    r = c.request("GET", "/v1/unikernels/s1/stats")
    assert r.status == 409 and r.json["field"] == "name", r
    assert "stopped" in r.json["message"], r

    # A guest launched right after a collection is in the next one.
    c.launch(d.spec("s2", ["tick", "100"]))
    c.get("/metrics")
    c.launch(d.spec("s3", ["tick", "100"]))
    c.wait_state("s3", ("starting", "running"))
    assert c.get("/v1/unikernels/s3/stats")["cpu_time_ns"] >= 0
    c.remove("s2", force=True)
    c.remove("s3", force=True)


def test_stats_disk_and_nic(rrd):
    # The block counters are the guest's own I/O, summed over its disks;
    # a NIC makes the network counters known (0 without traffic).
    d = rrd()
    c = d.client
    blk = [{"source": d.volume("a.img")}, {"source": d.volume("b.img")}]
    nics = [{"backend": {"type": "tap"}}]
    c.launch(d.spec("io", ["diskwrite", "HELLO", "diskread", "echo", "done",
                           "forever"], blk=blk, nics=nics))
    c.wait_log("io", "done")
    assert "diskread: HELLO" in c.logs("io"), c.logs("io")
    st = c.get("/v1/unikernels/io/stats")
    b = st["block"]
    assert b["write_requests"] >= 1 and b["write_bytes"] >= 512, st
    assert b["read_requests"] >= 1 and b["read_bytes"] >= 512, st
    for k in ("rx_bytes", "rx_packets", "tx_bytes", "tx_packets"):
        assert isinstance(st["net"][k], int) and st["net"][k] >= 0, st
    s = samples(metrics(d))
    assert s['rumprund_guest_block_write_bytes_total{name="io",'
             'platform="kvm"}'] == b["write_bytes"]
    c.remove("io", force=True)


def cpu_time(line):
    """The CPU TIME cell of an rrctl stats row: seconds."""
    cells = line.split()
    return float(cells[2].rstrip("s"))


def test_rrctl_stats(rrd):
    d = rrd()
    c = d.client
    c.launch(d.spec("r1", ["tick", "100"]))
    c.wait_state("r1", "running")
    c.launch(d.spec("r2", ["exit", "0"]))
    c.wait_state("r2", "exited")

    out1 = ok(rrctl(d, "stats", "--no-stream"))
    lines = out1.splitlines()
    assert lines[0].split()[:3] == ["NAME", "CPU", "%"], out1
    rows = [ln for ln in lines[1:] if ln.split()[0] == "r1"]
    assert len(rows) == 1, out1
    # Ended instances are not listed.
    assert not any(ln.split()[0] == "r2" for ln in lines[1:]), out1
    assert rows[0].split()[1].endswith("%"), out1
    t1 = cpu_time(rows[0])
    out2 = ok(rrctl(d, "stats", "--no-stream", "r1"))
    t2 = cpu_time(out2.splitlines()[1])
    assert t2 > t1 > 0, (out1, out2)

    j = json.loads(ok(rrctl(d, "stats", "--no-stream", "--format", "json")))
    assert [g["name"] for g in j] == ["r1"], j
    assert j[0]["cpu_percent"] is not None and j[0]["cpu_percent"] >= 0
    assert j[0]["cpu_time_ns"] > t2 * 1e9 * 0.99

    denied(rrctl(d, "stats", "--no-stream", "nosuch"),
           "no instance named nosuch")
    # A named guest without a domain is a row of "-".
    out = ok(rrctl(d, "stats", "--no-stream", "r2"))
    assert out.splitlines()[1].split() == ["r2"] + ["-"] * 6, out

    # Streaming: tables follow each other until SIGINT.
    p = subprocess.Popen([str(RRCTL), "--host", "unix://%s" % d.sock,
                          "stats", "r1"], stdout=subprocess.PIPE,
                         stderr=subprocess.PIPE, text=True)
    time.sleep(3.5)
    p.send_signal(signal.SIGINT)
    out, err = p.communicate(timeout=10)
    assert p.returncode == 130, (p.returncode, out, err)
    heads = [ln for ln in out.splitlines() if ln.startswith("NAME")]
    assert len(heads) >= 2, out
    c.remove("r1", force=True)


class Prometheus:
    """A Prometheus of the test's own on 127.0.0.1."""

    def __init__(self, root, targets_conf):
        self.port = free_port()
        self.root = root
        self.conf = root / "prometheus.yml"
        self.conf.write_text(targets_conf)
        self.data = root / "prom-data"
        self.data.mkdir()
        self.log = open(root / "prometheus.log", "wb")
        self.proc = subprocess.Popen(
            [shutil.which("prometheus"), "--config.file=%s" % self.conf,
             "--storage.tsdb.path=%s" % self.data,
             "--web.listen-address=127.0.0.1:%d" % self.port],
            stdin=subprocess.DEVNULL, stdout=self.log,
            stderr=subprocess.STDOUT)

    def api(self, path, **query):
        url = "http://127.0.0.1:%d%s?%s" % (self.port, path,
                                            urllib.parse.urlencode(query))
        with urllib.request.urlopen(url, timeout=5) as r:
            return json.loads(r.read())

    def query(self, expr):
        """The vector of expr: {frozenset(labels): value}."""
        out = self.api("/api/v1/query", query=expr)
        assert out["status"] == "success", out
        return {frozenset(v["metric"].items()): float(v["value"][1])
                for v in out["data"]["result"]}

    def value(self, expr):
        """The single value of expr, or None when it has no sample."""
        v = self.query(expr)
        assert len(v) <= 1, v
        return next(iter(v.values())) if v else None

    def ready(self):
        try:
            with urllib.request.urlopen("http://127.0.0.1:%d/-/ready"
                                        % self.port, timeout=2) as r:
                return r.status == 200
        except OSError:
            return False

    def log_text(self):
        return (self.root / "prometheus.log").read_text(errors="replace")

    def stop(self):
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)
        self.log.close()


@pytest.fixture
def prometheus(tmp_path):
    if shutil.which("prometheus") is None:
        pytest.fail("no prometheus: run scripts/deps.sh", pytrace=False)
    made = []

    def make(conf):
        p = Prometheus(tmp_path, conf)
        made.append(p)
        wait_for("Prometheus ready", p.ready, timeout=60)
        return p
    yield make
    for p in made:
        p.stop()


def test_prometheus_scrapes_over_tls_with_token(rrd, certs, prometheus):
    d = rrd(start=False)
    port = free_port()
    toks = tokens_file(d.root, TOKEN)
    wrong = write_private(d.root / "wrong-token", "not-" + TOKEN + "\n")
    good = write_private(d.root / "token", TOKEN + "\n")
    d.write_conf(extra_conf=tls_conf(certs, port, token_file=toks))
    d.start()
    c = d.client
    # Without the token, /metrics is refused like every path.
    t = TCP(d.api, port, certs)
    assert t.request("GET", "/metrics").status == 401
    assert t.request("GET", "/metrics", token=TOKEN).status == 200

    c.launch(d.spec("p1", ["tick", "100"]))
    c.wait_state("p1", "running")
    job = """
  - job_name: %(name)s
    scheme: https
    metrics_path: /metrics
    scrape_interval: 1s
    scrape_timeout: 1s
    tls_config:
      ca_file: %(ca)s
    authorization:
      type: Bearer
      credentials_file: %(cred)s
    static_configs:
      - targets: ['127.0.0.1:%(port)d']
"""
    conf = "global:\n  scrape_interval: 1s\n  evaluation_interval: 1s\n" \
        "scrape_configs:\n" + \
        job % {"name": "rumprund", "ca": certs / "ca.pem", "cred": good,
               "port": port} + \
        job % {"name": "badtoken", "ca": certs / "ca.pem", "cred": wrong,
               "port": port}
    prom = prometheus(conf)

    # The series arrive through Prometheus' own API.
    q = RUNNING_KVM[:-1] + ',job="rumprund"}'
    wait_for("%s == 1 in Prometheus" % q, lambda: prom.value(q) == 1,
             timeout=60)
    assert prom.value('up{job="rumprund"}') == 1
    # The same door as the API: a wrong token is refused, so no series.
    wait_for("badtoken scraped", lambda: prom.value(
        'up{job="badtoken"}') is not None, timeout=30)
    assert prom.value('up{job="badtoken"}') == 0, prom.log_text()
    assert prom.value('rumprund_instances{job="badtoken"}') is None
    cpu = 'rumprund_guest_cpu_seconds_total{job="rumprund",name="p1"}'
    wait_for(cpu, lambda: (prom.value(cpu) or 0) > 0, timeout=30)

    # A counter that grows, seen by Prometheus.
    launches = 'rumprund_launches_total{job="rumprund",platform="kvm"}'
    n0 = prom.value(launches)
    assert n0 >= 1
    c.launch(d.spec("p2", ["exit", "0"]))
    c.wait_state("p2", "exited")
    wait_for("%s > %d" % (launches, n0),
             lambda: prom.value(launches) > n0, timeout=30)
    wait_for("the guest's CPU time growing",
             lambda: (prom.value("increase(%s[5s])" % cpu) or 0) > 0,
             timeout=30)
    latency = 'rumprund_launch_duration_seconds_count{job="rumprund",' \
        'platform="kvm"}'
    assert prom.value(latency) >= 1

    # rrctl stats over TLS with the token, as a remote client.
    out = ok(rrctl(None, "--token-file", good, "--cacert",
                   certs / "ca.pem", "stats", "--no-stream",
                   host="https://127.0.0.1:%d" % port))
    assert any(ln.split()[0] == "p1" for ln in out.splitlines()[1:]), out
    c.remove("p1", force=True)
