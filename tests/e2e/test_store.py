"""
The image and volume store (daemon/imgstore.h, PUT/GET/DELETE /v1/images
and /v1/volumes): a client that cannot reach the host's files pushes a
kernel and a disk over TLS with a token and launches from them; digests,
cut uploads, quotas, a full disk, deletes while in use, per-instance
copies.

The full disk is a 4 MiB tmpfs mounted in a mount namespace of the
daemon's own (unshare -m; the test looks at it through /proc/PID/root):
nothing else on the machine sees it.
"""
import hashlib
import os
import shutil
import socket
import ssl
import subprocess
import tempfile
import time
from pathlib import Path

import rrlib
from rrlib import Deadline, GUEST_ELF
from test_rrctl import RRCTL, complete
from test_tls import TCP, certs, free_port, tls_conf, tokens_file  # noqa: F401

TOKEN = "store-e2e-token-0123456789"
SECTOR = 512


def sha(data):
    return hashlib.sha256(data).hexdigest()


def disk(text, size=1 << 20):
    """A raw disk whose sector 0 starts with text and a newline."""
    head = (text + "\n").encode()
    return head + b"\0" * (size - len(head))


def store_dir(d, root=""):
    return Path(root + str(d.state / "store"))


def leftovers(d, root=""):
    """Files of uploads in progress or half-done commits in the store."""
    out = []
    for kind in ("images", "volumes"):
        p = store_dir(d, root) / kind
        for f in os.listdir(p):
            if f.startswith(".up-") or f.endswith(".tmp"):
                out.append("%s/%s" % (kind, f))
    return out


def blobs(d, kind, root=""):
    return sorted(f for f in os.listdir(store_dir(d, root) / kind)
                  if f.startswith(".blob-"))


def put(c, kind, name, data, query="", headers=None, expect=None):
    r = c.request("PUT", "/v1/%s/%s%s" % (kind, name, query), body=data,
                  headers=dict({"Content-Type": "application/octet-stream"},
                               **(headers or {})))
    if expect is not None:
        assert r.status == expect, r
    return r


def rrctl(host, certs_dir, toks, *args, cwd=None, timeout=120):
    e = dict(os.environ)
    e.pop("RUMPRUND_HOST", None)
    e.pop("RRCTL_TOKEN_FILE", None)
    cmd = [str(RRCTL), "--host", host, "--cacert",
           str(certs_dir / "ca.pem"), "--token-file", str(toks)]
    return subprocess.run(cmd + [str(a) for a in args], capture_output=True,
                          text=True, env=e, timeout=timeout, cwd=cwd)


