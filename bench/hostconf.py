#!/usr/bin/env python3
"""
hostconf.py: what each host-side libvirt/QEMU setting, and each step of
rumprund's KVM launch, costs, side by side (see bench/README.md).

Every variant gets a private libvirtd of its own (tests/stress/
privlibvirt.sh with RR_QEMU_CONF: its own qemu.conf mounted over
/etc/libvirt/qemu.conf in its mount namespace; the same binaries, the same
QEMU capability cache); bench/direct_libvirt then launches the test guest
through each, with rumprund's domain XML, in rounds: every round runs
--runs launches of every variant, in a new random order, so that a change
in the machine's load hits every variant alike.  Printed: the median of
each time (ms from just before the first libvirt call) and its ratio to
the "base" variant (the host's qemu.conf as scripts/libvirt-up.sh leaves
it: only stdio_handler = "file").

Step variants, on base's libvirtd: "define" (virDomainDefineXML +
virDomainCreate + virDomainUndefine instead of one virDomainCreateXML:
what rumprund does for a guest with disks), "stage" (the kernel copied
first, as rumprund does for every launch), "noacpi" (no <acpi/> in the
XML).

    python3 bench/hostconf.py [--accel tcg|kvm] [--rounds 4] [--runs 3]
                              [--only base,cgroups,...]

As root; `make bench` builds build/bench/direct_libvirt and the guest.
"""
import argparse
import json
import os
import random
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
PRIV = REPO / "tests/stress/privlibvirt.sh"

BASE = 'stdio_handler = "file"\n'
SAFE = ('cgroup_controllers = [ ]\n')
# name: (qemu.conf lines after BASE, direct_libvirt options, base's libvirtd)
VARIANTS = {
    "base": ("", [], False),
    "cgroups": ("cgroup_controllers = [ ]\n", [], False),
    "namespaces": ("namespaces = [ ]\n", [], False),
    "seccomp": ("seccomp_sandbox = 0\n", [], False),
    "remember_owner": ("remember_owner = 0\n", [], False),
    "dynamic_ownership": ("dynamic_ownership = 0\n", [], False),
    "safe": (SAFE, [], False),
    "all": ("cgroup_controllers = [ ]\nnamespaces = [ ]\n"
            "seccomp_sandbox = 0\nremember_owner = 0\n", [], False),
    "noacpi": ("", ["--acpi", "no"], True),
    "define": ("", ["--via", "define"], True),
    "stage": ("", ["--stage-kernel", "STAGE"], True),
}


def log(msg):
    print(msg, file=sys.stderr, flush=True)


def loadavg():
    with open("/proc/loadavg") as f:
        return float(f.read().split()[0])


