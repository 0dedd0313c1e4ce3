/*
 * kvm_xml: the libvirt domain XML of a rumprun guest (see kvm_xml.h).
 *
 * Pure: golden-tested (tests/golden/kvm/).  A launch's XML names no file
 * of the request (the disks are fd groups, the kernel rumprund's copy).
 * Text goes through text() and attribute values (always in single
 * quotes) through attr(); both refuse what XML 1.0 cannot carry instead
 * of letting libvirt fail on it.
 *
 * ARCHITECTURE.md, "The KVM domain", says what the domain is and why.
 */
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <libxml/parser.h>
#include <libxml/tree.h>

#include "kvm_xml.h"
#include "sbuf.h"

struct writer {
	struct sbuf sb;
	const char *bad; /* what could not be written, or NULL */
};

/*
 * Length of the valid UTF-8 sequence at s (1 to 4), or 0 when s does not
 * start one.  Overlong forms, surrogates and code points above U+10FFFF
 * are invalid, as in XML.
 */
static size_t
utf8_len(const unsigned char *s)
{
	uint32_t cp;
	size_t n, i;

	if (s[0] < 0x80)
		return 1;
	if (s[0] >= 0xc2 && s[0] <= 0xdf) {
		n = 2;
		cp = s[0] & 0x1f;
	} else if (s[0] >= 0xe0 && s[0] <= 0xef) {
		n = 3;
		cp = s[0] & 0x0f;
	} else if (s[0] >= 0xf0 && s[0] <= 0xf4) {
		n = 4;
		cp = s[0] & 0x07;
	} else
		return 0;
	for (i = 1; i < n; i++) {
		if ((s[i] & 0xc0) != 0x80)
			return 0;
		cp = (cp << 6) | (s[i] & 0x3f);
	}
	if ((n == 3 && cp < 0x800) || (n == 4 && cp < 0x10000) ||
	    (cp >= 0xd800 && cp <= 0xdfff) || cp > 0x10ffff || cp == 0xfffe ||
	    cp == 0xffff)
		return 0;
	return n;
}

/*
 * Append s escaped.  In text, only & < > need entities (and > only after
 * "]]", but always escaping it is simpler), and a carriage return must be
 * a character reference or the parser turns it into a newline.  In an
 * attribute, quotes are escaped too, and tab and newline, which the
 * parser would normalize to spaces.
 */
static void
escape(struct writer *w, const char *what, const char *s, bool in_attr)
{
	const unsigned char *p;
	size_t n;

	for (p = (const unsigned char *)s; *p != '\0'; p += n) {
		n = 1;
		switch (*p) {
		case '&':
			sbuf_add(&w->sb, "&amp;");
			continue;
		case '<':
			sbuf_add(&w->sb, "&lt;");
			continue;
		case '>':
			sbuf_add(&w->sb, "&gt;");
			continue;
		case '\r':
			sbuf_add(&w->sb, "&#13;");
			continue;
		case '"':
		case '\'':
		case '\t':
		case '\n':
			if (in_attr) {
				sbuf_addf(&w->sb, "&#%u;", *p);
				continue;
			}
			break;
		default:
			if (*p < 0x20) {
				if (w->bad == NULL)
					w->bad = what;
				return;
			}
			n = utf8_len(p);
			if (n == 0) {
				if (w->bad == NULL)
					w->bad = what;
				return;
			}
			break;
		}
		sbuf_addn(&w->sb, (const char *)p, n);
	}
}

/* Append <tag>text</tag> on its own line at indent spaces. */
static void
element(struct writer *w, int indent, const char *tag, const char *what,
    const char *text)
{
	sbuf_addf(&w->sb, "%*s<%s>", indent, "", tag);
	escape(w, what, text, false);
	sbuf_addf(&w->sb, "</%s>\n", tag);
}

/* Append " name='value'". */
static void
attr(struct writer *w, const char *name, const char *what, const char *value)
{
	sbuf_addf(&w->sb, " %s='", name);
	escape(w, what, value, true);
	sbuf_addc(&w->sb, '\'');
}

