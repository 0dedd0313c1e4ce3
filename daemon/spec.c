/*
 * spec: parsing, validating and printing the launch request (see spec.h).
 *
 * Validation is driven by tables, one per JSON object of the request: a
 * struct member names a field, the JSON types it accepts, whether it is
 * required, and the function that checks its value and stores it.  The walk
 * over the JSON (walk_object(), walk_array()) is kept apart from the
 * tables: it refuses unknown fields, wrong types and missing required
 * fields, so that a check function only ever sees a value of its type.
 *
 * Every error names the path of the field at fault ("nics[1].inet.addr",
 * "env.FOO", "argv[3]") in err->field and at the start of err->message.
 * Fields are checked in the order the request gives them; the first error
 * ends the walk.
 */
#include <sys/socket.h>
#include <sys/stat.h>
#include <netinet/in.h>
#include <arpa/inet.h>

#include <limits.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "paths.h"
#include "rrerr.h"
#include "imgstore.h"
#include "spec.h"

#define UNUSED __attribute__((__unused__))

/* The JSON types a member accepts, as a bit mask. */
#define T_STRING  0x01
#define T_INTEGER 0x02
#define T_BOOLEAN 0x04
#define T_OBJECT  0x08
#define T_ARRAY	  0x10

/* Character classes of the name patterns. */
#define LOWER "abcdefghijklmnopqrstuvwxyz"
#define UPPER "ABCDEFGHIJKLMNOPQRSTUVWXYZ"
#define DIGIT "0123456789"
#define ALNUM LOWER UPPER DIGIT

#define PATH_SIZE	  RRERR_FIELD_MAX
#define MOUNTPOINT_MAX	  255
#define MAC_LEN		  17   /* "52:54:00:12:34:56" */
#define POLICY_MEMORY_MIB 4096 /* when the policy says 0 */
#define POLICY_VCPUS	  8    /* when the policy says 0 */

/*
 * One walk over a request: what is allowed, where results and errors go,
 * and the platform the request is for, read before the walk (fields are
 * checked in the request's order, and some depend on the platform).
 */
struct walk {
	const struct spec_policy *policy;
	struct spec *spec;
	struct rrerr *err;
	enum spec_platform platform;
};

/*
 * One member of a JSON object, or the element of a JSON array.  check() is
 * called with the value (already of one of the types), the member's key
 * (NULL for array elements) and its path; it stores what it accepts into
 * target.  A table of members ends with a NULL name; the name "*" matches
 * every key (the objects whose keys are data: env, labels).
 */
struct member {
	const char *name;
	unsigned int types;
	bool required;
	int (*check)(struct walk *w, void *target, const char *key,
	    json_t *value, const char *path);
};

/* A keyword of the request and the enum value it stands for. */
struct keyword {
	const char *name;
	int value;
};

/* What a string may contain, besides what its own pattern says. */
enum charset {
	CHARS_PRINTABLE, /* no control characters (labels) */
	CHARS_GUEST,	 /* printable, no '"' or '\' */
	CHARS_ARGV,	 /* printable, no '\'' */
};

/* An address family of a NIC's "inet" and "inet6" objects. */
struct ipfamily {
	int af;
	const char *name; /* "IPv4" */
	unsigned int maxprefix;
	const struct keyword *methods;
	int method_static; /* the value of "static" in methods */
};

/*
 * An "inet" or "inet6" object being checked: the method found so far, and
 * where the address, prefix length and gateway go (fields of a spec_nic).
 */
struct ipconf {
	const struct ipfamily *family;
	int method;
	char **addr;
	unsigned int *prefixlen;
	char **gw;
};

static const struct keyword platforms[] = {
	{ "kvm", SPEC_PLATFORM_KVM },
	{ "xen", SPEC_PLATFORM_XEN },
	{ "iso", SPEC_PLATFORM_ISO },
	{ NULL, 0 },
};

static const struct keyword accels[] = {
	{ "kvm", SPEC_ACCEL_KVM },
	{ "tcg", SPEC_ACCEL_TCG },
	{ NULL, 0 },
};

static const struct keyword nic_types[] = {
	{ "tap", SPEC_NIC_TAP },
	{ "bridge", SPEC_NIC_BRIDGE },
	{ "network", SPEC_NIC_NETWORK },
	{ NULL, 0 },
};

static const struct keyword inet_methods[] = {
	{ "dhcp", SPEC_INET_DHCP },
	{ "static", SPEC_INET_STATIC },
	{ NULL, 0 },
};

static const struct keyword inet6_methods[] = {
	{ "auto", SPEC_INET6_AUTO },
	{ "static", SPEC_INET6_STATIC },
	{ NULL, 0 },
};

static const struct ipfamily ipv4 = { AF_INET, "IPv4", 32, inet_methods,
	SPEC_INET_STATIC };

static const struct ipfamily ipv6 = { AF_INET6, "IPv6", 128, inet6_methods,
	SPEC_INET6_STATIC };

/* The JSON type names of the T_ bits, for "must be ..." messages. */
static const struct keyword type_names[] = {
	{ "a string", T_STRING },
	{ "an integer", T_INTEGER },
	{ "a boolean", T_BOOLEAN },
	{ "an object", T_OBJECT },
	{ "an array", T_ARRAY },
	{ NULL, 0 },
};

/*
 * Errors.
 */

/*
 * Fail the walk: fill w->err with code, path as the field, and the message
 * "PATH: REASON".  Returns -1.
 */
static int fail(struct walk *w, enum rrerr_code code, const char *path,
    const char *fmt, ...) __attribute__((format(printf, 4, 5)));

static int
fail(struct walk *w, enum rrerr_code code, const char *path, const char *fmt,
    ...)
{
	char reason[RRERR_MESSAGE_MAX];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(reason, sizeof(reason), fmt, ap);
	va_end(ap);
	return rrerr_set(w->err, code, path, "%s: %s", path, reason);
}

#define invalid(w, path, ...) fail((w), RRERR_INVALID, (path), __VA_ARGS__)

static int
nomem(struct walk *w)
{
	return rrerr_set(w->err, RRERR_INTERNAL, NULL, "out of memory");
}

/* Write the path of member key of parent to buf (PATH_SIZE bytes). */
static void
path_key(char *buf, const char *parent, const char *key)
{
	char *p;

	snprintf(buf, PATH_SIZE, "%s%s%s", parent, parent[0] != '\0' ? "." : "",
	    key);
	/* Keys come from the caller: keep control characters out of logs. */
	for (p = buf; *p != '\0'; p++)
		if ((unsigned char)*p < 0x20 || *p == 0x7f)
			*p = '?';
}

/* Write the path of element i of parent to buf (PATH_SIZE bytes). */
static void
path_index(char *buf, const char *parent, size_t i)
{
	snprintf(buf, PATH_SIZE, "%s[%zu]", parent, i);
}

/* Fail with "PARENT.NAME: REASON" (a member that is not there). */
static int
member_error(struct walk *w, const char *parent, const char *name,
    const char *reason)
{
	char path[PATH_SIZE];

	path_key(path, parent, name);
	return invalid(w, path, "%s", reason);
}

/*
 * Small checks shared by the fields.
 */

/* Append word to the list in buf: "a", then "a or b", then "a, b or c". */
static void
list_add(char *buf, size_t size, const char *word, bool first, bool last)
{
	size_t len = strlen(buf);

	snprintf(buf + len, size - len, "%s%s",
	    first    ? "" :
		last ? " or " :
		       ", ",
	    word);
}

/*
 * True when s[0..len) is one character of first followed by characters of
 * rest, at most max in all.  s[len] must not be a character of rest.
 */
static bool
match(const char *s, size_t len, const char *first, const char *rest,
    size_t max)
{
	return len >= 1 && len <= max && s[0] != '\0' &&
	    strchr(first, s[0]) != NULL && strspn(s + 1, rest) == len - 1;
}