def test_push_and_launch_over_tls(rrd, api, certs):
    port = free_port()
    d = rrd(start=False)
    toks = tokens_file(d.root, TOKEN)
    d.write_conf(extra_conf=tls_conf(certs, port, token_file=toks))
    d.start()
    t = TCP(api, port, certs)
    host = "https://127.0.0.1:%d" % port

    # The client's files: a private directory the daemon may not use.
    client = Path(tempfile.mkdtemp(prefix="rr-client-", dir="/tmp"))
    try:
        os.chmod(client, 0o700)
        kernel = client / "Hello.Kernel"
        shutil.copyfile(GUEST_ELF, kernel)
        (client / "disk.raw").write_bytes(disk("from-the-client"))
        r = t.request("POST", "/v1/unikernels", token=TOKEN, body={
            "name": "direct", "image": str(kernel)})
        assert r.status == 403 and r.json["field"] == "image", r

        p = rrctl(host, certs, toks, "volume", "push", "disk.raw", "data",
                  cwd=client)
        assert p.returncode == 0, p
        vsha = sha((client / "disk.raw").read_bytes())
        assert p.stdout == "data sha256:%s %d\n" % (vsha, 1 << 20), p

        # rrctl run pushes the kernel first (by digest), then launches.
        p = rrctl(host, certs, toks, "run", "-i", "-N", "s1", "-b",
                  "volume:data", "Hello.Kernel", "diskread", "diskwrite",
                  "written-by-s1", "exit", "7", cwd=client)
        assert p.returncode == 7, p
        assert "diskread: from-the-client" in p.stdout, p
        assert "diskwrite: ok" in p.stdout, p
        ksha = sha(kernel.read_bytes())
        iname = "hello.kernel-" + ksha[:12]
        assert "pushed Hello.Kernel as image %s" % iname in p.stderr, p
        # Again: the daemon has those bytes, nothing is sent.
        p = rrctl(host, certs, toks, "run", "-i", "-N", "s2", "-b",
                  "volume:data", "Hello.Kernel", "diskread", "exit", "0",
                  cwd=client)
        assert p.returncode == 0, p
        assert "pushed" not in p.stderr, p
        # The volume is shared (no copy): s1's write is there.
        assert "diskread: written-by-s1" in p.stdout, p
        assert d.stderr_text().count("image upload requested") == 1
    finally:
        shutil.rmtree(client, ignore_errors=True)

    r = t.request("GET", "/v1/images", token=TOKEN)
    assert r.status == 200, r
    assert [(e["name"], e["sha256"], e["size"], e["used_by"])
            for e in r.json] == [(iname, ksha, len(GUEST_ELF.read_bytes()),
                                  ["s1", "s2"])], r
    p = rrctl(host, certs, toks, "image", "ls")
    assert p.returncode == 0, p
    assert iname in p.stdout and "s1,s2" in p.stdout, p

    # A copy of its own for c1: its writes stay in it, and go with it.
    r = t.request("POST", "/v1/unikernels", token=TOKEN, body={
        "name": "c1", "image": "store:" + iname,
        "argv": ["rrguest", "diskread", "diskwrite", "mine", "diskread",
                 "exit", "0"],
        "blk": [{"source": "volume:data", "copy": True}]})
    assert r.status == 201, r
    assert r.json["spec"]["blk"][0] == {"source": "volume:data",
                                        "readonly": False, "copy": True}
    d.client.wait_state("c1", "exited")
    log = d.client.logs("c1")
    assert "diskread: written-by-s1\n" in log and "diskread: mine\n" in log
    copy = store_dir(d) / "copies" / "c1" / "blk0"
    assert copy.read_bytes()[:5] == b"mine\n"
    vol = store_dir(d) / "volumes" / blobs(d, "volumes")[0]
    assert vol.read_bytes()[:14] == b"written-by-s1\n"
    # A start (new generation) keeps the copy.
    d.client.start("c1")
    d.client.wait_state("c1", "exited")
    assert d.client.logs("c1").count("diskread: mine\n") == 3
    d.client.remove("c1")
    assert not (store_dir(d) / "copies" / "c1").exists()

    # In use: 409 naming the users; replacing too; then with force.
    r = t.request("DELETE", "/v1/volumes/data", token=TOKEN)
    assert r.status == 409 and r.json["field"] == "name", r
    assert "s1, s2" in r.json["message"], r
    r = t.request("PUT", "/v1/volumes/data", token=TOKEN, body=b"x" * 512,
                  headers={"Content-Type": "application/octet-stream"})
    assert r.status == 409, r
    p = rrctl(host, certs, toks, "image", "rm", iname)
    assert p.returncode == 1 and "used by s1, s2" in p.stderr, p
    d.client.remove("s1")
    r = t.request("DELETE", "/v1/volumes/data?force=true", token=TOKEN)
    assert r.status == 200 and r.json["used_by"] == ["s2"], r
    # s2 cannot start again without its volume, and says why (as for a
    # host file that went away: the new generation fails).
    r = d.client.request("POST", "/v1/unikernels/s2/start")
    assert r.status == 200 and r.json["state"] == "failed", r
    assert "no stored volume data" in r.json["reason"], r
    d.client.remove("s2")
    p = rrctl(host, certs, toks, "image", "rm", iname)
    assert p.returncode == 0 and p.stdout == iname + "\n", p
    assert blobs(d, "images") == [] and blobs(d, "volumes") == []
    assert leftovers(d) == []