static const char *
domain_type(const struct backend_launch *l, const struct backend_config *cfg)
{
	enum spec_accel accel;

	accel = l->spec->accel;
	if (accel == SPEC_ACCEL_DEFAULT)
		accel = cfg->accel;
	return accel == SPEC_ACCEL_TCG ? "qemu" : "kvm";
}

static void
disks(struct writer *w, const struct backend_launch *l,
    const struct kvm_xml_files *files)
{
	const struct spec *spec = l->spec;
	char dev[8], name[BACKEND_DOMAIN_NAME_MAX + 16];
	size_t i;

	for (i = 0; i < spec->nblk; i++) {
		const struct spec_blk *b = &spec->blk[i];

		snprintf(dev, sizeof(dev), "vd%c", (char)('a' + i));
		sbuf_add(&w->sb, "    <disk type='file' device='disk'>\n");
		sbuf_add(&w->sb, "      <driver name='qemu' type='raw'/>\n");
		sbuf_add(&w->sb, "      <source");
		if (files != NULL) {
			snprintf(name, sizeof(name), "%s.blk%zu",
			    l->domain_name, i);
			sbuf_add(&w->sb, " file='");
			escape(w, "disk name", files->dir, true);
			sbuf_addc(&w->sb, '/');
			escape(w, "disk name", name, true);
			sbuf_addf(&w->sb, "' fdgroup='" KVM_XML_FDGROUP "%zu'",
			    i);
		} else
			attr(w, "file", "blk source", b->source);
		sbuf_add(&w->sb, "/>\n");
		sbuf_addf(&w->sb, "      <target dev='%s' bus='virtio'/>\n",
		    dev);
		if (b->readonly)
			sbuf_add(&w->sb, "      <readonly/>\n");
		sbuf_add(&w->sb, "    </disk>\n");
	}
}

static void
nics(struct writer *w, const struct backend_launch *l)
{
	const struct spec *spec = l->spec;
	size_t i;

	for (i = 0; i < spec->nnics; i++) {
		const struct spec_nic *nic = &spec->nics[i];
		const char *mac;

		mac = l->macs != NULL ? l->macs[i] : NULL;
		switch (nic->type) {
		case SPEC_NIC_TAP:
			sbuf_add(&w->sb, "    <interface type='ethernet'>\n");
			break;
		case SPEC_NIC_BRIDGE:
			sbuf_add(&w->sb, "    <interface type='bridge'>\n");
			break;
		case SPEC_NIC_NETWORK:
			sbuf_add(&w->sb, "    <interface type='network'>\n");
			break;
		}
		if (mac != NULL) {
			sbuf_add(&w->sb, "      <mac");
			attr(w, "address", "MAC address", mac);
			sbuf_add(&w->sb, "/>\n");
		}
		if (nic->type == SPEC_NIC_BRIDGE && nic->backend_name != NULL) {
			sbuf_add(&w->sb, "      <source");
			attr(w, "bridge", "bridge name", nic->backend_name);
			sbuf_add(&w->sb, "/>\n");
		} else if (nic->type == SPEC_NIC_NETWORK &&
		    nic->backend_name != NULL) {
			sbuf_add(&w->sb, "      <source");
			attr(w, "network", "network name", nic->backend_name);
			sbuf_add(&w->sb, "/>\n");
		} else if (nic->type == SPEC_NIC_TAP &&
		    nic->backend_name != NULL) {
			sbuf_add(&w->sb, "      <target");
			attr(w, "dev", "tap name", nic->backend_name);
			sbuf_add(&w->sb, "/>\n");
		}
		sbuf_add(&w->sb, "      <model type='virtio'/>\n");
		sbuf_add(&w->sb, "      <rom enabled='no'/>\n");
		sbuf_add(&w->sb, "    </interface>\n");
	}
}

