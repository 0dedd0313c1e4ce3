/*
 * Tests of rrctl's `run` options: upstream rumprun command lines and the
 * exact launch request each becomes, and the usage errors.
 *
 * Each case is the argument vector after "rrctl" (starting with "run"),
 * and either the expected request as JSON text (compared with json_equal,
 * so key order does not matter) or the expected error sentence.  Paths
 * are resolved by a fake resolver: a relative path P becomes /srv/P, an
 * absolute path stays, and a path containing "missing" does not exist.
 * Every request made must also pass the daemon's own parser (spec.c, as
 * for a trusted record: host paths and names of bridges not checked), so
 * that what rrctl sends and what rumprund accepts cannot drift apart.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "runopts.h"
#include "spec.h"

#define MAXARGS 48

struct run_case {
	const char *what;
	const char *argv[MAXARGS];
	const char *request; /* expected JSON, or NULL */
	const char *error;   /* expected error sentence, or NULL */
};

static char *
fake_resolve(const char *path, void *arg)
{
	char *out;

	(void)arg;
	if (strstr(path, "missing") != NULL) {
		errno = ENOENT;
		return NULL;
	}
	if (path[0] == '/')
		return strdup(path);
	if (asprintf(&out, "/srv/%s", path) == -1)
		return NULL;
	return out;
}