def test_digest_names_and_conflicts(rrd):
    d = rrd()
    c = d.client
    data = b"\x7fELF-not-really" * 1000
    good = sha(data)
    # A wrong digest: 400 naming it, nothing kept.
    r = put(c, "images", "k", data, "?sha256=" + "0" * 64, expect=400)
    assert r.json["field"] == "sha256" and good in r.json["message"], r
    r = put(c, "images", "k", data, headers={"X-Content-SHA256": "ab" * 32},
            expect=400)
    assert r.json["field"] == "sha256", r
    assert c.request("GET", "/v1/images").json == []
    assert blobs(d, "images") == [] and leftovers(d) == []
    # Malformed digests and query parameters: 400 before the body.
    for q, field in (("?sha256=xyz", "sha256"), ("?digest=1", "digest"),
                     ("?force=maybe", "force")):
        r = put(c, "images", "k", data, q, expect=400)
        assert r.json["field"] == field, r
    r = put(c, "images", "k", data, "?sha256=%s" % good,
            headers={"X-Content-SHA256": "1" * 64}, expect=400)
    # The right digest, either way, either case.
    r = put(c, "images", "k", data, "?sha256=sha256:" + good.upper(),
            expect=201)
    assert r.header("Location") == "/v1/images/k", r
    assert r.json == {"name": "k", "sha256": good, "size": len(data),
                      "created": r.json["created"], "used_by": []}, r
    r = put(c, "images", "k", data[:100],
            headers={"X-Content-SHA256": sha(data[:100])}, expect=200)
    assert r.json["size"] == 100
    assert len(blobs(d, "images")) == 1, "the replaced data stayed"
    assert c.get("/v1/images?sha256=" + sha(data[:100]))[0]["name"] == "k"
    assert c.get("/v1/images?sha256=" + good) == []
    # The route decides the kind, however the path is spelt.
    r = c.request("PUT", "/v1/%76olumes/enc", body=b"x", validate=False)
    assert r.status == 201, r
    assert c.get("/v1/volumes/enc")["size"] == 1
    assert c.request("GET", "/v1/images/enc").status == 404
    c.call("DELETE", "/v1/volumes/enc")
    # Names as instance names.
    for bad in ("Upper", ".dot", "a" * 64, "-x"):
        r = put(c, "images", bad, b"x", expect=422)
        assert r.json["field"] == "name", r
        assert c.request("GET", "/v1/images/" + bad).status == 404
    # A launch names what the store has; copy only for stored volumes.
    r = c.request("POST", "/v1/unikernels", body={
        "name": "x", "image": "store:nothing"})
    assert r.status == 422 and r.json["field"] == "image", r
    assert "no stored image nothing" in r.json["message"], r
    r = c.request("POST", "/v1/unikernels", body={
        "name": "x", "image": "store:k", "blk": [{
            "source": str(d.volumes / "nothing"), "copy": True}]})
    assert r.status in (403, 422), r
    (d.volumes / "v.raw").write_bytes(disk("v"))
    r = c.request("POST", "/v1/unikernels", body={
        "name": "x", "image": "store:k", "blk": [{
            "source": str(d.volumes / "v.raw"), "copy": True}]})
    assert r.status == 422 and r.json["field"] == "blk[0].copy", r
    put(c, "volumes", "v", disk("v"), expect=201)
    r = c.request("POST", "/v1/unikernels", body={
        "name": "x", "image": "store:k", "blk": [{
            "source": "volume:v", "copy": True, "readonly": True}]})
    assert r.status == 422 and r.json["field"] == "blk[0].copy", r
    assert c.list() == []
    assert c.request("DELETE", "/v1/images/nothing").status == 404
    # Completion: subcommands, then the names the daemon has.
    host = "unix://%s" % d.sock
    assert complete(d, "rrctl image p") == ["push"]
    assert complete(d, "rrctl --host %s image rm " % host) == ["k"]
    assert complete(d, "rrctl --host %s volume rm " % host) == ["v"]


