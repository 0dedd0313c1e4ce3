#!/usr/bin/env python3
"""
bench.py: rumprund's benchmarks, side by side with the alternatives
(see bench/README.md).  `make bench` runs it; it prints tables and writes
every sample as JSON (--json).

Sections (--only a,b,...):
  firmware launch to the first console byte and to main() with SeaBIOS
           (rumprund's default), qboot and SeaBIOS's microvm build, side
           by side (interleaved), through libvirt with rumprund's domain
           XML and as raw QEMU; TCG, and KVM when the guest boots under it
  launch   sequential launch latency: rumprund's API vs direct libvirt
           (bench/direct_libvirt.c, the same domain XML through
           backends/kvm_xml.c) vs raw QEMU; with and without the
           fast_cpu_probe override; TCG, and KVM when the guest boots
           under it here
  burst    1, 10, 50, 100 guests launched at once: through the API, through
           direct libvirt with as many threads, and with as many threads
           as rumprund's pool has (POOL_THREADS in main/main.c:
           rumprund's own parallelism)
  scale    0, 100, 1000 records in the table: start time, RSS, fds, list /
           by-name latency, launch latency
  api      requests/s and p99 of GET /v1/unikernels and GET
           /v1/unikernels/{name}: wrk over TCP loopback, bench/uload over
           TCP and over the unix socket
  follow   console byte -> follower latency, 1 and 50 followers, bytes
           appended to the log file and the guest's own ticks

Everything runs against a private libvirtd (tests/stress/privlibvirt.sh)
unless --shared-libvirt.  Only loopback and unix sockets are used.
"""
import argparse
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "tests" / "e2e"))

MIB = 1024