static int
check_chars(struct walk *w, const char *s, const char *path, enum charset cs)
{
	const unsigned char *p;

	for (p = (const unsigned char *)s; *p != '\0'; p++)
		if (*p < 0x20 || *p == 0x7f)
			return invalid(w, path, "contains a control character");
	if (cs == CHARS_GUEST && strpbrk(s, "\"\\") != NULL)
		return invalid(w, path,
		    "contains '\"' or '\\', which a "
		    "rumprun guest cannot receive");
	if (cs == CHARS_ARGV && strchr(s, '\'') != NULL)
		return invalid(w, path,
		    "contains a single quote, which a "
		    "rumprun guest cannot receive");
	return 0;
}

static unsigned int
kind_of(const json_t *value)
{
	switch (json_typeof(value)) {
	case JSON_STRING:
		return T_STRING;
	case JSON_INTEGER:
		return T_INTEGER;
	case JSON_TRUE:
	case JSON_FALSE:
		return T_BOOLEAN;
	case JSON_OBJECT:
		return T_OBJECT;
	case JSON_ARRAY:
		return T_ARRAY;
	default:
		return 0;
	}
}

/*
 * Refuse a value whose JSON type is not one of types, and a string with a
 * NUL inside (which C strings would silently cut).
 */
static int
check_type(struct walk *w, const json_t *value, unsigned int types,
    const char *path)
{
	char want[64] = "";
	const struct keyword *t;
	unsigned int bit;
	bool first = true;

	if ((kind_of(value) & types) != 0) {
		if (json_is_string(value) &&
		    strlen(json_string_value(value)) !=
			json_string_length(value))
			return invalid(w, path, "contains a control character");
		return 0;
	}
	/* type_names is in the order of the bits: stop "or" at the last. */
	for (t = type_names; t->name != NULL; t++) {
		bit = (unsigned int)t->value;
		if ((types & bit) == 0)
			continue;
		list_add(want, sizeof(want), t->name, first,
		    (types & ~((bit << 1) - 1)) == 0);
		first = false;
	}
	return invalid(w, path, "must be %s", want);
}

/* Look value up in kw and store its enum value in *out. */
static int
get_keyword(struct walk *w, const json_t *value, const char *path,
    const struct keyword *kw, int *out)
{
	char want[128] = "", quoted[32];
	const char *s = json_string_value(value);
	size_t i;

	for (i = 0; kw[i].name != NULL; i++)
		if (strcmp(s, kw[i].name) == 0) {
			*out = kw[i].value;
			return 0;
		}
	for (i = 0; kw[i].name != NULL; i++) {
		snprintf(quoted, sizeof(quoted), "\"%s\"", kw[i].name);
		list_add(want, sizeof(want), quoted, i == 0,
		    kw[i + 1].name == NULL);
	}
	return invalid(w, path, "must be %s", want);
}

/* The keyword of enum value in kw, or NULL. */
static const char *
keyword_name(const struct keyword *kw, int value)
{
	for (; kw->name != NULL; kw++)
		if (kw->value == value)
			return kw->name;
	return NULL;
}

static int
get_range(struct walk *w, const json_t *value, const char *path,
    unsigned int min, unsigned int max, unsigned int *out)
{
	json_int_t n = json_integer_value(value);

	if (n < (json_int_t)min || n > (json_int_t)max)
		return invalid(w, path, "must be between %u and %u", min, max);
	*out = (unsigned int)n;
	return 0;
}

/* Store a copy of s in *out. */
static int
keep(struct walk *w, const char *s, char **out)
{
	if ((*out = strdup(s)) == NULL)
		return nomem(w);
	return 0;
}

/* Refuse a string longer than max bytes. */
static int
check_length(struct walk *w, const char *s, const char *path, size_t max)
{
	if (strlen(s) > max)
		return invalid(w, path, "must be at most %zu bytes", max);
	return 0;
}

/* Refuse more than max entries. */
static int
check_count(struct walk *w, size_t n, const char *path, size_t max)
{
	if (n > max)
		return invalid(w, path, "must have at most %zu entries", max);
	return 0;
}

/*
 * Allocate room for n entries of size bytes (at least one, so that NULL
 * always means out of memory).
 */
static void *
alloc_entries(struct walk *w, size_t n, size_t size)
{
	void *p;

	if ((p = calloc(n > 0 ? n : 1, size)) == NULL)
		nomem(w);
	return p;
}

static bool
listed(const char *const *list, const char *name)
{
	for (; list != NULL && *list != NULL; list++)
		if (strcmp(*list, name) == 0)
			return true;
	return false;
}

/*
 * The walk.
 */

static const struct member *
find_member(const struct member *table, const char *key)
{
	for (; table->name != NULL; table++)
		if (strcmp(table->name, key) == 0 ||
		    strcmp(table->name, "*") == 0)
			return table;
	return NULL;
}

/* Check value as m says, after its type. */
static int
walk_value(struct walk *w, void *target, const struct member *m,
    const char *key, json_t *value, const char *path)
{
	if (check_type(w, value, m->types, path) == -1)
		return -1;
	return m->check(w, target, key, value, path);
}

/* Check every member of object against table, in the object's order. */
static int
walk_object(struct walk *w, void *target, json_t *object, const char *path,
    const struct member *table)
{
	char sub[PATH_SIZE];
	const struct member *m;
	const char *key;
	size_t keylen;
	json_t *value;

	json_object_keylen_foreach(object, key, keylen, value) {
		path_key(sub, path, key);
		if (strlen(key) != keylen)
			return invalid(w, sub, "contains a control character");
		if ((m = find_member(table, key)) == NULL)
			return invalid(w, sub, "unknown field");
		if (walk_value(w, target, m, key, value, sub) == -1)
			return -1;
	}
	for (m = table; m->name != NULL; m++)
		if (m->required && json_object_get(object, m->name) == NULL)
			return member_error(w, path, m->name, "required");
	return 0;
}

/* Check every element of array as element says, at most max of them. */
static int
walk_array(struct walk *w, void *target, json_t *array, const char *path,
    size_t max, const struct member *element)
{
	char sub[PATH_SIZE];
	json_t *value;
	size_t i;

	if (check_count(w, json_array_size(array), path, max) == -1)
		return -1;
	json_array_foreach(array, i, value) {
		path_index(sub, path, i);
		if (walk_value(w, target, element, NULL, value, sub) == -1)
			return -1;
	}
	return 0;
}

/*
 * Top-level fields.  Their target is the struct spec.
 */

static int
check_name(struct walk *w, void *target, UNUSED const char *key, json_t *value,
    const char *path)
{
	struct spec *spec = target;
	const char *s = json_string_value(value);

	if (!match(s, strlen(s), LOWER DIGIT, LOWER DIGIT "_.-", SPEC_NAME_MAX))
		return invalid(w, path,
		    "must be 1 to %d characters of a-z, "
		    "0-9, '_', '.' and '-', starting with a letter or a digit",
		    SPEC_NAME_MAX);
	return keep(w, s, &spec->name);
}

static int
check_platform(struct walk *w, void *target, UNUSED const char *key,
    json_t *value, const char *path)
{
	struct spec *spec = target;
	int v = 0;

	if (get_keyword(w, value, path, platforms, &v) == -1)
		return -1;
	spec->platform = (enum spec_platform)v;
	return 0;
}

/*
 * A host path of the request, confined to dirs; a trusted record's path is
 * kept as it is (it was confined when the request first came).
 */
static int
confine(struct walk *w, json_t *value, const char *const *dirs,
    enum paths_kind kind, const char *path, char **out)
{
	const char *s = json_string_value(value);

	if (w->policy->trusted) {
		if (s[0] != '/')
			return invalid(w, path, "must be an absolute path");
		return keep(w, s, out);
	}
	return paths_confine(s, dirs, kind, path, out, w->err);
}

/*
 * A reference to the store ("store:NAME" for an image, "volume:NAME" for
 * a block device): kept as it is once its name is a store name and, for a
 * new request, the store has it.  Each launch resolves it again (paths.c).
 */
