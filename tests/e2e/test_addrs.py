"""
Guest addresses (issue 16, item 4): what rumprund learns of a guest's NICs,
the host device (tap) and the addresses, with where each one comes from.

The test makes its own libvirt network, isolated (no <forward>: nothing is
routed off the host), with its own bridge and a private range, and destroys
it at the end.  On it, under KVM:
- a DHCP guest (the test guest does DHCP as rumprun does, before main()):
  its lease, read from the network's DHCP server (source "lease"), shows in
  inspect and in rrctl ps, with its tap (libvirt's vnetN);
- a static guest: its configured address (source "config");
- a DHCP guest on the same bridge as a plain bridge NIC (not a libvirt
  network NIC, so libvirt has no lease to give for it): its address comes
  from the host's neighbour table (source "arp") once the host sent it a
  datagram (the guest answers ARP; the datagram stays on the bridge).
"""
import json
import re
import socket
import subprocess
import time
import xml.etree.ElementTree as ET

import pytest

import rrlib
from test_rrctl import ok, rrctl, rrctl_bin  # noqa: F401

NET = "rrtaddrnet"
BRIDGE = "rrtabr0"
PREFIX = "192.168.213"
NET_XML = """<network>
  <name>%s</name>
  <bridge name='%s' stp='off' delay='0'/>
  <ip address='%s.1' netmask='255.255.255.0'>
    <dhcp><range start='%s.100' end='%s.150'/></dhcp>
  </ip>
</network>
""" % (NET, BRIDGE, PREFIX, PREFIX, PREFIX)


def net_destroy():
    rrlib.virsh("net-destroy", NET, check=False)


@pytest.fixture
def network(tmp_path):
    """The isolated network NET on BRIDGE, transient, destroyed after."""
    net_destroy()
    assert ("inet %s." % PREFIX) not in subprocess.run(
        ["ip", "-o", "addr"], capture_output=True, text=True).stdout, \
        "%s.0/24 is in use on this host" % PREFIX
    xml = tmp_path / "net.xml"
    xml.write_text(NET_XML)
    rrlib.virsh("net-create", str(xml))
    try:
        x = ET.fromstring(rrlib.virsh("net-dumpxml", NET))
        assert x.find("forward") is None, "the network must be isolated"
        yield NET
    finally:
        net_destroy()
    assert BRIDGE not in subprocess.run(["ip", "-o", "link"],
                                        capture_output=True,
                                        text=True).stdout


def wait_nic(c, name, pred, what, timeout=30):
    """The instance's first NIC once pred(nic) holds; fail after timeout."""
    dl = rrlib.Deadline(timeout)
    while True:
        nic = c.instance(name)["nics"][0]
        if pred(nic):
            return nic
        assert not dl.passed(), "%s: %s not seen in %d s: %s" % (
            name, what, timeout, nic)
        time.sleep(0.25)