/* A table laid out by hand: one case per entry. */
/* clang-format off */
static const struct run_case cases[] = {
	/* The README example of upstream rumprun, kvm and xen. */
	{ "nginx kvm",
	  { "run", "kvm", "-b", "nginxdata.iso,/etc", "-I",
	    "if0,vioif,-net tap,ifname=tap0", "-W", "if0,inet,dhcp",
	    "bin/nginx", "-c", "/etc/nginx/conf/nginx.conf" },
	  "{\"name\": \"rumprun-nginx\", \"platform\": \"kvm\","
	  " \"image\": \"/srv/bin/nginx\","
	  " \"argv\": [\"bin/nginx\", \"-c\", \"/etc/nginx/conf/nginx.conf\"],"
	  " \"blk\": [{\"source\": \"/srv/nginxdata.iso\","
	  " \"mountpoint\": \"/etc\"}],"
	  " \"nics\": [{\"backend\": {\"type\": \"tap\", \"name\": \"tap0\"},"
	  " \"inet\": {\"method\": \"dhcp\"}}]}", NULL },
	{ "nginx xen",
	  { "run", "xen", "-b", "nginxdata.iso,/etc", "-I", "if0,xenif", "-W",
	    "if0,inet,dhcp", "bin/nginx", "-c",
	    "/etc/nginx/conf/nginx.conf" },
	  "{\"name\": \"rumprun-nginx\", \"platform\": \"xen\","
	  " \"image\": \"/srv/bin/nginx\","
	  " \"argv\": [\"bin/nginx\", \"-c\", \"/etc/nginx/conf/nginx.conf\"],"
	  " \"blk\": [{\"source\": \"/srv/nginxdata.iso\","
	  " \"mountpoint\": \"/etc\"}],"
	  " \"nics\": [{\"backend\": {\"type\": \"bridge\","
	  " \"name\": \"xenbr0\"}, \"inet\": {\"method\": \"dhcp\"}}]}",
	  NULL },
	{ "hello: defaults, argv[0] as typed",
	  { "run", "kvm", "hello.bin" },
	  "{\"name\": \"rumprun-hello.bin\", \"platform\": \"kvm\","
	  " \"image\": \"/srv/hello.bin\", \"argv\": [\"hello.bin\"]}", NULL },
	{ "no platform word: kvm",
	  { "run", "/images/app.bin", "x" },
	  "{\"name\": \"rumprun-app.bin\", \"platform\": \"kvm\","
	  " \"image\": \"/images/app.bin\","
	  " \"argv\": [\"/images/app.bin\", \"x\"]}", NULL },
	{ "qemu: kvm with tcg",
	  { "run", "qemu", "app" },
	  "{\"name\": \"rumprun-app\", \"platform\": \"kvm\","
	  " \"image\": \"/srv/app\", \"argv\": [\"app\"],"
	  " \"accel\": \"tcg\"}", NULL },
	{ "-b without mount point keeps its number",
	  { "run", "kvm", "-b", "raw.img", "-b", "data.ffs,/data", "-b",
	    "etc.iso,/etc/app", "-b", "/vol/a,b.img,/mnt", "app.bin" },
	  "{\"name\": \"rumprun-app.bin\", \"platform\": \"kvm\","
	  " \"image\": \"/srv/app.bin\", \"argv\": [\"app.bin\"],"
	  " \"blk\": [{\"source\": \"/srv/raw.img\"},"
	  " {\"source\": \"/srv/data.ffs\", \"mountpoint\": \"/data\"},"
	  " {\"source\": \"/srv/etc.iso\", \"mountpoint\": \"/etc/app\"},"
	  " {\"source\": \"/vol/a,b.img\", \"mountpoint\": \"/mnt\"}]}", NULL },
	{ "two -I/-W pairs: the second NIC is index 1",
	  { "run", "kvm", "-I", "if0,vioif,tap:tap0", "-I",
	    "if1,vioif,bridge:br0", "-W", "if0,inet,dhcp", "-W",
	    "if1,inet,static,10.0.1.2/24,10.0.1.1", "app.bin" },
	  "{\"name\": \"rumprun-app.bin\", \"platform\": \"kvm\","
	  " \"image\": \"/srv/app.bin\", \"argv\": [\"app.bin\"],"
	  " \"nics\": [{\"backend\": {\"type\": \"tap\", \"name\": \"tap0\"},"
	  " \"inet\": {\"method\": \"dhcp\"}},"
	  " {\"backend\": {\"type\": \"bridge\", \"name\": \"br0\"},"
	  " \"inet\": {\"method\": \"static\", \"addr\": \"10.0.1.2/24\","
	  " \"gw\": \"10.0.1.1\"}}]}", NULL },
	{ "-W dhcp after static keeps no address",
	  { "run", "kvm", "-I", "if0,vioif", "-I", "if1,vioif,network:default",
	    "-W", "if0,inet,static,10.0.0.2/24,10.0.0.1", "-W",
	    "if1,inet,dhcp", "app.bin" },
	  "{\"name\": \"rumprun-app.bin\", \"platform\": \"kvm\","
	  " \"image\": \"/srv/app.bin\", \"argv\": [\"app.bin\"],"
	  " \"nics\": [{\"backend\": {\"type\": \"tap\"},"
	  " \"inet\": {\"method\": \"static\", \"addr\": \"10.0.0.2/24\","
	  " \"gw\": \"10.0.0.1\"}},"
	  " {\"backend\": {\"type\": \"network\", \"name\": \"default\"},"
	  " \"inet\": {\"method\": \"dhcp\"}}]}", NULL },
	{ "-W static without gateway",
	  { "run", "kvm", "-I", "if0,vioif,-net tap,ifname=tap3,script=no",
	    "-W", "if0,inet,static,192.168.1.5/16", "app" },
	  "{\"name\": \"rumprun-app\", \"platform\": \"kvm\","
	  " \"image\": \"/srv/app\", \"argv\": [\"app\"],"
	  " \"nics\": [{\"backend\": {\"type\": \"tap\", \"name\": \"tap3\"},"
	  " \"inet\": {\"method\": \"static\","
	  " \"addr\": \"192.168.1.5/16\"}}]}", NULL },
	{ "inet6 auto, and both families on one NIC",
	  { "run", "kvm", "-I", "if0,vioif", "-I", "if1,vioif", "-W",
	    "if0,inet6,auto", "-W", "if1,inet,dhcp", "-W",
	    "if1,inet6,static,fd00::2/64,fd00::1", "app.bin" },
	  "{\"name\": \"rumprun-app.bin\", \"platform\": \"kvm\","
	  " \"image\": \"/srv/app.bin\", \"argv\": [\"app.bin\"],"
	  " \"nics\": [{\"backend\": {\"type\": \"tap\"},"
	  " \"inet6\": {\"method\": \"auto\"}},"
	  " {\"backend\": {\"type\": \"tap\"}, \"inet\": {\"method\": \"dhcp\"},"
	  " \"inet6\": {\"method\": \"static\", \"addr\": \"fd00::2/64\","
	  " \"gw\": \"fd00::1\"}}]}", NULL },
	{ "an -I without -W: an unconfigured NIC",
	  { "run", "kvm", "-I", "if0,vioif", "app" },
	  "{\"name\": \"rumprun-app\", \"platform\": \"kvm\","
	  " \"image\": \"/srv/app\", \"argv\": [\"app\"],"
	  " \"nics\": [{\"backend\": {\"type\": \"tap\"}}]}", NULL },
	{ "QEMU's bridge helper form",
	  { "run", "kvm", "-I", "if0,vioif,-net bridge,br=br1", "-I",
	    "if1,vioif,-net bridge", "app" },
	  "{\"name\": \"rumprun-app\", \"platform\": \"kvm\","
	  " \"image\": \"/srv/app\", \"argv\": [\"app\"],"
	  " \"nics\": [{\"backend\": {\"type\": \"bridge\", \"name\": \"br1\"}},"
	  " {\"backend\": {\"type\": \"bridge\", \"name\": \"br0\"}}]}", NULL },
	{ "xl's vif form on xen",
	  { "run", "xen", "-I", "if0,xenif,bridge=xenbr0,mac=00:16:3e:00:00:01",
	    "app" },
	  "{\"name\": \"rumprun-app\", \"platform\": \"xen\","
	  " \"image\": \"/srv/app\", \"argv\": [\"app\"],"
	  " \"nics\": [{\"backend\": {\"type\": \"bridge\","
	  " \"name\": \"xenbr0\"},"
	  " \"mac\": \"00:16:3e:00:00:01\"}]}", NULL },
	{ "xl's vif form with a MAC only: xl's default bridge",
	  { "run", "xen", "-I", "if0,xenif,mac=00:16:3e:00:00:02", "app" },
	  "{\"name\": \"rumprun-app\", \"platform\": \"xen\","
	  " \"image\": \"/srv/app\", \"argv\": [\"app\"],"
	  " \"nics\": [{\"backend\": {\"type\": \"bridge\","
	  " \"name\": \"xenbr0\"},"
	  " \"mac\": \"00:16:3e:00:00:02\"}]}", NULL },
	{ "-e repeated, in order",
	  { "run", "kvm", "-e", "A=1", "-e", "GREETING=hello world", "-e",
	    "EMPTY=", "-e", "PATH=/bin:/sbin", "app", "env" },
	  "{\"name\": \"rumprun-app\", \"platform\": \"kvm\","
	  " \"image\": \"/srv/app\", \"argv\": [\"app\", \"env\"],"
	  " \"env\": [\"A=1\", \"GREETING=hello world\", \"EMPTY=\","
	  " \"PATH=/bin:/sbin\"]}", NULL },
	{ "-M in MiB",
	  { "run", "kvm", "-M", "512", "app" },
	  "{\"name\": \"rumprun-app\", \"platform\": \"kvm\","
	  " \"image\": \"/srv/app\", \"argv\": [\"app\"],"
	  " \"memory_mib\": 512}", NULL },
	{ "-M with a suffix",
	  { "run", "kvm", "-M", "1G", "app" },
	  "{\"name\": \"rumprun-app\", \"platform\": \"kvm\","
	  " \"image\": \"/srv/app\", \"argv\": [\"app\"],"
	  " \"memory_mib\": 1024}", NULL },
	{ "-N: the name and the hostname",
	  { "run", "kvm", "-N", "web-1", "app.bin" },
	  "{\"name\": \"web-1\", \"platform\": \"kvm\","
	  " \"image\": \"/srv/app.bin\", \"argv\": [\"app.bin\"],"
	  " \"hostname\": \"web-1\"}", NULL },
	{ "-p paused",
	  { "run", "kvm", "-p", "app" },
	  "{\"name\": \"rumprun-app\", \"platform\": \"kvm\","
	  " \"image\": \"/srv/app\", \"argv\": [\"app\"], \"paused\": true}",
	  NULL },
	{ "-d auto_remove",
	  { "run", "kvm", "-d", "app" },
	  "{\"name\": \"rumprun-app\", \"platform\": \"kvm\","
	  " \"image\": \"/srv/app\", \"argv\": [\"app\"],"
	  " \"auto_remove\": true}", NULL },
	{ "--rm: docker's word for -d",
	  { "run", "kvm", "--rm", "app" },
	  "{\"name\": \"rumprun-app\", \"platform\": \"kvm\","
	  " \"image\": \"/srv/app\", \"argv\": [\"app\"],"
	  " \"auto_remove\": true}", NULL },
	{ "-i and --dry-run change nothing in the request",
	  { "run", "kvm", "-i", "--dry-run", "app" },
	  "{\"name\": \"rumprun-app\", \"platform\": \"kvm\","
	  " \"image\": \"/srv/app\", \"argv\": [\"app\"]}", NULL },
	{ "arguments with spaces and quotes after --",
	  { "run", "kvm", "app", "--", "hello world", "say \"hi\"",
	    "back\\slash", "", "{\"json\": 1}", "-x" },
	  "{\"name\": \"rumprun-app\", \"platform\": \"kvm\","
	  " \"image\": \"/srv/app\", \"argv\": [\"app\", \"hello world\","
	  " \"say \\\"hi\\\"\", \"back\\\\slash\", \"\", \"{\\\"json\\\": 1}\","
	  " \"-x\"]}", NULL },
	{ "only the first -- after IMAGE separates",
	  { "run", "kvm", "app", "--", "--", "-b" },
	  "{\"name\": \"rumprun-app\", \"platform\": \"kvm\","
	  " \"image\": \"/srv/app\", \"argv\": [\"app\", \"--\", \"-b\"]}",
	  NULL },
	{ "options after IMAGE belong to the program",
	  { "run", "kvm", "app", "-M", "12" },
	  "{\"name\": \"rumprun-app\", \"platform\": \"kvm\","
	  " \"image\": \"/srv/app\", \"argv\": [\"app\", \"-M\", \"12\"]}",
	  NULL },
	{ "--platform, --label, --vcpus, --accel",
	  { "run", "--platform", "kvm", "--label", "team=web", "--label",
	    "tier=front", "--label", "empty=", "--vcpus", "2", "--accel", "kvm",
	    "app" },
	  "{\"name\": \"rumprun-app\", \"platform\": \"kvm\","
	  " \"image\": \"/srv/app\", \"argv\": [\"app\"], \"vcpus\": 2,"
	  " \"labels\": {\"team\": \"web\", \"tier\": \"front\","
	  " \"empty\": \"\"}, \"accel\": \"kvm\"}", NULL },
	{ "--boot-timeout",
	  { "run", "--boot-timeout", "5", "app" },
	  "{\"name\": \"rumprun-app\", \"platform\": \"kvm\","
	  " \"image\": \"/srv/app\", \"argv\": [\"app\"],"
	  " \"boot_timeout_s\": 5}", NULL },
	{ "--boot-timeout 0: no limit",
	  { "run", "--boot-timeout=0", "app" },
	  "{\"name\": \"rumprun-app\", \"platform\": \"kvm\","
	  " \"image\": \"/srv/app\", \"argv\": [\"app\"],"
	  " \"boot_timeout_s\": 0}", NULL },
	{ "--restart on-failure:3 with backoff",
	  { "run", "--restart", "on-failure:3", "--restart-backoff", "2:30",
	    "--restart-reset", "60", "app" },
	  "{\"name\": \"rumprun-app\", \"platform\": \"kvm\","
	  " \"image\": \"/srv/app\", \"argv\": [\"app\"],"
	  " \"restart\": {\"policy\": \"on-failure\", \"max_retries\": 3,"
	  " \"backoff_initial_s\": 2, \"backoff_max_s\": 30,"
	  " \"reset_after_s\": 60}}", NULL },
	{ "--restart always",
	  { "run", "--restart=always", "app" },
	  "{\"name\": \"rumprun-app\", \"platform\": \"kvm\","
	  " \"image\": \"/srv/app\", \"argv\": [\"app\"],"
	  " \"restart\": {\"policy\": \"always\"}}", NULL },
	{ "--restart-backoff over the default max",
	  { "run", "--restart", "unless-stopped", "--restart-backoff", "600",
	    "app" },
	  "{\"name\": \"rumprun-app\", \"platform\": \"kvm\","
	  " \"image\": \"/srv/app\", \"argv\": [\"app\"],"
	  " \"restart\": {\"policy\": \"unless-stopped\","
	  " \"backoff_initial_s\": 600, \"backoff_max_s\": 600}}", NULL },
	{ "--platform xen after -I",
	  { "run", "-I", "if0,xenif", "-I", "if1,xenif,bridge:br1",
	    "--platform", "xen", "app" },
	  "{\"name\": \"rumprun-app\", \"platform\": \"xen\","
	  " \"image\": \"/srv/app\", \"argv\": [\"app\"],"
	  " \"nics\": [{\"backend\": {\"type\": \"bridge\","
	  " \"name\": \"xenbr0\"}},"
	  " {\"backend\": {\"type\": \"bridge\", \"name\": \"br1\"}}]}",
	  NULL },
	{ "the default name is sanitised",
	  { "run", "kvm", "dir/My App+v2.BIN" },
	  "{\"name\": \"rumprun-my-app-v2.bin\", \"platform\": \"kvm\","
	  " \"image\": \"/srv/dir/My App+v2.BIN\","
	  " \"argv\": [\"dir/My App+v2.BIN\"]}", NULL },

	/* Usage errors. */
	{ "missing IMAGE", { "run", "kvm", "-M", "64" }, NULL,
	  "missing IMAGE" },
	{ "nothing at all", { "run" }, NULL, "missing IMAGE" },
	{ "unknown -W tag",
	  { "run", "kvm", "-I", "if0,vioif", "-W", "if1,inet,dhcp", "app" },
	  NULL, "-W if1,inet,dhcp: no interface tagged if1: create it with "
	  "-I if1,... before" },
	{ "-W before its -I",
	  { "run", "kvm", "-W", "if0,inet,dhcp", "-I", "if0,vioif", "app" },
	  NULL, "-W if0,inet,dhcp: no interface tagged if0: create it with "
	  "-I if0,... before" },
	{ "bad -M", { "run", "kvm", "-M", "lots", "app" }, NULL,
	  "-M lots: not a memory size in MiB" },
	{ "-M 0", { "run", "kvm", "-M", "0", "app" }, NULL,
	  "-M 0: not a memory size in MiB" },
	{ "-D unsupported", { "run", "kvm", "-D", "1234", "app" }, NULL,
	  "-D (a gdb server for the guest) is not supported by rrctl" },
	{ "-g unsupported", { "run", "kvm", "-g", "-s", "app" }, NULL,
	  "-g (arguments for the hypervisor) is not supported by rrctl" },
	{ "-n unsupported", { "run", "kvm", "-n", "inet,dhcp", "app" }, NULL,
	  "-n (the old network option) is not supported by rrctl: use -I "
	  "and -W" },
	{ "iso platform", { "run", "iso", "app" }, NULL,
	  "platform iso: rrctl iso makes the image; rrctl run runs guests" },
	{ "ec2 platform", { "run", "ec2", "app" }, NULL,
	  "platform ec2 is not supported by rrctl (it runs guests; it does "
	  "not make images)" },
	{ "xenif on kvm", { "run", "kvm", "-I", "if0,xenif", "app" }, NULL,
	  "-I if0,xenif: the interface base name on kvm is vioif, not xenif" },
	{ "vioif on xen", { "run", "xen", "-I", "if0,vioif", "app" }, NULL,
	  "-I if0,vioif: the interface base name on xen is xenif, not vioif" },
	{ "a tap on xen", { "run", "xen", "-I", "if0,xenif,tap:t0", "app" },
	  NULL, "-I if0,xenif,tap:t0: a NIC on xen joins a bridge: give "
	  "bridge=NAME or bridge:NAME" },
	{ "upstream's -net tap on xen", { "run", "xen", "-I",
	  "if0,xenif,-net tap,ifname=tap0", "app" }, NULL,
	  "-I if0,xenif,-net tap,ifname=tap0: a NIC on xen joins a bridge: "
	  "give bridge=NAME or bridge:NAME" },
	{ "-I without basename", { "run", "kvm", "-I", "if0", "app" }, NULL,
	  "-I if0: give iftag,ifbasename[,backendopts]" },
	{ "-I tag equal to basename",
	  { "run", "kvm", "-I", "vioif,vioif", "app" }, NULL,
	  "-I vioif,vioif: give iftag,ifbasename[,backendopts] with an iftag "
	  "other than the ifbasename" },
	{ "-I tag twice",
	  { "run", "kvm", "-I", "if0,vioif", "-I", "if0,vioif", "app" }, NULL,
	  "-I if0,vioif: there is already an interface tagged if0" },
	{ "-net user", { "run", "kvm", "-I", "if0,vioif,-net user", "app" },
	  NULL, "-I if0,vioif,-net user: -net user is not supported by rrctl "
	  "(use tap:NAME, bridge:NAME or network:NAME)" },
	{ "-net tap option", { "run", "kvm", "-I",
	  "if0,vioif,-net tap,vhost=on", "app" }, NULL,
	  "-I if0,vioif,-net tap,vhost=on: -net tap option vhost is not "
	  "supported by rrctl" },
	{ "bridge without name", { "run", "kvm", "-I", "if0,vioif,bridge:",
	  "app" }, NULL, "-I if0,vioif,bridge:: bridge: needs a NAME" },
	{ "odd backendopts", { "run", "kvm", "-I", "if0,vioif,slirp",
	  "app" }, NULL, "-I if0,vioif,slirp: backendopts must be tap:NAME, "
	  "bridge:NAME, network:NAME, '-net tap,ifname=NAME', bridge=NAME or "
	  "empty" },
	{ "-W dhcp with an address",
	  { "run", "kvm", "-I", "if0,vioif", "-W", "if0,inet,dhcp,1.2.3.4/8",
	    "app" }, NULL, "-W if0,inet,dhcp,1.2.3.4/8: dhcp takes no address" },
	{ "-W static without mask",
	  { "run", "kvm", "-I", "if0,vioif", "-W", "if0,inet,static,1.2.3.4",
	    "app" }, NULL, "-W if0,inet,static,1.2.3.4: give the address as "
	  "ADDR/MASK, e.g. 10.0.0.2/24" },
	{ "-W static without address",
	  { "run", "kvm", "-I", "if0,vioif", "-W", "if0,inet,static", "app" },
	  NULL, "-W if0,inet,static: static needs ADDR/MASK and at most a "
	  "gateway" },
	{ "-W inet auto",
	  { "run", "kvm", "-I", "if0,vioif", "-W", "if0,inet,auto", "app" },
	  NULL, "-W if0,inet,auto: the method of inet must be dhcp or "
	  "static" },
	{ "-W inet6 dhcp",
	  { "run", "kvm", "-I", "if0,vioif", "-W", "if0,inet6,dhcp", "app" },
	  NULL, "-W if0,inet6,dhcp: the method of inet6 must be auto or "
	  "static" },
	{ "-W bad family",
	  { "run", "kvm", "-I", "if0,vioif", "-W", "if0,ipx,dhcp", "app" },
	  NULL, "-W if0,ipx,dhcp: the family must be inet or inet6" },
	{ "-W short",
	  { "run", "kvm", "-I", "if0,vioif", "-W", "if0,inet", "app" }, NULL,
	  "-W if0,inet: give iftag,inet,dhcp | "
	  "iftag,inet,static,ADDR/MASK[,GW] | iftag,inet6,auto" },
	{ "-W twice for one family",
	  { "run", "kvm", "-I", "if0,vioif", "-W", "if0,inet,dhcp", "-W",
	    "if0,inet,static,1.2.3.4/8", "app" }, NULL,
	  "-W if0,inet,static,1.2.3.4/8: interface if0 already has an inet "
	  "configuration" },
	{ "-e without =", { "run", "kvm", "-e", "HOME", "app" }, NULL,
	  "-e HOME: must be NAME=VALUE" },
	{ "-N upper case", { "run", "kvm", "-N", "Web", "app" }, NULL,
	  "-N Web: the name must match [a-z0-9][a-z0-9_.-]{0,62}" },
	{ "-N not a hostname", { "run", "kvm", "-N", "web.1", "app" }, NULL,
	  "-N web.1: the name is also the guest's hostname, which must be "
	  "letters, digits and inner '-'" },
	{ "--platform against the word",
	  { "run", "kvm", "--platform", "xen", "app" }, NULL,
	  "--platform xen: conflicts with kvm given before" },
	{ "--platform bad", { "run", "--platform", "hw", "app" }, NULL,
	  "--platform hw: must be kvm or xen" },
	{ "--accel on xen", { "run", "xen", "--accel", "kvm", "app" }, NULL,
	  "--accel kvm: an accelerator is for kvm, not xen" },
	{ "--accel bad", { "run", "--accel", "hvf", "app" }, NULL,
	  "--accel hvf: must be kvm or tcg" },
	{ "--vcpus bad", { "run", "--vcpus", "0", "app" }, NULL,
	  "--vcpus 0: not a number of CPUs" },
	{ "--boot-timeout over", { "run", "--boot-timeout", "3601", "app" },
	  NULL, "--boot-timeout 3601: not a number of seconds from 0 (no "
	  "limit) to 3600" },
	{ "--boot-timeout negative", { "run", "--boot-timeout", "-1", "app" },
	  NULL, "--boot-timeout -1: not a number of seconds from 0 (no "
	  "limit) to 3600" },
	{ "--boot-timeout word", { "run", "--boot-timeout", "5s", "app" },
	  NULL, "--boot-timeout 5s: not a number of seconds from 0 (no "
	  "limit) to 3600" },
	{ "--restart bad", { "run", "--restart", "sometimes", "app" }, NULL,
	  "--restart sometimes: must be no, on-failure[:N], always or "
	  "unless-stopped" },
	{ "--restart always:3", { "run", "--restart", "always:3", "app" },
	  NULL, "--restart always:3: only on-failure takes a number of "
	  "retries" },
	{ "--restart on-failure:x", { "run", "--restart", "on-failure:x",
	  "app" }, NULL, "--restart on-failure:x: N must be a number of "
	  "retries from 0 (no limit) to 1000000" },
	{ "--restart-backoff without --restart",
	  { "run", "--restart-backoff", "1", "app" }, NULL,
	  "--restart-backoff and --restart-reset need --restart on-failure, "
	  "always or unless-stopped" },
	{ "--restart-backoff max < initial",
	  { "run", "--restart", "always", "--restart-backoff", "5:2", "app" },
	  NULL, "--restart-backoff 5:2: MAX must not be less than INITIAL" },
	{ "--restart with -p", { "run", "-p", "--restart", "always", "app" },
	  NULL, "--restart always: not with -p: each restart would wait "
	  "paused for a start" },
	{ "--restart with --rm", { "run", "--rm", "--restart", "always",
	  "app" }, NULL, "--restart always: not with -d or --rm: an instance "
	  "removed when it ends cannot be restarted" },
	{ "--label without =", { "run", "--label", "team", "app" }, NULL,
	  "--label team: must be KEY=VALUE" },
	{ "unknown option", { "run", "kvm", "-x", "app" }, NULL,
	  "unknown option -x" },
	{ "unknown long option", { "run", "kvm", "--memory=3", "app" }, NULL,
	  "unknown option --memory=3" },
	{ "missing option argument", { "run", "kvm", "-b" }, NULL,
	  "option -b needs an argument" },
	{ "missing long option argument", { "run", "kvm", "--label" }, NULL,
	  "option --label needs an argument" },
	{ "an image that does not exist",
	  { "run", "kvm", "missing.bin" }, NULL,
	  "missing.bin: No such file or directory" },
	{ "a disk that does not exist",
	  { "run", "kvm", "-b", "missing.img,/data", "app" }, NULL,
	  "-b missing.img: No such file or directory" },
};
/* clang-format on */