static int
check_store_ref(struct walk *w, const char *s, enum imgstore_kind kind,
    const char *path, char **out)
{
	const char *name = imgstore_ref_name(s, kind);
	const char *what = imgstore_kind_name(kind);

	if (!imgstore_name_ok(name))
		return invalid(w, path,
		    "%s: a stored %s's name is 1 to %d "
		    "characters of a-z, 0-9, '_', '.' and '-', starting with "
		    "a letter or a digit",
		    s, what, IMGSTORE_NAME_MAX);
	if (!w->policy->trusted && w->policy->store_dir == NULL)
		return invalid(w, path, "this rumprund has no image store");
	if (!w->policy->trusted &&
	    !imgstore_exists(w->policy->store_dir, kind, name))
		return invalid(w, path,
		    "no stored %s %s (GET /v1/%ss lists them)", what, name,
		    what);
	return keep(w, s, out);
}

static int
check_image(struct walk *w, void *target, UNUSED const char *key, json_t *value,
    const char *path)
{
	struct spec *spec = target;
	const char *s = json_string_value(value);

	if (imgstore_ref_name(s, IMGSTORE_IMAGE) != NULL)
		return check_store_ref(w, s, IMGSTORE_IMAGE, path,
		    &spec->image);
	return confine(w, value, w->policy->image_dirs, PATHS_REGULAR, path,
	    &spec->image);
}

static unsigned int
max_memory(const struct spec_policy *policy)
{
	if (policy->trusted)
		return UINT_MAX;
	return policy->max_memory_mib != 0 ? policy->max_memory_mib :
					     POLICY_MEMORY_MIB;
}

static unsigned int
max_vcpus(const struct spec_policy *policy)
{
	if (policy->trusted)
		return UINT_MAX;
	return policy->max_vcpus != 0 ? policy->max_vcpus : POLICY_VCPUS;
}

/* Refuse a field that has no meaning in an ISO image, saying why. */
static int
not_iso(struct walk *w, const char *path, const char *why)
{
	if (w->platform != SPEC_PLATFORM_ISO)
		return 0;
	return invalid(w, path, "not for platform iso: %s", why);
}

static int
check_memory(struct walk *w, void *target, UNUSED const char *key,
    json_t *value, const char *path)
{
	struct spec *spec = target;

	if (not_iso(w, path, "the guest has the machine's memory") == -1)
		return -1;
	return get_range(w, value, path, SPEC_MEMORY_MIN_MIB,
	    max_memory(w->policy), &spec->memory_mib);
}

static int
check_vcpus(struct walk *w, void *target, UNUSED const char *key, json_t *value,
    const char *path)
{
	struct spec *spec = target;

	if (not_iso(w, path, "the guest has the machine's processors") == -1)
		return -1;
	return get_range(w, value, path, 1, max_vcpus(w->policy), &spec->vcpus);
}

/*
 * Check s as the next argument and append a copy to spec->argv, which
 * the caller made room in.
 */
static int
add_arg(struct walk *w, struct spec *spec, const char *s, const char *path)
{
	if (check_length(w, s, path, SPEC_ARG_LEN_MAX) == -1 ||
	    check_chars(w, s, path, CHARS_ARGV) == -1)
		return -1;
	if (spec->argc == 0 && s[0] == '\0')
		return invalid(w, path, "must not be empty");
	if (keep(w, s, &spec->argv[spec->argc]) == -1)
		return -1;
	spec->argc++;
	return 0;
}

static int
check_arg(struct walk *w, void *target, UNUSED const char *key, json_t *value,
    const char *path)
{
	return add_arg(w, target, json_string_value(value), path);
}

static const struct member argv_entry = { NULL, T_STRING, false, check_arg };

static int
check_argv(struct walk *w, void *target, UNUSED const char *key, json_t *value,
    const char *path)
{
	struct spec *spec = target;

	if ((spec->argv = alloc_entries(w, json_array_size(value),
		 sizeof(*spec->argv))) == NULL)
		return -1;
	return walk_array(w, spec, value, path, SPEC_ARGS_MAX, &argv_entry);
}

/*
 * Check the variable name (namelen bytes at the start of name) and value,
 * and append "NAME=VALUE" to spec->env.
 */
static int
add_env(struct walk *w, struct spec *spec, const char *name, size_t namelen,
    const char *value, const char *path)
{
	char *entry;
	size_t i, len;

	if (!match(name, namelen, UPPER LOWER "_", ALNUM "_", SIZE_MAX))
		return invalid(w, path,
		    "not a valid variable name ([A-Za-z_][A-Za-z0-9_]*)");
	len = namelen + 1 + strlen(value);
	if (len > SPEC_ENV_LEN_MAX)
		return invalid(w, path, "NAME=VALUE must be at most %d bytes",
		    SPEC_ENV_LEN_MAX);
	if (check_chars(w, value, path, CHARS_GUEST) == -1)
		return -1;
	for (i = 0; i < spec->nenv; i++)
		if (strncmp(spec->env[i], name, namelen) == 0 &&
		    spec->env[i][namelen] == '=')
			return invalid(w, path, "%.*s is given twice",
			    (int)namelen, name);
	if ((entry = malloc(len + 1)) == NULL)
		return nomem(w);
	snprintf(entry, len + 1, "%.*s=%s", (int)namelen, name, value);
	spec->env[spec->nenv++] = entry;
	return 0;
}

/* An entry of env as an object: "NAME": "VALUE". */
static int
check_env_var(struct walk *w, void *target, const char *key, json_t *value,
    const char *path)
{
	return add_env(w, target, key, strlen(key), json_string_value(value),
	    path);
}

/* An entry of env as an array: "NAME=VALUE". */
static int
check_env_entry(struct walk *w, void *target, UNUSED const char *key,
    json_t *value, const char *path)
{
	const char *s = json_string_value(value), *eq;

	if ((eq = strchr(s, '=')) == NULL)
		return invalid(w, path, "must be NAME=VALUE");
	return add_env(w, target, s, (size_t)(eq - s), eq + 1, path);
}

static const struct member env_members[] = {
	{ "*", T_STRING, false, check_env_var },
	{ NULL, 0, false, NULL },
};

static const struct member env_entry = { NULL, T_STRING, false,
	check_env_entry };

static int
check_env(struct walk *w, void *target, UNUSED const char *key, json_t *value,
    const char *path)
{
	struct spec *spec = target;
	size_t n;

	n = json_is_object(value) ? json_object_size(value) :
				    json_array_size(value);
	if (check_count(w, n, path, SPEC_ENV_MAX) == -1)
		return -1;
	if ((spec->env = alloc_entries(w, n, sizeof(*spec->env))) == NULL)
		return -1;
	if (json_is_array(value))
		return walk_array(w, spec, value, path, SPEC_ENV_MAX,
		    &env_entry);
	return walk_object(w, spec, value, path, env_members);
}

static int
check_hostname(struct walk *w, void *target, UNUSED const char *key,
    json_t *value, const char *path)
{
	struct spec *spec = target;
	const char *s = json_string_value(value);
	size_t len = strlen(s);

	if (check_chars(w, s, path, CHARS_GUEST) == -1)
		return -1;
	if (!match(s, len, ALNUM, ALNUM "-", SPEC_HOSTNAME_MAX) ||
	    s[len - 1] == '-')
		return invalid(w, path,
		    "must be 1 to %d letters, digits and "
		    "'-', starting and ending with a letter or a digit",
		    SPEC_HOSTNAME_MAX);
	return keep(w, s, &spec->hostname);
}

static int
check_label(struct walk *w, void *target, const char *key, json_t *value,
    const char *path)
{
	struct spec *spec = target;
	struct spec_label *label;
	const char *s = json_string_value(value);

	if (!match(key, strlen(key), ALNUM, ALNUM "._/-", SPEC_LABEL_KEY_MAX))
		return invalid(w, path,
		    "not a valid label key (1 to %d "
		    "characters of A-Z, a-z, 0-9, '.', '_', '/' and '-', "
		    "starting with a letter or a digit)",
		    SPEC_LABEL_KEY_MAX);
	if (check_length(w, s, path, SPEC_LABEL_VALUE_MAX) == -1 ||
	    check_chars(w, s, path, CHARS_PRINTABLE) == -1)
		return -1;
	label = &spec->labels[spec->nlabels++];
	if (keep(w, key, &label->key) == -1)
		return -1;
	return keep(w, s, &label->value);
}

