"""
`make install DESTDIR=... PREFIX=...` installs exactly the expected files,
with their modes, the service naming the installed binary, and never
overwrites an operator's rumprund.conf.
"""
import os
import stat
import subprocess

import rrlib

REPO = rrlib.REPO


def install(destdir, *args):
    p = subprocess.run(["make", "-s", "-C", str(REPO), "install",
                        "DESTDIR=%s" % destdir] + list(args),
                       capture_output=True, text=True, timeout=600)
    assert p.returncode == 0, p.stdout + p.stderr
    return p.stdout


def tree(root):
    """path (relative to root) -> mode, of every file under root."""
    out = {}
    for d, _, files in os.walk(root):
        for f in files:
            p = os.path.join(d, f)
            out[os.path.relpath(p, root)] = stat.S_IMODE(os.lstat(p).st_mode)
    return out


def expected(prefix, sysconfdir="etc"):
    files = {
        prefix + "/sbin/rumprund": 0o755,
        prefix + "/share/man/man8/rumprund.8": 0o644,
        prefix + "/lib/systemd/system/rumprund.service": 0o644,
        prefix + "/lib/systemd/system/rumprund.socket": 0o644,
        prefix + "/lib/sysusers.d/rumprund.conf": 0o644,
        prefix + "/lib/tmpfiles.d/rumprund.conf": 0o644,
        sysconfdir + "/rumprund/rumprund.conf": 0o644,
    }
    # rrctl comes with the client, once it is in the tree.
    if (REPO / "client" / "main.c").exists():
        files[prefix + "/bin/rrctl"] = 0o755
        files[prefix + "/share/man/man1/rrctl.1"] = 0o644
        files[prefix + "/share/bash-completion/completions/rrctl"] = 0o644
    return files


def test_install_default_prefix(tmp_path):
    install(tmp_path)
    assert tree(tmp_path) == expected("usr/local")
    unit = (tmp_path / "usr/local/lib/systemd/system/rumprund.service")
    assert "\nExecStart=/usr/local/sbin/rumprund -d\n" in unit.read_text()
    assert (tmp_path / "etc/rumprund/rumprund.conf").read_bytes() == \
        (REPO / "etc/rumprund.conf").read_bytes()
    assert (tmp_path / "usr/local/lib/systemd/system/rumprund.socket"
            ).read_bytes() == (REPO / "systemd/rumprund.socket").read_bytes()


def test_install_prefix_usr_keeps_the_config(tmp_path):
    install(tmp_path, "PREFIX=/usr")
    assert tree(tmp_path) == expected("usr")
    unit = tmp_path / "usr/lib/systemd/system/rumprund.service"
    assert "\nExecStart=/usr/sbin/rumprund -d\n" in unit.read_text()
    # The installed binary is the built one and runs.
    p = subprocess.run([str(tmp_path / "usr/sbin/rumprund"), "--version"],
                       capture_output=True, text=True, timeout=30)
    assert p.returncode == 0 and p.stdout.startswith("rumprund "), p

    # Installed again over an edited config: the edit stays, the new
    # default goes beside it.
    conf = tmp_path / "etc/rumprund/rumprund.conf"
    conf.write_text("# the operator's\n")
    install(tmp_path, "PREFIX=/usr")
    assert conf.read_text() == "# the operator's\n"
    want = expected("usr")
    want["etc/rumprund/rumprund.conf.dist"] = 0o644
    assert tree(tmp_path) == want


def test_install_unit_directories(tmp_path):
    install(tmp_path, "PREFIX=/opt/rr", "SYSCONFDIR=/opt/rr/etc",
            "SYSTEMDUNITDIR=/etc/systemd/system",
            "SYSUSERSDIR=/etc/sysusers.d", "TMPFILESDIR=/etc/tmpfiles.d")
    want = {}
    for path, mode in expected("opt/rr", "opt/rr/etc").items():
        path = path.replace("opt/rr/lib/systemd/system", "etc/systemd/system")
        path = path.replace("opt/rr/lib/sysusers.d", "etc/sysusers.d")
        path = path.replace("opt/rr/lib/tmpfiles.d", "etc/tmpfiles.d")
        want[path] = mode
    assert tree(tmp_path) == want