static int
count_args(const char *const *argv)
{
	int n = 0;

	while (n < MAXARGS && argv[n] != NULL)
		n++;
	return n;
}

/* The daemon's parser accepts req. */
static bool
daemon_accepts(const char *what, json_t *req)
{
	static const struct spec_policy trusted = { .trusted = true };
	struct spec *spec = NULL;
	struct rrerr err;

	if (spec_from_json(req, &trusted, &spec, &err) == -1) {
		print_error("%s: rumprund refuses the request: %s\n", what,
		    err.message);
		return false;
	}
	spec_free(spec);
	return true;
}

/* Run one case; false after printing the mismatch. */
static bool
check_case(const struct run_case *c)
{
	char *argv[MAXARGS + 1], err[512], *text;
	struct run_opts o;
	json_error_t jerr;
	json_t *got = NULL, *want = NULL;
	int argc, i, rv;
	bool ok = false;

	argc = count_args(c->argv);
	for (i = 0; i < argc; i++)
		argv[i] = strdup(c->argv[i]);
	argv[argc] = NULL;
	err[0] = '\0';
	rv = run_parse(argc, argv, &o, err, sizeof(err));
	if (rv == 0)
		got = run_request(&o, fake_resolve, NULL, err, sizeof(err));
	if (c->request != NULL) {
		want = json_loads(c->request, 0, &jerr);
		if (want == NULL)
			print_error("%s: the expected JSON is bad: %s\n",
			    c->what, jerr.text);
		else if (rv != 0 || got == NULL)
			print_error("%s: error \"%s\", expected a request\n",
			    c->what, err);
		else if (!json_equal(got, want)) {
			text = json_dumps(got, JSON_SORT_KEYS);
			print_error("%s:\n  got  %s\n", c->what, text);
			free(text);
			text = json_dumps(want, JSON_SORT_KEYS);
			print_error("  want %s\n", text);
			free(text);
		} else
			ok = daemon_accepts(c->what, got);
	} else if (rv == 0 && got != NULL) {
		text = json_dumps(got, JSON_SORT_KEYS);
		print_error("%s: expected error \"%s\", got %s\n", c->what,
		    c->error, text);
		free(text);
	} else if (strcmp(err, c->error) != 0)
		print_error("%s:\n  got error  \"%s\"\n  want error \"%s\"\n",
		    c->what, err, c->error);
	else
		ok = true;
	json_decref(want);
	json_decref(got);
	run_opts_free(&o);
	for (i = 0; i < argc; i++)
		free(argv[i]);
	return ok;
}