static const struct member label_members[] = {
	{ "*", T_STRING, false, check_label },
	{ NULL, 0, false, NULL },
};

static int
check_labels(struct walk *w, void *target, UNUSED const char *key,
    json_t *value, const char *path)
{
	struct spec *spec = target;
	size_t n = json_object_size(value);

	if (check_count(w, n, path, SPEC_LABELS_MAX) == -1)
		return -1;
	if ((spec->labels = alloc_entries(w, n, sizeof(*spec->labels))) == NULL)
		return -1;
	return walk_object(w, spec, value, path, label_members);
}

/*
 * Block devices.  The target of a member is the struct spec_blk, the last
 * one of w->spec->blk; those before it are complete.
 */

static int
check_source(struct walk *w, void *target, UNUSED const char *key,
    json_t *value, const char *path)
{
	struct spec_blk *blk = target, *b;
	const char *s = json_string_value(value);

	if (imgstore_ref_name(s, IMGSTORE_VOLUME) != NULL) {
		if (check_store_ref(w, s, IMGSTORE_VOLUME, path,
			&blk->source) == -1)
			return -1;
	} else if (confine(w, value, w->policy->volume_dirs,
		       PATHS_REGULAR_OR_BLOCK, path, &blk->source) == -1)
		return -1;
	for (b = w->spec->blk; b < blk; b++)
		if (strcmp(b->source, blk->source) == 0)
			return invalid(w, path,
			    "is the same file as blk[%zu].source",
			    (size_t)(b - w->spec->blk));
	return 0;
}

/* Why s is not a mount point, or NULL when it is one. */
static const char *
mountpoint_error(const char *s)
{
	const char *p, *end;

	if (s[0] != '/')
		return "must be an absolute path";
	/* Each component runs from p (after a '/') to end. */
	for (p = s + 1;; p = end + 1) {
		end = p + strspn(p, ALNUM "_.+-");
		if (end == p || (*end != '\0' && *end != '/'))
			return "must be made of '/' and letters, digits, '_', "
			       "'.', '+' and '-', without an empty component";
		if (p[0] == '.' &&
		    (end - p == 1 || (end - p == 2 && p[1] == '.')))
			return "must not have a '.' or '..' component";
		if (*end == '\0')
			return NULL;
	}
}

static int
check_mountpoint(struct walk *w, void *target, UNUSED const char *key,
    json_t *value, const char *path)
{
	struct spec_blk *blk = target, *b;
	const char *s = json_string_value(value), *why;

	if (check_chars(w, s, path, CHARS_GUEST) == -1 ||
	    check_length(w, s, path, MOUNTPOINT_MAX) == -1)
		return -1;
	if ((why = mountpoint_error(s)) != NULL)
		return invalid(w, path, "%s", why);
	for (b = w->spec->blk; b < blk; b++)
		if (b->mountpoint != NULL && strcmp(b->mountpoint, s) == 0)
			return invalid(w, path,
			    "is the same mount point as blk[%zu].mountpoint",
			    (size_t)(b - w->spec->blk));
	return keep(w, s, &blk->mountpoint);
}

static int
check_readonly(UNUSED struct walk *w, void *target, UNUSED const char *key,
    json_t *value, UNUSED const char *path)
{
	struct spec_blk *blk = target;

	blk->readonly = json_is_true(value);
	return 0;
}

static int
check_copy(UNUSED struct walk *w, void *target, UNUSED const char *key,
    json_t *value, UNUSED const char *path)
{
	struct spec_blk *blk = target;

	blk->copy = json_is_true(value);
	return 0;
}

static const struct member blk_members[] = {
	{ "source", T_STRING, true, check_source },
	{ "mountpoint", T_STRING, false, check_mountpoint },
	{ "readonly", T_BOOLEAN, false, check_readonly },
	{ "copy", T_BOOLEAN, false, check_copy },
	{ NULL, 0, false, NULL },
};

static int
check_blk_entry(struct walk *w, void *target, UNUSED const char *key,
    json_t *value, const char *path)
{
	struct spec *spec = target;
	struct spec_blk *blk = &spec->blk[spec->nblk++];
	char sub[RRERR_FIELD_MAX];

	if (walk_object(w, blk, value, path, blk_members) == -1)
		return -1;
	if (!blk->copy)
		return 0;
	snprintf(sub, sizeof(sub), "%s.copy", path);
	if (imgstore_ref_name(blk->source, IMGSTORE_VOLUME) == NULL)
		return invalid(w, sub,
		    "only a stored volume (\"source\": "
		    "\"volume:NAME\") is copied for an instance");
	if (blk->readonly)
		return invalid(w, sub,
		    "an instance's copy is writable: "
		    "readonly and copy do not go together");
	return 0;
}

static const struct member blk_entry = { NULL, T_OBJECT, false,
	check_blk_entry };

static int
check_blks(struct walk *w, void *target, UNUSED const char *key, json_t *value,
    const char *path)
{
	struct spec *spec = target;

	if ((spec->blk = alloc_entries(w, json_array_size(value),
		 sizeof(*spec->blk))) == NULL)
		return -1;
	return walk_array(w, spec, value, path, SPEC_BLK_MAX, &blk_entry);
}

/*
 * NIC addresses, IPv4 and IPv6 alike.  The target of a member is the
 * struct ipconf.
 */

/* Parse address s of family into its canonical text form out. */
static bool
parse_addr(const struct ipfamily *family, const char *s,
    char out[INET6_ADDRSTRLEN])
{
	unsigned char bin[sizeof(struct in6_addr)];

	return inet_pton(family->af, s, bin) == 1 &&
	    inet_ntop(family->af, bin, out, INET6_ADDRSTRLEN) != NULL;
}

static int
check_ip_method(struct walk *w, void *target, UNUSED const char *key,
    json_t *value, const char *path)
{
	struct ipconf *conf = target;

	return get_keyword(w, value, path, conf->family->methods,
	    &conf->method);
}

static int
check_ip_addr(struct walk *w, void *target, UNUSED const char *key,
    json_t *value, const char *path)
{
	struct ipconf *conf = target;
	const struct ipfamily *family = conf->family;
	const char *s = json_string_value(value), *slash;
	char head[INET6_ADDRSTRLEN], canon[INET6_ADDRSTRLEN];
	size_t n;
	unsigned long prefix;

	if (check_chars(w, s, path, CHARS_GUEST) == -1)
		return -1;
	slash = strrchr(s, '/');
	n = slash != NULL ? (size_t)(slash - s) : 0;
	if (slash == NULL || n >= sizeof(head) || slash[1] == '\0' ||
	    strspn(slash + 1, DIGIT) != strlen(slash + 1) ||
	    strlen(slash + 1) > 3)
		return invalid(w, path, "not an %s CIDR", family->name);
	memcpy(head, s, n);
	head[n] = '\0';
	if (!parse_addr(family, head, canon))
		return invalid(w, path, "not an %s CIDR", family->name);
	prefix = strtoul(slash + 1, NULL, 10);
	if (prefix < 1 || prefix > family->maxprefix)
		return invalid(w, path,
		    "prefix length must be between 1 and %u",
		    family->maxprefix);
	*conf->prefixlen = (unsigned int)prefix;
	return keep(w, canon, conf->addr);
}

static int
check_ip_gw(struct walk *w, void *target, UNUSED const char *key, json_t *value,
    const char *path)
{
	struct ipconf *conf = target;
	const char *s = json_string_value(value);
	char canon[INET6_ADDRSTRLEN];

	if (check_chars(w, s, path, CHARS_GUEST) == -1)
		return -1;
	if (!parse_addr(conf->family, s, canon))
		return invalid(w, path, "not an %s address",
		    conf->family->name);
	return keep(w, canon, conf->gw);
}

