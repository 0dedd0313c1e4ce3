"""
ISO images (POST /v1/iso, rrctl iso): built by the real daemon with the
real grub-mkrescue, booted as a plain PC by QEMU (SeaBIOS, -cdrom, TCG, no
-kernel, the serial console in a file), and checked on the console: the
test guest prints the configuration it received, its blk and net entries,
and the size and FNV-1a hash of files of the CD as it reads them.

- Without data images the configuration reaches the guest as the first
  multiboot module ("multiboot: Using configuration from /json.cfg").
- With data images it is read from the CD's file system, as rumprun does
  for _RUMPRUN_ROOTFSCFG=/json.cfg ("rootfs: configuration from /json.cfg"),
  and the data images are files of the CD at the paths the config names.

The expected configurations are written out here by hand, from the rules
of guestconf.h, not computed by the code under test.  Every daemon runs
with its own TMPDIR, which must be empty after every build, good or bad.
"""
import json
import os
import shutil
import signal
import struct
import subprocess
import threading
import time
from pathlib import Path

import pytest

import rrlib
from rrlib import Deadline

QEMU = shutil.which("qemu-system-x86_64")
ISO_TYPE = "application/x-iso9660-image"


def need_tools():
    missing = [t for t in ("grub-mkrescue", "xorriso", "isoinfo")
               if shutil.which(t) is None]
    if not os.path.exists("/usr/lib/grub/i386-pc/cdboot.img"):
        missing.append("grub-pc-bin")
    if QEMU is None:
        missing.append("qemu-system-x86_64")
    if missing:
        pytest.fail("missing %s: run scripts/deps.sh" % ", ".join(missing),
                    pytrace=False)


@pytest.fixture
def isod(daemon, tmp_path):
    """A started daemon whose TMPDIR is tmp_path/tmp (checked empty)."""
    need_tools()

    def make(path_prefix=None):
        d = daemon(start=False)
        tmp = tmp_path / ("tmp-%d" % id(d))
        tmp.mkdir()
        d.env = dict(d.env, TMPDIR=str(tmp))
        if path_prefix is not None:
            d.env["PATH"] = "%s:%s" % (path_prefix, d.env.get("PATH", ""))
        d.tmp = tmp
        d.start()
        return d
    return make


def fnv1a(data):
    h = 2166136261
    for b in data:
        h = ((h ^ b) * 16777619) & 0xffffffff
    return h


def iso_size_says(data):
    """The size an ISO image's primary volume descriptor states."""
    pvd = data[16 * 2048:17 * 2048]
    assert pvd[1:6] == b"CD001", "no ISO 9660 volume descriptor"
    blocks = struct.unpack("<I", pvd[80:84])[0]
    bsize = struct.unpack("<H", pvd[128:130])[0]
    return blocks * bsize


def iso_files(path):
    p = subprocess.run(["isoinfo", "-R", "-f", "-i", str(path)],
                       capture_output=True, text=True, timeout=30)
    assert p.returncode == 0, p.stderr
    return set(l.strip() for l in p.stdout.splitlines())


def iso_file(path, name):
    p = subprocess.run(["isoinfo", "-R", "-x", name, "-i", str(path)],
                       capture_output=True, timeout=60)
    assert p.returncode == 0, p.stderr
    return p.stdout


