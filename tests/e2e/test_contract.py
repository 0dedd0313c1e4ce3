"""
The contract: api/routes.c serves exactly the operations of openapi.yaml,
and what is not an operation gets the documented error shape.
"""
import rrlib


def test_routes_match_openapi(api):
    # HEAD is served by every GET route (api/httpd.c), and documented.
    all_ops = api.operations()
    spec_ops = {(m, t) for m, t in all_ops if m != "HEAD"}
    heads = {t for m, t in all_ops if m == "HEAD"}
    assert heads == {t for m, t in spec_ops if m == "GET"}, heads
    c_ops = rrlib.routes_from_c()
    assert c_ops, "no routes parsed from api/routes.c"
    missing = sorted(spec_ops - c_ops)
    extra = sorted(c_ops - spec_ops)
    assert not missing, "in openapi.yaml but not in routes_table: %s" % missing
    assert not extra, "in routes_table but not in openapi.yaml: %s" % extra


def test_openapi_schemas_are_valid_json_schema(api):
    # Every component translates into a schema jsonschema accepts.
    for name in api.doc["components"]["schemas"]:
        v = api.component(name)
        v.check_schema(v.schema)


def test_unknown_path_is_404(daemon):
    c = daemon().client
    for path in ("/", "/v1", "/v2/unikernels", "/v1/unikernels/x/y/z",
                 "/v1/nothing", "/v1/unikernels/x/logs/extra"):
        r = c.request("GET", path)
        assert r.status == 404, r
        body = r.json
        assert body["error"] == "not_found", body
        assert body["message"], body
    r = c.request("POST", "/v1/nothing", {"a": 1})
    assert r.status == 404, r


def test_wrong_method_is_405_with_allow(daemon, api):
    c = daemon().client
    by_path = {}
    for method, template in api.operations():
        by_path.setdefault(template, set()).add(method)
    for template, methods in sorted(by_path.items()):
        path = template.replace("{name}", "x")
        for wrong in ("PUT", "PATCH", "DELETE", "POST", "GET"):
            if wrong in methods:
                continue
            r = c.request(wrong, path, b"{}" if wrong != "GET" else None,
                          headers={"Content-Type": "application/json"})
            assert r.status == 405, r
            assert r.json["error"] == "method_not_allowed", r
            allow = r.header("Allow")
            assert allow, "405 without Allow: %r" % r
            got = set(m.strip() for m in allow.split(","))
            assert methods <= got <= methods | {"HEAD", "OPTIONS"}, \
                "%s %s: Allow %r, openapi.yaml has %s" % (
                    wrong, path, allow, sorted(methods))


def test_head_wherever_get(daemon, api):
    """HEAD: GET's status and headers, no body, at once even on streams."""
    d = daemon()
    c = d.client
    c.launch(d.spec("h", ["exit", "0"]))
    c.wait_state("h", "exited")
    for path in ("/v1/unikernels", "/v1/unikernels/h", "/v1/health",
                 "/v1/info", "/v1/unikernels/h/logs",
                 "/v1/unikernels/h/logs?follow=true", "/v1/events",
                 "/v1/events?since=0", "/v1/unikernels/nope",
                 "/v1/unikernels?lable=x"):
        g = c.request("GET", path, timeout=5) if "events" not in path \
            else None
        h = c.request("HEAD", path, timeout=5)
        assert h.body == b"", (path, h)
        if g is not None:
            assert h.status == g.status, (path, h, g)
            assert h.header("Content-Type") == g.header("Content-Type")
        else:
            assert h.status == 200 and h.header("X-Event-Seq"), (path, h)
    r = c.request("PUT", "/v1/info", b"{}",
                  headers={"Content-Type": "application/json"})
    assert set(m.strip() for m in r.header("Allow").split(",")) == \
        {"GET", "HEAD"}, r


def test_health_and_info_shape(daemon, api):
    d = daemon()
    c = d.client
    h = c.get("/v1/health")
    assert h["status"] == "ok"
    assert h["kvm_connected"] is True
    info = c.get("/v1/info")
    assert info["accel"] == "tcg"
    assert info["owner"] == d.owner
    assert info["instances"] == 0
    assert info["backends"]["kvm"]["available"] is True
    assert info["backends"]["kvm"].get("connected") is True
    assert info["host"]["cpus"] >= 1
    assert info["host"]["memory_mib"] > 0
    # daemon/version.h is the one place the version is written; the
    # contract says the same.
    assert info["version"] == str(api.doc["info"]["version"]), info


def test_odd_names_in_paths(daemon, api):
    # A name that is no instance's gets an answer openapi.yaml documents for
    # the operation (404; 400 where the operation has it), never a 5xx.
    c = daemon().client
    wrong = []
    for name in ("nosuch", "..", "%2e%2e", "a%2Fb", "..%2Fetc", "x%00y",
                 "UPPER", "a" * 300, "%C3%A9t%C3%A9"):
        for method, suffix in (("GET", ""), ("GET", "/logs"),
                               ("DELETE", ""), ("POST", "/stop"),
                               ("POST", "/start")):
            path = "/v1/unikernels/%s%s" % (name, suffix)
            r = c.request(method, path, validate=False)
            try:
                api.validate(method, path, r.status, r.header("Content-Type"),
                             r.body)
                assert r.status in (400, 404), r
                assert r.json["error"] in ("not_found", "bad_request"), r
            except AssertionError as e:
                wrong.append(str(e).splitlines()[0][:300])
    api.violations = []
    assert not wrong, "answers to unknown names that break openapi.yaml:" \
        "\n  " + "\n  ".join(wrong)
