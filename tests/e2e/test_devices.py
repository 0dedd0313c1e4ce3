"""
Devices: two guests, each with two disks (raw files in volumes/, the second
read-only) and two NICs (a named tap, and a port on a Linux bridge that the
test makes, with no address and no uplink, whose only other port is a veth
whose peer sits in a network namespace of the test).  The guest prints the
blk and net configuration it received; libvirt's domain XML shows the disks
in order, the read-only flag, the MACs, the tap and the bridge.

No traffic leaves the bridge: the bridge has no uplink and no address,
IPv6 is off on its ports, and the guests' addresses are static (the test
guest does DHCP as rumprun does, and there is no DHCP server here: DHCP
would fail after 50 s, as rumprun's does).
"""
import os
import re
import subprocess
import time
import xml.etree.ElementTree as ET

import pytest

import rrlib

BRIDGE = "rrtbr0"
VETH = "rrtveth0"
VETH_PEER = "rrtveth0p"
NETNS = "rrtns0"


def ip(*args, check=True):
    p = subprocess.run(["ip"] + list(args), capture_output=True, text=True,
                       timeout=30)
    if check and p.returncode != 0:
        raise AssertionError("ip %s: %s" % (" ".join(args), p.stderr.strip()))
    return p.stdout


def sysctl_off(dev):
    path = "/proc/sys/net/ipv6/conf/%s/disable_ipv6" % dev
    try:
        with open(path, "w") as f:
            f.write("1")
    except OSError:
        pass


def teardown_net():
    ip("link", "del", VETH, check=False)
    ip("link", "del", BRIDGE, check=False)
    ip("netns", "del", NETNS, check=False)


@pytest.fixture
def bridge():
    """rrtbr0 with a veth port whose peer is in the namespace rrtns0."""
    links = ip("-o", "link", "show")
    stale = [n for n in ("rrtap0", "rrtap1") if re.search(r"^\d+: %s[:@]" % n,
                                                          links, re.M)]
    if stale:
        pytest.fail("%s exist already: left by an earlier run whose guests "
                    "still run? (virsh list)" % ", ".join(stale),
                    pytrace=False)
    teardown_net()
    try:
        ip("link", "add", BRIDGE, "type", "bridge")
        sysctl_off(BRIDGE)
        ip("netns", "add", NETNS)
        ip("link", "add", VETH, "type", "veth", "peer", "name", VETH_PEER)
        sysctl_off(VETH)
        sysctl_off(VETH_PEER)
        ip("link", "set", VETH_PEER, "netns", NETNS)
        ip("link", "set", VETH, "master", BRIDGE)
        ip("link", "set", VETH, "up")
        ip("link", "set", BRIDGE, "up")
        ip("netns", "exec", NETNS, "ip", "link", "set", VETH_PEER, "up")
        yield BRIDGE
    finally:
        teardown_net()
    assert BRIDGE not in ip("-o", "link", "show")


def dom_xml(name):
    return ET.fromstring(rrlib.virsh("dumpxml", name))