def boot(iso, timeout=40):
    """Boot iso as a plain PC; the serial console once the guest halted."""
    log = Path(str(iso) + ".serial")
    if log.exists():
        log.unlink()
    cmd = [QEMU, "-machine", "pc", "-accel", "tcg", "-nodefaults",
           "-display", "none", "-vga", "none", "-no-reboot", "-m", "64",
           "-serial", "file:%s" % log, "-cdrom", str(iso)]
    t0 = time.monotonic()
    q = subprocess.Popen(cmd, stdin=subprocess.DEVNULL,
                         stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    text = ""
    try:
        dl = Deadline(timeout)
        while not dl.passed():
            text = log.read_text(errors="replace") if log.exists() else ""
            if "\nhalted" in text or q.poll() is not None:
                break
            time.sleep(0.05)
    finally:
        q.kill()
        _, err = q.communicate(timeout=10)
    took = time.monotonic() - t0
    assert "\nhalted" in text, "the guest did not halt within %d s; " \
        "console: %r; qemu: %r" % (timeout, text[-2000:], err[-500:])
    print("boot of %s: %.1f s" % (iso.name, took))
    return text.replace("\r", "").split("\n")


def post_iso(d, body, **kw):
    return d.client.request("POST", "/v1/iso", body, timeout=120, **kw)


def assert_clean(d):
    left = sorted(p.name for p in d.tmp.iterdir())
    assert not left, "left in TMPDIR: %s" % left


# What the guest must receive for the requests below, by guestconf.h's
# rules: cmdline (argv quoted for the guest's splitter), hostname, env...,
# blk... (vnd from images/NAME), net... (driver + unit, no cloner).
API_ARGV = ["rrguest", "config", "argv", "env", "hostname", "net", "exit",
            "7", "a b", 'say "hi"', "$HOME ${x} {y} ;", "back\\slash"]
API_CONFIG = (
    '{"cmdline":"rrguest config argv env hostname net exit 7 \'a b\' '
    '\'say \\"hi\\"\' \'$HOME ${x} {y} ;\' back\\\\slash",'
    '"hostname":"pc-1","env":"GREETING=hello world","env":"EMPTY=",'
    '"net":{"if":"wm0","type":"inet","method":"static","addr":"10.0.1.2",'
    '"mask":"24"},'
    '"net":{"if":"re0","type":"inet","method":"static","addr":"10.0.0.2",'
    '"mask":"24","gw":"10.0.0.1"},'
    '"net":{"if":"wm1","type":"inet6","method":"auto"}}')


def test_api_module_config(isod):
    d = isod()
    req = {"name": "pc-1", "image": str(d.image), "argv": API_ARGV,
           "hostname": "pc-1",
           "env": ["GREETING=hello world", "EMPTY="],
           # Static: the guest does DHCP like rumprun, and there is no
           # server (nor a NIC: the boot below has none).
           "nics": [{"inet": {"method": "static", "addr": "10.0.1.2/24"}},
                    {"driver": "re", "inet": {"method": "static",
                                              "addr": "10.0.0.2/24",
                                              "gw": "10.0.0.1"}},
                    {"driver": "wm", "inet6": {"method": "auto"}}]}
    t0 = time.monotonic()
    r = post_iso(d, req)
    took = time.monotonic() - t0
    assert r.status == 200, r
    assert r.header("Content-Type") == ISO_TYPE
    assert len(r.body) == iso_size_says(r.body)
    print("POST /v1/iso: %d bytes in %.2f s" % (len(r.body), took))
    assert_clean(d)
    # Nothing launched, nothing recorded.
    assert d.client.list("?state=pending") == []
    assert d.client.list() == []
    assert d.records() == []

    iso = d.root / "pc-1.iso"
    iso.write_bytes(r.body)
    files = iso_files(iso)
    assert {"/boot/rumprun.bin", "/json.cfg", "/boot/grub/grub.cfg"} <= files
    assert not any(f.startswith("/images") for f in files)
    assert iso_file(iso, "/json.cfg") == API_CONFIG.encode()
    assert iso_file(iso, "/boot/rumprun.bin") == d.image.read_bytes()
    grub = iso_file(iso, "/boot/grub/grub.cfg").decode()
    assert "module /json.cfg /json.cfg" in grub

    # rumprund -C says the same.
    reqfile = d.root / "req.json"
    reqfile.write_text(json.dumps(dict(req, platform="iso")))
    p = subprocess.run([str(rrlib.DAEMON_BIN), "-f", str(d.conf), "-C",
                        str(reqfile)], capture_output=True, text=True,
                       timeout=30)
    assert p.returncode == 0, p.stderr
    assert p.stdout == API_CONFIG + "\n"

    lines = boot(iso)
    assert "multiboot: Using configuration from /json.cfg" in lines
    assert "config=" + API_CONFIG in lines
    for i, a in enumerate(API_ARGV):
        assert "argv[%d]=<%s>" % (i, a) in lines
    assert "env=GREETING=hello world" in lines
    assert "env=EMPTY=" in lines
    assert "hostname=pc-1" in lines
    assert "net[0]={if=wm0,type=inet,method=static,addr=10.0.1.2,mask=24}" \
        in lines
    assert ("net[1]={if=re0,type=inet,method=static,addr=10.0.0.2,mask=24,"
            "gw=10.0.0.1}") in lines
    assert "net[2]={if=wm1,type=inet6,method=auto}" in lines
    assert rrlib.returned(7) in lines
    assert not any(l.startswith("PANIC") for l in lines)


def test_rrctl_two_data_images(isod):
    d = isod()
    a = os.urandom(300 * 1024 + 17)
    b = os.urandom(1024 * 1024)
    (d.volumes / "a.img").write_bytes(a)
    sub = d.volumes / "sub"
    sub.mkdir()
    (sub / "b-2.img").write_bytes(b)
    out = d.root / "out" / "box.iso"
    out.parent.mkdir()
    # An earlier image there is replaced only by a whole new one.
    out.write_bytes(b"old")
    t0 = time.monotonic()
    p = subprocess.run(
        [str(rrlib.BUILD / "rrctl"), "--host", "unix://%s" % d.sock, "iso",
         "-o", str(out), "-b", "%s,/data" % (d.volumes / "a.img"),
         "-b", str(sub / "b-2.img"), "-I", "if0,wm",
         "-W", "if0,inet,static,192.168.9.2/24", "-N", "box",
         "-e", "MODE=bare metal", str(d.image),
         "blk", "file", "images/a.img", "file", "images/b-2.img",
         "file", "images/none", "config", "hostname", "env", "net",
         "exit", "3"],
        capture_output=True, text=True, timeout=120, cwd=str(d.root))
    took = time.monotonic() - t0
    assert p.returncode == 0, p.stderr
    assert p.stdout == "%s\n" % out
    print("rrctl iso: %d bytes in %.2f s" % (out.stat().st_size, took))
    assert sorted(x.name for x in out.parent.iterdir()) == ["box.iso"]
    assert_clean(d)
    data = out.read_bytes()
    assert len(data) == iso_size_says(data)
    files = iso_files(out)
    assert {"/images/a.img", "/images/b-2.img", "/json.cfg"} <= files
    assert iso_file(out, "/images/a.img") == a
    grub = iso_file(out, "/boot/grub/grub.cfg").decode()
    assert "\nmodule " not in grub
    assert "_RUMPRUN_ROOTFSCFG=/json.cfg" in grub

    image = str(d.image)
    config = (
        '{"cmdline":"%s blk file images/a.img file images/b-2.img file '
        'images/none config hostname env net exit 3","hostname":"box",'
        '"env":"MODE=bare metal",'
        '"blk":{"source":"vnd","path":"images/a.img","fstype":"blk",'
        '"mountpoint":"/data"},'
        '"blk":{"source":"vnd","path":"images/b-2.img"},'
        '"net":{"if":"wm0","type":"inet","method":"static",'
        '"addr":"192.168.9.2","mask":"24"}}' % image)
    assert iso_file(out, "/json.cfg") == config.encode()

    lines = boot(out)
    assert "rootfs: configuration from /json.cfg" in lines
    assert not any(l.startswith("multiboot:") for l in lines)
    assert "config=" + config in lines
    assert ("blk[0]={source=vnd,path=images/a.img,fstype=blk,"
            "mountpoint=/data}") in lines
    assert "blk[1]={source=vnd,path=images/b-2.img}" in lines
    assert "file images/a.img: %d bytes, fnv1a %d" % (len(a), fnv1a(a)) \
        in lines
    assert "file images/b-2.img: %d bytes, fnv1a %d" % (len(b), fnv1a(b)) \
        in lines
    assert "file images/none: no such file" in lines
    assert "hostname=box" in lines
    assert "env=MODE=bare metal" in lines
    assert "net[0]={if=wm0,type=inet,method=static,addr=192.168.9.2,mask=24}" \
        in lines
    assert '=== main() of "%s" returned 3 ===' % image in lines


def test_large_data_image_streams(isod):
    d = isod()
    big = os.urandom(24 * 1024 * 1024 + 5)
    (d.volumes / "big.img").write_bytes(big)
    r = post_iso(d, {"name": "big", "image": str(d.image),
                     "blk": [{"source": str(d.volumes / "big.img"),
                              "mountpoint": "/big"}]})
    assert r.status == 200, r
    assert r.header("Content-Length") is None    # streamed, chunked
    assert len(r.body) == iso_size_says(r.body)
    assert len(r.body) > len(big)
    iso = d.root / "big.iso"
    iso.write_bytes(r.body)
    assert iso_file(iso, "/images/big.img") == big
    assert_clean(d)


BAD = [
    # (what, request changes, status, field, message part)
    ("memory", {"memory_mib": 128}, 422, "memory_mib",
     "not for platform iso"),
    ("platform kvm", {"platform": "kvm"}, 422, "platform",
     'must be "iso" or left out here'),
    ("backend", {"nics": [{"backend": {"type": "tap"}}]}, 422,
     "nics[0].backend", "no host backend"),
    ("mac", {"nics": [{"mac": "52:54:00:00:00:01"}]}, 422, "nics[0].mac",
     "its own MAC"),
    ("driver", {"nics": [{"driver": "Wm"}]}, 422, "nics[0].driver",
     "NetBSD NIC driver"),
    ("paused", {"paused": True}, 422, "paused", "not an instance"),
    ("rootfs", {"blk": [{"source": "@V/a.img", "mountpoint": "/rootfs"}]},
     422, "blk[0].mountpoint", "mounts the ISO itself"),
    ("name clash", {"blk": [{"source": "@V/a.img"},
                            {"source": "@V/sub/a.img"}]},
     422, "blk[1].source", "also called a.img"),
    ("data name", {"blk": [{"source": "@V/with space.img"}]}, 422,
     "blk[0].source", "cannot name a data image"),
    ("module too long", {"argv": ["rrguest"] + ["x" * 1000] * 5}, 422, "argv",
     "at most 4094 bytes"),
    ("quote in env", {"env": ['A=say "hi"']}, 422, "env[0]",
     "cannot receive"),
]


def test_bad_requests(isod):
    d = isod()
    (d.volumes / "a.img").write_bytes(b"a")
    (d.volumes / "sub").mkdir()
    (d.volumes / "sub" / "a.img").write_bytes(b"a")
    (d.volumes / "with space.img").write_bytes(b"a")
    base = {"name": "bad", "image": str(d.image)}
    for what, change, status, field, part in BAD:
        req = json.loads(json.dumps(dict(base, **change)).replace(
            "@V", str(d.volumes)))
        r = post_iso(d, req)
        assert r.status == status, (what, r)
        body = r.json
        assert body["error"] == "invalid", (what, body)
        assert (body.get("field") or "") == field, (what, body)
        assert part in body["message"], (what, body)
        assert_clean(d)

    # A data image that is not there, one outside the volume directories.
    r = post_iso(d, dict(base, blk=[{"source": str(d.volumes / "nope.img")}]))
    assert r.status in (403, 422), r
    assert r.json["field"] == "blk[0].source"
    r = post_iso(d, dict(base, blk=[{"source": "/etc/passwd"}]))
    assert r.status == 403, r
    # Not JSON, not said to be JSON.
    r = post_iso(d, b"{", headers={"Content-Type": "application/json"})
    assert r.status == 400, r
    r = post_iso(d, json.dumps(base), headers={"Content-Type": "text/plain"})
    assert r.status == 415, r
    assert_clean(d)

    # An ISO request is not a launch.
    r = d.client.request("POST", "/v1/unikernels", dict(base, platform="iso"))
    assert r.status == 422, r
    assert r.json["field"] == "platform"
    assert r.json["message"] == ("platform: iso images are built with POST "
                                 "/v1/iso, not launched")
    assert d.client.list() == []

    # rrctl: the daemon's sentence, no output file, no temporary file.
    outdir = d.root / "out"
    outdir.mkdir()
    p = subprocess.run(
        [str(rrlib.BUILD / "rrctl"), "--host", "unix://%s" % d.sock, "iso",
         "-o", str(outdir / "x.iso"), "-b",
         "%s,/rootfs/x" % (d.volumes / "a.img"), str(d.image)],
        capture_output=True, text=True, timeout=60)
    assert p.returncode == 1, p
    assert "/rootfs is where a guest booted from an ISO mounts the ISO " \
        "itself" in p.stderr
    assert list(outdir.iterdir()) == []
    p = subprocess.run(
        [str(rrlib.BUILD / "rrctl"), "--host", "unix://%s" % d.sock, "iso",
         "-o", str(outdir / "x.iso"), "-M", "64", str(d.image)],
        capture_output=True, text=True, timeout=60)
    assert p.returncode == 2, p
    assert "-M: not for an ISO image" in p.stderr
    assert list(outdir.iterdir()) == []
    assert_clean(d)


def write_tool(path, text):
    path.write_text(text)
    path.chmod(0o755)


def test_busy_failures_and_missing_tools(isod, tmp_path):
    real = shutil.which("grub-mkrescue")
    tools = tmp_path / "bin"
    tools.mkdir()
    gate = tmp_path / "gate"
    # grub-mkrescue that waits for the test to open the gate.
    write_tool(tools / "grub-mkrescue",
               "#!/bin/sh\nwhile [ ! -e %s ]; do sleep 0.05; done\n"
               "if [ -e %s.fail ]; then echo 'grub-mkrescue: error: "
               "disk on fire.' >&2; exit 1; fi\nexec %s \"$@\"\n"
               % (gate, gate, real))
    d = isod(path_prefix=str(tools))
    d.allow_warnings(r"httpd: POST /v1/iso: ")
    req = {"name": "slow", "image": str(d.image)}
    results = []

    def one():
        results.append(post_iso(d, req))
    threads = [threading.Thread(target=one) for _ in range(2)]
    for t in threads:
        t.start()
    # Both builds wait on the pool: a third is turned away.
    rrlib.wait_for("two builds running", lambda: len(
        [p for p in d.tmp.iterdir()]) == 2, 10)
    r = post_iso(d, req)
    assert r.status == 503, r
    assert r.json["error"] == "unavailable"
    assert "2 ISO images are being built" in r.json["message"]
    # The loop is not blocked meanwhile.
    assert d.client.get("/v1/health")["status"] == "ok"
    gate.touch()
    for t in threads:
        t.join(60)
    assert [x.status for x in results] == [200, 200], results
    assert_clean(d)

    # grub-mkrescue fails: 500 with its last line; nothing left.
    Path(str(gate) + ".fail").touch()
    r = post_iso(d, req)
    assert r.status == 500, r
    assert r.json["error"] == "internal"
    assert r.json["message"] == ("grub-mkrescue failed (exit 1): "
                                 "grub-mkrescue: error: disk on fire")
    assert_clean(d)
    d.terminate()

    # No grub-mkrescue at all: 503 naming the packages.
    empty = tmp_path / "empty"
    empty.mkdir()
    write_tool(empty / "xorriso", "#!/bin/sh\nexit 0\n")
    d.env["PATH"] = str(empty)
    d.start()
    r = post_iso(d, req)
    assert r.status == 503, r
    assert "grub-pc-bin" in r.json["message"]
    assert_clean(d)


def test_stop_during_build(isod, tmp_path):
    tools = tmp_path / "bin"
    tools.mkdir()
    pidfile = tmp_path / "pid"
    write_tool(tools / "grub-mkrescue",
               "#!/bin/sh\necho $$ > %s\nsleep 300\n" % pidfile)
    d = isod(path_prefix=str(tools))
    d.allow_warnings(r"httpd: POST /v1/iso: rumprund is shutting down")
    results = []

    def one():
        try:
            results.append(post_iso(d, {"name": "s", "image":
                                        str(d.image)}))
        except Exception as e:  # noqa: BLE001 (the daemon went away)
            results.append(e)
    t = threading.Thread(target=one)
    t.start()
    rrlib.wait_for("grub-mkrescue to run", pidfile.exists, 10)
    pid = int(rrlib.wait_for("its pid", lambda: pidfile.read_text().strip(),
                             5))
    t0 = time.monotonic()
    d.terminate(timeout=10)
    assert time.monotonic() - t0 < 5
    t.join(10)
    r = results[0]
    if not isinstance(r, Exception):
        assert r.status == 503, r
        assert r.json["message"] == "rumprund is shutting down"
    # The build was killed, and its directory is gone.
    rrlib.wait_for("grub-mkrescue to be gone",
                   lambda: not Path("/proc/%d" % pid).exists() or
                   Path("/proc/%d/stat" % pid).read_text().split()[2] == "Z",
                   5)
    assert_clean(d)


def test_rrctl_iso_help():
    rrctl = str(rrlib.BUILD / "rrctl")
    h = subprocess.run([rrctl, "help", "iso"], capture_output=True,
                       text=True, timeout=10)
    assert h.returncode == 0 and h.stdout.startswith("usage: rrctl iso "), h
    assert subprocess.run([rrctl, "iso", "--help"], capture_output=True,
                          text=True, timeout=10).stdout == h.stdout
    for flag in ("-o", "-b", "-e", "-I", "-N", "-W", "--dry-run"):
        assert "\n  %s " % flag in h.stdout, (flag, h.stdout)
    u = subprocess.run([rrctl, "--host", "unix:///nonexistent", "help"],
                       capture_output=True, text=True, timeout=10)
    assert "\tiso [-o file] [options] image [--] [arg ...]\n" in u.stdout
    # The request, without a daemon.
    p = subprocess.run([rrctl, "iso", "--dry-run", "-I", "a,re", "-N", "m",
                        "/srv/app.bin", "x"], capture_output=True, text=True,
                       timeout=10)
    assert p.returncode == 0, p
    assert json.loads(p.stdout) == {
        "name": "m", "platform": "iso", "image": "/srv/app.bin",
        "argv": ["/srv/app.bin", "x"], "hostname": "m",
        "nics": [{"driver": "re"}]}
