/*
 * config.c: the JSON configuration of rrguest, read the way rumprun reads
 * its own.
 *
 * A small tokenizer in the manner of jsmn turns the text into a flat
 * array of tokens in document order: an object is followed by its keys,
 * each followed by its value.  Strings stay raw, as in rumprun: a token
 * covers the bytes between the quotes, JSON escapes are not undone; a
 * backslash only hides the next byte from the search for the closing
 * quote, and must be one of jsmn's valid escapes.  The configuration is
 * then checked against rumprun's keys (cmdline, env, hostname, blk, net)
 * and the checks rumprun's handlers make on their values; anything wrong
 * stops the guest with rumprun's own message ("rumprun: ...", then
 * "=== ERROR: _exit(1) called ===") before main(), as rumprun stops.
 *
 * config_split() is rumprun's argv splitter (rumprun_parseargs()) redone.
 */

#include "guest.h"

#define TOK_MAX	     CMDLINE_MAX /* Every token takes a byte or more. */
#define DEPTH_MAX    32
#define HOSTNAME_MAX 256 /* NetBSD's MAXHOSTNAMELEN. */

enum toktype {
	TOK_OBJECT,
	TOK_ARRAY,
	TOK_STRING,
	TOK_PRIMITIVE
};

struct tok {
	enum toktype type;
	int start; /* Offsets into the text; for a string, */
	int end;   /* of its raw contents. */
	int size;  /* Members of an object, elements of an array. */
	int next;  /* The token after this one's subtree. */
};

static const char *js;
static int jslen;
static int jspos;
static struct tok toks[TOK_MAX];
static int ntok;

static const char *const blkkeys[] = { "source", "path", "fstype", "mountpoint",
	NULL };
static const char *const netkeys[] = { "if", "cloner", "type", "method", "addr",
	"mask", "gw", NULL };

static int parse_value(int);

static void
skip_space(void)
{
	while (jspos < jslen &&
	    (js[jspos] == ' ' || js[jspos] == '\t' || js[jspos] == '\n' ||
		js[jspos] == '\r'))
		jspos++;
}

static int
peek(void)
{
	return jspos < jslen ? (unsigned char)js[jspos] : -1;
}

static int
new_tok(enum toktype type, int start)
{
	struct tok *t;

	if (ntok == TOK_MAX)
		return -1;
	t = &toks[ntok];
	t->type = type;
	t->start = start;
	t->end = start;
	t->size = 0;
	t->next = ntok + 1;
	return ntok++;
}

static int
is_hex(int c)
{
	return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') ||
	    (c >= 'A' && c <= 'F');
}

/* Parses a string at the opening quote; returns its token or -1. */
static int
parse_string(void)
{
	int start, i, t;

	start = ++jspos;
	while (jspos < jslen) {
		switch (js[jspos]) {
		case '"':
			if ((t = new_tok(TOK_STRING, start)) == -1)
				return -1;
			toks[t].end = jspos++;
			return t;
		case '\\':
			if (++jspos == jslen)
				return -1;
			switch (js[jspos]) {
			case '"':
			case '/':
			case '\\':
			case 'b':
			case 'f':
			case 'n':
			case 'r':
			case 't':
				break;
			case 'u':
				for (i = 1; i <= 4; i++) {
					if (jspos + i >= jslen ||
					    !is_hex(
						(unsigned char)js[jspos + i]))
						return -1;
				}
				jspos += 4;
				break;
			default:
				return -1;
			}
			break;
		default:
			break;
		}
		jspos++;
	}
	return -1;
}

