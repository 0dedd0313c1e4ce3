/*
 * Tests of the KVM backend's domain XML builder (backends/kvm_xml.c).
 *
 * Golden files: each case below builds the domain XML of one launch and
 * compares it with tests/golden/kvm/NAME.xml.  RR_GOLDEN_UPDATE=1 rewrites
 * the expected files from the actual output instead (read the diff before
 * committing).  Every output is also checked to be well-formed XML whose
 * <cmdline> text is the guest configuration, byte for byte (python3's XML
 * parser), and valid against libvirt's domain schema (virt-xml-validate),
 * each when the tool is installed.  Metadata parsing is checked against
 * our own output and against the forms libvirt gives back.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "backend.h"
#include "fixture.h"
#include "fx_spec.h"
#include "golden.h"
#include "kvm_addrs.h"
#include "kvm_xml.h"
#include "spec.h"

#define OWNER "3f0c2a1e-8d4b-4c2e-9a51-7b6f0e2d9c10"
#define QBOOT "/usr/share/qemu/qboot.rom"

static bool have_python;
static bool have_validator;

static bool
tool_exists(const char *cmd)
{
	char buf[256];

	snprintf(buf, sizeof(buf), "command -v %s >/dev/null 2>&1", cmd);
	return system(buf) == 0;
}

static int
setup(void **state)
{
	(void)state;
	if (golden_build(NULL) == -1)
		return -1;
	have_python = tool_exists("python3");
	have_validator = tool_exists("virt-xml-validate");
	if (!have_python)
		fprintf(stderr, "note: no python3: XML not parsed back\n");
	if (!have_validator)
		fprintf(stderr,
		    "note: no virt-xml-validate: XML not "
		    "checked against libvirt's schema\n");
	return 0;
}

/*
 * Compare the XML of case name with tests/golden/kvm/NAME.xml; the test
 * fails when they differ.  The XML names no scratch directory, so that
 * golden_compare() has no placeholder to put back in it.
 */
static void
compare_xml(const char *name, char *xml)
{
	char path[1024];

	snprintf(path, sizeof(path), "%s/kvm/%s.xml", golden_dir(), name);
	if (!golden_compare(path, xml))
		fail_msg("%s differs", path);
}

/*
 * Parse xml back with python3 and check that <cmdline> holds exactly
 * config, and validate it against libvirt's schema.
 */
static void
check_xml(const char *name, const char *xml, const char *config)
{
	char xmlpath[256], cfgpath[256], cmd[1024];
	int rc;

	snprintf(xmlpath, sizeof(xmlpath), "%s", fx_path("%s.xml", name));
	snprintf(cfgpath, sizeof(cfgpath), "%s", fx_path("%s.cfg", name));
	golden_write(xmlpath, xml);
	golden_write(cfgpath, config);
	if (have_python) {
		snprintf(cmd, sizeof(cmd),
		    "python3 -c 'import sys, xml.etree.ElementTree as E\n"
		    "t = E.parse(sys.argv[1]).getroot().find(\"os/cmdline\")"
		    ".text or \"\"\n"
		    "c = open(sys.argv[2], encoding=\"utf-8\", newline=\"\")"
		    ".read()\n"
		    "sys.exit(0 if t == c else 1)' '%s' '%s'",
		    xmlpath, cfgpath);
		rc = system(cmd);
		if (rc != 0)
			fail_msg("%s: not well-formed, or <cmdline> is not the"
				 " config byte for byte",
			    name);
	}
	if (have_validator) {
		snprintf(cmd, sizeof(cmd),
		    "virt-xml-validate '%s' domain >/dev/null 2>&1", xmlpath);
		rc = system(cmd);
		if (rc != 0) {
			snprintf(cmd, sizeof(cmd),
			    "virt-xml-validate '%s' domain", xmlpath);
			if (system(cmd) == -1)
				perror("system");
			fail_msg("%s: virt-xml-validate refuses it", name);
		}
	}
}

/* A launch of the test guest, adjusted by each case. */
struct fixture {
	struct spec spec;
	struct spec_blk blk[4];
	struct spec_nic nics[8];
	const char *macs[8];
	char *argv[2];
	struct backend_launch launch;
	struct backend_config cfg;
};

