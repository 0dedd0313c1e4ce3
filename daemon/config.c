/*
 * config: reading rumprund.conf (see config.h).
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include <linux/kvm.h>

#include "config.h"

enum kind {
	K_STRING, /* char *, NULL when empty */
	K_LIST,	  /* struct config_list */
	K_UINT,	  /* unsigned int */
	K_U64,	  /* uint64_t */
	K_BOOL,
	K_MODE, /* octal mode_t */
	K_ACCEL,
	K_BOOT_TIMEOUT, /* unsigned int, 0..SPEC_BOOT_TIMEOUT_MAX */
	K_PATH,		/* absolute path */
};

struct key {
	const char *name;
	enum kind kind;
	size_t off;
};

#define F(member) offsetof(struct config, member)
#define NKEYS	  (sizeof(keys) / sizeof(keys[0]))

/* Every key of rumprund.conf, documented in rumprund.8. */
static const struct key keys[] = {
	{ "socket", K_PATH, F(socket) },
	{ "socket_mode", K_MODE, F(socket_mode) },
	{ "socket_group", K_STRING, F(socket_group) },
	{ "tcp", K_STRING, F(tcp) },
	{ "tls_cert", K_PATH, F(tls_cert) },
	{ "tls_key", K_PATH, F(tls_key) },
	{ "tls_client_ca", K_PATH, F(tls_client_ca) },
	{ "token_file", K_PATH, F(token_file) },
	{ "tcp_insecure", K_BOOL, F(tcp_insecure) },
	{ "state_dir", K_PATH, F(state_dir) },
	{ "log_dir", K_PATH, F(log_dir) },
	{ "guest_dir", K_PATH, F(guest_dir) },
	{ "daemon_log", K_PATH, F(daemon_log) },
	{ "image_dir", K_LIST, F(image_dirs) },
	{ "volume_dir", K_LIST, F(volume_dirs) },
	{ "bridge", K_LIST, F(bridges) },
	{ "network", K_LIST, F(networks) },
	{ "libvirt_uri", K_STRING, F(libvirt_uri) },
	{ "accel", K_ACCEL, F(accel) },
	{ "cpu_model", K_STRING, F(cpu_model) },
	{ "firmware", K_STRING, F(firmware) },
	{ "fast_cpu_probe", K_BOOL, F(fast_cpu_probe) },
	{ "max_instances", K_UINT, F(max_instances) },
	{ "max_total_memory_mib", K_U64, F(max_total_memory_mib) },
	{ "max_memory_mib", K_UINT, F(max_memory_mib) },
	{ "max_vcpus", K_UINT, F(max_vcpus) },
	{ "console_log_max", K_U64, F(console_log_max) },
	{ "stop_timeout", K_UINT, F(stop_timeout) },
	{ "boot_timeout", K_BOOT_TIMEOUT, F(boot_timeout) },
	{ "store_dir", K_PATH, F(store_dir) },
	{ "store_max_size", K_U64, F(store_max_size) },
	{ "store_max_total", K_U64, F(store_max_total) },
	{ "boot_id_file", K_PATH, F(boot_id_file) },
};

_Static_assert(NKEYS <= CONFIG_KEYS_MAX, "struct config: lines[] too small");

static void
set_string(char **slot, const char *value)
{
	free(*slot);
	*slot = value != NULL && *value != '\0' ? strdup(value) : NULL;
}

void
config_defaults(struct config *cfg)
{
	memset(cfg, 0, sizeof(*cfg));
	set_string(&cfg->socket, CONFIG_DEFAULT_SOCKET);
	cfg->socket_mode = 0660;
	set_string(&cfg->state_dir, CONFIG_DEFAULT_STATE);
	set_string(&cfg->log_dir, CONFIG_DEFAULT_LOGS);
	set_string(&cfg->guest_dir, CONFIG_DEFAULT_GUESTS);
	set_string(&cfg->libvirt_uri, "qemu:///system");
	cfg->accel_auto = true;
	set_string(&cfg->firmware, "auto");
	cfg->fast_cpu_probe = true;
	cfg->max_instances = 1024;
	cfg->max_memory_mib = 4096;
	cfg->max_vcpus = 8;
	cfg->console_log_max = 8 * 1024 * 1024;
	cfg->stop_timeout = 0;
	cfg->boot_timeout = CONFIG_BOOT_TIMEOUT;
	cfg->store_max_size = CONFIG_STORE_MAX_SIZE;
	set_string(&cfg->boot_id_file, CONFIG_BOOT_ID_FILE);
}