def test_two_guests_two_disks_two_nics(daemon, bridge):
    d = daemon(bridges=[bridge])
    c = d.client
    guests = {}
    for g in (0, 1):
        name = "dev%d" % g
        rw = d.volume("%s-rw.img" % name, 4 << 20)
        ro = d.volume("%s-ro.img" % name, 2 << 20)
        mac = "52:54:00:aa:bb:%02x" % g
        spec = d.spec(name, ["blk", "net", "echo", "ready", "forever"],
                      blk=[{"source": rw, "mountpoint": "/data"},
                           {"source": ro, "mountpoint": "/ro",
                            "readonly": True}],
                      nics=[{"backend": {"type": "tap",
                                         "name": "rrtap%d" % g},
                             "inet": {"method": "static",
                                      "addr": "10.78.0.%d/24" % (g + 2)}},
                            {"backend": {"type": "bridge", "name": bridge},
                             "mac": mac,
                             "inet": {"method": "static",
                                      "addr": "10.77.0.%d/24" % (g + 2)}}])
        v = c.launch(spec)
        guests[name] = (v, rw, ro, mac)

    kernels = []
    for name, (v, rw, ro, mac) in guests.items():
        g = int(name[-1])
        log = c.wait_log(name, "\nready\n")
        lines = log.split("\n")
        assert "blk[0]={source=dev,path=/dev/ld0a,fstype=blk," \
            "mountpoint=/data}" in lines, log
        assert "blk[1]={source=dev,path=/dev/ld1a,fstype=blk," \
            "mountpoint=/ro}" in lines, log
        assert "net[0]={if=vioif0,type=inet,method=static,addr=10.78.0.%d," \
            "mask=24}" % (g + 2) in lines, log
        assert "net[1]={if=vioif1,type=inet,method=static,addr=10.77.0.%d," \
            "mask=24}" % (g + 2) in lines, log

        v = c.instance(name)
        assert v["state"] == "running", v
        nics = v["nics"]
        assert [n["index"] for n in nics] == [0, 1]
        assert [n["guest_ifname"] for n in nics] == ["vioif0", "vioif1"]
        assert nics[0]["backend"] == {"type": "tap", "name": "rrtap%d" % g}
        assert nics[1]["backend"] == {"type": "bridge", "name": bridge}
        assert nics[1]["mac"] == mac
        assert nics[1]["addr"] == "10.77.0.%d/24" % (g + 2)
        assert nics[0]["mac"] != nics[1]["mac"]
        # The host devices and the static addresses, once asked (a
        # background query after the launch).
        dl = rrlib.Deadline(10)
        while nics[0]["host_dev"] is None or nics[1]["host_dev"] is None:
            assert not dl.passed(), nics
            time.sleep(0.2)
            nics = c.instance(name)["nics"]
        assert nics[0]["host_dev"] == "rrtap%d" % g, nics
        assert [n["addresses"] for n in nics] == [
            [{"addr": "10.%d.0.%d/24" % (net, g + 2), "family": "inet",
              "source": "config"}] for net in (78, 77)], nics

        x = dom_xml(v["domain"])
        disks = x.findall("./devices/disk")
        # QEMU gets the files rumprund checked, as descriptors: the XML
        # names no file of the request (issue 13, B2).
        assert [dk.find("source").get("file") for dk in disks] == \
            ["%s/%s.blk%d" % (d.guests, v["domain"], i)
             for i in (0, 1)]
        assert [dk.find("source").get("fdgroup") for dk in disks] == \
            ["blk0", "blk1"]
        kernels.append(x.find("./os/kernel").text)
        assert kernels[-1] == "%s/%s.kernel" % (d.guests, v["domain"])
        assert os.path.isfile(kernels[-1])
        assert [dk.find("target").get("dev") for dk in disks] == \
            ["vda", "vdb"]
        assert [dk.find("readonly") is not None for dk in disks] == \
            [False, True]
        ifs = x.findall("./devices/interface")
        assert [i.get("type") for i in ifs] == ["ethernet", "bridge"]
        assert [i.find("mac").get("address") for i in ifs] == \
            [n["mac"] for n in nics]
        assert ifs[0].find("target").get("dev") == "rrtap%d" % g
        assert ifs[1].find("source").get("bridge") == bridge
        # No video device: rumprun writes to COM1 only without VGA.
        assert x.find("./devices/video") is None or \
            x.find("./devices/video/model").get("type") == "none"
        # The host side: the tap exists, the bridge has the guest's port.
        assert "rrtap%d" % g in ip("-o", "link", "show")
        bridge_tap = ifs[1].find("target").get("dev")
        assert bridge_tap in ip("-o", "link", "show", "master", bridge)
        assert nics[1]["host_dev"] == bridge_tap, (nics, bridge_tap)

    ports = ip("-o", "link", "show", "master", bridge)
    assert VETH in ports
    for name in guests:
        v = c.stop(name, force=True)
        assert v["state"] == "stopped"
    # The kernels' copies go with their domains.
    assert not [k for k in kernels if os.path.exists(k)]
    # libvirt removes the taps it made.
    out = ip("-o", "link", "show")
    assert "rrtap0" not in out and "rrtap1" not in out, out
    assert not d.domains()