/* Parses a number, true, false or null, loosely as jsmn does. */
static int
parse_primitive(void)
{
	int start, c;

	start = jspos;
	while ((c = peek()) != -1 &&
	    ((c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') ||
		(c >= 'A' && c <= 'Z') || c == '-' || c == '+' || c == '.'))
		jspos++;
	if (jspos == start)
		return -1;
	c = (unsigned char)js[start];
	if (c != '-' && c != 't' && c != 'f' && c != 'n' &&
	    !(c >= '0' && c <= '9'))
		return -1;
	return new_tok(TOK_PRIMITIVE, start);
}

/* Parses an object or array at its opening bracket. */
static int
parse_container(int depth)
{
	enum toktype type;
	int t, k, close;

	type = peek() == '{' ? TOK_OBJECT : TOK_ARRAY;
	close = type == TOK_OBJECT ? '}' : ']';
	if (depth == DEPTH_MAX || (t = new_tok(type, jspos++)) == -1)
		return -1;
	skip_space();
	if (peek() == close) {
		jspos++;
		toks[t].end = jspos;
		return t;
	}
	for (;;) {
		skip_space();
		if (type == TOK_OBJECT) {
			if (peek() != '"' || (k = parse_string()) == -1)
				return -1;
			toks[k].size = 1;
			skip_space();
			if (peek() != ':')
				return -1;
			jspos++;
			skip_space();
		}
		if (parse_value(depth + 1) == -1)
			return -1;
		toks[t].size++;
		skip_space();
		if (peek() == ',') {
			jspos++;
			continue;
		}
		if (peek() != close)
			return -1;
		jspos++;
		break;
	}
	toks[t].end = jspos;
	toks[t].next = ntok;
	return t;
}

static int
parse_value(int depth)
{
	switch (peek()) {
	case '{':
	case '[':
		return parse_container(depth);
	case '"':
		return parse_string();
	default:
		return parse_primitive();
	}
}

static int
tok_is(const struct tok *t, const char *s)
{
	size_t len = strlen(s);

	return (size_t)(t->end - t->start) == len &&
	    memcmp(js + t->start, s, len) == 0;
}

static int
in_list(const struct tok *t, const char *const *list)
{
	for (; *list != NULL; list++) {
		if (tok_is(t, *list))
			return 1;
	}
	return 0;
}

/* The name rumprun's json parser gives the type of token t. */
static const char *
type_name(const struct tok *t)
{
	switch (t->type) {
	case TOK_OBJECT:
		return "OBJECT";
	case TOK_ARRAY:
		return "ARRAY";
	case TOK_STRING:
		return "STRING";
	default:
		break;
	}
	switch (js[t->start]) {
	case 't':
	case 'f':
		return "BOOLEAN";
	case 'n':
		return "NULL";
	default:
		return "UNKNOWN";
	}
}

/*
 * rumprun's jexpect(): a value of the wrong type.  rumprun only warns
 * and goes on with a pointer of the wrong kind; rrguest stops there.
 */
static void
expect(const struct tok *t, enum toktype type, const char *fn)
{
	if (t->type != type)
		errx1("%s: expected %s, got %s", fn,
		    type == TOK_OBJECT ? "OBJECT" : "STRING", type_name(t));
}

/* Finds member name of the checked object obj, or NULL. */
static const struct tok *
member(int obj, const char *name)
{
	int i;

	for (i = 0; i < toks[obj].size; i++) {
		if (tok_is(&toks[obj + 1 + 2 * i], name))
			return &toks[obj + 2 + 2 * i];
	}
	return NULL;
}

static int
str_is(const struct tok *t, const char *s)
{
	return t != NULL && tok_is(t, s);
}

#define T_ARGS(t) (t)->end - (t)->start, js + (t)->start

/*
 * The value of "blk" or "net": a flat object of strings with the keys
 * rumprun knows (handle_blk(), handle_net()), checked as rumprun checks
 * them before it acts on them.  DHCP ("inet", "dhcp") is then done at
 * once, as rumprun's handle_net() does it while it walks the configuration
 * (vnet.c; it stops the guest the way rumprun does when it fails).  What
 * rumprun would only find out by acting otherwise (a disk that does not
 * mount, a static address on an interface that does not exist) rrguest
 * cannot see.
 */
static void
check_object(int obj, const char *const *keys, const char *fn)
{
	const struct tok *source, *path, *fstype, *mp, *ifname, *type;
	const struct tok *method;
	int i;

	expect(&toks[obj], TOK_OBJECT, fn);
	for (i = 0; i < toks[obj].size; i++) {
		const struct tok *k = &toks[obj + 1 + 2 * i];

		expect(k + 1, TOK_STRING, fn);
		if (!in_list(k, keys))
			errx1("unexpected key \"%.*s\" in \"%s\"", T_ARGS(k),
			    fn);
	}
	if (keys == blkkeys) {
		source = member(obj, "source");
		path = member(obj, "path");
		fstype = member(obj, "fstype");
		mp = member(obj, "mountpoint");
		if (source == NULL || path == NULL)
			errx1("blk cfg missing vital data");
		if (!str_is(source, "dev") && !str_is(source, "vnd") &&
		    !str_is(source, "etfs"))
			errx1("unsupported blk source \"%.*s\"",
			    T_ARGS(source));
		if (mp != NULL && fstype == NULL)
			errx1("no fstype for mountpoint \"%.*s\"\n",
			    T_ARGS(mp));
		if (mp != NULL && !str_is(fstype, "blk") &&
		    !str_is(fstype, "kernfs"))
			errx1("unknown fstype \"%.*s\"", T_ARGS(fstype));
		return;
	}
	ifname = member(obj, "if");
	type = member(obj, "type");
	method = member(obj, "method");
	if (ifname == NULL || type == NULL || method == NULL)
		errx1("net cfg missing vital data, not configuring");
	if (!str_is(type, "inet") && !str_is(type, "inet6"))
		errx1("network type \"%.*s\" not supported", T_ARGS(type));
	if (str_is(type, "inet") && str_is(method, "dhcp")) {
		/* rumprun configures the interface right here, in order. */
		vnet_dhcp(js + ifname->start, ifname->end - ifname->start);
		return;
	}
	if (str_is(type, "inet6") && str_is(method, "auto"))
		return;
	if (!str_is(method, "static"))
		errx1("method \"static\" or \"dhcp\" expected, got \"%.*s\"",
		    T_ARGS(method));
	if (member(obj, "addr") == NULL || member(obj, "mask") == NULL)
		errx1("static net cfg missing addr or mask");
}

/*
 * "env": putenv() refuses a string without '=' or with an empty name,
 * and rumprun stops on that (err(1, "putenv")).
 */
static void
check_env(const struct tok *t)
{
	int i;

	for (i = t->start; i < t->end && js[i] != '='; i++)
		continue;
	if (i == t->end || i == t->start)
		errx1("putenv: Invalid argument");
}

/*
 * Parses and checks the configuration, the text from the first '{' to
 * the end of the command line, in document order as rumprun's
 * rumprun_config() walks it; stops at the first error the way rumprun
 * stops (errx1()).  The text must stay in place: tokens point into it.
 */
void
config_parse(const char *json)
{
	int k, ncmdline = 0;

	js = json;
	jslen = (int)strlen(json);
	jspos = 0;
	ntok = 0;
	if (parse_value(0) == -1)
		errx1("jparse failed");
	skip_space();
	if (jspos != jslen)
		errx1("jparse failed");
	expect(&toks[0], TOK_OBJECT, "rumprun_config");

	for (k = 1; k < ntok; k = toks[k + 1].next) {
		const struct tok *key = &toks[k], *val = &toks[k + 1];

		if (tok_is(key, "blk")) {
			check_object(k + 1, blkkeys, "handle_blk");
		} else if (tok_is(key, "net")) {
			check_object(k + 1, netkeys, "handle_net");
		} else if (tok_is(key, "cmdline")) {
			expect(val, TOK_STRING, "handle_cmdline");
			ncmdline++;
		} else if (tok_is(key, "env")) {
			expect(val, TOK_STRING, "handle_env");
			check_env(val);
		} else if (tok_is(key, "hostname")) {
			expect(val, TOK_STRING, "handle_hostname");
			if (val->end - val->start >= HOSTNAME_MAX)
				errx1("sethostname: Invalid argument");
		} else {
			errx1("no match for key \"%.*s\"", T_ARGS(key));
		}
	}
	if (ncmdline == 0)
		errx1("rumprun_config: no bins");
	if (ncmdline > 1)
		errx1("rrguest: more than one cmdline (rrguest runs one "
		      "program)");
}

/*
 * Returns the value token of the first top-level member named key after
 * the value token pos (0 to start from the beginning), or -1.
 */
int
config_next(const char *key, int pos)
{
	int k;

	for (k = pos == 0 ? 1 : toks[pos].next; k < ntok;
	     k = toks[k + 1].next) {
		if (tok_is(&toks[k], key))
			return k + 1;
	}
	return -1;
}

/* Points *str at the raw text of the string token t. */
void
config_str(int t, struct cfgstr *str)
{
	str->s = js + toks[t].start;
	str->len = toks[t].end - toks[t].start;
}

/*
 * Gets member i of the checked blk or net object obj; returns -1 when
 * there is no member i.
 */
int
config_member(int obj, int i, struct cfgstr *key, struct cfgstr *val)
{
	if (i >= toks[obj].size)
		return -1;
	config_str(obj + 1 + 2 * i, key);
	config_str(obj + 2 + 2 * i, val);
	return 0;
}

/*
 * Gets the value of member name of the checked blk or net object obj;
 * returns -1 when it has none.
 */
int
config_field(int obj, const char *name, struct cfgstr *val)
{
	const struct tok *t = member(obj, name);

	if (t == NULL)
		return -1;
	config_str((int)(t - toks), val);
	return 0;
}

/*
 * Splits the value of cmdline into argv[] like rumprun: buf gets the
 * arguments and must have CMDLINE_MAX + 1 bytes.  Returns the number of
 * arguments; argv[] is NULL-terminated.  Does not return on error.
 */
int
config_argv(char *buf, char **argv, int maxargs)
{
	struct cfgstr cmd;
	int argc;

	config_str(config_next("cmdline", 0), &cmd);
	argc = config_split(cmd.s, cmd.len, buf, argv, maxargs - 1);
	if (argc == -1)
		errx1("rrguest: too many arguments in cmdline");
	if (argc == 0)
		errx1("rrguest: cmdline is empty (no program to run)");
	argv[argc] = NULL;
	return argc;
}

/*
 * rumprun_parseargs(), without writing into its input: splits the len
 * bytes at s into at most maxargs NUL-terminated arguments stored in buf
 * (len + 1 bytes are enough), pointed to by args[].  Returns the number of
 * arguments, or -1 if there are too many.
 *
 * A backslash makes the next byte literal: never a delimiter, never a
 * quote.  Unescaped space, tab and newline end an argument outside
 * quotes.  A ' or " opens a quote; inside one the same character closes
 * it, and the other one switches the kind of quote (rumprun's quirk).
 * Quote characters are never copied, so '' is an empty argument.
 */
int
config_split(const char *s, int len, char *buf, char **args, int maxargs)
{
	char *out = buf;
	int quote = -1; /* -1: between arguments; 0: in one. */
	int i = 0, n = 0;

	for (;;) {
		int ac, rc;

		ac = i < len ? (unsigned char)s[i++] : '\0';
		rc = ac;
		if (ac == '\\')
			rc = i < len ? (unsigned char)s[i++] : '\0';
		if (rc == '\0' || ac == ' ' || ac == '\t' || ac == '\n') {
			if (rc == '\0' || quote == 0) {
				if (quote >= 0)
					*out++ = '\0';
				quote = -1;
			}
			if (rc == '\0')
				break;
			if (quote < 0)
				continue;
		}
		if (quote < 0) {
			if (n == maxargs)
				return -1;
			args[n++] = out;
			quote = 0;
		}
		if (quote > 0 && ac == quote) {
			quote = 0;
			continue;
		}
		if (ac == '\'' || ac == '"') {
			quote = ac;
			continue;
		}
		*out++ = (char)rc;
	}
	return n;
}