static const struct member ip_members[] = {
	{ "method", T_STRING, true, check_ip_method },
	{ "addr", T_STRING, false, check_ip_addr },
	{ "gw", T_STRING, false, check_ip_gw },
	{ NULL, 0, false, NULL },
};

/* Check an "inet" or "inet6" object as conf says; addr and gw go there. */
static int
check_ip(struct walk *w, struct ipconf *conf, json_t *value, const char *path)
{
	bool is_static;

	if (walk_object(w, conf, value, path, ip_members) == -1)
		return -1;
	is_static = conf->method == conf->family->method_static;
	if (is_static && *conf->addr == NULL)
		return member_error(w, path, "addr",
		    "required for method static");
	if (!is_static && *conf->addr != NULL)
		return member_error(w, path, "addr", "only with method static");
	if (!is_static && *conf->gw != NULL)
		return member_error(w, path, "gw", "only with method static");
	return 0;
}

/*
 * NICs.  The target of a member is the struct spec_nic, the last one of
 * w->spec->nics; those before it are complete.
 */

static int
check_inet(struct walk *w, void *target, UNUSED const char *key, json_t *value,
    const char *path)
{
	struct spec_nic *nic = target;
	struct ipconf conf = { &ipv4, SPEC_INET_NONE, &nic->addr,
		&nic->prefixlen, &nic->gw };

	if (check_ip(w, &conf, value, path) == -1)
		return -1;
	nic->inet = (enum spec_inet)conf.method;
	return 0;
}

static int
check_inet6(struct walk *w, void *target, UNUSED const char *key, json_t *value,
    const char *path)
{
	struct spec_nic *nic = target;
	struct ipconf conf = { &ipv6, SPEC_INET6_NONE, &nic->addr6,
		&nic->prefixlen6, &nic->gw6 };

	if (check_ip(w, &conf, value, path) == -1)
		return -1;
	nic->inet6 = (enum spec_inet6)conf.method;
	return 0;
}

static int
check_nic_type(struct walk *w, void *target, UNUSED const char *key,
    json_t *value, const char *path)
{
	struct spec_nic *nic = target;
	int v = 0;

	if (get_keyword(w, value, path, nic_types, &v) == -1)
		return -1;
	nic->type = (enum spec_nic_type)v;
	return 0;
}

static int
check_nic_name(struct walk *w, void *target, UNUSED const char *key,
    json_t *value, const char *path)
{
	struct spec_nic *nic = target;
	const char *s = json_string_value(value);

	if (!match(s, strlen(s), ALNUM "_.-", ALNUM "_.-", SPEC_IFNAME_MAX))
		return invalid(w, path,
		    "must be 1 to %d letters, digits, '_', '.' and '-'",
		    SPEC_IFNAME_MAX);
	return keep(w, s, &nic->backend_name);
}

static const struct member backend_members[] = {
	{ "type", T_STRING, true, check_nic_type },
	{ "name", T_STRING, false, check_nic_name },
	{ NULL, 0, false, NULL },
};

/* A named tap may serve one NIC only. */
static int
check_tap(struct walk *w, const struct spec_nic *nic, const char *path)
{
	const struct spec_nic *n;

	for (n = w->spec->nics; n < nic; n++)
		if (n->type == SPEC_NIC_TAP && n->backend_name != NULL &&
		    strcmp(n->backend_name, nic->backend_name) == 0)
			return invalid(w, path,
			    "tap \"%s\" is already used by nics[%zu]",
			    nic->backend_name, (size_t)(n - w->spec->nics));
	return 0;
}

/*
 * The backend as a whole: a bridge or a network must be named and allowed
 * by the operator; a named tap may serve one NIC only.
 */
static int
check_backend(struct walk *w, void *target, UNUSED const char *key,
    json_t *value, const char *path)
{
	struct spec_nic *nic = target;
	const char *type, *name;
	const char *const *allowed;
	char sub[PATH_SIZE];

	if (walk_object(w, nic, value, path, backend_members) == -1)
		return -1;
	type = keyword_name(nic_types, nic->type);
	name = nic->backend_name;
	path_key(sub, path, "name");
	if (nic->type == SPEC_NIC_TAP)
		return name != NULL ? check_tap(w, nic, sub) : 0;
	if (name == NULL)
		return invalid(w, sub, "required for type %s", type);
	allowed = nic->type == SPEC_NIC_BRIDGE ? w->policy->bridges :
						 w->policy->networks;
	if (!w->policy->trusted && !listed(allowed, name))
		return fail(w, RRERR_FORBIDDEN, sub,
		    "%s \"%s\" is not allowed by the operator", type, name);
	return 0;
}

/* Parse a MAC address into lower case, or fail. */
static bool
parse_mac(const char *s, char out[MAC_LEN + 1])
{
	size_t i;

	if (strlen(s) != MAC_LEN)
		return false;
	for (i = 0; i < MAC_LEN; i++) {
		char c = s[i];

		if (i % 3 == 2 ? c != ':' :
				 strchr(DIGIT "abcdefABCDEF", c) == NULL)
			return false;
		out[i] = (c >= 'A' && c <= 'F') ? (char)(c - 'A' + 'a') : c;
	}
	out[MAC_LEN] = '\0';
	return true;
}

static int
check_mac(struct walk *w, void *target, UNUSED const char *key, json_t *value,
    const char *path)
{
	struct spec_nic *nic = target, *n;
	char mac[MAC_LEN + 1];

	if (!parse_mac(json_string_value(value), mac))
		return invalid(w, path,
		    "must be six hexadecimal octets separated by ':'");
	/* The low bit of the first octet marks a multicast address. */
	if (strchr("13579bdf", mac[1]) != NULL)
		return invalid(w, path, "must be a unicast address");
	if (strcmp(mac, "00:00:00:00:00:00") == 0)
		return invalid(w, path, "must not be all zeros");
	for (n = w->spec->nics; n < nic; n++)
		if (n->mac != NULL && strcmp(n->mac, mac) == 0)
			return invalid(w, path,
			    "is the same MAC as nics[%zu].mac",
			    (size_t)(n - w->spec->nics));
	return keep(w, mac, &nic->mac);
}

/*
 * The NetBSD driver of a machine's NIC, which names its interfaces
 * (wm0, wm1 ...): lower case letters and digits, ending in a letter.
 */
static int
check_driver(struct walk *w, void *target, UNUSED const char *key,
    json_t *value, const char *path)
{
	struct spec_nic *nic = target;
	const char *s = json_string_value(value);
	size_t len = strlen(s);

	if (w->platform != SPEC_PLATFORM_ISO)
		return invalid(w, path,
		    "only for platform iso (the NIC of a "
		    "guest on kvm is vioif, on xen xenif)");
	if (!match(s, len, LOWER, LOWER DIGIT, SPEC_DRIVER_MAX) ||
	    strchr(LOWER, s[len - 1]) == NULL)
		return invalid(w, path,
		    "must be a NetBSD NIC driver name: 1 to "
		    "%d lower case letters and digits, starting and ending "
		    "with a letter (\"wm\", \"re\", \"vioif\")",
		    SPEC_DRIVER_MAX);
	return keep(w, s, &nic->driver);
}

/* "backend" and "mac" of a NIC in an ISO image: the machine's own NIC. */
static int
check_iso_nic_host(struct walk *w, UNUSED void *target, const char *key,
    UNUSED json_t *value, const char *path)
{
	return invalid(w, path,
	    "not for platform iso: the NIC is the machine's own, with %s",
	    strcmp(key, "mac") == 0 ? "its own MAC address" :
				      "no host backend; give its \"driver\"");
}

static const struct member nic_members[] = {
	{ "backend", T_OBJECT, true, check_backend },
	{ "mac", T_STRING, false, check_mac },
	{ "inet", T_OBJECT, false, check_inet },
	{ "inet6", T_OBJECT, false, check_inet6 },
	{ "driver", T_STRING, false, check_driver },
	{ NULL, 0, false, NULL },
};

