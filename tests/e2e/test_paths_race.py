"""
The file that was checked is the file that is used (issue 13, B1 and B2):
attacks by a caller who may write under volume_dir, against the real
daemon, libvirtd, QEMU and grub-mkrescue.

- B1: POST /v1/iso with a data image volumes/sub/disk.img while another
  thread keeps swapping volumes/sub for a symlink to a root-only directory
  outside (private/, 0700) that holds a host secret under the same name.
  No ISO image may hold the secret; the swap must have been seen (both
  built images and refusals), or the test proves nothing.
- B2, restart: launch with volumes/sub/mine.img, stop, swap the file (then
  a directory above it) for a symlink to the secret, start: refused, and
  QEMU never holds the secret.  Put back, start: QEMU holds mine.img.
- B2, racing launch: the swapper of B1 while launches name
  volumes/sub/disk.img: each is refused (403/422 or `failed`) or its QEMU
  holds disk.img; never the secret.
- Ownership: the secret, the disk and the image keep their owner, group and
  mode through all of it (libvirt's dynamic ownership is never asked to
  chown them: disks go to QEMU as descriptors, the kernel as a copy).

What QEMU holds is read from /proc/PID/fd of the domain's QEMU (the
process whose command line has -name guest=DOMAIN,...): a disk QEMU got by
descriptor is an open file there, compared by device and inode.  That is
stricter than asking the guest (the test guest has no virtio-blk driver to
read its disks with).

RR_RACE_ITERATIONS sets the iterations (default: a short form for `make
test`); tests/stress/test_paths_race_long.py runs the long form.
"""
import os
import random
import stat
import threading
import time

import pytest
from pathlib import Path

import rrlib
from rrlib import Deadline

ITERATIONS = int(os.environ.get("RR_RACE_ITERATIONS", "12"))
SECRET = b"HOST-SECRET-0123456789abcdef\n"
HARMLESS = b"harmless-user-data-9876543210\n"


