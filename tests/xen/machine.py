"""
machine.py: the Xen test machine: a real Xen 4.17 with a Debian dom0,
nested under QEMU TCG, running the rumprund under test.

Machine(build_dir).start() builds (or finds) the dom0 image with
mkdom0.sh, packs this run's payload (rrinit, rumprund, rrctl, rrxenguest,
the TLS material, a token and rumprund.conf) into a cpio archive appended
to the cached initramfs (the initramfs copies it to /opt/rr), and boots
QEMU with the root disk in -snapshot mode: nothing a run does reaches the
cache.  QEMU's serial port (Xen's console, then dom0's hvc0) is on QEMU's
stdin/stdout: run() types a shell command there and reads its output and
status.  Networking is QEMU's user network with restrict=on (nothing
leaves the machine) and one hostfwd from 127.0.0.1:<free port> on the host
to rumprund's TLS listener in dom0 (10.0.2.15:8420), which the tests use
with a bearer token.

One core: -smp 1 and QEMU's TCG thread.  The facts behind the command line
(measured on our machines): `-cpu max` crashes dom0 at once (SMAP), `-cpu
qemu64` works; an uncompressed dom0 kernel and a busybox initramfs keep
dom0's boot to ~10 s; Xen powers the machine off when dom0 runs
`poweroff -f`.
"""
import ctypes
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

HERE = Path(__file__).resolve().parent
REPO = HERE.parent.parent
E2E = REPO / "tests" / "e2e"
TOKEN = "xen-test-token-5e1f0c2a9b7d4e3f"
GUEST_PORT = 8420
PR_SET_PDEATHSIG = 1
TYPE_CHUNK = 48
BOOT_TIMEOUT = float(os.environ.get("RR_XEN_BOOT_TIMEOUT", "180"))


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


class MachineError(AssertionError):
    pass


def _die_with_parent():
    """In QEMU's child before exec: SIGKILL when the test process dies,
    however it dies, so that no nested machine outlives its test."""
    libc = ctypes.CDLL(None, use_errno=True)
    libc.prctl(PR_SET_PDEATHSIG, signal.SIGKILL)