def talk_to(addr):
    """Send one UDP datagram to addr (on BRIDGE, by the route of the
    network's /24): the host's kernel resolves addr by ARP first."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_BINDTODEVICE,
                     BRIDGE.encode())
        s.sendto(b"rrtest", (addr, 9))


def target_dev(domain):
    x = ET.fromstring(rrlib.virsh("dumpxml", domain))
    return [i.find("target").get("dev")
            for i in x.findall("./devices/interface")]


def test_guest_addresses(network, rrd, kvm_reason, rrctl_bin):
    if kvm_reason is not None:
        pytest.skip(kvm_reason)
    d = rrd(accel="kvm", networks=[NET], bridges=[BRIDGE])
    c = d.client
    argv = ["ifaddr", "echo", "ready", "forever"]
    c.launch(d.spec("dyn", argv, nics=[
        {"backend": {"type": "network", "name": NET},
         "inet": {"method": "dhcp"}}]))
    c.launch(d.spec("fixed", argv, nics=[
        {"backend": {"type": "network", "name": NET},
         "inet": {"method": "static", "addr": "%s.20/24" % PREFIX}}]))
    c.launch(d.spec("arp", argv, nics=[
        {"backend": {"type": "bridge", "name": BRIDGE},
         "inet": {"method": "dhcp"}}]))

    got = {}
    for name in ("dyn", "arp"):
        log = c.wait_log(name, "\nready\n", timeout=90)
        m = re.search(r"^ifaddr vioif0 (%s\.\d+)/24" % re.escape(PREFIX),
                      log, re.M)
        assert m, log
        got[name] = m.group(1)
    assert "ifaddr none" in c.wait_log("fixed", "\nready\n", timeout=90)

    # The DHCP guest on the network: its lease, and its tap.
    v = c.instance("dyn")
    # (The neighbour table may have it a moment before libvirt has the
    # lease: then it is shown as "arp" until the next query.)
    nic = wait_nic(c, "dyn", lambda n: [a for a in n["addresses"]
                                        if a["source"] == "lease"], "a lease")
    assert nic["addresses"] == [{"addr": got["dyn"] + "/24",
                                 "family": "inet", "source": "lease"}], nic
    assert nic["host_dev"] == target_dev(v["domain"])[0], nic
    assert re.match(r"^vnet\d+$", nic["host_dev"]), nic
    assert nic["addr"] is None, nic
    # The static guest: the address of its request, and its tap.
    v = c.instance("fixed")
    nic = wait_nic(c, "fixed", lambda n: n["host_dev"], "the tap")
    assert nic["host_dev"] == target_dev(v["domain"])[0], nic
    assert nic["addresses"] == [{"addr": "%s.20/24" % PREFIX,
                                 "family": "inet", "source": "config"}], nic
    # The DHCP guest on the bridge: libvirt has no lease for it; the
    # host's neighbour table has its address once the host talked to it.
    # First the guest's own ARP answer: with the bridge's table flushed,
    # the host learns its MAC only from the guest's reply.
    subprocess.run(["ip", "neigh", "flush", "dev", BRIDGE], check=True)
    mac = c.instance("arp")["nics"][0]["mac"]
    dl = rrlib.Deadline(10)
    while True:
        talk_to(got["arp"])
        time.sleep(0.3)
        neigh = json.loads(subprocess.run(
            ["ip", "-j", "neigh", "show", got["arp"], "dev", BRIDGE],
            capture_output=True, text=True, check=True).stdout or "[]")
        if neigh and neigh[0].get("lladdr") == mac and \
                "REACHABLE" in neigh[0].get("state", []):
            break
        assert not dl.passed(), "the guest did not answer ARP: %s" % neigh
    nic = wait_nic(c, "arp", lambda n: n["addresses"], "an ARP entry")
    assert nic["addresses"] == [{"addr": got["arp"], "family": "inet",
                                 "source": "arp"}], nic
    assert nic["host_dev"] == target_dev(c.instance("arp")["domain"])[0]

    # rrctl ps: ADDRESS by default, HOSTDEV when asked.
    rows = {}
    for line in ok(rrctl(d, "ps", "-o", "name,address,hostdev")).splitlines():
        cells = line.split()
        rows[cells[0]] = cells[1:]
    assert rows["NAME"] == ["ADDRESS", "HOSTDEV"]
    for name, addr in (("dyn", got["dyn"] + "/24"),
                       ("fixed", "%s.20/24" % PREFIX), ("arp", got["arp"])):
        assert rows[name] == [addr, c.instance(name)["nics"][0]["host_dev"]], \
            rows
    out = ok(rrctl(d, "ps"))
    assert re.search(r"^dyn .* %s/24$" % re.escape(got["dyn"]), out, re.M), out
    # inspect: the NIC with its MAC, host device and sourced addresses.
    insp = json.loads(ok(rrctl(d, "inspect", "dyn")))
    nic = insp["nics"][0]
    assert nic["mac"] == c.instance("dyn")["nics"][0]["mac"]
    assert nic["host_dev"].startswith("vnet")
    assert nic["addresses"][0]["source"] == "lease"

    # Once the guests are gone nothing is claimed of their NICs.
    for name in ("dyn", "fixed", "arp"):
        v = c.stop(name, force=True)
        assert v["state"] == "stopped", v
        assert v["nics"][0]["host_dev"] is None, v
        assert v["nics"][0]["addresses"] == [], v
    assert not d.domains()


def test_dhcp_without_a_server_fails_like_rumprun(rrd, kvm_reason):
    # A tap with nothing behind it: the guest tries 10 times 5 s, then
    # stops as rumprun's errx(1) does; the instance never reaches main().
    if kvm_reason is not None:
        pytest.skip(kvm_reason)
    d = rrd(accel="kvm")
    c = d.client
    c.launch(d.spec("nodhcp", ["echo", "ready"], boot_timeout_s=0, nics=[
        {"backend": {"type": "tap"}, "inet": {"method": "dhcp"}}]))
    log = c.wait_log("nodhcp", "_exit(1) called ===", timeout=120)
    lines = log.split("\n")
    assert lines.count("dhcp get: timed out waiting for response.") == 10, log
    assert "rumprun: configuring dhcp for vioif0 failed: 49" in lines, log
    assert rrlib.CALLING not in log
    v = c.instance("nodhcp")
    assert v["state"] == "starting", v
    c.stop("nodhcp", force=True)