static void
fixture_init(struct fixture *f)
{
	memset(f, 0, sizeof(*f));
	fx_spec_hello(&f->spec, SPEC_PLATFORM_KVM, f->argv, f->blk, f->nics);
	f->launch.spec = &f->spec;
	f->launch.owner = OWNER;
	f->launch.domain_name = "rr-3f0c2a1e-hello";
	f->launch.generation = 1;
	f->launch.guest_config = "{\"cmdline\":\"hello\"}";
	f->launch.console_log = "/var/lib/rumprund/instances/hello/console.log";
	f->launch.macs = f->macs;
	f->cfg.uri = "qemu:///system";
	f->cfg.owner = OWNER;
	f->cfg.accel = SPEC_ACCEL_KVM;
	f->cfg.firmware = NULL; /* SeaBIOS, the default */
	f->cfg.fast_cpu_probe = true;
}

/* Build, compare with the golden file, and check the XML. */
static void
run_case(const char *name, struct fixture *f)
{
	struct rrerr err;
	char *xml;

	rrerr_clear(&err);
	xml = kvm_xml_domain(&f->launch, &f->cfg, &err);
	if (xml == NULL) {
		fail_msg("%s: %s", name, err.message);
		return;
	}
	compare_xml(name, xml);
	check_xml(name, xml, f->launch.guest_config);
	free(xml);
}

static void
test_minimal(void **state)
{
	struct fixture f;

	(void)state;
	fixture_init(&f);
	run_case("minimal", &f);
}

static void
test_disks(void **state)
{
	struct fixture f;

	(void)state;
	fixture_init(&f);
	f.blk[0].source = "/srv/rumprun/volumes/data.img";
	f.blk[0].mountpoint = "/data";
	f.blk[1].source = "/srv/rumprun/volumes/etc.iso";
	f.blk[1].mountpoint = "/etc";
	f.blk[1].readonly = true;
	f.spec.nblk = 2;
	f.launch.guest_config =
	    "{\"cmdline\":\"hello\",\"blk\":"
	    "{\"source\":\"dev\",\"path\":\"/dev/ld0a\",\"fstype\":\"blk\","
	    "\"mountpoint\":\"/data\"},\"blk\":{\"source\":\"dev\","
	    "\"path\":\"/dev/ld1a\",\"fstype\":\"blk\",\"mountpoint\":"
	    "\"/etc\"}}";
	run_case("disks", &f);
}

/*
 * A launch's XML names no file of the request: the kernel is rumprund's
 * copy, each disk a name (never a file) with its descriptor's fd group.
 */
static void
test_disks_by_descriptor(void **state)
{
	struct kvm_xml_files files = { "/run/rumprund/guests/k", "/g&d" };
	struct fixture f;
	struct rrerr err;
	char *xml;

	(void)state;
	fixture_init(&f);
	f.blk[0].source = "/srv/rumprun/volumes/data.img";
	f.blk[1].source = "/srv/rumprun/volumes/etc.iso";
	f.blk[1].readonly = true;
	f.spec.nblk = 2;
	xml = kvm_xml_domain_files(&f.launch, &f.cfg, &files, &err);
	assert_non_null(xml);
	assert_null(strstr(xml, "/srv/rumprun"));
	assert_non_null(strstr(xml, "<kernel>/run/rumprund/guests/k</kernel>"));
	assert_non_null(strstr(xml,
	    "<source file='/g&amp;d/"
	    "rr-3f0c2a1e-hello.blk0' fdgroup='blk0'/>"));
	assert_non_null(strstr(xml,
	    "<source file='/g&amp;d/"
	    "rr-3f0c2a1e-hello.blk1' fdgroup='blk1'/>\n"
	    "      <target dev='vdb' bus='virtio'/>\n      <readonly/>"));
	free(xml);
}