def raw_put(d, path, length, send, headers=""):
    """Send a PUT's headers and send bytes of its body on the unix
    socket, then close it without the rest."""
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.connect(str(d.sock))
    s.sendall(("PUT %s HTTP/1.1\r\nHost: x\r\nContent-Length: %d\r\n%s\r\n"
               % (path, length, headers)).encode())
    s.sendall(b"z" * send)
    return s


def early_answer(d, path, length):
    """A PUT of length bytes that waits for 100 Continue (curl does so for
    large bodies): the status line and body of the answer that comes
    instead, before any byte of the body is sent."""
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.settimeout(10)
    s.connect(str(d.sock))
    s.sendall(("PUT %s HTTP/1.1\r\nHost: x\r\nContent-Length: %d\r\n"
               "Expect: 100-continue\r\n\r\n" % (path, length)).encode())
    data = b""
    while True:
        got = s.recv(65536)
        if not got:
            break
        data += got
    s.close()
    head, _, body = data.partition(b"\r\n\r\n")
    return head.split(b"\r\n")[0].decode(), body


def test_cut_upload_leaves_nothing(rrd):
    d = rrd()
    c = d.client
    # Cut mid-body: the temp file is there while it runs, gone after.
    s = raw_put(d, "/v1/volumes/cut", 8 << 20, 1 << 20)
    rrlib.wait_for("the upload's temp file",
                   lambda: leftovers(d) != [], 5)
    s.close()
    rrlib.wait_for("no temp file", lambda: leftovers(d) == [], 5)
    assert c.get("/v1/volumes") == [] and blobs(d, "volumes") == []
    # A second PUT of a name whose upload runs: the first one wins.
    s = raw_put(d, "/v1/images/one", 2000, 1000)
    rrlib.wait_for("the first upload", lambda: leftovers(d) != [], 5)
    r = put(c, "images", "one", b"second", expect=409)
    assert r.json["field"] == "name", r
    # Nothing to remove yet: the entry appears when the upload is done.
    assert c.request("DELETE", "/v1/images/one").status == 404
    s.sendall(b"z" * 1000)
    s.settimeout(10)
    head = s.recv(4096)
    s.close()
    assert head.startswith(b"HTTP/1.1 201 "), head
    assert c.get("/v1/images/one")["sha256"] == sha(b"z" * 2000)
    # A daemon killed mid-upload: the restart sweeps the temp file.
    s = raw_put(d, "/v1/images/two", 4 << 20, 1 << 20)
    rrlib.wait_for("the upload", lambda: leftovers(d) != [], 5)
    d.kill9()
    s.close()
    d.start()
    assert leftovers(d) == []
    assert [e["name"] for e in c.get("/v1/images")] == ["one"]
    assert len(blobs(d, "images")) == 1