static const struct member iso_nic_members[] = {
	{ "driver", T_STRING, false, check_driver },
	{ "inet", T_OBJECT, false, check_inet },
	{ "inet6", T_OBJECT, false, check_inet6 },
	{ "backend", T_OBJECT | T_STRING | T_INTEGER | T_BOOLEAN | T_ARRAY,
	    false, check_iso_nic_host },
	{ "mac", T_OBJECT | T_STRING | T_INTEGER | T_BOOLEAN | T_ARRAY, false,
	    check_iso_nic_host },
	{ NULL, 0, false, NULL },
};

static int
check_nic_entry(struct walk *w, void *target, UNUSED const char *key,
    json_t *value, const char *path)
{
	struct spec *spec = target;

	return walk_object(w, &spec->nics[spec->nnics++], value, path,
	    w->platform == SPEC_PLATFORM_ISO ? iso_nic_members : nic_members);
}

static const struct member nic_entry = { NULL, T_OBJECT, false,
	check_nic_entry };

static int
check_nics(struct walk *w, void *target, UNUSED const char *key, json_t *value,
    const char *path)
{
	struct spec *spec = target;

	if ((spec->nics = alloc_entries(w, json_array_size(value),
		 sizeof(*spec->nics))) == NULL)
		return -1;
	return walk_array(w, spec, value, path, SPEC_NICS_MAX, &nic_entry);
}

/*
 * The remaining top-level fields, and the table of the request.
 */

static int
check_accel(struct walk *w, void *target, UNUSED const char *key, json_t *value,
    const char *path)
{
	struct spec *spec = target;
	int v = 0;

	if (get_keyword(w, value, path, accels, &v) == -1)
		return -1;
	spec->accel = (enum spec_accel)v;
	return 0;
}

static int
check_auto_remove(struct walk *w, void *target, UNUSED const char *key,
    json_t *value, const char *path)
{
	struct spec *spec = target;

	if (not_iso(w, path, "an ISO image is not an instance") == -1)
		return -1;
	spec->auto_remove = json_is_true(value);
	return 0;
}

static int
check_paused(struct walk *w, void *target, UNUSED const char *key,
    json_t *value, const char *path)
{
	struct spec *spec = target;

	if (not_iso(w, path, "an ISO image is not an instance") == -1)
		return -1;
	spec->paused = json_is_true(value);
	return 0;
}

static int
check_boot_timeout(struct walk *w, void *target, UNUSED const char *key,
    json_t *value, const char *path)
{
	struct spec *spec = target;
	unsigned int v = 0;

	if (not_iso(w, path, "an ISO image is not an instance") == -1 ||
	    get_range(w, value, path, 0, SPEC_BOOT_TIMEOUT_MAX, &v) == -1)
		return -1;
	spec->boot_timeout_s = (int)v;
	return 0;
}

/*
 * "restart": the restart policy (restart.h).  Its target is the struct
 * spec's restart_spec; finish_restart() checks the fields together.
 */

static int
check_restart_policy(struct walk *w, void *target, UNUSED const char *key,
    json_t *value, const char *path)
{
	struct restart_spec *rs = target;

	if (restart_policy_parse(json_string_value(value), &rs->policy) == -1)
		return invalid(w, path,
		    "must be \"no\", \"on-failure\", "
		    "\"always\" or \"unless-stopped\"");
	return 0;
}

static int
check_restart_number(struct walk *w, void *target, const char *key,
    json_t *value, const char *path)
{
	struct restart_spec *rs = target;
	unsigned int *out;
	unsigned int max = RESTART_SECONDS_MAX;

	if (strcmp(key, "max_retries") == 0) {
		out = &rs->max_retries;
		max = RESTART_RETRIES_MAX;
	} else if (strcmp(key, "backoff_initial_s") == 0)
		out = &rs->backoff_initial_s;
	else if (strcmp(key, "backoff_max_s") == 0)
		out = &rs->backoff_max_s;
	else
		out = &rs->reset_after_s;
	return get_range(w, value, path, 0, max, out);
}

static const struct member restart_members[] = {
	{ "policy", T_STRING, true, check_restart_policy },
	{ "max_retries", T_INTEGER, false, check_restart_number },
	{ "backoff_initial_s", T_INTEGER, false, check_restart_number },
	{ "backoff_max_s", T_INTEGER, false, check_restart_number },
	{ "reset_after_s", T_INTEGER, false, check_restart_number },
	{ NULL, 0, false, NULL },
};

static int
check_restart(struct walk *w, void *target, UNUSED const char *key,
    json_t *value, const char *path)
{
	struct spec *spec = target;
	struct restart_spec *rs = &spec->restart;
	const char *k;
	json_t *v;

	if (not_iso(w, path, "an ISO image is not an instance") == -1 ||
	    walk_object(w, rs, value, path, restart_members) == -1)
		return -1;
	if (rs->policy == RESTART_NO) {
		json_object_foreach(value, k, v) {
			if (strcmp(k, "policy") != 0)
				return member_error(w, path, k,
				    "only with a "
				    "restart policy other than \"no\"");
		}
	}
	if (rs->backoff_max_s < rs->backoff_initial_s)
		return member_error(w, path, "backoff_max_s",
		    "must not be less than backoff_initial_s");
	return 0;
}

static const struct member request_members[] = {
	{ "name", T_STRING, true, check_name },
	{ "platform", T_STRING, false, check_platform },
	{ "image", T_STRING, true, check_image },
	{ "memory_mib", T_INTEGER, false, check_memory },
	{ "vcpus", T_INTEGER, false, check_vcpus },
	{ "argv", T_ARRAY, false, check_argv },
	{ "env", T_OBJECT | T_ARRAY, false, check_env },
	{ "hostname", T_STRING, false, check_hostname },
	{ "labels", T_OBJECT, false, check_labels },
	{ "blk", T_ARRAY, false, check_blks },
	{ "nics", T_ARRAY, false, check_nics },
	{ "accel", T_STRING, false, check_accel },
	{ "auto_remove", T_BOOLEAN, false, check_auto_remove },
	{ "paused", T_BOOLEAN, false, check_paused },
	{ "boot_timeout_s", T_INTEGER, false, check_boot_timeout },
	{ "restart", T_OBJECT, false, check_restart },
	{ NULL, 0, false, NULL },
};

/* True when mountpoint is /rootfs or below it. */
static bool
under_rootfs(const char *mountpoint)
{
	static const char rootfs[] = "/rootfs";
	size_t n = sizeof(rootfs) - 1;

	return strncmp(mountpoint, rootfs, n) == 0 &&
	    (mountpoint[n] == '\0' || mountpoint[n] == '/');
}

/*
 * An ISO image: each data image goes in under its file name, which must
 * be a plain name and differ from the others'; it is read from the host
 * as a regular file; it cannot be mounted where the guest mounts the ISO
 * itself.  NICs without a driver get the default one.
 */
static int
finish_iso(struct walk *w, struct spec *spec)
{
	char sub[RRERR_FIELD_MAX];
	const char *name;
	struct stat st;
	size_t i, j, len;

	for (i = 0; i < spec->nblk; i++) {
		snprintf(sub, sizeof(sub), "blk[%zu].source", i);
		if (imgstore_ref_name(spec->blk[i].source, IMGSTORE_VOLUME) !=
		    NULL)
			return invalid(w, sub,
			    "a stored volume cannot go into "
			    "an ISO image: name a host file");
		name = spec_data_name(&spec->blk[i]);
		len = strlen(name);
		if (!match(name, len, ALNUM "_+-", ALNUM "._+-",
			SPEC_DATA_NAME_MAX))
			return invalid(w, sub,
			    "its file name %s cannot name a "
			    "data image in an ISO: 1 to %d letters, digits, "
			    "'.', '_', '+' and '-', not starting with '.'",
			    name, SPEC_DATA_NAME_MAX);
		for (j = 0; j < i; j++)
			if (strcmp(spec_data_name(&spec->blk[j]), name) == 0)
				return invalid(w, sub,
				    "an ISO keeps data "
				    "images by file name, and blk[%zu].source "
				    "is also called %s",
				    j, name);
		if (!w->policy->trusted &&
		    (stat(spec->blk[i].source, &st) == -1 ||
			!S_ISREG(st.st_mode)))
			return invalid(w, sub,
			    "must be a regular file on "
			    "platform iso (its contents go into the image)");
		if (spec->blk[i].mountpoint != NULL &&
		    under_rootfs(spec->blk[i].mountpoint)) {
			snprintf(sub, sizeof(sub), "blk[%zu].mountpoint", i);
			return invalid(w, sub,
			    "/rootfs is where a guest "
			    "booted from an ISO mounts the ISO itself");
		}
	}
	for (i = 0; i < spec->nnics; i++)
		if (spec->nics[i].driver == NULL &&
		    keep(w, SPEC_DRIVER_DEFAULT, &spec->nics[i].driver) == -1)
			return -1;
	return 0;
}

