"""
The Xen backend on a machine without Xen (all of ours: no hypervisor, and
it cannot be nested here): rumprund reports the backend unavailable with
libxl's reason, answers a xen launch 503 with that reason and keeps no trace
of it, and the KVM backend works as before.

The engine tries the Xen backend again every 3 s; the reason must stay the
same and be logged once, as the one warning this test expects.
"""
import os
import subprocess
import time

import pytest

import rrlib

PREFIX = "Xen is not available on this host: "
# The engine's one line when the backend cannot be opened, and the HTTP
# layer's line for each 503 it answers.
WARNINGS = (r"xen backend unavailable: Xen is not available on this host: ",
            r"POST /v1/unikernels: platform: the xen backend is "
            r"unavailable: Xen is not available on this host: ")


def _built_in_expected():
    """True when this machine has libxl's development files, so that the
    Makefile builds the Xen backend in."""
    try:
        return subprocess.run(["pkg-config", "--exists", "xenlight",
                               "xenstore"], timeout=10).returncode == 0
    except OSError:
        return False


@pytest.fixture
def d(daemon):
    if os.path.exists("/proc/xen/capabilities") or \
            os.path.exists("/dev/xen/privcmd"):
        pytest.skip("this host runs Xen: the unavailable path is not "
                    "what it takes")
    dm = daemon(start=False)
    dm.allow_warnings(*WARNINGS)
    dm.started_at = time.monotonic()
    dm.start()
    xen = dm.client.get("/v1/info")["backends"]["xen"]
    if xen.get("reason") == "not built into this rumprund":
        if _built_in_expected():
            pytest.fail("libxen-dev is installed but %s was built without "
                        "the Xen backend" % rrlib.DAEMON_BIN, pytrace=False)
        pytest.skip("rumprund was built without libxl (no libxen-dev)")
    return dm


def xen_spec(d, name, **kw):
    s = d.spec(name, ["exit", "0"], platform="xen")
    s.update(kw)
    return s


def test_info_says_why(d):
    info = d.client.get("/v1/info")
    xen = info["backends"]["xen"]
    assert xen["available"] is False, xen
    assert set(xen) == {"available", "reason"}, xen
    reason = xen["reason"]
    assert reason.startswith(PREFIX), reason
    # libxl's own words follow, not only ours.
    assert len(reason) > len(PREFIX) + 10, reason
    assert "libxl" in reason or "xencall" in reason, reason
    assert info["backends"]["kvm"] == {"available": True, "connected": True}
    h = d.client.get("/v1/health")
    assert h["status"] == "ok" and h["kvm_connected"] is True, h


def test_xen_launch_is_503_and_leaves_nothing(d):
    c = d.client
    reason = c.get("/v1/info")["backends"]["xen"]["reason"]
    disk = d.volume("x.img")
    for spec in (
            xen_spec(d, "xa"),
            xen_spec(d, "xb", memory_mib=128, vcpus=2, paused=True,
                     blk=[{"source": disk, "mountpoint": "/data"}])):
        r = c.request("POST", "/v1/unikernels", spec)
        assert r.status == 503, r
        body = r.json
        assert body["error"] == "unavailable", body
        assert body.get("field") == "platform", body
        assert body["message"].startswith(
            "platform: the xen backend is unavailable: "), body
        assert body["message"].endswith(reason), (body, reason)
        # No record, no instance, no console log, no domain.
        r = c.request("GET", "/v1/unikernels/" + spec["name"])
        assert r.status == 404, r
    # A NIC no Xen guest can have is the request's fault, said first.
    r = c.request("POST", "/v1/unikernels",
                  xen_spec(d, "xc", nics=[{"backend": {"type": "tap"},
                                           "inet": {"method": "dhcp"}}]))
    assert r.status == 422, r
    assert r.json["field"] == "nics[0].backend.type", r.json
    assert r.json["message"] == ("nics[0].backend.type: must be bridge "
                                 "on platform xen"), r.json
    assert c.list() == []
    assert c.list("?platform=xen") == []
    assert d.records() == []
    assert d.console_logs() == []
    assert c.get("/v1/info")["instances"] == 0
    assert not d.domains()


def test_kvm_unaffected_and_reason_stable(d):
    c = d.client
    first = c.get("/v1/info")["backends"]["xen"]
    v = c.launch(d.spec("k1", ["echo", "on kvm", "exit", "3"]))
    assert v["platform"] == "kvm", v
    v = c.wait_state("k1", ("exited",), timeout=30)
    assert v["exit_status"] == 3, v
    assert "on kvm" in c.logs("k1")
    # A xen launch in between changes nothing for KVM.
    assert c.request("POST", "/v1/unikernels",
                     xen_spec(d, "x1")).status == 503
    c.remove("k1")
    # At least one retry of the Xen backend (every 3 s) has happened.
    time.sleep(max(0.0, 3.5 - (time.monotonic() - d.started_at)))
    assert c.get("/v1/info")["backends"]["xen"] == first
    warnings = [line for p in d.runs for line in p.read_text().splitlines()
                if "xen backend unavailable" in line]
    assert len(warnings) == 1, warnings
    assert not d.domains()


def test_check_only_mode_prints_the_xen_config(d, tmp_path):
    """rumprund -C needs no hypervisor: the guest config a Xen guest would
    find in xenstore (rumprun/cfg) is printed here too."""
    req = tmp_path / "req.json"
    req.write_text('{"name": "cx", "platform": "xen", "image": "%s", '
                   '"argv": ["app", "x y"]}' % d.image)
    p = subprocess.run([str(rrlib.DAEMON_BIN), "-f", str(d.conf), "-C",
                        str(req)], capture_output=True, text=True,
                       timeout=30)
    assert p.returncode == 0, p.stderr
    assert p.stdout == ('{"cmdline":"app \'x y\'","blk":{"source":"dev",'
                        '"path":"virtual","fstype":"kernfs",'
                        '"mountpoint":"/kern"}}\n'), p.stdout