static void
test_cases(void **state)
{
	size_t i, failed = 0;

	(void)state;
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
		if (!check_case(&cases[i]))
			failed++;
	assert_int_equal(failed, 0);
}

/* The flags that are not in the request. */
static void
test_flags(void **state)
{
	char *argv[] = { "run", "kvm", "-i", "--dry-run", "app", "a", NULL };
	char *help[] = { "run", "-M", "8", "--help", "app", NULL };
	char *h[] = { "run", "kvm", "-h", NULL };
	struct run_opts o;
	char err[256];

	(void)state;
	assert_int_equal(run_parse(6, argv, &o, err, sizeof(err)), 0);
	assert_true(o.attach);
	assert_true(o.dry_run);
	assert_string_equal(o.image, "app");
	assert_int_equal(o.nargs, 1);
	assert_string_equal(o.args[0], "a");
	run_opts_free(&o);
	assert_int_equal(run_parse(5, help, &o, err, sizeof(err)), 1);
	run_opts_free(&o);
	assert_int_equal(run_parse(3, h, &o, err, sizeof(err)), 1);
	run_opts_free(&o);
}

/* The second NIC is index 1 of the request (upstream made it vioif2). */
static void
test_second_nic_index(void **state)
{
	char *argv[] = { "run", "kvm", "-I", "a,vioif,tap:t0", "-I",
		"b,vioif,tap:t1", "-W", "b,inet,dhcp", "app", NULL };
	struct run_opts o;
	char err[256];
	json_t *req, *nic;

	(void)state;
	assert_int_equal(run_parse(9, argv, &o, err, sizeof(err)), 0);
	req = run_request(&o, fake_resolve, NULL, err, sizeof(err));
	assert_non_null(req);
	assert_int_equal(json_array_size(json_object_get(req, "nics")), 2);
	nic = json_array_get(json_object_get(req, "nics"), 1);
	assert_string_equal(json_string_value(
				json_object_get(json_object_get(nic, "backend"),
				    "name")),
	    "t1");
	assert_non_null(json_object_get(nic, "inet"));
	assert_null(
	    json_object_get(json_array_get(json_object_get(req, "nics"), 0),
		"inet"));
	json_decref(req);
	run_opts_free(&o);
}