static void
test_nics(void **state)
{
	struct fixture f;

	(void)state;
	fixture_init(&f);
	f.nics[0].type = SPEC_NIC_TAP;
	f.nics[0].backend_name = "tap0";
	f.nics[1].type = SPEC_NIC_TAP;
	f.nics[2].type = SPEC_NIC_BRIDGE;
	f.nics[2].backend_name = "br0";
	f.nics[3].type = SPEC_NIC_NETWORK;
	f.nics[3].backend_name = "default";
	f.macs[0] = "52:54:00:00:00:01";
	f.macs[1] = "52:54:00:00:00:02";
	f.macs[2] = "52:54:00:00:00:03";
	f.macs[3] = "52:54:00:00:00:04";
	f.spec.nnics = 4;
	f.launch.guest_config =
	    "{\"cmdline\":\"hello\",\"net\":{\"if\":"
	    "\"vioif0\",\"type\":\"inet\",\"method\":\"dhcp\"}}";
	run_case("nics", &f);
}

/* TCG from the spec, a CPU model, an emulator, qboot, full CPU probe. */
static void
test_tcg(void **state)
{
	struct fixture f;

	(void)state;
	fixture_init(&f);
	f.spec.accel = SPEC_ACCEL_TCG;
	f.spec.memory_mib = 256;
	f.spec.vcpus = 2;
	f.cfg.cpu_model = "qemu64";
	f.cfg.emulator = "/usr/bin/qemu-system-x86_64";
	f.cfg.firmware = QBOOT;
	f.cfg.fast_cpu_probe = false;
	f.launch.generation = 7;
	run_case("tcg", &f);
}

/* Occurrences of needle in the NUL-terminated text hay. */
static int
count(const char *hay, const char *needle)
{
	int n = 0;

	while ((hay = strstr(hay, needle)) != NULL) {
		n++;
		hay += strlen(needle);
	}
	return n;
}

/*
 * Nothing SeaBIOS waits for: no boot menu, no option ROM on any NIC (each
 * interface element has its <rom enabled='no'/>), and no video device,
 * which would also make SeaBIOS report a CRTC and the guest write to the
 * screen instead of COM1.  SeaBIOS is QEMU's default: no <loader>.
 */
static void
test_seabios_waits_for_nothing(void **state)
{
	struct fixture f;
	struct rrerr err;
	const char *p, *end;
	char *xml;
	size_t i;

	(void)state;
	fixture_init(&f);
	for (i = 0; i < 8; i++) {
		f.nics[i].type = i % 3 == 0 ? SPEC_NIC_TAP :
		    i % 3 == 1		    ? SPEC_NIC_BRIDGE :
					      SPEC_NIC_NETWORK;
		f.nics[i].backend_name = i % 3 == 1 ? "br0" :
		    i % 3 == 2			    ? "default" :
						      NULL;
		f.macs[i] = "52:54:00:00:00:09";
	}
	f.spec.nnics = 8;
	rrerr_clear(&err);
	xml = kvm_xml_domain(&f.launch, &f.cfg, &err);
	assert_non_null(xml);
	assert_int_equal(count(xml, "<interface "), 8);
	for (p = xml; (p = strstr(p, "<interface ")) != NULL; p = end) {
		end = strstr(p, "</interface>");
		assert_non_null(end);
		assert_true(count(p, "<rom enabled='no'/>") -
			count(end, "<rom enabled='no'/>") ==
		    1);
	}
	p = strstr(xml, "<os>");
	end = strstr(xml, "</os>");
	assert_true(p != NULL && end != NULL);
	assert_true(count(p, "<bootmenu enable='no'/>") -
		count(end, "<bootmenu enable='no'/>") ==
	    1);
	assert_int_equal(count(xml, "<loader"), 0);
	assert_int_equal(count(xml, "<video>"), 1);
	assert_int_equal(count(xml, "<model type='none'/>"), 1);
	assert_int_equal(count(xml, "<graphics"), 0);
	free(xml);
}