static int
parse_u64(const char *s, uint64_t max, uint64_t *out)
{
	unsigned long long v;
	char *end;

	if (*s < '0' || *s > '9')
		return -1;
	errno = 0;
	v = strtoull(s, &end, 10);
	if (errno != 0 || *end != '\0' || v > max)
		return -1;
	*out = v;
	return 0;
}

/* Apply one key; returns NULL or the reason it is wrong. */
static const char *
apply(struct config *cfg, const struct key *k, const char *value)
{
	void *slot = (char *)cfg + k->off;
	struct config_list *list;
	uint64_t v;
	char *end;
	long mode;

	switch (k->kind) {
	case K_PATH:
		/* daemon_log = syslog: syslog(3) instead of a file. */
		if (*value != '/' && *value != '\0' &&
		    (strcmp(k->name, "daemon_log") != 0 ||
			strcmp(value, "syslog") != 0))
			return "must be an absolute path";
		/* FALLTHROUGH */
	case K_STRING:
		set_string(slot, value);
		return NULL;
	case K_LIST:
		list = slot;
		if (*value != '/' &&
		    (strcmp(k->name, "image_dir") == 0 ||
			strcmp(k->name, "volume_dir") == 0))
			return "must be an absolute path";
		if (list->n == CONFIG_LIST_MAX)
			return "too many entries";
		if ((list->items[list->n] = strdup(value)) == NULL)
			return "out of memory";
		list->items[++list->n] = NULL;
		return NULL;
	case K_UINT:
		if (parse_u64(value, UINT_MAX, &v) == -1)
			return "must be a whole number";
		*(unsigned int *)slot = (unsigned int)v;
		return NULL;
	case K_BOOT_TIMEOUT:
		if (parse_u64(value, SPEC_BOOT_TIMEOUT_MAX, &v) == -1)
			return "must be a whole number of seconds from 0 (no "
			       "limit) to 3600";
		*(unsigned int *)slot = (unsigned int)v;
		return NULL;
	case K_U64:
		if (parse_u64(value, UINT64_MAX, &v) == -1)
			return "must be a whole number";
		*(uint64_t *)slot = v;
		return NULL;
	case K_BOOL:
		if (strcmp(value, "yes") == 0 || strcmp(value, "true") == 0)
			*(bool *)slot = true;
		else if (strcmp(value, "no") == 0 ||
		    strcmp(value, "false") == 0)
			*(bool *)slot = false;
		else
			return "must be yes or no";
		return NULL;
	case K_MODE:
		errno = 0;
		mode = strtol(value, &end, 8);
		if (errno != 0 || *end != '\0' || mode < 0 || mode > 0777)
			return "must be an octal mode such as 0660";
		if (mode & 0007)
			return "must not give access to others (the socket "
			       "controls guests)";
		*(mode_t *)slot = (mode_t)mode;
		return NULL;
	case K_ACCEL:
		cfg->accel_auto = false;
		if (strcmp(value, "kvm") == 0)
			cfg->accel = SPEC_ACCEL_KVM;
		else if (strcmp(value, "tcg") == 0)
			cfg->accel = SPEC_ACCEL_TCG;
		else if (strcmp(value, "auto") == 0)
			cfg->accel_auto = true;
		else
			return "must be kvm, tcg or auto";
		return NULL;
	}
	return "unknown kind";
}

static char *
trim(char *s)
{
	char *end;

	while (*s == ' ' || *s == '\t')
		s++;
	end = s + strlen(s);
	while (end > s &&
	    (end[-1] == ' ' || end[-1] == '\t' || end[-1] == '\n' ||
		end[-1] == '\r'))
		*--end = '\0';
	return s;
}

int
config_load(struct config *cfg, const char *path, bool required,
    struct rrerr *err)
{
	char *line = NULL, *p, *eq, *key, *value;
	const char *why;
	size_t cap = 0, i;
	unsigned int lineno = 0;
	int rv = 0;
	FILE *f;