def test_nic_and_disk_policy(daemon, bridge):
    d = daemon(bridges=[bridge])
    c = d.client
    vol = d.volume("v.img")
    cases = [
        ({"nics": [{"backend": {"type": "bridge", "name": "notallowed0"}}]},
         403, "nics[0]"),
        ({"nics": [{"backend": {"type": "network", "name": "default"}}]},
         403, "nics[0]"),
        ({"nics": [{"backend": {"type": "bridge"}}]}, 422, "nics[0]"),
        ({"nics": [{"backend": {"type": "tap"}, "mac": "01:00:00:00:00:01"}]},
         422, "nics[0].mac"),
        ({"nics": [{"backend": {"type": "tap"},
                    "inet": {"method": "static"}}]}, 422, "nics[0].inet"),
        ({"blk": [{"source": "/etc/passwd"}]}, 403, "blk[0].source"),
        ({"blk": [{"source": vol, "mountpoint": "relative"}]}, 422,
         "blk[0].mountpoint"),
    ]
    for extra, status, field in cases:
        spec = d.spec("pol", ["exit", "0"], **extra)
        r = c.request("POST", "/v1/unikernels", spec)
        assert r.status == status, (extra, r)
        body = r.json
        assert body.get("field", "").startswith(field), (extra, body)
    assert c.list() == [] and d.records() == [] and not d.domains()


def test_launch_failure_is_failed_with_reason(daemon):
    # What libvirt cannot create ends "failed" with a reason that says why.
    d = daemon(bridges=["rrtnobr9"])
    c = d.client
    events = c.stream("/v1/events")
    v = c.launch(d.spec("nb", ["exit", "0"], nics=[
        {"backend": {"type": "bridge", "name": "rrtnobr9"}}]))
    assert v["state"] == "failed", v
    assert "rrtnobr9" in v["reason"], v
    assert v["started"] is None and v["finished"], v
    evs = rrlib.read_events(events, lambda e: any(
        x["state"] == "failed" for x in e), 5)
    assert [(e["type"], e["state"]) for e in evs] == [
        ("created", "pending"), ("state", "failed")], evs
    assert evs[-1]["reason"] == v["reason"]
    # Starting it again tries again (a new generation), and fails again.
    v = c.start("nb")
    assert v["generation"] == 2 and v["state"] == "failed", v
    v = c.launch(d.spec("lo", ["exit", "0"], nics=[
        {"backend": {"type": "tap", "name": "lo"}}]))
    assert v["state"] == "failed" and "lo" in v["reason"], v
    assert ip("-o", "link", "show", "lo")
    assert not d.domains()
    c.remove("nb")
    c.remove("lo")


def test_the_most_a_request_may_ask(daemon):
    # 16 disks, 8 NICs, a 63-character name: all reach the guest, in order.
    d = daemon()
    c = d.client
    name = "m" * 63
    blk = [{"source": d.volume("v%02d.img" % i), "mountpoint": "/m%d" % i,
            "readonly": i % 2 == 1} for i in range(16)]
    # Static: there is no DHCP server on these taps (see the module's doc).
    nics = [{"backend": {"type": "tap"},
             "inet": {"method": "static", "addr": "10.79.%d.2/24" % i}}
            for i in range(8)]
    v = c.launch(d.spec(name, ["blk", "net", "exit", "0"], blk=blk,
                        nics=nics))
    assert d.is_domain_of(v["domain"], name, 1), v["domain"]
    # rr- owner8 - name - 1 - tag8: libvirt takes a name this long.
    assert len(v["domain"]) == 3 + 9 + 63 + 3 + 8, v["domain"]
    assert [n["guest_ifname"] for n in v["nics"]] == \
        ["vioif%d" % i for i in range(8)]
    assert len({n["mac"] for n in v["nics"]}) == 8
    v = c.wait_state(name, ("exited", "crashed", "failed"))
    assert (v["state"], v["exit_status"]) == ("exited", 0), v
    lines = c.logs(name).split("\n")
    assert [l for l in lines if l.startswith("blk[")] == [
        "blk[%d]={source=dev,path=/dev/ld%da,fstype=blk,mountpoint=/m%d}"
        % (i, i, i) for i in range(16)]
    assert [l for l in lines if l.startswith("net[")] == [
        "net[%d]={if=vioif%d,type=inet,method=static,addr=10.79.%d.2,"
        "mask=24}" % (i, i, i) for i in range(8)]