def test_quotas(rrd):
    d = rrd(extra_conf="store_max_size = 100000\n"
                      "store_max_total = 150000\n")
    c = d.client
    r = put(c, "images", "big", b"b" * 100001, expect=413)
    assert "store_max_size" in r.json["message"], r
    status, body = early_answer(d, "/v1/images/big", 1 << 40)
    assert status.startswith("HTTP/1.1 413 "), (status, body)
    assert b"store_max_size" in body, body
    # Chunked: refused once the bytes pass the limit, nothing kept.
    conn = rrlib.UnixHTTPConnection(d.sock)
    conn.putrequest("PUT", "/v1/images/chunked")
    conn.putheader("Transfer-Encoding", "chunked")
    conn.endheaders()
    for _ in range(30):
        conn.send(b"1000\r\n" + b"c" * 4096 + b"\r\n")
    conn.send(b"0\r\n\r\n")
    r = conn.getresponse()
    body = r.read()
    conn.close()
    assert r.status == 413 and b"store_max_size" in body, body
    put(c, "images", "a", b"a" * 100000, expect=201)
    r = put(c, "volumes", "b", b"b" * 60000, expect=413)
    assert "store_max_total" in r.json["message"], r
    put(c, "volumes", "b", b"b" * 50000, expect=201)
    assert leftovers(d) == []
    # What a client can learn before it uploads.
    assert c.get("/v1/info")["policy"]["store"] == {
        "max_size": 100000, "max_total": 150000, "used": 150000}
    assert [e["size"] for e in c.get("/v1/images") + c.get(
        "/v1/volumes")] == [100000, 50000]


def test_full_disk(rrd):
    d = rrd(start=False)
    store = d.state / "store"
    store.mkdir(parents=True)
    # The daemon in a mount namespace of its own, its store a 4 MiB tmpfs.
    d.wrap = ["unshare", "-m", "--propagation", "private", "sh", "-c",
              'mount -t tmpfs -o size=4m,mode=0700 rrstore "%s" && '
              'exec "$@"' % store, "sh"]
    d.start()
    root = "/proc/%d/root" % d.pid
    assert (Path(root + str(store)) / "images").is_dir()
    assert not (store / "images").exists(), "the tmpfs leaked out"
    c = d.client
    # Known length: the space is reserved first, 507 before the body.
    status, body = early_answer(d, "/v1/volumes/huge", 5 << 20)
    assert status.startswith("HTTP/1.1 507 "), (status, body)
    assert b'"insufficient_storage"' in body, body
    assert leftovers(d, root) == [] and blobs(d, "volumes", root) == []
    # Chunked: the disk fills while it writes; 507 at the end.
    conn = rrlib.UnixHTTPConnection(d.sock)
    conn.putrequest("PUT", "/v1/volumes/chunked")
    conn.putheader("Transfer-Encoding", "chunked")
    conn.endheaders()
    chunk = b"c" * 65536
    for _ in range(80):
        conn.send(b"%x\r\n" % len(chunk) + chunk + b"\r\n")
    conn.send(b"0\r\n\r\n")
    r = conn.getresponse()
    body = r.read()
    conn.close()
    assert r.status == 507, (r.status, body)
    assert leftovers(d, root) == [] and blobs(d, "volumes", root) == []
    # The disk is usable again at once.
    put(c, "volumes", "small", disk("small", 1 << 20), expect=201)
    assert [e["name"] for e in c.get("/v1/volumes")] == ["small"]


def test_iso_from_a_stored_image(rrd):
    """POST /v1/iso takes "store:NAME" as its image too; a stored volume
    is refused there (an ISO keeps data images by host file name)."""
    import test_iso
    test_iso.need_tools()
    d = rrd()
    c = d.client
    kernel = GUEST_ELF.read_bytes()
    put(c, "images", "pc", kernel, "?sha256=" + sha(kernel), expect=201)
    put(c, "volumes", "v", disk("v"), expect=201)
    r = test_iso.post_iso(d, {"name": "pc-1", "image": "store:pc",
                              "argv": ["rrguest", "exit", "0"]})
    assert r.status == 200, r
    assert r.header("Content-Type") == test_iso.ISO_TYPE
    iso = d.root / "pc-1.iso"
    iso.write_bytes(r.body)
    assert test_iso.iso_file(iso, "/boot/rumprun.bin") == kernel
    r = test_iso.post_iso(d, {"name": "pc-2", "image": "store:pc",
                              "blk": [{"source": "volume:v"}]})
    assert r.status == 422 and r.json["field"] == "blk[0].source", r
    assert c.list() == []