	if ((f = fopen(path, "re")) == NULL) {
		if (errno == ENOENT && !required)
			return 0;
		return rrerr_set(err, RRERR_INVALID, NULL, "%s: %s", path,
		    strerror(errno));
	}
	set_string(&cfg->path, path);
	memset(cfg->lines, 0, sizeof(cfg->lines));
	while (getline(&line, &cap, f) != -1) {
		lineno++;
		if ((p = strchr(line, '#')) != NULL)
			*p = '\0';
		p = trim(line);
		if (*p == '\0')
			continue;
		if ((eq = strchr(p, '=')) == NULL) {
			rv = rrerr_set(err, RRERR_INVALID, NULL,
			    "%s:%u: expected \"key = value\"", path, lineno);
			break;
		}
		*eq = '\0';
		key = trim(p);
		value = trim(eq + 1);
		for (i = 0; i < NKEYS; i++) {
			if (strcmp(keys[i].name, key) == 0)
				break;
		}
		if (i == NKEYS) {
			rv = rrerr_set(err, RRERR_INVALID, NULL,
			    "%s:%u: unknown key \"%s\"", path, lineno, key);
			break;
		}
		if ((why = apply(cfg, &keys[i], value)) != NULL) {
			rv = rrerr_set(err, RRERR_INVALID, NULL,
			    "%s:%u: %s: %s", path, lineno, key, why);
			break;
		}
		cfg->lines[i] = lineno;
	}
	free(line);
	fclose(f);
	return rv;
}

const char *
config_where(const struct config *cfg, const char *key, char *buf, size_t size)
{
	size_t i;

	for (i = 0; i < NKEYS; i++) {
		if (strcmp(keys[i].name, key) != 0)
			continue;
		if (cfg->path != NULL && cfg->lines[i] != 0) {
			snprintf(buf, size, "%s:%u: %s", cfg->path,
			    cfg->lines[i], key);
			return buf;
		}
		break;
	}
	snprintf(buf, size, "%s", key);
	return buf;
}

/* True when /dev/kvm answers the KVM API. */
static bool
kvm_usable(void)
{
	int fd, v;

	if ((fd = open("/dev/kvm", O_RDWR | O_CLOEXEC)) == -1)
		return false;
	v = ioctl(fd, KVM_GET_API_VERSION, 0);
	close(fd);
	return v == KVM_API_VERSION;
}

void
config_resolve(struct config *cfg)
{
	if (cfg->accel_auto)
		cfg->accel = kvm_usable() ? SPEC_ACCEL_KVM : SPEC_ACCEL_TCG;
	/*
	 * auto is SeaBIOS, QEMU's own: a rumprun guest takes its console
	 * port from the BIOS data area, which SeaBIOS fills in (COM1 at
	 * 0x3f8, no CRTC on a machine without video) and qboot leaves
	 * empty; under qboot a genuine guest runs but writes only to VGA
	 * memory.  qboot stays an explicit choice, for guests that do not
	 * read the BIOS data area.
	 */
	if (cfg->firmware != NULL &&
	    (strcmp(cfg->firmware, "auto") == 0 ||
		strcmp(cfg->firmware, "seabios") == 0))
		set_string(&cfg->firmware, NULL);
	else if (cfg->firmware != NULL && strcmp(cfg->firmware, "qboot") == 0)
		set_string(&cfg->firmware, CONFIG_QBOOT);
	/* The store lives beside the records unless the file says. */
	if (cfg->store_dir == NULL && cfg->state_dir != NULL &&
	    asprintf(&cfg->store_dir, "%s/" CONFIG_STORE_SUBDIR,
		cfg->state_dir) == -1)
		cfg->store_dir = NULL;
}

void
config_policy(const struct config *cfg, struct spec_policy *policy)
{
	memset(policy, 0, sizeof(*policy));
	policy->image_dirs = (const char *const *)cfg->image_dirs.items;
	policy->volume_dirs = (const char *const *)cfg->volume_dirs.items;
	policy->bridges = (const char *const *)cfg->bridges.items;
	policy->networks = (const char *const *)cfg->networks.items;
	policy->max_memory_mib = cfg->max_memory_mib;
	policy->max_vcpus = cfg->max_vcpus;
	policy->store_dir = cfg->store_dir;
}