char *
kvm_xml_domain(const struct backend_launch *l, const struct backend_config *cfg,
    struct rrerr *err)
{
	return kvm_xml_domain_files(l, cfg, NULL, err);
}

char *
kvm_xml_domain_files(const struct backend_launch *l,
    const struct backend_config *cfg, const struct kvm_xml_files *files,
    struct rrerr *err)
{
	struct writer w = { SBUF_INIT, NULL };
	const struct spec *spec = l->spec;
	char *xml;

	if (spec->platform != SPEC_PLATFORM_KVM) {
		rrerr_set(err, RRERR_INVALID, "platform",
		    "the kvm backend runs only kvm guests");
		return NULL;
	}
	if (spec->nblk > 26) {
		rrerr_set(err, RRERR_INVALID, "blk",
		    "at most 26 disks fit vda..vdz");
		return NULL;
	}
	if (spec->nnics > 0 && l->macs == NULL) {
		rrerr_set(err, RRERR_INTERNAL, NULL,
		    "no MAC addresses for the NICs");
		return NULL;
	}

	sbuf_addf(&w.sb, "<domain type='%s' xmlns:qemu='%s'>\n",
	    domain_type(l, cfg), KVM_XML_QEMU_NS_URI);
	element(&w, 2, "name", "domain name", l->domain_name);

	sbuf_add(&w.sb, "  <metadata>\n");
	sbuf_addf(&w.sb, "    <%s:%s xmlns:%s='%s'", KVM_XML_NS_PREFIX,
	    KVM_XML_NS_ELEMENT, KVM_XML_NS_PREFIX, KVM_XML_NS_URI);
	attr(&w, "owner", "owner", l->owner);
	attr(&w, "name", "instance name", spec->name);
	sbuf_addf(&w.sb, " generation='%u'/>\n", l->generation);
	sbuf_add(&w.sb, "  </metadata>\n");

	sbuf_addf(&w.sb, "  <memory unit='MiB'>%u</memory>\n",
	    spec->memory_mib);
	sbuf_addf(&w.sb, "  <vcpu>%u</vcpu>\n", spec->vcpus);

	sbuf_add(&w.sb, "  <os>\n");
	sbuf_add(&w.sb, "    <type arch='x86_64' machine='pc'>hvm</type>\n");
	if (cfg->firmware != NULL) {
		sbuf_add(&w.sb, "    <loader type='rom'>");
		escape(&w, "firmware path", cfg->firmware, false);
		sbuf_add(&w.sb, "</loader>\n");
	}
	element(&w, 4, "kernel", "image path",
	    files != NULL ? files->kernel : spec->image);
	element(&w, 4, "cmdline", "guest configuration",
	    l->guest_config != NULL ? l->guest_config : "");
	sbuf_add(&w.sb, "    <bootmenu enable='no'/>\n");
	sbuf_add(&w.sb, "  </os>\n");

	sbuf_add(&w.sb, "  <features>\n    <acpi/>\n  </features>\n");
	if (cfg->cpu_model != NULL) {
		sbuf_add(&w.sb,
		    "  <cpu mode='custom' match='exact' check='none'>\n");
		element(&w, 4, "model", "CPU model", cfg->cpu_model);
		sbuf_add(&w.sb, "  </cpu>\n");
	}
	sbuf_add(&w.sb, "  <on_poweroff>destroy</on_poweroff>\n");
	sbuf_add(&w.sb, "  <on_reboot>destroy</on_reboot>\n");
	sbuf_add(&w.sb, "  <on_crash>destroy</on_crash>\n");