class Machine:
    def __init__(self, build="build", daemon=None, workdir=None):
        self.build = Path(build)
        self.daemon_bin = Path(daemon or self.build / "rumprund")
        self.rrctl_bin = self.build / "rrctl"
        self.guest = self.build / "xenguest" / "rrxenguest"
        self.work = Path(workdir or tempfile.mkdtemp(prefix="rr-xen-"))
        self.port = None
        self.proc = None
        self.out = bytearray()
        self.lock = threading.Condition()
        self.reader = None
        self.log = None
        self.seq = 0
        self.boot_s = None
        self.cache = None

    # -- the image and the payload -----------------------------------------

    def image(self):
        """The cache directory (mkdom0.sh builds it when missing)."""
        t0 = time.monotonic()
        if os.environ.get("RR_XEN_IMAGE"):
            # A given image directory (debugging mkdom0.sh itself).
            self.image_s = 0.0
            self.cache = Path(os.environ["RR_XEN_IMAGE"])
            return self.cache
        r = subprocess.run([str(HERE / "mkdom0.sh")], stdout=subprocess.PIPE,
                           stderr=subprocess.PIPE, text=True, timeout=900)
        if r.returncode != 0:
            raise MachineError("mkdom0.sh failed (the Xen test machine "
                               "cannot be built):\n" + r.stderr[-3000:])
        self.image_s = time.monotonic() - t0
        self.cache = Path(r.stdout.strip().splitlines()[-1])
        return self.cache

    def payload(self):
        p = self.work / "payload"
        if p.exists():
            shutil.rmtree(p)
        (p / "tls").mkdir(parents=True)
        (p / "images").mkdir()
        (p / "volumes").mkdir()
        for src, name in ((HERE / "rrinit", "rrinit"),
                          (self.daemon_bin, "rumprund"),
                          (self.rrctl_bin, "rrctl")):
            if not src.exists():
                raise MachineError("%s is missing (make all)" % src)
            shutil.copy2(src, p / name)
        if not self.guest.exists():
            raise MachineError("%s is missing (make %s)"
                               % (self.guest, self.guest))
        shutil.copy2(self.guest, p / "images" / "rrxenguest")
        certs = self.work / "certs"
        if not (certs / "server.pem").exists():
            subprocess.run([str(E2E / "mkcerts.sh"), str(certs)],
                           check=True, timeout=60)
        for f in ("server.pem", "server.key", "ca.pem"):
            shutil.copy2(certs / f, p / "tls" / f)
        tok = p / "tokens"
        tok.write_text("# the Xen tests' token\n%s\n" % TOKEN)
        tok.chmod(0o600)
        (p / "rumprund.conf").write_text("\n".join([
            "socket = /run/rumprund/rumprund.sock",
            "tcp = 10.0.2.15:%d" % GUEST_PORT,
            "tls_cert = /opt/rr/tls/server.pem",
            "tls_key = /opt/rr/tls/server.key",
            "token_file = /opt/rr/tokens",
            "state_dir = /var/lib/rumprund",
            "log_dir = /var/log/rumprund",
            "image_dir = /opt/rr/images",
            "volume_dir = /opt/rr/volumes",
            "bridge = rrbr0",
            "stop_timeout = 4",
            "",
        ]))
        cpio = self.work / "payload.cpio"
        names = subprocess.run(
            "cd %s && find payload" % self.work, shell=True, check=True,
            stdout=subprocess.PIPE).stdout
        with open(cpio, "wb") as f:
            subprocess.run(["cpio", "-o", "-H", "newc", "-R", "0:0",
                            "--quiet"], input=names, stdout=f, check=True,
                           cwd=self.work)
        initrd = self.work / "initrd"
        with open(initrd, "wb") as f:
            for part in (self.cache / "initrd.cpio", cpio):
                f.write(part.read_bytes())
        return initrd

    # -- QEMU ----------------------------------------------------------------

    def start(self):
        self.image()
        initrd = self.payload()
        self.port = free_port()
        for f in ("xen.elf", "vmlinux", "root.img"):
            if "," in str(self.cache / f):
                raise MachineError("a comma in %s" % (self.cache / f))
        cmd = [
            "qemu-system-x86_64",
            "-accel", "tcg,thread=multi,tb-size=256",
            "-machine", "q35", "-cpu", "qemu64", "-smp", "1", "-m", "1536",
            "-display", "none", "-serial", "stdio", "-monitor", "none",
            "-no-reboot",
            "-nic", "user,model=virtio-net-pci,restrict=on,"
                    "hostfwd=tcp:127.0.0.1:%d-:%d" % (self.port, GUEST_PORT),
            "-kernel", str(self.cache / "xen.elf"),
            "-append", "console=com1 com1=115200,8n1 dom0_mem=768M,max:768M "
                       "dom0_max_vcpus=1 bootscrub=false",
            "-initrd", "%s console=hvc0 quiet,%s"
                       % (self.cache / "vmlinux", initrd),
            "-drive", "file=%s,if=virtio,format=raw,cache=unsafe"
                      % (self.cache / "root.img"),
            "-snapshot",
        ]
        self.log = open(self.work / "console.log", "wb")
        self.t0 = time.monotonic()
        self.proc = subprocess.Popen(cmd, stdin=subprocess.PIPE,
                                     stdout=subprocess.PIPE,
                                     stderr=subprocess.STDOUT,
                                     preexec_fn=_die_with_parent)
        self.reader = threading.Thread(target=self._read, daemon=True)
        self.reader.start()
        self.wait_output(b"rrinit: ready", BOOT_TIMEOUT, "dom0 to boot")
        self.sync()
        self.boot_s = time.monotonic() - self.t0

    def sync(self, timeout=60):
        """Make sure dom0's shell reads the console: a few tries."""
        dl = time.monotonic() + timeout
        k = 0
        while True:
            k += 1
            with self.lock:
                start = len(self.out)
            # What the shell prints differs from what the tty echoes.
            word = "@@sync-%d-%d@@" % (os.getpid(), k)
            self.proc.stdin.write(("printf '@@%%s@@\\n' sync-%d-%d\n"
                                   % (os.getpid(), k)).encode())
            self.proc.stdin.flush()
            try:
                self.wait_output(word.encode(), 3, "dom0's shell", start)
                return
            except MachineError:
                if time.monotonic() > dl or not self.alive():
                    raise

    def _read(self):
        fd = self.proc.stdout.fileno()
        while True:
            try:
                b = os.read(fd, 65536)
            except OSError:
                b = b""
            with self.lock:
                if not b:
                    self.eof = True
                    self.lock.notify_all()
                    return
                self.out += b
                self.log.write(b)
                self.log.flush()
                self.lock.notify_all()

    def alive(self):
        return self.proc is not None and self.proc.poll() is None

    def tail(self, n=3000):
        with self.lock:
            return bytes(self.out[-n:]).decode("utf-8", "replace")

    def wait_output(self, pattern, timeout, what, start=0):
        """Wait until the console shows pattern (bytes or a compiled
        regex) after offset start; returns the match."""
        dl = time.monotonic() + timeout
        with self.lock:
            while True:
                if isinstance(pattern, bytes):
                    i = self.out.find(pattern, start)
                    if i >= 0:
                        return i
                else:
                    m = pattern.search(self.out, start)
                    if m:
                        return m
                left = dl - time.monotonic()
                if left <= 0 or getattr(self, "eof", False):
                    raise MachineError(
                        "waiting for %s: %s; console tail:\n%s" % (
                            what, "QEMU exited" if getattr(self, "eof",
                                                           False)
                            else "timed out after %ds" % timeout,
                            self.tail()))
                self.lock.wait(min(left, 1.0))

    def type(self, text):
        """Type text on dom0's console, TYPE_CHUNK bytes at a time, each
        once dom0's tty has echoed the one before: Xen hands console input
        to dom0 through a 128-byte ring and drops what does not fit while
        dom0 is busy.  Returns the console offset after the echo."""
        data = text.encode()
        with self.lock:
            pos = len(self.out)
        for i in range(0, len(data), TYPE_CHUNK):
            chunk = data[i:i + TYPE_CHUNK]
            self.proc.stdin.write(chunk)
            self.proc.stdin.flush()
            # Xen's serial console writes "\n" as "\r\n".
            echo = chunk.replace(b"\n", b"\r\n")
            try:
                pos = self.wait_output(echo, 20, "dom0 to echo %r" % chunk,
                                       pos) + len(echo)
            except MachineError:
                if not self.alive():
                    raise
                # Xen's own output may have split the echo: go on.
        return pos

    def run(self, command, timeout=60, check=True):
        """Run a shell command in dom0; (status, output)."""
        self.seq += 1
        tag = "%d-%d" % (os.getpid(), self.seq)
        line = "{ %s\n} </dev/null 2>&1; echo \"@@rc=$? %s@@\"\n" % (
            command, tag)
        start = self.type(line)
        m = self.wait_output(re.compile(rb"@@rc=(\d+) " + tag.encode() +
                                        rb"@@"), timeout,
                             "dom0 to run %r" % command, start)
        with self.lock:
            raw = bytes(self.out[start:m.start()])
        out = "\n".join(
            ln for ln in raw.decode("utf-8", "replace").replace("\r", "")
            .split("\n") if not ln.startswith("(XEN)")).strip("\n")
        rc = int(m.group(1))
        if check and rc != 0:
            raise MachineError("dom0: %r: status %d:\n%s" % (command, rc,
                                                            out))
        return rc, out

    def out_of(self, command, timeout=60):
        return self.run(command, timeout)[1]

    def stop(self):
        if self.proc is None:
            return
        if self.alive():
            try:
                self.proc.stdin.write(b"sync; poweroff -f\n")
                self.proc.stdin.flush()
                self.proc.wait(timeout=20)
            except (OSError, subprocess.TimeoutExpired):
                pass
        if self.alive():
            self.proc.kill()
            self.proc.wait(timeout=10)
        self.proc = None
        if self.reader is not None:
            self.reader.join(timeout=5)
        if self.log is not None:
            self.log.close()
        # The big files go; the console log and the certificates stay.
        shutil.rmtree(self.work / "payload", ignore_errors=True)
        for f in ("payload.cpio", "initrd"):
            try:
                (self.work / f).unlink()
            except OSError:
                pass


if __name__ == "__main__":
    # Boot the machine and run the commands given (or an interactive
    # prompt): python3 tests/xen/machine.py [BUILD] -- 'xl list' ...
    args = sys.argv[1:]
    build = args.pop(0) if args and args[0] != "--" else "build"
    if args and args[0] == "--":
        args.pop(0)
    m = Machine(build)
    try:
        m.start()
        print("booted in %.1f s (work dir %s)" % (m.boot_s, m.work))
        for c in args:
            rc, out = m.run(c, timeout=300, check=False)
            print("$ %s\n%s\n[status %d]" % (c, out, rc))
    finally:
        m.stop()