static void
print_list(FILE *f, const char *key, const struct config_list *l)
{
	size_t i;

	if (l->n == 0)
		fprintf(f, "# %s: none\n", key);
	for (i = 0; i < l->n; i++)
		fprintf(f, "%s = %s\n", key, l->items[i]);
}

#define S(x) ((x) != NULL ? (x) : "")

void
config_print(const struct config *cfg, FILE *f)
{
	fprintf(f, "socket = %s\n", S(cfg->socket));
	fprintf(f, "socket_mode = %04o\n", (unsigned int)cfg->socket_mode);
	fprintf(f, "socket_group = %s\n", S(cfg->socket_group));
	fprintf(f, "tcp = %s\n", S(cfg->tcp));
	fprintf(f, "tls_cert = %s\n", S(cfg->tls_cert));
	fprintf(f, "tls_key = %s\n", S(cfg->tls_key));
	fprintf(f, "tls_client_ca = %s\n", S(cfg->tls_client_ca));
	fprintf(f, "token_file = %s\n", S(cfg->token_file));
	fprintf(f, "tcp_insecure = %s\n", cfg->tcp_insecure ? "yes" : "no");
	fprintf(f, "state_dir = %s\n", S(cfg->state_dir));
	fprintf(f, "log_dir = %s\n", S(cfg->log_dir));
	fprintf(f, "guest_dir = %s\n", S(cfg->guest_dir));
	fprintf(f, "daemon_log = %s\n", S(cfg->daemon_log));
	print_list(f, "image_dir", &cfg->image_dirs);
	print_list(f, "volume_dir", &cfg->volume_dirs);
	print_list(f, "bridge", &cfg->bridges);
	print_list(f, "network", &cfg->networks);
	fprintf(f, "libvirt_uri = %s\n", S(cfg->libvirt_uri));
	fprintf(f, "accel = %s\n",
	    cfg->accel == SPEC_ACCEL_TCG     ? "tcg" :
		cfg->accel == SPEC_ACCEL_KVM ? "kvm" :
					       "auto");
	fprintf(f, "cpu_model = %s\n", S(cfg->cpu_model));
	fprintf(f, "firmware = %s\n",
	    cfg->firmware != NULL ? cfg->firmware : "seabios");
	fprintf(f, "fast_cpu_probe = %s\n", cfg->fast_cpu_probe ? "yes" : "no");
	fprintf(f, "max_instances = %u\n", cfg->max_instances);
	fprintf(f, "max_total_memory_mib = %llu\n",
	    (unsigned long long)cfg->max_total_memory_mib);
	fprintf(f, "max_memory_mib = %u\n", cfg->max_memory_mib);
	fprintf(f, "max_vcpus = %u\n", cfg->max_vcpus);
	fprintf(f, "console_log_max = %llu\n",
	    (unsigned long long)cfg->console_log_max);
	fprintf(f, "stop_timeout = %u\n", cfg->stop_timeout);
	fprintf(f, "boot_timeout = %u\n", cfg->boot_timeout);
	fprintf(f, "store_dir = %s\n", S(cfg->store_dir));
	fprintf(f, "store_max_size = %llu\n",
	    (unsigned long long)cfg->store_max_size);
	fprintf(f, "store_max_total = %llu\n",
	    (unsigned long long)cfg->store_max_total);
	fprintf(f, "boot_id_file = %s\n", S(cfg->boot_id_file));
}

static void
free_list(struct config_list *l)
{
	size_t i;

	for (i = 0; i < l->n; i++)
		free(l->items[i]);
	l->n = 0;
	l->items[0] = NULL;
}

void
config_free(struct config *cfg)
{
	free(cfg->socket);
	free(cfg->socket_group);
	free(cfg->tcp);
	free(cfg->tls_cert);
	free(cfg->tls_key);
	free(cfg->tls_client_ca);
	free(cfg->token_file);
	free(cfg->path);
	free(cfg->state_dir);
	free(cfg->log_dir);
	free(cfg->guest_dir);
	free(cfg->daemon_log);
	free(cfg->boot_id_file);
	free_list(&cfg->image_dirs);
	free_list(&cfg->volume_dirs);
	free_list(&cfg->bridges);
	free_list(&cfg->networks);
	free(cfg->libvirt_uri);
	free(cfg->cpu_model);
	free(cfg->firmware);
	free(cfg->store_dir);
}