/* The daemon's accelerator applies when the spec has none. */
static void
test_accel_choice(void **state)
{
	struct fixture f;
	struct rrerr err;
	char *xml;

	(void)state;
	fixture_init(&f);
	f.cfg.accel = SPEC_ACCEL_TCG;
	xml = kvm_xml_domain(&f.launch, &f.cfg, &err);
	assert_non_null(xml);
	assert_non_null(strstr(xml, "<domain type='qemu' "));
	free(xml);

	f.spec.accel = SPEC_ACCEL_KVM;
	xml = kvm_xml_domain(&f.launch, &f.cfg, &err);
	assert_non_null(xml);
	assert_non_null(strstr(xml, "<domain type='kvm' "));
	free(xml);

	f.spec.accel = SPEC_ACCEL_DEFAULT;
	f.cfg.accel = SPEC_ACCEL_DEFAULT;
	xml = kvm_xml_domain(&f.launch, &f.cfg, &err);
	assert_non_null(xml);
	assert_non_null(strstr(xml, "<domain type='kvm' "));
	free(xml);
}

/* What XML gives a meaning to, in the config, paths and names. */
static void
test_escaping(void **state)
{
	struct fixture f;

	(void)state;
	fixture_init(&f);
	f.spec.name = "a&b";
	f.spec.image = "/srv/it's <here> & \"there\"/app.bin";
	f.blk[0].source = "/srv/vol'&\"<>.img";
	f.spec.nblk = 1;
	f.launch.console_log = "/var/log/a'b\"c&d<e>.log";
	f.launch.guest_config =
	    "{\"cmdline\":\"app '<b>&amp;</b>' "
	    "\\\"quoted\\\" ]]> tab\there\",\"env\":\"A=x<y&z>w\"}";
	f.cfg.firmware = "/fw/&qboot.rom";
	run_case("escaping", &f);
}

static void
test_refused(void **state)
{
	struct fixture f;
	struct rrerr err;
	char *xml;

	(void)state;
	fixture_init(&f);
	f.launch.guest_config = "{\"cmdline\":\"a\001b\"}";
	rrerr_clear(&err);
	xml = kvm_xml_domain(&f.launch, &f.cfg, &err);
	assert_null(xml);
	assert_int_equal(err.code, RRERR_INVALID);
	assert_non_null(strstr(err.message, "guest configuration"));

	fixture_init(&f);
	f.spec.image = "/srv/\xff\xfe.bin";
	rrerr_clear(&err);
	xml = kvm_xml_domain(&f.launch, &f.cfg, &err);
	assert_null(xml);
	assert_int_equal(err.code, RRERR_INVALID);
	assert_non_null(strstr(err.message, "image path"));

	/* Overlong and surrogate UTF-8 are refused; real UTF-8 is kept. */
	fixture_init(&f);
	f.spec.image = "/srv/\xc0\xaf.bin";
	assert_null(kvm_xml_domain(&f.launch, &f.cfg, &err));
	f.spec.image = "/srv/\xed\xa0\x80.bin";
	assert_null(kvm_xml_domain(&f.launch, &f.cfg, &err));
	f.spec.image = "/srv/caf\xc3\xa9-\xe2\x82\xac-\xf0\x9f\x90\xa7.bin";
	xml = kvm_xml_domain(&f.launch, &f.cfg, &err);
	assert_non_null(xml);
	assert_non_null(strstr(xml, f.spec.image));
	free(xml);

	fixture_init(&f);
	f.spec.platform = SPEC_PLATFORM_XEN;
	rrerr_clear(&err);
	assert_null(kvm_xml_domain(&f.launch, &f.cfg, &err));
	assert_int_equal(err.code, RRERR_INVALID);
}

static void
test_metadata_roundtrip(void **state)
{
	struct fixture f;
	struct kvm_xml_meta meta;
	struct rrerr err;
	char *xml, *start, *end;

	(void)state;
	fixture_init(&f);
	f.spec.name = "we&ird\"na'me<>";
	f.launch.generation = 4294967295U;
	xml = kvm_xml_domain(&f.launch, &f.cfg, &err);
	assert_non_null(xml);
	start = strstr(xml, "<rr:instance");
	assert_non_null(start);
	end = strstr(start, "/>");
	assert_non_null(end);
	end[2] = '\0';
	assert_int_equal(kvm_xml_parse_metadata(start, &meta), 0);
	assert_string_equal(meta.owner, OWNER);
	assert_string_equal(meta.instance, "we&ird\"na'me<>");
	assert_int_equal(meta.generation, 4294967295U);
	free(xml);
}