def parse_args():
    p = argparse.ArgumentParser(description=__doc__,
                                formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--build", default="build")
    p.add_argument("--daemon", help="rumprund binary (default BUILD/rumprund)")
    p.add_argument("--only",
                   default="firmware,launch,burst,scale,api,follow")
    p.add_argument("--quick", action="store_true",
                   help="a few seconds per section (development)")
    p.add_argument("--runs", type=int, default=30,
                   help="sequential launches per method (default 30)")
    p.add_argument("--fw-runs", type=int, default=10,
                   help="launches per firmware and method (default 10)")
    p.add_argument("--bursts", default="1,10,50,100")
    p.add_argument("--records", default="0,100,1000")
    p.add_argument("--accel", default="auto",
                   help="tcg, kvm, tcg,kvm or auto (kvm when it boots)")
    p.add_argument("--duration", type=float, default=5.0,
                   help="seconds per throughput measurement")
    p.add_argument("--shared-libvirt", action="store_true",
                   help="use qemu:///system instead of a private libvirtd")
    p.add_argument("--json", help="write every sample here")
    p.add_argument("--perf", metavar="DIR",
                   help="burst: perf record -g rumprund and libvirtd "
                   "(direct libvirt: libvirtd) during each burst, into "
                   "DIR/burst-N-METHOD.data")
    p.add_argument("--keep", action="store_true", help="keep the work dir")
    a = p.parse_args()
    if a.quick:
        # Shorter everything, unless said otherwise.
        d = p.get_default
        a.runs = min(a.runs, 6)
        a.fw_runs = min(a.fw_runs, 3)
        a.bursts = "1,10" if a.bursts == d("bursts") else a.bursts
        a.records = "0,100" if a.records == d("records") else a.records
        a.duration = 1.0 if a.duration == d("duration") else a.duration
    return a


ARGS = parse_args()
BUILD = Path(ARGS.build).resolve()
os.environ["RR_BUILD"] = str(BUILD)
os.environ["RR_DAEMON"] = str(Path(ARGS.daemon).resolve()) if ARGS.daemon \
    else str(BUILD / "rumprund")
import rrlib  # noqa: E402  (after RR_BUILD is set)

# rumprund's libuv pool (main/main.c, POOL_THREADS): the parallelism of
# its backend calls, which the burst's second direct libvirt row matches.
POOL = int(re.search(r'#define POOL_THREADS\s+"(\d+)"',
                     (REPO / "main" / "main.c").read_text()).group(1))

BENCH = BUILD / "bench"
DIRECT = BENCH / "direct_libvirt"
APIBENCH = BENCH / "apibench"
ULOAD = BENCH / "uload"
BARE = BENCH / "bare_httpd"
QBOOT = "/usr/share/qemu/qboot.rom"
SEABIOS_MICROVM = "/usr/share/seabios/bios-microvm.bin"
# Makes the test guest talk on COM1 whatever the firmware left in the BIOS
# data area (a genuine rumprun guest, like rrguest without it, is silent
# under qboot): only for timing firmwares against each other.
FORCE_COM1 = "rrguest.console=com1"
RESULTS = {"machine": {}, "sections": {}}


# ---------------------------------------------------------------------------
# Helpers


def log(msg):
    print(msg, file=sys.stderr, flush=True)


def pct(values, p):
    """Nearest-rank percentile; None for no values."""
    v = sorted(x for x in values if x is not None and x >= 0)
    if not v:
        return None
    k = max(1, min(len(v), int(p * len(v) + 0.999999)))
    return v[k - 1]


def summary(values):
    v = [x for x in values if x is not None and x >= 0]
    return {"n": len(v), "min": min(v) if v else None, "p50": pct(v, 0.5),
            "p99": pct(v, 0.99), "max": max(v) if v else None}


def fmt(x, digits=1):
    if x is None:
        return "-"
    if isinstance(x, float):
        return "%.*f" % (digits, x)
    return str(x)


def fmt3(s):
    """min / median / p99 of a summary."""
    return "%s / %s / %s" % (fmt(s["min"]), fmt(s["p50"]), fmt(s["p99"]))


def table(title, header, rows, notes=()):
    widths = [len(h) for h in header]
    for r in rows:
        for i, c in enumerate(r):
            widths[i] = max(widths[i], len(str(c)))
    print()
    print(title)
    print("  ".join(h.ljust(widths[i]) for i, h in enumerate(header)))
    print("  ".join("-" * w for w in widths))
    for r in rows:
        print("  ".join(str(c).ljust(widths[i]) for i, c in enumerate(r)))
    for n in notes:
        print("  " + n)
    sys.stdout.flush()


def run_json(cmd, timeout=900):
    """Run one of our C programs; its JSON lines."""
    p = subprocess.run([str(c) for c in cmd], capture_output=True, text=True,
                       timeout=timeout)
    if p.returncode != 0:
        raise RuntimeError("%s failed (%d): %s" % (
            " ".join(str(c) for c in cmd[:2]), p.returncode,
            p.stderr.strip()[-2000:]))
    if p.stderr.strip():
        log(p.stderr.strip()[-1000:])
    return [json.loads(l) for l in p.stdout.splitlines() if l.startswith("{")]


def loadavg():
    return open("/proc/loadavg").read().split()[0]


def cpu_ms(pid):
    try:
        f = open("/proc/%d/stat" % pid).read()
    except OSError:
        return None
    rest = f[f.rindex(")") + 2:].split()
    return (int(rest[11]) + int(rest[12])) * 1000.0 / os.sysconf("SC_CLK_TCK")


def rss_kib(pid):
    try:
        for line in open("/proc/%d/status" % pid):
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    except OSError:
        pass
    return None


def nfds(pid):
    try:
        return len(os.listdir("/proc/%d/fd" % pid))
    except OSError:
        return None


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def machine_info():
    info = {}
    try:
        for line in open("/proc/cpuinfo"):
            if line.startswith("model name"):
                info["cpu"] = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    info["cores"] = os.cpu_count()
    for line in open("/proc/meminfo"):
        if line.startswith("MemTotal:"):
            info["mem_gib"] = round(int(line.split()[1]) / 1024 / 1024, 1)
    info["kernel"] = os.uname().release
    for cmd, key in ((["qemu-system-x86_64", "--version"], "qemu"),
                     (["libvirtd", "--version"], "libvirt")):
        try:
            out = subprocess.run(cmd, capture_output=True, text=True,
                                 timeout=10).stdout
            info[key] = out.splitlines()[0].strip()
        except (OSError, IndexError, subprocess.SubprocessError):
            pass
    info["loadavg_at_start"] = loadavg()
    return info


# ---------------------------------------------------------------------------
# libvirt and the daemon


class Env:
    """The work directory, libvirt, the guest image."""

    def __init__(self):
        self.root = Path(tempfile.mkdtemp(prefix="rrb.", dir="/tmp"))
        os.chmod(self.root, 0o755)
        self.lvdir = self.root / "lv"
        self.private = not ARGS.shared_libvirt
        if self.private:
            p = subprocess.run([str(REPO / "tests/stress/privlibvirt.sh"),
                                "up", str(self.lvdir)], capture_output=True,
                               text=True, timeout=120)
            if p.returncode != 0:
                raise RuntimeError("privlibvirt.sh up: " + p.stderr)
            self.uri = p.stdout.strip().splitlines()[-1]
            self.libvirtd_pidfile = self.lvdir / "run" / "libvirtd.pid"
        else:
            subprocess.run([str(REPO / "scripts/libvirt-up.sh")], check=True,
                           capture_output=True, timeout=120)
            self.uri = rrlib.LIBVIRT_URI
            self.libvirtd_pidfile = Path("/run/libvirtd.pid")
        rrlib.LIBVIRT_URI = self.uri
        self.api = rrlib.OpenAPI()
        self.n = 0
        # The baselines' console logs.
        self.direct_logs = self.root / "direct"
        self.direct_logs.mkdir()
        os.chmod(self.direct_logs, 0o755)
        self.image_dir = self.root / "images"
        self.image_dir.mkdir()
        os.chmod(self.image_dir, 0o755)
        self.image = self.image_dir / "rrguest"
        shutil.copy(rrlib.GUEST_ELF, self.image)
        os.chmod(self.image, 0o644)

    def libvirtd_pid(self):
        try:
            return int(self.libvirtd_pidfile.read_text().strip())
        except (OSError, ValueError):
            return None

    def daemon(self, accel="tcg", extra="", start=True, root=None):
        self.n += 1
        root = root or self.root / ("d%d" % self.n)
        root.mkdir(parents=True, exist_ok=True)
        conf = "libvirt_uri = %s\nmax_instances = 4096\n%s" % (self.uri,
                                                               extra)
        d = rrlib.Daemon(str(root), self.api, dict(os.environ), accel=accel,
                         console_log_max=1 << 20, extra_conf=conf)
        # The launch requests name the shared image.
        d.write_conf(accel=accel, console_log_max=1 << 20,
                     extra_conf=conf + "image_dir = %s\n" % self.image_dir)
        if start:
            d.start(timeout=30)
        return d

    def close(self):
        if self.private:
            subprocess.run([str(REPO / "tests/stress/privlibvirt.sh"), "down",
                            str(self.lvdir)], capture_output=True, timeout=120)
        if not ARGS.keep:
            shutil.rmtree(self.root, ignore_errors=True)
        else:
            log("bench: kept %s" % self.root)


def stop_daemon(d):
    if d.alive():
        d.terminate()


def guest_boots_under_kvm():
    if not os.path.exists("/dev/kvm"):
        return False
    with tempfile.TemporaryDirectory(prefix="rrb-kvm-") as t:
        logf = os.path.join(t, "serial.log")
        p = subprocess.Popen(
            ["qemu-system-x86_64", "-accel", "kvm", "-kernel",
             str(rrlib.GUEST_ELF), "-append", '{"cmdline":"rrguest exit 0"}',
             "-nodefaults", "-display", "none", "-no-reboot", "-m", "32",
             "-serial", "file:" + logf],
            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL)
        ok = False
        # SeaBIOS takes seconds under a software KVM.
        end = time.monotonic() + 30
        while time.monotonic() < end and p.poll() is None:
            try:
                if rrlib.returned(0) in open(logf).read():
                    ok = True
                    break
            except OSError:
                pass
            time.sleep(0.02)
        p.kill()
        p.wait()
        return ok


# ---------------------------------------------------------------------------
# launch


def direct(env, mode, accel, runs=None, fast="yes", burst=None,
           parallel=None, args=("forever",), prefix=None, firmware="seabios",
           cmdline_prefix=None):
    cmd = [DIRECT, mode, "--image", env.image, "--logdir", env.direct_logs,
           "--accel", accel, "--fast-cpu-probe", fast, "--uri", env.uri,
           "--firmware", firmware]
    if cmdline_prefix:
        cmd += ["--cmdline-prefix", cmdline_prefix]
    for a in args:
        cmd += ["--arg", a]
    if runs is not None:
        cmd += ["--runs", runs]
    if burst is not None:
        cmd += ["--burst", burst, "--parallel", parallel or burst]
    if prefix:
        cmd += ["--prefix", prefix]
    return run_json(cmd)


def apibench(d, mode, **kw):
    cmd = [APIBENCH, mode, "--sock", d.sock, "--image", ENV.image,
           "--logdir", d.logs / "console", "--pid", d.pid]
    for a in kw.pop("args", ()):
        cmd += ["--arg", a]
    for k, v in kw.items():
        cmd += ["--" + k, v]
    return run_json(cmd)


FIRMWARES = [
    ("seabios", "SeaBIOS (bios.bin, the default)", "seabios"),
    ("qboot", "qboot", QBOOT),
    ("seabios-microvm", "SeaBIOS microvm build", SEABIOS_MICROVM),
]


def section_firmware(env, accels):
    """First console byte and main() per firmware, interleaved."""
    chunk = min(5, ARGS.fw_runs)
    rounds = max(1, ARGS.fw_runs // chunk)
    out = {}
    fws = [f for f in FIRMWARES
           if f[2] == "seabios" or os.path.exists(f[2])]
    for accel in accels:
        samples = {}
        for r in range(rounds):
            log("firmware %s: round %d/%d (load %s)"
                % (accel, r + 1, rounds, loadavg()))
            for key, _, fw in fws:
                for mode in ("libvirt", "qemu"):
                    samples.setdefault(mode + "-" + key, []).extend(
                        direct(env, mode, accel, runs=chunk, firmware=fw,
                               cmdline_prefix=FORCE_COM1))
        out[accel] = samples
        rows = []
        for mode, mlabel in (("libvirt", "libvirt, rumprund's XML"),
                             ("qemu", "raw QEMU")):
            for key, label, _ in fws:
                s = samples.get(mode + "-" + key, [])
                if not s:
                    continue
                fails = sum(1 for x in s if not x.get("ok"))
                rows.append(["%s, %s" % (mlabel, label), len(s) - fails,
                             fmt3(metric(s, "first_byte")),
                             fmt3(metric(s, "marker"))])
        notes = ["ms from just before virDomainCreateXML / posix_spawn; "
                 "min / median / p99",
                 "the guest is told to use COM1 whatever the BIOS data "
                 "area says (%s): a genuine rumprun" % FORCE_COM1,
                 "guest under qboot prints nothing at all"]
        for mode in ("libvirt", "qemu"):
            base = samples.get(mode + "-qboot")
            for key, label, _ in fws:
                s = samples.get(mode + "-" + key)
                if key == "qboot" or not s or not base:
                    continue
                for m, what in (("first_byte", "first byte"),
                                ("marker", "main()")):
                    a, b = metric(s, m)["p50"], metric(base, m)["p50"]
                    if a and b:
                        notes.append("%s: %s - qboot, %s median: %+.1f ms"
                                     % (mode, label, what, a - b))
        table("Firmware, %s, sequential, guest `rrguest forever`, 32 MiB "
              "(ms)" % accel.upper(),
              ["method, firmware", "n", "first byte", "main() in log"],
              rows, notes)
    RESULTS["sections"]["firmware"] = out


def tag(samples, r):
    """The round each launch was made in (for paired())."""
    for s in samples:
        s["round"] = r
    return samples


def paired(a, b, ka, kb=None):
    """The median over the rounds of (a's median / b's median in the same
    round): the machine's load in each round cancels out.  None when no
    round has both."""
    kb = kb or ka
    ratios = []
    for r in sorted({s.get("round") for s in a}):
        va = [s[ka] for s in a if s.get("round") == r and s.get("ok")
              and s.get(ka) is not None and s[ka] >= 0]
        vb = [s[kb] for s in b if s.get("round") == r and s.get("ok")
              and s.get(kb) is not None and s[kb] >= 0]
        if va and vb and pct(vb, 0.5):
            ratios.append(pct(va, 0.5) / pct(vb, 0.5))
    return pct(ratios, 0.5) if ratios else None


def section_launch(env, accels):
    chunk = 5 if ARGS.runs >= 10 else ARGS.runs
    rounds = max(1, ARGS.runs // chunk)
    out = {}
    for accel in accels:
        samples = {}
        for fast in ("yes", "no"):
            d = env.daemon(accel=accel,
                           extra="fast_cpu_probe = %s\n" % fast)
            # With the override: a second rumprund whose state directory
            # is a tmpfs, to show what the fsync'd record writes cost.
            dt = None
            if fast == "yes":
                dt = env.daemon(accel=accel, start=False)
                subprocess.run(["mount", "-t", "tmpfs", "-o",
                                "size=16m,mode=0700", "rrbench",
                                str(dt.state)], check=True)
                dt.start(timeout=30)
            try:
                for r in range(rounds):
                    log("launch %s fast_cpu_probe=%s: round %d/%d (load %s)"
                        % (accel, fast, r + 1, rounds, loadavg()))
                    # Interleaved, so that a change in the machine's load
                    # hits every method alike.
                    samples.setdefault("api-" + fast, []).extend(
                        tag(apibench(d, "seq", runs=chunk), r))
                    samples.setdefault("libvirt-" + fast, []).extend(
                        tag(direct(env, "libvirt", accel, runs=chunk,
                                   fast=fast), r))
                    if dt is not None:
                        samples.setdefault("api-tmpfs", []).extend(
                            tag(apibench(dt, "seq", runs=chunk), r))
                    if fast == "yes":
                        samples.setdefault("qemu", []).extend(
                            tag(direct(env, "qemu", accel, runs=chunk), r))
            finally:
                stop_daemon(d)
                if dt is not None:
                    stop_daemon(dt)
                    subprocess.run(["umount", "-l", str(dt.state)])
        out[accel] = samples
        print_launch(accel, samples)
    RESULTS["sections"]["launch"] = out


def metric(samples, key):
    return summary([s.get(key) for s in samples if s.get("ok")])


def print_launch(accel, samples):
    names = [
        ("api-yes", "rumprund API, fast_cpu_probe=yes"),
        ("libvirt-yes", "direct libvirt, same XML (override)"),
        ("api-tmpfs", "rumprund API, override, state dir on tmpfs"),
        ("api-no", "rumprund API, fast_cpu_probe=no"),
        ("libvirt-no", "direct libvirt, same XML (no override)"),
        ("qemu", "raw QEMU (-kernel/-append)"),
    ]
    rows = []
    for key, label in names:
        s = samples.get(key, [])
        if not s:
            continue
        fails = sum(1 for x in s if not x.get("ok"))
        rows.append([label, len(s) - fails, fmt3(metric(s, "create")),
                     fmt3(metric(s, "first_byte")),
                     fmt3(metric(s, "marker")),
                     fmt3(metric(s, "running")) if key.startswith("api")
                     else "-",
                     fmt3(metric(s, "follow_first")) if key.startswith("api")
                     else "-"])
    notes = ["ms from just before the POST / virDomainCreateXML / "
             "posix_spawn; min / median / p99",
             "answered: POST answered (rumprund), create returned "
             "(libvirt), spawn returned (QEMU)",
             "first byte, main(): the console log file's first byte and "
             "the `=== calling` marker, seen by the same inotify watcher",
             "running: GET /v1/events says running; follower: first byte "
             "at GET .../logs?follow=true opened after the POST"]
    for fast in ("yes", "no"):
        a, l = samples.get("api-" + fast), samples.get("libvirt-" + fast)
        if not a or not l:
            continue
        for key, what in (("first_byte", "first byte"),
                          ("marker", "main() marker"),
                          ("create", "answered")):
            ma, ml = metric(a, key)["p50"], metric(l, key)["p50"]
            pr = paired(a, l, key)
            if ma and ml:
                notes.append("fast_cpu_probe=%s: rumprund/direct libvirt, "
                             "%s median: %.3f (%+.1f ms)%s"
                             % (fast, what, ma / ml, ma - ml,
                                "; paired by round %.3f" % pr
                                if pr else ""))
        mr, ml = metric(a, "running")["p50"], metric(l, "marker")["p50"]
        pr = paired(a, l, "running", "marker")
        if mr and ml:
            notes.append("fast_cpu_probe=%s: rumprund running event / "
                         "direct libvirt main() marker, median: %.3f "
                         "(%+.1f ms)%s" % (fast, mr / ml, mr - ml,
                                           "; paired by round %.3f" % pr
                                           if pr else ""))
    t, l = samples.get("api-tmpfs"), samples.get("libvirt-yes")
    if t and l:
        mt, ml = metric(t, "create")["p50"], metric(l, "create")["p50"]
        if mt and ml:
            notes.append("state dir on tmpfs (no fsync cost): rumprund/"
                         "direct libvirt, answered median: %.3f (%+.1f ms)"
                         % (mt / ml, mt - ml))
    q = samples.get("qemu")
    a = samples.get("api-yes")
    if q and a:
        for key, what in (("first_byte", "first byte"), ("marker", "main()")):
            ma, mq = metric(a, key)["p50"], metric(q, key)["p50"]
            pr = paired(a, q, key)
            if ma and mq:
                notes.append("rumprund (fast_cpu_probe=yes)/raw QEMU, %s "
                             "median: %.2f (%+.1f ms)%s" % (
                                 what, ma / mq, ma - mq,
                                 "; paired by round %.2f" % pr
                                 if pr else ""))
    table("Launch latency, %s, sequential, guest `rrguest forever`, 32 MiB "
          "(ms)" % accel.upper(),
          ["method", "n", "answered", "first byte", "main() in log",
           "running event", "follower 1st byte"], rows, notes)


# ---------------------------------------------------------------------------
# burst


class BareServer:
    """bench/bare_httpd answering body on a unix socket, with a client."""

    def __init__(self, root, body):
        root.mkdir(parents=True, exist_ok=True)
        self.bodyf = root / "body.json"
        self.bodyf.write_bytes(body)
        self.sock = root / "bare.sock"
        self.proc = None
        self.client = None

    def __enter__(self):
        self.proc = subprocess.Popen([str(BARE), str(free_port()),
                                      str(self.sock), str(self.bodyf)],
                                     stderr=subprocess.DEVNULL)
        for _ in range(100):
            if self.sock.exists():
                break
            time.sleep(0.02)
        self.client = rrlib.Client(str(self.sock), ENV.api)
        return self

    def __exit__(self, *exc):
        self.proc.terminate()
        self.proc.wait(10)


class Poller:
    """GET /v1/unikernels/{name} every 10 ms in a thread; latencies."""

    def __init__(self, d, name, client=None):
        self.d, self.name = d, name
        self.client = client or d.client
        self.lat = []
        self.stop_flag = threading.Event()
        self.th = threading.Thread(target=self.run, daemon=True)

    def run(self):
        c = self.client
        while not self.stop_flag.is_set():
            t = time.monotonic()
            r = c.request("GET", "/v1/unikernels/" + self.name,
                          validate=False)
            if r.status == 200:
                self.lat.append((time.monotonic() - t) * 1000)
            time.sleep(0.01)

    def __enter__(self):
        self.th.start()
        return self

    def __exit__(self, *exc):
        self.stop_flag.set()
        self.th.join(30)


class Perf:
    """perf record -g of the given pids while in the with block (--perf)."""

    def __init__(self, name, pids):
        self.p = None
        pids = [str(x) for x in pids if x]
        if ARGS.perf and pids:
            os.makedirs(ARGS.perf, exist_ok=True)
            self.p = subprocess.Popen(
                ["perf", "record", "-g", "-F", "499", "-p", ",".join(pids),
                 "-o", os.path.join(ARGS.perf, name + ".data")],
                stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL)
            time.sleep(0.5)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        if self.p is not None:
            self.p.send_signal(signal.SIGINT)
            self.p.wait(60)


def section_burst(env, accel):
    out = {}
    rows = []
    for n in [int(x) for x in ARGS.bursts.split(",")]:
        res = {}
        d = env.daemon(accel=accel)
        try:
            lvpid = env.libvirtd_pid()
            # A running guest whose GET is timed during the burst.
            d.client.launch(d.spec("probe", ["forever"],
                                   image=str(env.image), memory_mib=32))
            d.client.wait_state("probe", "running", timeout=30)
            c0 = cpu_ms(lvpid) if lvpid else None
            log("burst %d through the API (load %s)" % (n, loadavg()))
            with Poller(d, "probe") as poll, \
                    Perf("burst-%d-api" % n, [d.pid, lvpid]):
                s = apibench(d, "burst", burst=n)
            res["get_during"] = summary(poll.lat)
            res["get_during"]["p90"] = pct(poll.lat, 0.9)
            probe_body = d.client.request("GET", "/v1/unikernels/probe",
                                          validate=False).body
            d.client.stop("probe", force=True)
            d.client.remove("probe")
            c1 = cpu_ms(lvpid) if lvpid else None
            res["api"] = s
            res["api_libvirtd_cpu"] = (c1 - c0) if c0 is not None and \
                c1 is not None else None
            res["api_rss_after"] = rss_kib(d.pid)
        finally:
            stop_daemon(d)
        time.sleep(1)
        for par, key in ((n, "libvirt"), (min(POOL, n), "libvirt4")):
            if key == "libvirt4" and par == n:
                continue
            log("burst %d through direct libvirt, %d threads (load %s)"
                % (n, par, loadavg()))
            c0 = cpu_ms(lvpid) if lvpid else None
            with Perf("burst-%d-%s" % (n, key), [lvpid]):
                if key == "libvirt":
                    # The floor of "GET during": the bare server answering
                    # the probe's JSON, asked the same way during the same
                    # burst through libvirt alone.
                    with BareServer(env.root / ("bare-burst%d" % n),
                                    probe_body) as bare, \
                            Poller(None, "probe",
                                   client=bare.client) as bpoll:
                        res[key] = direct(env, "libvirt", accel, burst=n,
                                          parallel=par)
                    res["bare_get_during"] = summary(bpoll.lat)
                else:
                    res[key] = direct(env, "libvirt", accel, burst=n,
                                      parallel=par)
            c1 = cpu_ms(lvpid) if lvpid else None
            res[key + "_libvirtd_cpu"] = (c1 - c0) if c0 is not None and \
                c1 is not None else None
            time.sleep(1)
        out[n] = res
        for key, label in (("api", "rumprund API (%d clients)" % n),
                           ("libvirt", "direct libvirt, %d threads" % n),
                           ("libvirt4",
                            "direct libvirt, %d threads (pool)" % POOL)):
            if key not in res:
                continue
            per = [x for x in res[key] if not x.get("summary")]
            summ = [x for x in res[key] if x.get("summary")][0]
            run_key = "running" if key == "api" else "marker"
            cr = metric(per, "create")
            ru = metric(per, run_key)
            g = res["get_during"] if key == "api" else \
                res.get("bare_get_during") if key == "libvirt" else None
            rows.append([n, label, fmt(summ["wall"]), "%s / %s" % (
                fmt(cr["p50"]), fmt(cr["p99"])), "%s / %s" % (
                fmt(ru["p50"]), fmt(ru["p99"])), summ["failed"],
                fmt(summ.get("daemon_cpu_ms")) if key == "api" else "-",
                fmt(summ.get("daemon_rss_kib_peak", 0) / MIB, 1)
                if key == "api" else "-",
                fmt(res.get(key + "_libvirtd_cpu"), 0),
                "%s / %s / %s" % (fmt(g["p50"]), fmt(g["p99"]),
                                  fmt(g["max"])) if g else "-"])
    notes = ["all running: from the common start to the last guest's "
             "main() (API: the running event; libvirt: the marker in the "
             "log)",
             "answered: POST answered / virDomainCreateXML returned; "
             "running: as above; p50 / p99 over the N launches, from the "
             "common start",
             "rumprund runs backend calls on libuv's pool: %d threads, "
             "whatever the number of clients" % POOL,
             "GET during: GET /v1/unikernels/{name} of another running "
             "guest every 10 ms during the API burst (ms p50 / p99 / max); "
             "on the direct libvirt row (N threads), the same GET of "
             "bench/bare_httpd answering that guest's JSON during that "
             "burst: the floor the machine's load sets"]
    for n, res in out.items():
        walls = {k: [x for x in res[k] if x.get("summary")][0]["wall"]
                 for k in ("api", "libvirt", "libvirt4") if k in res}
        if walls.get("api") and walls.get("libvirt"):
            notes.append("N=%d: all-running ratio rumprund/direct libvirt "
                         "(N threads) %.2f%s" % (
                             n, walls["api"] / walls["libvirt"],
                             ", /(%d threads) %.2f" % (POOL, walls["api"] /
                                                      walls["libvirt4"])
                             if walls.get("libvirt4") else ""))
    table("Burst: N guests of 32 MiB launched at once, %s (ms)"
          % accel.upper(),
          ["N", "method", "all running", "answered p50/p99",
           "running p50/p99", "failed", "rumprund CPU ms",
           "rumprund peak RSS MiB", "libvirtd CPU ms", "GET during"],
          rows, notes)
    RESULTS["sections"]["burst"] = out


# ---------------------------------------------------------------------------
# scale


def make_template(env):
    """A real record and console log of an ended instance."""
    d = env.daemon()
    try:
        c = d.client
        c.launch(d.spec("tmpl", ["echo", "hello", "exit", "0"],
                        image=str(env.image), memory_mib=32))
        c.wait_state("tmpl", "exited", timeout=30)
        d.terminate()
        rec = json.loads((d.state / "instances" / "tmpl.json").read_text())
        logtext = (d.logs / "console" / "tmpl.log").read_bytes()
        owner = (d.state / "owner").read_text()
    finally:
        stop_daemon(d)
    return rec, logtext, owner


def seed_records(root, rec, logtext, owner, n):
    """n records of ended instances, as rumprund writes them."""
    state = root / "state"
    inst = state / "instances"
    cons = root / "logs" / "console"
    inst.mkdir(parents=True, exist_ok=True)
    cons.mkdir(parents=True, exist_ok=True)
    os.chmod(state, 0o700)
    (state / "owner").write_text(owner)
    for i in range(n):
        name = "rec%04d" % i
        r = json.loads(json.dumps(rec))
        r["name"] = name
        r["spec"]["name"] = name
        r["domain"] = "rr-%s-%s-1" % (owner[:8], name)
        (inst / (name + ".json")).write_text(json.dumps(r, indent=1,
                                                        sort_keys=True))
        (cons / (name + ".log")).write_bytes(logtext)


def uload(where, paths, conns=1, duration=None, threads=1):
    cmd = [ULOAD, "-c", conns, "-t", threads, "-d",
           duration or ARGS.duration, "-w", 0.5, where] + list(paths)
    return run_json(cmd)[0]


def bare_list(root, body):
    """uload of bench/bare_httpd answering body (bytes), unix socket."""
    bodyf = root / "list.json"
    bodyf.write_bytes(body)
    bsock = root / "bare-list.sock"
    bare = subprocess.Popen([str(BARE), str(free_port()), str(bsock),
                             str(bodyf)], stderr=subprocess.DEVNULL)
    try:
        for _ in range(100):
            if bsock.exists():
                break
            time.sleep(0.02)
        return uload(str(bsock), ["/v1/unikernels"])
    finally:
        bare.terminate()
        bare.wait(10)


def section_scale(env):
    rec, logtext, owner = make_template(env)
    out = {}
    rows = []
    for n in [int(x) for x in ARGS.records.split(",")]:
        env.n += 1
        root = env.root / ("scale%d" % n)
        seed_records(root, rec, logtext, owner, n)
        t0 = time.monotonic()
        d = env.daemon(root=root)
        t_start = (time.monotonic() - t0) * 1000
        try:
            c = d.client
            c.launch(d.spec("live", ["forever"], image=str(env.image),
                            memory_mib=32))
            c.wait_state("live", "running", timeout=30)
            time.sleep(0.3)
            res = {"records": n, "start_ms": t_start,
                   "rss_kib": rss_kib(d.pid), "fds": nfds(d.pid)}
            body = c.request("GET", "/v1/unikernels", validate=False).body
            res["list_bytes"] = len(body)
            res["list"] = uload(str(d.sock), ["/v1/unikernels"])
            list_body = body
            res["list_running"] = uload(str(d.sock),
                                        ["/v1/unikernels?state=running"])
            res["one"] = uload(str(d.sock), ["/v1/unikernels/live"])
            res["launch"] = apibench(d, "seq", runs=max(3, ARGS.runs // 5))
            res["rss_kib_after"] = rss_kib(d.pid)
            c.stop("live", force=True)
            c.remove("live")
        finally:
            stop_daemon(d)
        # The floor: the bare server sending the very bytes of the list.
        res["list_bare"] = bare_list(root, list_body)
        out[n] = res
        la = res["launch"]
        rows.append([n, fmt(t_start, 0), fmt(res["rss_kib"] / MIB, 1),
                     res["fds"], "%.0f" % (res["list_bytes"] / 1024),
                     "%s / %s" % (fmt(res["list"]["p50"], 3),
                                  fmt(res["list"]["p99"], 3)),
                     "%s / %s" % (fmt(res["list_bare"]["p50"], 3),
                                  fmt(res["list_bare"]["p99"], 3)),
                     "%s / %s" % (fmt(res["list_running"]["p50"], 3),
                                  fmt(res["list_running"]["p99"], 3)),
                     "%s / %s" % (fmt(res["one"]["p50"], 3),
                                  fmt(res["one"]["p99"], 3)),
                     fmt(metric(la, "create")["p50"]),
                     fmt(metric(la, "first_byte")["p50"]),
                     fmt(metric(la, "running")["p50"])])
    notes = ["records: ended instances (a real record and console log, "
             "cloned), plus one running guest; latencies in ms, one "
             "client, keep-alive (bench/uload over the unix socket)",
             "list bare: bench/bare_httpd sending the same list bytes, "
             "same client (p50 / p99)",
             "list: GET /v1/unikernels (every record); running: "
             "GET /v1/unikernels?state=running (one); by name: "
             "GET /v1/unikernels/live",
             "launch: medians of sequential launches (POST answered, "
             "first console byte, running event)"]
    for n in sorted(out):
        if out[n]["list_bare"].get("p50"):
            notes.append("full list at %d records: rumprund / bare server "
                         "p50 %.2fx" % (n, out[n]["list"]["p50"] /
                                        out[n]["list_bare"]["p50"]))
    ns = sorted(out)
    if len(ns) > 1:
        a, b = out[ns[0]], out[ns[-1]]
        for key, what in (("list", "full list"),
                          ("list_running", "filtered list"),
                          ("one", "by name")):
            if a[key]["p50"]:
                notes.append("%s p50 at %d records / at %d: %.2fx"
                             % (what, ns[-1], ns[0],
                                b[key]["p50"] / a[key]["p50"]))
    table("Flat scaling: records in the table", [
        "records", "start ms", "RSS MiB", "fds", "list KiB",
        "list p50/p99", "list bare p50/p99", "running p50/p99", "by name p50/p99",
        "POST", "1st byte", "running"], rows, notes)
    RESULTS["sections"]["scale"] = out


# ---------------------------------------------------------------------------
# api throughput


def wrk(url, conns=16, threads=1, duration=None):
    dur = "%ds" % max(1, int(round(duration or ARGS.duration)))
    p = subprocess.run(["wrk", "-t%d" % threads, "-c%d" % conns, "-d" + dur,
                        "--latency", url], capture_output=True, text=True,
                       timeout=120)
    out = p.stdout
    res = {"raw": out}
    unit = {"us": 0.001, "ms": 1.0, "s": 1000.0}
    for line in out.splitlines():
        line = line.strip()
        if line.startswith("Requests/sec:"):
            res["rps"] = float(line.split()[1])
        for q, key in (("50%", "p50"), ("90%", "p90"), ("99%", "p99")):
            if line.startswith(q + " "):
                v = line.split()[1]
                for u in ("us", "ms", "s"):
                    if v.endswith(u):
                        res[key] = float(v[:-len(u)]) * unit[u]
                        break
        if line.startswith("Non-2xx"):
            res["non2xx"] = int(line.split()[-1])
    return res


def section_api(env):
    if shutil.which("wrk") is None:
        log("bench: wrk is not installed (scripts/deps.sh): TCP rows "
            "with wrk skipped")
    rec, logtext, owner = make_template(env)
    root = env.root / "api"
    seed_records(root, rec, logtext, owner, 10)
    port = free_port()
    extra = "tcp = 127.0.0.1:%d\n" % port
    # A plain TCP listener needs the operator's explicit consent once TLS
    # and tokens exist (tcp_insecure); older daemons do not know the key.
    probe = subprocess.run([os.environ["RR_DAEMON"], "-n", "-f", "/dev/stdin"],
                           input="tcp_insecure = yes\n", capture_output=True,
                           text=True)
    if probe.returncode == 0:
        extra += "tcp_insecure = yes\n"
    d = env.daemon(root=root, extra=extra)
    out = {}
    rows = []
    try:
        c = d.client
        c.launch(d.spec("live", ["forever"], image=str(env.image),
                        memory_mib=32))
        c.wait_state("live", "running", timeout=30)
        base = "http://127.0.0.1:%d" % port
        for path, label in (("/v1/unikernels/live", "GET /v1/unikernels/{name}"),
                            ("/v1/unikernels", "GET /v1/unikernels (11)")):
            for tool, where, conns in (("wrk", "tcp", 16),
                                       ("uload", "tcp", 16),
                                       ("uload", "unix", 16),
                                       ("uload", "unix", 1)):
                if tool == "wrk" and shutil.which("wrk") is None:
                    continue
                cpu0 = cpu_ms(d.pid)
                if tool == "wrk":
                    r = wrk(base + path, conns=conns)
                else:
                    w = "tcp:127.0.0.1:%d" % port if where == "tcp" \
                        else str(d.sock)
                    r = uload(w, [path], conns=conns)
                cpu1 = cpu_ms(d.pid)
                # uload's warm-up (0.5 s) is in the CPU time too.
                dur = ARGS.duration + (0 if tool == "wrk" else 0.5)
                r["daemon_cpu_share"] = (cpu1 - cpu0) / 1000.0 / dur \
                    if cpu0 is not None and cpu1 is not None else None
                out["%s %s %s %d" % (path, tool, where, conns)] = r
                rows.append([label, "%s/%s" % (tool, where), conns,
                             fmt(r.get("rps"), 0), fmt(r.get("p50"), 3),
                             fmt(r.get("p99"), 3),
                             fmt(r.get("non2xx", 0)),
                             fmt(r["daemon_cpu_share"], 2)])
        out["rss_kib"] = rss_kib(d.pid)
        body = c.request("GET", "/v1/unikernels/live", validate=False).body
        c.stop("live", force=True)
        c.remove("live")
    finally:
        stop_daemon(d)
    # The floor: libmicrohttpd in a libuv loop as api/httpd.c drives it,
    # answering the same instance JSON and doing nothing else.
    bodyf = root / "instance.json"
    bodyf.write_bytes(body)
    bport = free_port()
    bsock = root / "bare.sock"
    bare = subprocess.Popen([str(BARE), str(bport), str(bsock), str(bodyf)],
                            stderr=subprocess.DEVNULL)
    try:
        for _ in range(100):
            if bsock.exists():
                break
            time.sleep(0.02)
        for tool, where, conns in (("wrk", "tcp", 16), ("uload", "tcp", 16),
                                   ("uload", "unix", 16),
                                   ("uload", "unix", 1)):
            if tool == "wrk" and shutil.which("wrk") is None:
                continue
            cpu0 = cpu_ms(bare.pid)
            if tool == "wrk":
                r = wrk("http://127.0.0.1:%d/v1/unikernels/live" % bport,
                        conns=conns)
            else:
                w = "tcp:127.0.0.1:%d" % bport if where == "tcp" \
                    else str(bsock)
                r = uload(w, ["/v1/unikernels/live"], conns=conns)
            cpu1 = cpu_ms(bare.pid)
            r["daemon_cpu_share"] = (cpu1 - cpu0) / 1000.0 / (
                ARGS.duration + (0 if tool == "wrk" else 0.5))
            out["bare %s %s %d" % (tool, where, conns)] = r
            rows.append(["bare MHD+libuv, same body (%d B)" % len(body),
                         "%s/%s" % (tool, where), conns,
                         fmt(r.get("rps"), 0), fmt(r.get("p50"), 3),
                         fmt(r.get("p99"), 3), fmt(r.get("non2xx", 0)),
                         fmt(r["daemon_cpu_share"], 2)])
    finally:
        bare.terminate()
        bare.wait(10)
    notes = ["keep-alive, %.0f s each after a warm-up; latency in ms; "
             "daemon CPU: cores' worth of rumprund CPU time during the run"
             % ARGS.duration,
             "the table: 10 ended instances and one running",
             "wrk -t1 (one load thread, the daemon is single-threaded too) "
             "on the same 2 cores",
             "bare: bench/bare_httpd, libmicrohttpd in a libuv loop driven "
             "as api/httpd.c drives it, answering the same instance JSON"]
    table("API throughput", ["request", "tool/transport", "conns", "req/s",
                             "p50", "p99", "non-2xx", "daemon CPU"],
          rows, notes)
    RESULTS["sections"]["api"] = out


# ---------------------------------------------------------------------------
# follow


def section_follow(env, accel):
    out = {}
    rows = []
    lines = 30 if ARGS.quick else 100
    d = env.daemon(accel=accel)
    try:
        for source, args in (("append", ()), ("guest", ("tick", "20"))):
            for k in (1, 50):
                log("follow: %s, %d followers" % (source, k))
                s = apibench(d, "follow", lines=lines, followers=k,
                             args=args)
                per = [x["latency"] for x in s if not x.get("summary")]
                summ = [x for x in s if x.get("summary")][0]
                out["%s %d" % (source, k)] = {"samples": per,
                                              "summary": summ}
                st = summary(per)
                rows.append([
                    "appended to the log file" if source == "append"
                    else "guest `tick 20`", k, st["n"],
                    fmt(st["p50"], 3), fmt(pct(per, 0.9), 3),
                    fmt(st["p99"], 3), fmt(st["max"], 3), summ["missing"],
                    fmt(summ["daemon_cpu_ms"], 0)])
    finally:
        stop_daemon(d)
    notes = ["appended: a line written to the instance's console log file "
             "(O_APPEND, as QEMU writes it) -> the line at each follower "
             "(GET .../logs?follow=true), 20 ms apart",
             "guest: the guest's own `tick K` lines, from when they appear "
             "in the file (a separate inotify watch) to each follower"]
    table("Log follow latency (ms)", ["source", "followers", "samples",
                                      "p50", "p90", "p99", "max", "missing",
                                      "rumprund CPU ms"], rows, notes)
    RESULTS["sections"]["follow"] = out


# ---------------------------------------------------------------------------


ENV = None


def main():
    global ENV
    for b in (DIRECT, APIBENCH, ULOAD, BARE, Path(os.environ["RR_DAEMON"]),
              rrlib.GUEST_ELF):
        if not Path(b).exists():
            sys.exit("bench: %s is missing: make bench builds it" % b)
    if os.geteuid() != 0:
        sys.exit("bench: run as root (libvirtd, QEMU)")
    RESULTS["machine"] = machine_info()
    m = RESULTS["machine"]
    print("rumprund benchmarks: %s, %s cores, %s GiB, Linux %s; %s; %s; "
          "load %s at start" % (m.get("cpu"), m.get("cores"),
                                m.get("mem_gib"), m.get("kernel"),
                                m.get("qemu"), m.get("libvirt"),
                                m.get("loadavg_at_start")))
    if ARGS.accel == "auto":
        accels = ["tcg"] + (["kvm"] if guest_boots_under_kvm() else [])
    else:
        accels = ARGS.accel.split(",")
    if ARGS.quick and ARGS.accel == "auto":
        accels = accels[:1]
    only = set(ARGS.only.split(","))
    ENV = Env()
    print("libvirt: %s" % ENV.uri)
    try:
        if "firmware" in only:
            section_firmware(ENV, accels)
        if "launch" in only:
            section_launch(ENV, accels)
        if "burst" in only:
            section_burst(ENV, accels[0])
        if "scale" in only:
            section_scale(ENV)
        if "api" in only:
            section_api(ENV)
        if "follow" in only:
            section_follow(ENV, accels[0])
    finally:
        RESULTS["machine"]["loadavg_at_end"] = loadavg()
        ENV.close()
        if ARGS.json:
            with open(ARGS.json, "w") as f:
                json.dump(RESULTS, f, indent=1)
    print("\nload average at the end: %s" % loadavg())


if __name__ == "__main__":
    main()