/*
 * The checks that involve several fields, once all are in.  When argv is
 * absent or empty it becomes the basename of the resolved image, so that
 * the canonical form (which has the resolved image and the full argv) says
 * the same whichever symlink named the image.
 */
static int
finish(struct walk *w, struct spec *spec)
{
	char sub[RRERR_FIELD_MAX];
	const char *base;
	size_t i;

	/* walk_object() made sure of these; say so to the reader. */
	if (spec->name == NULL || spec->image == NULL)
		return rrerr_set(w->err, RRERR_INTERNAL, NULL,
		    "request accepted without name or image");
	if (spec->accel != SPEC_ACCEL_DEFAULT &&
	    spec->platform != SPEC_PLATFORM_KVM)
		return invalid(w, "accel", "only for platform kvm");
	/* A Xen guest's vif joins a bridge; there is no tap or libvirt network. */
	for (i = 0; i < spec->nnics && spec->platform == SPEC_PLATFORM_XEN;
	     i++) {
		if (spec->nics[i].type != SPEC_NIC_BRIDGE) {
			snprintf(sub, sizeof(sub), "nics[%zu].backend.type", i);
			return invalid(w, sub,
			    "must be bridge on platform xen");
		}
	}
	/*
	 * rumprun's Xen block driver cannot attach a read-only disk: the
	 * guest dies at boot ("etfs register for \"xvda\" failed").
	 */
	for (i = 0; i < spec->nblk && spec->platform == SPEC_PLATFORM_XEN;
	     i++) {
		if (spec->blk[i].readonly) {
			snprintf(sub, sizeof(sub), "blk[%zu].readonly", i);
			return invalid(w, sub,
			    "not supported on platform xen: "
			    "a rumprun Xen guest cannot attach a read-only "
			    "disk");
		}
	}
	/*
	 * QEMU puts the kernel's path before the command line, and the guest
	 * takes the first '{' there for the start of its configuration.
	 */
	if (spec->platform == SPEC_PLATFORM_KVM &&
	    strchr(spec->image, '{') != NULL)
		return invalid(w, "image",
		    "%s contains '{', which a rumprun "
		    "guest on kvm would take for its configuration",
		    spec->image);
	if (spec->platform == SPEC_PLATFORM_ISO && finish_iso(w, spec) == -1)
		return -1;
	/* docker refuses --rm with --restart too: nothing would come back. */
	if (spec->auto_remove && spec->restart.policy != RESTART_NO)
		return invalid(w, "restart.policy",
		    "must be \"no\" with "
		    "auto_remove: an instance removed when it ends cannot be "
		    "restarted");
	/* Each generation would wait paused for a start again. */
	if (spec->paused && spec->restart.policy != RESTART_NO)
		return invalid(w, "restart.policy",
		    "must be \"no\" with "
		    "paused: each restart would wait paused for a start");
	if (spec->argc > 0)
		return 0;
	free(spec->argv);
	if ((spec->argv = alloc_entries(w, 1, sizeof(*spec->argv))) == NULL)
		return -1;
	base = strrchr(spec->image, '/');
	if (base == NULL) /* "store:NAME": NAME */
		base = strchr(spec->image, ':');
	return add_arg(w, spec, base != NULL ? base + 1 : spec->image,
	    "argv[0]");
}

/*
 * Public functions.
 */

/*
 * spec_parse() and spec_parse_iso(): the platform is dflt when the request
 * does not say; with only_dflt, another one is refused.
 */
static int parse(const char *text, size_t len, const struct spec_policy *policy,
    enum spec_platform dflt, bool only_dflt, struct spec **out,
    struct rrerr *err);
static int from_json(json_t *root, const struct spec_policy *policy,
    enum spec_platform dflt, bool only_dflt, struct spec **out,
    struct rrerr *err);

int
spec_parse(const char *text, size_t len, const struct spec_policy *policy,
    struct spec **out, struct rrerr *err)
{
	return parse(text, len, policy, SPEC_PLATFORM_KVM, false, out, err);
}

int
spec_parse_iso(const char *text, size_t len, const struct spec_policy *policy,
    struct spec **out, struct rrerr *err)
{
	return parse(text, len, policy, SPEC_PLATFORM_ISO, true, out, err);
}

int
spec_from_json(json_t *root, const struct spec_policy *policy,
    struct spec **out, struct rrerr *err)
{
	return from_json(root, policy, SPEC_PLATFORM_KVM, false, out, err);
}

static int
parse(const char *text, size_t len, const struct spec_policy *policy,
    enum spec_platform dflt, bool only_dflt, struct spec **out,
    struct rrerr *err)
{
	json_error_t jerr;
	json_t *root;
	int rv;

	*out = NULL;
	if (len > SPEC_BODY_MAX)
		return rrerr_set(err, RRERR_TOO_LARGE, NULL,
		    "request body is larger than %d bytes", SPEC_BODY_MAX);
	if (text == NULL)
		len = 0;
	root = json_loadb(text != NULL ? text : "", len, JSON_REJECT_DUPLICATES,
	    &jerr);
	if (root == NULL)
		return rrerr_set(err, RRERR_BAD_REQUEST, NULL,
		    "request body is not valid JSON: %s at line %d column %d",
		    jerr.text, jerr.line, jerr.column);
	rv = from_json(root, policy, dflt, only_dflt, out, err);
	json_decref(root);
	return rv;
}

static int
from_json(json_t *root, const struct spec_policy *policy,
    enum spec_platform dflt, bool only_dflt, struct spec **out,
    struct rrerr *err)
{
	static const struct spec_policy nothing;
	const json_t *pv;
	struct spec *spec;
	struct walk w;
	size_t i;

	*out = NULL;
	if (!json_is_object(root))
		return rrerr_set(err, RRERR_BAD_REQUEST, NULL,
		    "request body must be a JSON object");
	/* The platform first; a bad one is reported in its turn. */
	w.platform = dflt;
	pv = json_object_get(root, "platform");
	for (i = 0; json_is_string(pv) && platforms[i].name != NULL; i++)
		if (strcmp(json_string_value(pv), platforms[i].name) == 0)
			w.platform = (enum spec_platform)platforms[i].value;
	if (only_dflt && w.platform != dflt)
		return rrerr_set(err, RRERR_INVALID, "platform",
		    "platform: must be \"%s\" or left out here",
		    spec_platform_name(dflt));
	if ((spec = calloc(1, sizeof(*spec))) == NULL)
		return rrerr_set(err, RRERR_INTERNAL, NULL, "out of memory");
	spec->platform = dflt;
	w.policy = policy != NULL ? policy : &nothing;
	w.spec = spec;
	w.err = err;
	/*
	 * A policy that allows less than the default lowers the default.  (An
	 * ISO request has no memory_mib or vcpus: these stay unused.)
	 */
	spec->memory_mib = SPEC_MEMORY_DEFAULT_MIB;
	if (spec->memory_mib > max_memory(w.policy))
		spec->memory_mib = max_memory(w.policy);
	spec->vcpus = SPEC_VCPUS_DEFAULT;
	spec->boot_timeout_s = -1;
	restart_spec_default(&spec->restart);
	if (walk_object(&w, spec, root, "", request_members) == -1 ||
	    finish(&w, spec) == -1) {
		spec_free(spec);
		return -1;
	}
	*out = spec;
	return 0;
}

