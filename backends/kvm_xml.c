/*
 * kvm_xml: the libvirt domain XML of a rumprun guest (see kvm_xml.h).
 *
 * The shape of the domain, and why:
 * - type 'kvm' or 'qemu' (TCG): the spec's accelerator, else the daemon's;
 * - the kernel is booted directly (<kernel>, <cmdline>: the guest
 *   configuration, which QEMU prefixes with "<kernel path> ") through
 *   SeaBIOS, or the firmware ROM the daemon names (qboot); SeaBIOS
 *   because a rumprun guest takes COM1's port from the BIOS data area
 *   (word 0x400) and uses it only when there is no CRTC (word 0x463 is
 *   0): SeaBIOS fills them in so, qboot leaves them 0 and the guest
 *   then writes only to VGA memory;
 * - nothing SeaBIOS would wait for: no boot menu, no option ROM on any
 *   NIC (iPXE's ROM and its boot prompt took seconds);
 * - no graphics and no video (<model type='none'/>): with a video card
 *   SeaBIOS reports a CRTC and rumprun writes to the screen only; COM1 is
 *   a pty whose output QEMU also appends to the console log
 *   (<log append='on'/>);
 * - never host-passthrough (QEMU aborts on these hosts), a named CPU model
 *   when the daemon sets one, with libvirt's CPU checks off;
 * - every lifecycle action is destroy: a rumprun guest that resets or
 *   powers off is finished;
 * - disks vda, vdb ... and NICs in request order: the guest numbers them
 *   ld0a, ld1a ... and vioif0, vioif1 ... by PCI slot, which libvirt
 *   assigns in document order;
 * - with fast_cpu_probe, <qemu:del capability='cpu-unavailable-features'/>
 *   stops libvirt from reading ~400 CPU properties back from QEMU on every
 *   start (~200 ms); libvirt then logs the domain as tainted.
 *
 * Text goes through text() and attribute values (always in single quotes)
 * through attr(); both refuse what XML 1.0 cannot carry (control
 * characters other than tab, newline and carriage return, and invalid
 * UTF-8) instead of letting libvirt fail on it.
 */
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kvm_xml.h"
#include "sbuf.h"

struct writer {
	struct sbuf sb;
	const char *bad;	/* what could not be written, or NULL */
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
	    (cp >= 0xd800 && cp <= 0xdfff) || cp > 0x10ffff ||
	    cp == 0xfffe || cp == 0xffff)
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
disks(struct writer *w, const struct spec *spec)
{
	char dev[8];
	size_t i;

	for (i = 0; i < spec->nblk; i++) {
		const struct spec_blk *b = &spec->blk[i];

		snprintf(dev, sizeof(dev), "vd%c", (char)('a' + i));
		sbuf_add(&w->sb, "    <disk type='file' device='disk'>\n");
		sbuf_add(&w->sb, "      <driver name='qemu' type='raw'/>\n");
		sbuf_add(&w->sb, "      <source");
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
kvm_xml_domain(const struct backend_launch *l,
    const struct backend_config *cfg, struct rrerr *err)
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
	element(&w, 4, "kernel", "image path", spec->image);
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
	disks(&w, spec);
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
		sbuf_add(&w.sb, "    <qemu:del"
		    " capability='cpu-unavailable-features'/>\n");
		sbuf_add(&w.sb, "  </qemu:capabilities>\n");
	}
	sbuf_add(&w.sb, "</domain>\n");

	if (w.bad != NULL) {
		sbuf_reset(&w.sb);
		rrerr_set(err, RRERR_INVALID, NULL,
		    "the %s has a byte XML cannot carry (a control character"
		    " or invalid UTF-8)", w.bad);
		return NULL;
	}
	xml = sbuf_finish(&w.sb);
	if (xml == NULL)
		rrerr_set(err, RRERR_INTERNAL, NULL, "out of memory");
	return xml;
}

/* Metadata parsing: a tiny reader of one start tag and its attributes. */

static bool
is_space(char c)
{
	return c == ' ' || c == '\t' || c == '\n' || c == '\r';
}

static bool
is_name_char(char c)
{
	return c != '\0' && !is_space(c) && c != '=' && c != '>' &&
	    c != '/' && c != '<' && c != '"' && c != '\'';
}

/* Append code point cp as UTF-8; false when it is not a character. */
static bool
put_utf8(char *out, size_t size, size_t *len, unsigned long cp)
{
	unsigned char b[4];
	size_t n, i;

	if (cp == 0 || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff))
		return false;
	if (cp < 0x80) {
		b[0] = (unsigned char)cp;
		n = 1;
	} else if (cp < 0x800) {
		b[0] = (unsigned char)(0xc0 | (cp >> 6));
		b[1] = (unsigned char)(0x80 | (cp & 0x3f));
		n = 2;
	} else if (cp < 0x10000) {
		b[0] = (unsigned char)(0xe0 | (cp >> 12));
		b[1] = (unsigned char)(0x80 | ((cp >> 6) & 0x3f));
		b[2] = (unsigned char)(0x80 | (cp & 0x3f));
		n = 3;
	} else {
		b[0] = (unsigned char)(0xf0 | (cp >> 18));
		b[1] = (unsigned char)(0x80 | ((cp >> 12) & 0x3f));
		b[2] = (unsigned char)(0x80 | ((cp >> 6) & 0x3f));
		b[3] = (unsigned char)(0x80 | (cp & 0x3f));
		n = 4;
	}
	if (*len + n >= size)
		return false;
	for (i = 0; i < n; i++)
		out[(*len)++] = (char)b[i];
	return true;
}