static void
test_metadata_libvirt_forms(void **state)
{
	struct kvm_xml_meta meta;

	(void)state;
	/* What virDomainGetMetadata gives back (libxml2's serializer). */
	assert_int_equal(
	    kvm_xml_parse_metadata(
		"<rr:instance xmlns:rr=\"https://rumprund.org/xmlns/instance/1\""
		" owner=\"" OWNER "\" name=\"web-1\" generation=\"3\"/>",
		&meta),
	    0);
	assert_string_equal(meta.owner, OWNER);
	assert_string_equal(meta.instance, "web-1");
	assert_int_equal(meta.generation, 3);

	assert_int_equal(
	    kvm_xml_parse_metadata(
		"<?xml version=\"1.0\"?>\n<instance xmlns=\"https://rumprund.org/"
		"xmlns/instance/1\" generation='12' name='a&amp;b&#x27;c&#34;'\n"
		"  owner = 'o&lt;&gt;'></instance>",
		&meta),
	    0);
	assert_string_equal(meta.owner, "o<>");
	assert_string_equal(meta.instance, "a&b'c\"");
	assert_int_equal(meta.generation, 12);

	/* "xowner" is not "owner"; unknown attributes are skipped. */
	assert_int_equal(kvm_xml_parse_metadata(
			     "<rr:instance xowner=\"x\" owner=\"o\" name=\"n\" "
			     "generation=\"1\" extra=\"e\"/>",
			     &meta),
	    0);
	assert_string_equal(meta.owner, "o");

	/* Refused. */
	assert_int_equal(kvm_xml_parse_metadata(NULL, &meta), -1);
	assert_int_equal(kvm_xml_parse_metadata("", &meta), -1);
	assert_int_equal(
	    kvm_xml_parse_metadata(
		"<rr:other owner=\"o\" name=\"n\" generation=\"1\"/>", &meta),
	    -1);
	assert_int_equal(kvm_xml_parse_metadata(
			     "<rr:instance owner=\"o\" name=\"n\"/>", &meta),
	    -1);
	assert_int_equal(
	    kvm_xml_parse_metadata(
		"<rr:instance owner=\"o\" name=\"n\" generation=\"-1\"/>",
		&meta),
	    -1);
	assert_int_equal(
	    kvm_xml_parse_metadata(
		"<rr:instance owner=\"o\" name=\"n\" generation=\"99999999999\"/>",
		&meta),
	    -1);
	assert_int_equal(
	    kvm_xml_parse_metadata(
		"<rr:instance owner=\"o\" name=\"n&bogus;\" generation=\"1\"/>",
		&meta),
	    -1);
	assert_int_equal(
	    kvm_xml_parse_metadata(
		"<rr:instance owner=\"o name=\"n\" generation=\"1\"/>", &meta),
	    -1);
	assert_int_equal(
	    kvm_xml_parse_metadata(
		"<rr:instance owner=\"o\" name=\"n\" generation=\"1\" "
		"owner=\"&#0;\"/>",
		&meta),
	    -1);
}