def main():
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--build", default="build")
    ap.add_argument("--accel", default="tcg")
    ap.add_argument("--rounds", type=int, default=4)
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--only", default=",".join(VARIANTS))
    ap.add_argument("--json")
    args = ap.parse_args()
    names = args.only.split(",")
    for n in names:
        if n not in VARIANTS:
            ap.error("no variant %s" % n)
    if "base" not in names:
        names.insert(0, "base")
    direct = REPO / args.build / "bench/direct_libvirt"
    guest = REPO / args.build / "guest/rrguest"

    root = Path(tempfile.mkdtemp(prefix="rrh.", dir="/tmp"))
    os.chmod(root, 0o755)
    for sub in ("logs", "images", "stage"):
        (root / sub).mkdir()
        os.chmod(root / sub, 0o755)
    # Not under /run: a private libvirtd has a /run of its own.
    stage = root / "stage"
    os.chmod(stage, 0o711)
    image = root / "images/rrguest"
    shutil.copy(guest, image)
    os.chmod(image, 0o644)
    uris = {}
    lvdirs = []
    samples = {n: [] for n in names}
    info = {"date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
            "accel": args.accel, "load_start": loadavg()}
    try:
        for n in names:
            conf_extra, _, on_base = VARIANTS[n]
            if on_base:
                continue
            d = root / ("lv-" + n)
            conf = root / ("qemu.conf." + n)
            conf.write_text(BASE + conf_extra)
            os.chmod(conf, 0o644)
            env = dict(os.environ, RR_QEMU_CONF=str(conf))
            p = subprocess.run([str(PRIV), "up", str(d)], env=env,
                               capture_output=True, text=True, timeout=120)
            if p.returncode != 0:
                raise RuntimeError("privlibvirt up %s: %s" % (n, p.stderr))
            lvdirs.append(d)
            uris[n] = p.stdout.strip().splitlines()[-1]
            log("hostconf: %s: %s" % (n, uris[n]))
        for n in names:
            if VARIANTS[n][2]:
                uris[n] = uris["base"]
        for r in range(args.rounds):
            order = names[:]
            random.shuffle(order)
            log("hostconf: round %d/%d (load %.2f): %s" %
                (r + 1, args.rounds, loadavg(), " ".join(order)))
            for n in order:
                opts = [stage if o == "STAGE" else o for o in VARIANTS[n][1]]
                cmd = [str(direct), "libvirt", "--image", str(image),
                       "--logdir", str(root / "logs"), "--accel", args.accel,
                       "--uri", uris[n], "--runs", str(args.runs),
                       "--prefix", "h%s%d" % (n[:6], r)] + \
                    [str(o) for o in opts]
                p = subprocess.run(cmd, capture_output=True, text=True,
                                   timeout=600)
                if p.returncode != 0:
                    log("hostconf: %s failed: %s" % (n, p.stderr.strip()))
                    continue
                for line in p.stdout.splitlines():
                    s = json.loads(line)
                    if s.get("ok"):
                        s["round"] = r
                        samples[n].append(s)
    finally:
        for d in lvdirs:
            subprocess.run([str(PRIV), "down", str(d)], capture_output=True,
                           timeout=120)
        shutil.rmtree(root, ignore_errors=True)
    info["load_end"] = loadavg()

    def med(n, k):
        v = [s[k] for s in samples[n] if s.get(k, -1) >= 0]
        return statistics.median(v) if v else float("nan")

    print("hostconf: %s, %s, %d rounds x %d launches (after a warm-up "
          "one), load %.2f -> %.2f" %
          (info["date"], args.accel, args.rounds, args.runs,
           info["load_start"], info["load_end"]))
    print()
    def paired(n, k):
        """Median over the rounds of (n's median / base's median) in
        that round: the load of each round cancels out."""
        rs = []
        for r in range(args.rounds):
            a = [s[k] for s in samples[n] if s["round"] == r and s[k] >= 0]
            b = [s[k] for s in samples["base"] if s["round"] == r and
                 s[k] >= 0]
            if a and b:
                rs.append(statistics.median(a) / statistics.median(b))
        return statistics.median(rs) if rs else float("nan")

    print("| variant | n | create | first byte | main() | create / base "
          "| first byte / base | main() / base | steps (ms) |")
    print("|---|---|---|---|---|---|---|---|---|")
    for n in names:
        steps = []
        for k in ("copy", "define", "start", "undefine"):
            m = med(n, k)
            if m == m and m > 0:
                steps.append("%s %.2f" % (k, m))
        print("| %s | %d | %.1f | %.1f | %.1f | %.3f | %.3f | %.3f | %s |"
              % (n, len(samples[n]), med(n, "create"),
                 med(n, "first_byte"), med(n, "marker"),
                 paired(n, "create"), paired(n, "first_byte"),
                 paired(n, "marker"), ", ".join(steps)))
    print()
    print("- ms from just before the first libvirt call; medians over "
          "every launch")
    print("- X / base: the median over the rounds of X's median / base's "
          "median in the same round (each round runs every variant "
          "back to back, in a random order)")
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"info": info, "samples": samples}, f)


if __name__ == "__main__":
    main()