	sbuf_add(&w.sb, "  <devices>\n");
	if (cfg->emulator != NULL)
		element(&w, 4, "emulator", "emulator path", cfg->emulator);
	disks(&w, l, files);
	sbuf_add(&w.sb, "    <controller type='usb' model='none'/>\n");
	nics(&w, l);
	sbuf_add(&w.sb, "    <serial type='pty'>\n");
	sbuf_add(&w.sb, "      <log");
	attr(&w, "file", "console log path", l->console_log);
	sbuf_add(&w.sb, " append='on'/>\n");
	sbuf_add(&w.sb, "      <target port='0'/>\n");
	sbuf_add(&w.sb, "    </serial>\n");
	sbuf_add(&w.sb, "    <console type='pty'>\n");
	sbuf_add(&w.sb, "      <target type='serial' port='0'/>\n");
	sbuf_add(&w.sb, "    </console>\n");
	sbuf_add(&w.sb, "    <video>\n");
	sbuf_add(&w.sb, "      <model type='none'/>\n");
	sbuf_add(&w.sb, "    </video>\n");
	sbuf_add(&w.sb, "    <memballoon model='none'/>\n");
	sbuf_add(&w.sb, "  </devices>\n");

	if (cfg->fast_cpu_probe) {
		sbuf_add(&w.sb, "  <qemu:capabilities>\n");
		sbuf_add(&w.sb,
		    "    <qemu:del"
		    " capability='cpu-unavailable-features'/>\n");
		sbuf_add(&w.sb, "  </qemu:capabilities>\n");
	}
	sbuf_add(&w.sb, "</domain>\n");

	if (w.bad != NULL) {
		sbuf_reset(&w.sb);
		rrerr_set(err, RRERR_INVALID, NULL,
		    "the %s has a byte XML cannot carry (a control character"
		    " or invalid UTF-8)",
		    w.bad);
		return NULL;
	}
	xml = sbuf_finish(&w.sb);
	if (xml == NULL)
		rrerr_set(err, RRERR_INTERNAL, NULL, "out of memory");
	return xml;
}

/*
 * Metadata parsing, by libxml2 (libvirt loads it into the process anyway):
 * entities, character references, quoting and namespace prefixes as XML
 * says, no network, no messages on stderr.
 */

/* The attribute name of node, its value copied to out; false if none. */
static bool
meta_attr(xmlNode *node, const char *name, char *out, size_t size)
{
	xmlChar *v;
	bool ok;

	if ((v = xmlGetNoNsProp(node, (const xmlChar *)name)) == NULL)
		return false;
	ok = strlen((const char *)v) < size;
	if (ok)
		snprintf(out, size, "%s", (const char *)v);
	xmlFree(v);
	return ok;
}

int
kvm_xml_parse_metadata(const char *xml, struct kvm_xml_meta *out)
{
	const char *local;
	xmlDoc *doc;
	xmlNode *root;
	char gen[16], *end;
	unsigned long g;
	int rv = -1;

	memset(out, 0, sizeof(*out));
	if (xml == NULL || *xml == '\0')
		return -1;
	doc = xmlReadMemory(xml, (int)strlen(xml), "metadata.xml", NULL,
	    XML_PARSE_NONET | XML_PARSE_NOERROR | XML_PARSE_NOWARNING);
	if (doc == NULL || (root = xmlDocGetRootElement(doc)) == NULL)
		goto cleanup;
	/* The local name, whatever prefix (an undeclared one keeps it). */
	local = strrchr((const char *)root->name, ':');
	local = local != NULL ? local + 1 : (const char *)root->name;
	if (strcmp(local, KVM_XML_NS_ELEMENT) != 0)
		goto cleanup;
	if (!meta_attr(root, "owner", out->owner, sizeof(out->owner)) ||
	    !meta_attr(root, "name", out->instance, sizeof(out->instance)) ||
	    !meta_attr(root, "generation", gen, sizeof(gen)) || gen[0] < '0' ||
	    gen[0] > '9')
		goto cleanup;
	g = strtoul(gen, &end, 10);
	if (*end != '\0' || g > 0xffffffffUL)
		goto cleanup;
	out->generation = (unsigned int)g;
	rv = 0;
cleanup:
	xmlFreeDoc(doc);
	if (rv == -1)
		memset(out, 0, sizeof(*out));
	return rv;
}