static void
test_domain_name(void **state)
{
	char buf[BACKEND_DOMAIN_NAME_MAX], other[BACKEND_DOMAIN_NAME_MAX];
	char longest[SPEC_NAME_MAX + 1];
	int i, same = 0;

	(void)state;
	backend_domain_name(OWNER, "web-1", 1, 0x5d2a04c7, buf, sizeof(buf));
	assert_string_equal(buf, "rr-3f0c2a1e-web-1-1-5d2a04c7");
	backend_domain_name("ab", "x", 12, 0xa, buf, sizeof(buf));
	assert_string_equal(buf, "rr-ab-x-12-0000000a");
	backend_domain_name(OWNER, "web-1", 1, 1, buf, 6);
	assert_string_equal(buf, "rr-3f");
	backend_domain_prefix(OWNER, buf, sizeof(buf));
	assert_string_equal(buf, "rr-3f0c2a1e-");
	/* The longest instance name, the largest generation: it all fits. */
	memset(longest, 'n', SPEC_NAME_MAX);
	longest[SPEC_NAME_MAX] = '\0';
	backend_domain_name(OWNER, longest, 4294967295u, 0xffffffffu, buf,
	    sizeof(buf));
	assert_int_equal(strlen(buf), 3 + 9 + SPEC_NAME_MAX + 11 + 9);
	assert_string_equal(buf + strlen(buf) - 20, "-4294967295-ffffffff");
	/* Tags differ from draw to draw (2^-32 a pair to collide). */
	for (i = 0; i < 100; i++) {
		backend_domain_name(OWNER, "a", 1, backend_domain_tag(), buf,
		    sizeof(buf));
		backend_domain_name(OWNER, "a", 1, backend_domain_tag(), other,
		    sizeof(other));
		same += strcmp(buf, other) == 0;
	}
	assert_true(same < 2);
}

/*
 * The live XML as libvirt gives it for a running domain: each NIC's tap
 * by MAC (case-insensitive), whether one is on a libvirt network; NICs we
 * were not asked about and interfaces without a target are skipped.
 */
static void
test_addrs_live_xml(void **state)
{
	static const char xml[] =
	    "<domain type='kvm' id='7'><name>rr-x</name><devices>"
	    "<interface type='ethernet'><mac address='52:54:00:00:00:01'/>"
	    "<target dev='rrtap0' managed='no'/><model type='virtio'/>"
	    "</interface>"
	    "<interface type='network'><mac address='52:54:00:AA:00:02'/>"
	    "<source network='n' bridge='rrtabr0'/><target dev='vnet4'/>"
	    "</interface>"
	    "<interface type='bridge'><mac address='52:54:00:00:00:03'/>"
	    "<source bridge='br0'/></interface>"
	    "<interface type='bridge'><mac address='52:54:00:00:00:09'/>"
	    "<target dev='vnet9'/></interface>"
	    "</devices></domain>";
	struct backend_nic_info nics[3];
	bool on_network;

	(void)state;
	memset(nics, 0, sizeof(nics));
	snprintf(nics[0].mac, sizeof(nics[0].mac), "52:54:00:00:00:01");
	snprintf(nics[1].mac, sizeof(nics[1].mac), "52:54:00:aa:00:02");
	snprintf(nics[2].mac, sizeof(nics[2].mac), "52:54:00:00:00:03");
	assert_int_equal(kvm_addrs_parse_xml(xml, nics, 3, &on_network), 0);
	assert_true(on_network);
	assert_string_equal(nics[0].host_dev, "rrtap0");
	assert_string_equal(nics[1].host_dev, "vnet4");
	assert_string_equal(nics[2].host_dev, "");
	assert_int_equal(nics[0].naddrs, 0);

	/* Only the first NIC: not on a network. */
	memset(nics, 0, sizeof(nics));
	snprintf(nics[0].mac, sizeof(nics[0].mac), "52:54:00:00:00:01");
	assert_int_equal(kvm_addrs_parse_xml(xml, nics, 1, &on_network), 0);
	assert_false(on_network);
	assert_int_equal(kvm_addrs_parse_xml("<domain", nics, 1, &on_network),
	    -1);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_minimal),
		cmocka_unit_test(test_disks),
		cmocka_unit_test(test_disks_by_descriptor),
		cmocka_unit_test(test_nics),
		cmocka_unit_test(test_tcg),
		cmocka_unit_test(test_seabios_waits_for_nothing),
		cmocka_unit_test(test_accel_choice),
		cmocka_unit_test(test_escaping),
		cmocka_unit_test(test_refused),
		cmocka_unit_test(test_metadata_roundtrip),
		cmocka_unit_test(test_metadata_libvirt_forms),
		cmocka_unit_test(test_domain_name),
		cmocka_unit_test(test_addrs_live_xml),
	};

	return cmocka_run_group_tests(tests, setup, golden_teardown);
}