/* A new JSON array of the n strings v, or NULL. */
static json_t *
strings_json(char *const *v, size_t n)
{
	json_t *array;
	size_t i;

	if ((array = json_array()) == NULL)
		return NULL;
	for (i = 0; i < n; i++)
		if (json_array_append_new(array, json_string(v[i])) == -1) {
			json_decref(array);
			return NULL;
		}
	return array;
}

/* A new JSON array of the n items that item() makes of spec, or NULL. */
static json_t *
items_json(const struct spec *spec, size_t n,
    json_t *(*item)(const struct spec *, size_t))
{
	json_t *array;
	size_t i;

	if ((array = json_array()) == NULL)
		return NULL;
	for (i = 0; i < n; i++)
		if (json_array_append_new(array, item(spec, i)) == -1) {
			json_decref(array);
			return NULL;
		}
	return array;
}

/* A new JSON object of the labels, or NULL. */
static json_t *
labels_json(const struct spec *spec)
{
	json_t *object;
	size_t i;

	if ((object = json_object()) == NULL)
		return NULL;
	for (i = 0; i < spec->nlabels; i++)
		if (json_object_set_new(object, spec->labels[i].key,
			json_string(spec->labels[i].value)) == -1) {
			json_decref(object);
			return NULL;
		}
	return object;
}

/* A new JSON object of block device i, or NULL. */
static json_t *
blk_json(const struct spec *spec, size_t i)
{
	const struct spec_blk *blk = &spec->blk[i];
	json_t *o;

	o = json_pack("{s:s, s:b, s:s*}", "source", blk->source, "readonly",
	    (int)blk->readonly, "mountpoint", blk->mountpoint);
	/* Only when asked, so that older records keep their form. */
	if (o != NULL && blk->copy &&
	    json_object_set_new(o, "copy", json_true()) == -1) {
		json_decref(o);
		return NULL;
	}
	return o;
}

/* Add the "inet" or "inet6" object named key to object, if method says so. */
static int
add_ip(json_t *object, const char *key, const struct ipfamily *family,
    int method, const char *addr, unsigned int prefixlen, const char *gw)
{
	char cidr[INET6_ADDRSTRLEN + 8];

	if (method == 0) /* SPEC_INET_NONE, SPEC_INET6_NONE */
		return 0;
	if (addr != NULL)
		snprintf(cidr, sizeof(cidr), "%s/%u", addr, prefixlen);
	return json_object_set_new(object, key,
	    json_pack("{s:s, s:s*, s:s*}", "method",
		keyword_name(family->methods, method), "addr",
		addr != NULL ? cidr : NULL, "gw", gw));
}

/* A new JSON object of NIC i, or NULL. */
static json_t *
nic_json(const struct spec *spec, size_t i)
{
	const struct spec_nic *nic = &spec->nics[i];
	json_t *object;

	if (spec->platform == SPEC_PLATFORM_ISO)
		object = json_pack("{s:s}", "driver",
		    nic->driver != NULL ? nic->driver : SPEC_DRIVER_DEFAULT);
	else
		object = json_pack("{s:{s:s, s:s*}, s:s*}", "backend", "type",
		    keyword_name(nic_types, nic->type), "name",
		    nic->backend_name, "mac", nic->mac);
	if (object == NULL)
		return NULL;
	if (add_ip(object, "inet", &ipv4, nic->inet, nic->addr, nic->prefixlen,
		nic->gw) == -1 ||
	    add_ip(object, "inet6", &ipv6, nic->inet6, nic->addr6,
		nic->prefixlen6, nic->gw6) == -1) {
		json_decref(object);
		return NULL;
	}
	return object;
}

/*
 * The canonical form of an ISO request: without the fields that platform
 * iso refuses, so that it parses back.
 */
static json_t *
iso_json(json_t *object)
{
	static const char *const keys[] = { "memory_mib", "vcpus", "accel",
		"auto_remove", "paused", NULL };
	size_t i;

	for (i = 0; object != NULL && keys[i] != NULL; i++)
		json_object_del(object, keys[i]);
	return object;
}

json_t *
spec_to_json(const struct spec *spec)
{
	const char *accel = NULL;
	json_t *object;

	if (spec == NULL)
		return NULL;
	if (spec->accel != SPEC_ACCEL_DEFAULT)
		accel = keyword_name(accels, spec->accel);
	object =
	    json_pack("{s:s, s:s, s:s, s:I, s:I, s:o, s:o, s:s*, s:o, s:o, "
		      "s:o, s:s*, s:b, s:b}",
		"name", spec->name, "platform",
		spec_platform_name(spec->platform), "image", spec->image,
		"memory_mib", (json_int_t)spec->memory_mib, "vcpus",
		(json_int_t)spec->vcpus, "argv",
		strings_json(spec->argv, spec->argc), "env",
		strings_json(spec->env, spec->nenv), "hostname", spec->hostname,
		"labels", labels_json(spec), "blk",
		items_json(spec, spec->nblk, blk_json), "nics",
		items_json(spec, spec->nnics, nic_json), "accel", accel,
		"auto_remove", (int)spec->auto_remove, "paused",
		(int)spec->paused);
	/* Absent: the daemon's setting, whatever it is when the guest boots. */
	if (object != NULL && spec->boot_timeout_s >= 0)
		json_object_set_new(object, "boot_timeout_s",
		    json_integer(spec->boot_timeout_s));
	/* Absent: policy no, as in requests from before restart policies. */
	if (object != NULL && spec->restart.policy != RESTART_NO)
		json_object_set_new(object, "restart",
		    json_pack("{s:s, s:I, "
			      "s:I, s:I, s:I}",
			"policy", restart_policy_name(spec->restart.policy),
			"max_retries", (json_int_t)spec->restart.max_retries,
			"backoff_initial_s",
			(json_int_t)spec->restart.backoff_initial_s,
			"backoff_max_s",
			(json_int_t)spec->restart.backoff_max_s,
			"reset_after_s",
			(json_int_t)spec->restart.reset_after_s));
	return spec->platform == SPEC_PLATFORM_ISO ? iso_json(object) : object;
}

bool
spec_equal(const struct spec *a, const struct spec *b)
{
	json_t *ja, *jb;
	bool equal;

	if (a == NULL || b == NULL)
		return a == b;
	ja = spec_to_json(a);
	jb = spec_to_json(b);
	equal = ja != NULL && jb != NULL && json_equal(ja, jb);
	json_decref(ja);
	json_decref(jb);
	return equal;
}

static void
free_strings(char **v, size_t n)
{
	size_t i;

	if (v == NULL)
		return;
	for (i = 0; i < n; i++)
		free(v[i]);
	free(v);
}

void
spec_free(struct spec *spec)
{
	size_t i;

	if (spec == NULL)
		return;
	free(spec->name);
	free(spec->image);
	free_strings(spec->argv, spec->argc);
	free_strings(spec->env, spec->nenv);
	free(spec->hostname);
	for (i = 0; i < spec->nlabels; i++) {
		free(spec->labels[i].key);
		free(spec->labels[i].value);
	}
	free(spec->labels);
	for (i = 0; i < spec->nblk; i++) {
		free(spec->blk[i].source);
		free(spec->blk[i].mountpoint);
	}
	free(spec->blk);
	for (i = 0; i < spec->nnics; i++) {
		free(spec->nics[i].backend_name);
		free(spec->nics[i].mac);
		free(spec->nics[i].driver);
		free(spec->nics[i].addr);
		free(spec->nics[i].gw);
		free(spec->nics[i].addr6);
		free(spec->nics[i].gw6);
	}
	free(spec->nics);
	free(spec);
}

const char *
spec_data_name(const struct spec_blk *blk)
{
	const char *slash = strrchr(blk->source, '/');

	return slash != NULL ? slash + 1 : blk->source;
}

const char *
spec_platform_name(enum spec_platform platform)
{
	const char *name = keyword_name(platforms, (int)platform);

	return name != NULL ? name : "unknown";
}