def make_secret(d, name):
    """A root-only directory outside the allowed ones with a secret file."""
    private = d.root / "private"
    private.mkdir(mode=0o700, exist_ok=True)
    os.chmod(private, 0o700)
    p = private / name
    with open(p, "wb") as f:
        f.write(SECRET * (65536 // len(SECRET) + 1))
    os.chmod(p, 0o600)
    return private, p


def ownership(path):
    st = os.stat(path)
    return (st.st_uid, st.st_gid, stat.S_IMODE(st.st_mode))


def inode(path):
    st = os.stat(path)
    return (st.st_dev, st.st_ino)


def qemu_pid(domain):
    """The pid of the domain's QEMU (-name guest=DOMAIN,...), or None."""
    want = ("guest=%s," % domain).encode()
    for pid in os.listdir("/proc"):
        if not pid.isdigit():
            continue
        try:
            with open("/proc/%s/cmdline" % pid, "rb") as f:
                args = f.read().split(b"\0")
        except OSError:
            continue
        if any(a.startswith(want) for a in args):
            return int(pid)
    return None


def qemu_files(domain):
    """(dev, ino) of every file the domain's QEMU has open; None if gone."""
    pid = qemu_pid(domain)
    try:
        fds = os.listdir("/proc/%d/fd" % pid) if pid is not None else None
    except OSError:
        fds = None
    if fds is None:
        return None
    out = set()
    for fd in fds:
        try:
            out.add(inode("/proc/%d/fd/%s" % (pid, fd)))
        except OSError:
            pass
    return out


class Swapper:
    """Swap DIR for a symlink to TARGET and back, until stopped."""

    def __init__(self, dir_, target):
        self.dir = str(dir_)
        self.orig = self.dir + ".orig"
        self.target = str(target)
        self.swaps = 0
        self.error = None
        self.stopping = threading.Event()
        self.thread = threading.Thread(target=self.run, daemon=True)

    def run(self):
        try:
            while not self.stopping.is_set():
                os.rename(self.dir, self.orig)
                os.symlink(self.target, self.dir)
                self.swaps += 1
                time.sleep(random.uniform(0, 0.004))
                os.unlink(self.dir)
                os.rename(self.orig, self.dir)
                time.sleep(random.uniform(0, 0.004))
        except OSError as e:
            self.error = e

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self.stopping.set()
        self.thread.join(10)
        if os.path.islink(self.dir):
            os.unlink(self.dir)
            os.rename(self.orig, self.dir)
        assert self.error is None, "the swapper failed: %s" % self.error


def need_iso_tools():
    missing = [t for t in ("grub-mkrescue", "xorriso")
               if not any(os.access(os.path.join(p, t), os.X_OK)
                          for p in os.environ.get("PATH", "").split(":"))]
    if not os.path.exists("/usr/lib/grub/i386-pc/cdboot.img"):
        missing.append("grub-pc-bin")
    if missing:
        pytest.fail("missing %s: run scripts/deps.sh" % ", ".join(missing),
                    pytrace=False)


def test_b1_iso_data_image_swapped_during_build(daemon, tmp_path):
    need_iso_tools()
    d = daemon(start=False)
    tmp = tmp_path / "isotmp"
    tmp.mkdir()
    d.env = dict(d.env, TMPDIR=str(tmp))
    d.start()
    sub = d.volumes / "sub"
    sub.mkdir()
    with open(sub / "disk.img", "wb") as f:
        f.write(HARMLESS * 100)
    private, secret = make_secret(d, "disk.img")
    before = ownership(secret)
    req = {"name": "b1", "image": str(d.image),
           "blk": [{"source": str(sub / "disk.img"), "mountpoint": "/d"}]}
    built = refused = 0
    t0 = time.monotonic()
    with Swapper(sub, private) as sw:
        i = 0
        while i < ITERATIONS or ((built == 0 or refused == 0) and
                                 i < 4 * ITERATIONS):
            i += 1
            r = d.client.request("POST", "/v1/iso", req, timeout=120)
            if r.status == 200:
                assert SECRET not in r.body, \
                    "the host secret is in the ISO image (build %d)" % i
                assert HARMLESS in r.body
                built += 1
            else:
                assert r.status in (403, 422), (r.status, r.body[:300])
                assert r.json["field"] == "blk[0].source", r.json
                refused += 1
    print("B1: %d ISO images built, %d refused, %d swaps, %.1f s"
          % (built, refused, sw.swaps, time.monotonic() - t0))
    assert built > 0 and refused > 0, "the race did not happen"
    assert ownership(secret) == before
    assert not list(tmp.iterdir())


def launch_disk(d, name, source, argv=("forever",)):
    spec = d.spec(name, list(argv), blk=[{"source": str(source),
                                          "mountpoint": "/d"}])
    return d.client.request("POST", "/v1/unikernels", spec)


def wait_settled(c, name):
    """The instance once it left pending and starting's launch."""
    return c.wait_state(name, ("running", "starting", "failed", "crashed",
                               "exited", "stopped"))


def assert_holds(domain, want, never):
    """The domain's QEMU has want open (when not None), never never."""
    files = None
    dl = Deadline(10)
    while files is None and not dl.passed():
        files = qemu_files(domain)
        if files is None:
            time.sleep(0.05)
    assert files is not None, "no QEMU for %s" % domain
    assert never not in files, "QEMU of %s holds the host secret" % domain
    if want is not None:
        assert want in files, "QEMU of %s does not hold the disk" % domain


def disk_line(c, name):
    """What the guest's "diskread" printed: the start of its disk."""
    def check():
        log = c.logs(name)
        log = log.decode(errors="replace") if isinstance(log, bytes) else log
        if "diskread: " not in log:
            return None
        rest = log.split("diskread: ", 1)[1]
        return rest.split("\n")[0] if "\n" in rest else None
    return rrlib.wait_for("diskread in the log of %s" % name, check, 20)


def test_b2_start_after_swap(daemon):
    d = daemon()
    c = d.client
    sub = d.volumes / "sub"
    sub.mkdir()
    mine = sub / "mine.img"
    with open(mine, "wb") as f:
        f.write(HARMLESS * 1000)
    private, secret = make_secret(d, "mine.img")
    owners = {p: ownership(p) for p in (secret, mine, d.image)}

    r = launch_disk(d, "b2", mine, ("diskread", "forever"))
    assert r.status == 201, r.body
    v = c.wait_state("b2", ("running",))
    assert_holds(v["domain"], inode(mine), inode(secret))
    assert ownership(mine) == owners[mine]

    for what in ("file", "dir"):
        c.stop("b2", force=True)
        if what == "file":
            os.rename(mine, str(mine) + ".orig")
            os.symlink(secret, mine)
        else:
            os.rename(sub, str(sub) + ".orig")
            os.symlink(private, sub)
        v = c.start("b2", expect=(200, 403, 409, 422))
        v = c.wait_state("b2", ("failed", "running", "starting"))
        assert v["state"] == "failed", \
            "started with the %s swapped for a symlink: %s" % (what, v)
        assert "blk[0].source" in v["reason"] and \
            "outside the allowed directories" in v["reason"], v
        assert not d.domains(running_only=True)
        # Put back: the start checks again and uses the file.
        if what == "file":
            os.unlink(mine)
            os.rename(str(mine) + ".orig", mine)
        else:
            os.unlink(sub)
            os.rename(str(sub) + ".orig", sub)
        c.start("b2")
        v = c.wait_state("b2", ("running",))
        assert_holds(v["domain"], inode(mine), inode(secret))
        assert disk_line(c, "b2") == HARMLESS.decode().strip()
        for p, o in owners.items():
            assert ownership(p) == o, p
    c.remove("b2", force=True)
    for p, o in owners.items():
        assert ownership(p) == o, p


def test_b2_launch_races_swap(daemon):
    d = daemon()
    c = d.client
    sub = d.volumes / "sub"
    sub.mkdir()
    disk = sub / "disk.img"
    with open(disk, "wb") as f:
        f.write(HARMLESS * 1000)
    private, secret = make_secret(d, "disk.img")
    owners = {p: ownership(p) for p in (secret, disk, d.image)}
    # Renaming the directory above leaves a file's inode as it is.
    disk_ino, secret_ino = inode(disk), inode(secret)
    ran = refused = failed = 0
    t0 = time.monotonic()
    with Swapper(sub, private) as sw:
        i = 0
        while i < ITERATIONS or ((ran == 0 or refused + failed == 0) and
                                 i < 4 * ITERATIONS):
            i += 1
            name = "race%d" % i
            r = launch_disk(d, name, disk, ("diskread", "forever"))
            if r.status in (403, 422):
                assert r.json["field"] == "blk[0].source", r.json
                refused += 1
                continue
            assert r.status == 201, (r.status, r.body[:300])
            v = wait_settled(c, name)
            if v["state"] == "failed":
                assert "blk[0].source" in v["reason"], v
                failed += 1
            else:
                assert v["state"] in ("running", "starting"), v
                # The disk the check saw, whatever the path says now.
                assert_holds(v["domain"], disk_ino, secret_ino)
                # And what the guest reads on its disk is the user's.
                line = disk_line(c, name)
                assert line == HARMLESS.decode().strip(), line
                ran += 1
            c.remove(name, force=True)
    print("B2 race: %d ran, %d refused at the request, %d failed at the "
          "launch, %d swaps, %.1f s" % (ran, refused, failed, sw.swaps,
                                         time.monotonic() - t0))
    assert ran > 0 and refused + failed > 0, "the race did not happen"
    for p, o in owners.items():
        assert ownership(p) == o, p
    assert not d.domains()



def test_adoption_checks_again(daemon):
    """A domain adopted after a restart keeps the files it was launched
    with; its paths are checked again and a failed check is said (a
    warning), not acted on; the next start refuses the swapped file."""
    d = daemon()
    c = d.client
    sub = d.volumes / "sub"
    sub.mkdir()
    mine = sub / "mine.img"
    with open(mine, "wb") as f:
        f.write(HARMLESS * 1000)
    private, secret = make_secret(d, "mine.img")
    r = launch_disk(d, "adopt", mine, ("diskread", "forever"))
    assert r.status == 201, r.body
    v = c.wait_state("adopt", ("running",))
    mine_ino, secret_ino = inode(mine), inode(secret)
    d.kill9()
    os.rename(sub, str(sub) + ".orig")
    os.symlink(private, sub)
    d.allow_warnings(r"warning adopt: blk\[0\]\.source: .* is outside the "
                     r"allowed directories \(GET /v1/info and rrctl info "
                     r"list them\); the guest keeps the files it "
                     r"was launched with")
    d.start()
    dl = Deadline(10)
    while "the guest keeps the files" not in d.stderr_text():
        assert not dl.passed(), d.describe()
        time.sleep(0.05)
    v = c.instance("adopt")
    assert v["state"] == "running", v
    assert_holds(v["domain"], mine_ino, secret_ino)
    c.stop("adopt", force=True)
    c.start("adopt", expect=(200, 403, 422))
    v = c.wait_state("adopt", ("failed", "running", "starting"))
    assert v["state"] == "failed" and "outside" in v["reason"], v
    os.unlink(sub)
    os.rename(str(sub) + ".orig", sub)
    c.remove("adopt")


def test_runtests_shaped_private_dirs(daemon):
    """Issue 11, item 5: upstream rumprun's tests/runtests.sh puts each
    disk image in a `mktemp -d` directory (0700, root's) and polls the disk
    for the verdict the guest writes.  QEMU runs as libvirt-qemu and cannot
    enter such a directory: it must get the file rumprund opened.  Here the
    kernel too lies in a 0700 directory, and both files are 0600."""
    import shutil
    import subprocess
    import tempfile

    d = daemon()
    rrctl = rrlib.BUILD / "rrctl"
    testdir = Path(tempfile.mkdtemp(prefix="tmp.", dir=str(d.volumes)))
    kerndir = Path(tempfile.mkdtemp(prefix="tmp.", dir=str(d.images)))
    assert stat.S_IMODE(os.stat(testdir).st_mode) == 0o700
    kernel = kerndir / "test.bin"
    shutil.copyfile(rrlib.GUEST_ELF, kernel)
    os.chmod(kernel, 0o600)
    disk = testdir / "disk.img"
    with open(os.open(disk, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600),
              "wb") as f:
        f.write(b"NOT RUN\n")
        f.truncate(1 << 20)
    owners = {p: ownership(p) for p in (testdir, kerndir, kernel, disk)}

    p = subprocess.run([str(rrctl), "--host", "unix://%s" % d.sock, "run",
                        "kvm", "-N", "runtest", "-b", str(disk),
                        str(kernel), "diskread", "diskwrite", "TEST OK"],
                       capture_output=True, text=True, timeout=60)
    assert p.returncode == 0, (p.stdout, p.stderr)
    # The harness's loop: the verdict on the disk.
    dl = Deadline(30)
    first = b""
    while not dl.passed():
        with open(disk, "rb") as f:
            first = f.read(64).split(b"\n")[0]
        if first != b"NOT RUN":
            break
        time.sleep(0.1)
    log = d.client.logs("runtest")
    log = log.decode(errors="replace") if isinstance(log, bytes) else log
    assert first == b"TEST OK", (first, log)
    assert "diskread: NOT RUN" in log, log
    v = d.client.wait_state("runtest", ("exited",))
    assert v["exit_status"] == 0, v
    p = subprocess.run([str(rrctl), "--host", "unix://%s" % d.sock, "rm",
                        "-f", "runtest"], capture_output=True, text=True,
                       timeout=60)
    assert p.returncode == 0, (p.stdout, p.stderr)
    for path, o in owners.items():
        assert ownership(path) == o, path
    assert not list(d.guests.iterdir())