/*
 * Copy the attribute value v (n bytes, between its quotes) into out with
 * entities replaced.  False when it does not fit or has a bad entity.
 */
static bool
unescape(const char *v, size_t n, char *out, size_t size)
{
	static const struct {
		const char *name;
		char c;
	} ents[] = {
		{ "amp;", '&' }, { "lt;", '<' }, { "gt;", '>' },
		{ "quot;", '"' }, { "apos;", '\'' },
	};
	size_t i, k, len;

	len = 0;
	for (i = 0; i < n;) {
		if (v[i] != '&') {
			if (len + 1 >= size)
				return false;
			out[len++] = v[i++];
			continue;
		}
		i++;
		if (i < n && v[i] == '#') {
			unsigned long cp = 0;
			int base = 10, digits = 0;

			i++;
			if (i < n && v[i] == 'x') {
				base = 16;
				i++;
			}
			for (; i < n && v[i] != ';'; i++, digits++) {
				const char *hex = "0123456789abcdef";
				const char *d;
				char c = v[i];

				if (c >= 'A' && c <= 'F')
					c = (char)(c - 'A' + 'a');
				d = strchr(hex, c);
				if (c == '\0' || d == NULL || d - hex >= base ||
				    cp > 0x10ffff)
					return false;
				cp = cp * (unsigned long)base +
				    (unsigned long)(d - hex);
			}
			if (i >= n || digits == 0 ||
			    !put_utf8(out, size, &len, cp))
				return false;
			i++;
			continue;
		}
		for (k = 0; k < sizeof(ents) / sizeof(ents[0]); k++) {
			size_t el = strlen(ents[k].name);

			if (n - i >= el && memcmp(v + i, ents[k].name, el) == 0)
				break;
		}
		if (k == sizeof(ents) / sizeof(ents[0]) || len + 1 >= size)
			return false;
		out[len++] = ents[k].c;
		i += strlen(ents[k].name);
	}
	out[len] = '\0';
	return true;
}

int
kvm_xml_parse_metadata(const char *xml, struct kvm_xml_meta *out)
{
	const char *p, *name, *colon;
	char gen[16];
	bool have_owner = false, have_name = false, have_gen = false;
	size_t nlen;

	memset(out, 0, sizeof(*out));
	if (xml == NULL)
		return -1;
	p = xml;
	while (is_space(*p))
		p++;
	if (strncmp(p, "<?xml", 5) == 0) {
		p = strstr(p, "?>");
		if (p == NULL)
			return -1;
		p += 2;
		while (is_space(*p))
			p++;
	}
	if (*p++ != '<')
		return -1;
	/* The element's local name, after any prefix. */
	name = p;
	while (is_name_char(*p))
		p++;
	nlen = (size_t)(p - name);
	colon = memchr(name, ':', nlen);
	if (colon != NULL) {
		nlen -= (size_t)(colon + 1 - name);
		name = colon + 1;
	}
	if (nlen != strlen(KVM_XML_NS_ELEMENT) ||
	    memcmp(name, KVM_XML_NS_ELEMENT, nlen) != 0)
		return -1;

	for (;;) {
		const char *an, *v;
		size_t anlen;
		char q;

		while (is_space(*p))
			p++;
		if (*p == '/' || *p == '>')
			break;
		an = p;
		while (is_name_char(*p))
			p++;
		anlen = (size_t)(p - an);
		if (anlen == 0)
			return -1;
		while (is_space(*p))
			p++;
		if (*p++ != '=')
			return -1;
		while (is_space(*p))
			p++;
		q = *p++;
		if (q != '"' && q != '\'')
			return -1;
		v = p;
		p = strchr(p, q);
		if (p == NULL)
			return -1;

#define IS(s) (anlen == sizeof(s) - 1 && memcmp(an, s, anlen) == 0)
		if (IS("owner")) {
			if (!unescape(v, (size_t)(p - v), out->owner,
			    sizeof(out->owner)))
				return -1;
			have_owner = true;
		} else if (IS("name")) {
			if (!unescape(v, (size_t)(p - v), out->instance,
			    sizeof(out->instance)))
				return -1;
			have_name = true;
		} else if (IS("generation")) {
			char *end;
			unsigned long g;

			if (!unescape(v, (size_t)(p - v), gen, sizeof(gen)) ||
			    gen[0] < '0' || gen[0] > '9')
				return -1;
			g = strtoul(gen, &end, 10);
			if (*end != '\0' || g > 0xffffffffUL)
				return -1;
			out->generation = (unsigned int)g;
			have_gen = true;
		}
#undef IS
		p++;
	}
	if (!have_owner || !have_name || !have_gen)
		return -1;
	return 0;
}