static void
test_default_name(void **state)
{
	static const struct {
		const char *image, *name;
	} t[] = {
		{ "hello.bin", "rumprun-hello.bin" },
		{ "bin/nginx", "rumprun-nginx" },
		{ "/srv/images/App_1.X", "rumprun-app_1.x" },
		{ "dir/", "rumprun-dir" },
		{ "a b/c d", "rumprun-c-d" },
		{ "caf\xc3\xa9", "rumprun-caf--" },
		/* 70 x: cut to 63 bytes in all. */
		{ "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx",
		    "rumprun-xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx" },
	};
	char buf[RUN_NAME_MAX + 1];
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
		run_default_name(t[i].image, buf, sizeof(buf));
		assert_string_equal(buf, t[i].name);
		assert_true(strlen(buf) <= RUN_NAME_MAX);
	}
}

/* The real resolver: realpath, absolute paths kept, relative ones not. */
static void
test_realpath(void **state)
{
	char *p;

	(void)state;
	p = run_realpath("/", NULL);
	assert_string_equal(p, "/");
	free(p);
	p = run_realpath("/no/such/rrctl/path", NULL);
	assert_string_equal(p, "/no/such/rrctl/path");
	free(p);
	errno = 0;
	assert_null(run_realpath("no-such-rrctl-file", NULL));
	assert_int_equal(errno, ENOENT);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_cases),
		cmocka_unit_test(test_flags),
		cmocka_unit_test(test_second_nic_index),
		cmocka_unit_test(test_default_name),
		cmocka_unit_test(test_realpath),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
