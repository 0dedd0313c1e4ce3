/*
 * auth: TLS files, bearer tokens and the rule for TCP listeners (see
 * auth.h).
 *
 * GnuTLS parses the files here only to check them (and to say which one
 * is wrong); libmicrohttpd parses them again when it starts serving.
 */
#include <sys/stat.h>

#include <netinet/in.h>

#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#include <gnutls/gnutls.h>
#include <gnutls/crypto.h>
#include <gnutls/x509.h>

#include "auth.h"
#include "log.h"

#define FILE_MAX   (1024 * 1024) /* a PEM file or the token file */
#define TOKEN_MIN  16
#define TOKEN_MAX  4096
#define TOKENS_MAX 1024
#define DIGEST_LEN 32 /* SHA-256 */
#define WHERE_MAX  (4096 + 64)

struct token {
	unsigned char digest[DIGEST_LEN];
	unsigned int line; /* in token_file */
};

struct auth {
	char *cert; /* PEM texts; NULL: not configured */
	char *key;
	size_t key_len;
	char *client_ca;
	char *token_path;	     /* NULL: no tokens */
	char token_where[WHERE_MAX]; /* "FILE:LINE: token_file" */
	struct token *tokens;
	size_t ntokens;
	bool insecure;
};

/*
 * Read path (at most FILE_MAX bytes) into a new NUL-terminated buffer.
 * private: refuse a file that others may read or write.  where names the
 * key for messages.  Returns NULL with err.
 */
static char *
read_file(const char *path, const char *where, bool private, size_t *lenp,
    struct rrerr *err)
{
	struct stat st;
	char *buf = NULL;
	size_t len = 0;
	ssize_t n;
	int fd;

	if ((fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY)) == -1) {
		rrerr_set(err, RRERR_INVALID, NULL, "%s: %s: %s", where, path,
		    strerror(errno));
		return NULL;
	}
	if (fstat(fd, &st) == -1) {
		rrerr_set(err, RRERR_INVALID, NULL, "%s: %s: %s", where, path,
		    strerror(errno));
		goto fail;
	}
	if (!S_ISREG(st.st_mode)) {
		rrerr_set(err, RRERR_INVALID, NULL, "%s: %s is not a file",
		    where, path);
		goto fail;
	}
	if (private && (st.st_mode & (S_IROTH | S_IWOTH)) != 0) {
		rrerr_set(err, RRERR_INVALID, NULL,
		    "%s: %s may be read or "
		    "written by others (mode %04o): chmod o-rwx it",
		    where, path, (unsigned int)(st.st_mode & 07777));
		goto fail;
	}
	if (st.st_size > FILE_MAX) {
		rrerr_set(err, RRERR_INVALID, NULL,
		    "%s: %s is larger than %d bytes", where, path, FILE_MAX);
		goto fail;
	}
	if ((buf = malloc((size_t)st.st_size + 1)) == NULL) {
		rrerr_set(err, RRERR_INTERNAL, NULL, "out of memory");
		goto fail;
	}
	while (len < (size_t)st.st_size) {
		n = read(fd, buf + len, (size_t)st.st_size - len);
		if (n == -1 && errno == EINTR)
			continue;
		if (n == -1) {
			rrerr_set(err, RRERR_INVALID, NULL, "%s: %s: %s", where,
			    path, strerror(errno));
			goto fail;
		}
		if (n == 0)
			break;
		len += (size_t)n;
	}
	buf[len] = '\0';
	close(fd);
	*lenp = len;
	return buf;
fail:
	free(buf);
	close(fd);
	return NULL;
}

/* Free a buffer that held a secret. */
static void
free_secret(char *p, size_t len)
{
	if (p == NULL)
		return;
	explicit_bzero(p, len);
	free(p);
}

/*
 * Check that pem holds at least one certificate; warn about an expired
 * first one (clients refuse it; rumprund serves anyway, so that the unix
 * socket keeps working).
 */
static int
check_certs(char *pem, size_t len, const char *where, const char *path,
    struct rrerr *err)
{
	gnutls_x509_crt_t *crts = NULL;
	gnutls_datum_t d;
	unsigned int n = 0, i;
	time_t expires;
	int rv;

	d.data = (unsigned char *)pem;
	d.size = (unsigned int)len;
	rv = gnutls_x509_crt_list_import2(&crts, &n, &d, GNUTLS_X509_FMT_PEM,
	    0);
	if (rv < 0 || n == 0)
		return rrerr_set(err, RRERR_INVALID, NULL,
		    "%s: %s holds no PEM certificate that GnuTLS can read (%s)",
		    where, path, rv < 0 ? gnutls_strerror(rv) : "none found");
	expires = gnutls_x509_crt_get_expiration_time(crts[0]);
	if (expires != (time_t)-1 && expires < time(NULL))
		log_warnx("%s: the certificate in %s has expired", where, path);
	for (i = 0; i < n; i++)
		gnutls_x509_crt_deinit(crts[i]);
	gnutls_free(crts);
	return 0;
}

/* Check that key parses and belongs to the certificate in cert. */
static int
check_key(const struct auth *a, const char *where, const char *path,
    struct rrerr *err)
{
	gnutls_certificate_credentials_t cred = NULL;
	gnutls_x509_privkey_t pk = NULL;
	gnutls_datum_t c, k;
	int rv;

	k.data = (unsigned char *)a->key;
	k.size = (unsigned int)a->key_len;
	if ((rv = gnutls_x509_privkey_init(&pk)) < 0)
		return rrerr_set(err, RRERR_INTERNAL, NULL, "GnuTLS: %s",
		    gnutls_strerror(rv));
	rv = gnutls_x509_privkey_import2(pk, &k, GNUTLS_X509_FMT_PEM, NULL, 0);
	gnutls_x509_privkey_deinit(pk);
	if (rv < 0)
		return rrerr_set(err, RRERR_INVALID, NULL,
		    "%s: %s holds no "
		    "unencrypted PEM private key that GnuTLS can read (%s)",
		    where, path, gnutls_strerror(rv));
	if ((rv = gnutls_certificate_allocate_credentials(&cred)) < 0)
		return rrerr_set(err, RRERR_INTERNAL, NULL, "GnuTLS: %s",
		    gnutls_strerror(rv));
	c.data = (unsigned char *)a->cert;
	c.size = (unsigned int)strlen(a->cert);
	rv = gnutls_certificate_set_x509_key_mem2(cred, &c, &k,
	    GNUTLS_X509_FMT_PEM, NULL, 0);
	gnutls_certificate_free_credentials(cred);
	if (rv < 0)
		return rrerr_set(err, RRERR_INVALID, NULL,
		    "%s: %s does not go with tls_cert (%s)", where, path,
		    gnutls_strerror(rv));
	return 0;
}

static bool
token_char(int ch)
{
	return (ch >= 'A' && ch <= 'Z') || (ch >= 'a' && ch <= 'z') ||
	    (ch >= '0' && ch <= '9') || strchr("-._~+/=", ch) != NULL;
}

/*
 * Parse the token file's text into a new array of digests.  Returns the
 * number of tokens, or -1 with err.
 */
static long
parse_tokens(char *text, const char *where, const char *path,
    struct token **out, struct rrerr *err)
{
	struct token *t = NULL;
	size_t n = 0, len;
	unsigned int lineno = 0;
	char *line, *next, *p, *end;
	int rv;

	for (line = text; line != NULL; line = next) {
		lineno++;
		if ((next = strchr(line, '\n')) != NULL)
			*next++ = '\0';
		if ((p = strchr(line, '#')) != NULL)
			*p = '\0';
		p = line;
		while (*p == ' ' || *p == '\t')
			p++;
		end = p + strlen(p);
		while (end > p &&
		    (end[-1] == ' ' || end[-1] == '\t' || end[-1] == '\r'))
			*--end = '\0';
		if (*p == '\0')
			continue;
		len = (size_t)(end - p);
		for (end = p; *end != '\0' && token_char((unsigned char)*end);
		     end++)
			;
		if (*end != '\0') {
			rrerr_set(err, RRERR_INVALID, NULL,
			    "%s: %s:%u: a token "
			    "is one word of A-Z a-z 0-9 - . _ ~ + / =",
			    where, path, lineno);
			goto fail;
		}
		if (len < TOKEN_MIN || len > TOKEN_MAX) {
			rrerr_set(err, RRERR_INVALID, NULL,
			    "%s: %s:%u: a token has %d to %d characters", where,
			    path, lineno, TOKEN_MIN, TOKEN_MAX);
			goto fail;
		}
		if (n == TOKENS_MAX) {
			rrerr_set(err, RRERR_INVALID, NULL,
			    "%s: %s: more than %d tokens", where, path,
			    TOKENS_MAX);
			goto fail;
		}
		if (n % 16 == 0) {
			struct token *nt = realloc(t, (n + 16) * sizeof(*t));

			if (nt == NULL) {
				rrerr_set(err, RRERR_INTERNAL, NULL,
				    "out of memory");
				goto fail;
			}
			t = nt;
		}
		rv = gnutls_hash_fast(GNUTLS_DIG_SHA256, p, len, t[n].digest);
		explicit_bzero(p, len);
		if (rv < 0) {
			rrerr_set(err, RRERR_INTERNAL, NULL, "GnuTLS: %s",
			    gnutls_strerror(rv));
			goto fail;
		}
		t[n].line = lineno;
		n++;
	}
	if (n == 0) {
		rrerr_set(err, RRERR_INVALID, NULL, "%s: %s holds no token",
		    where, path);
		goto fail;
	}
	*out = t;
	return (long)n;
fail:
	free(t);
	return -1;
}

/* Read a's token_path into a's tokens; on failure a is unchanged. */
static int
load_tokens(struct auth *a, struct rrerr *err)
{
	struct token *t = NULL;
	size_t len = 0;
	char *text;
	long n;

	text = read_file(a->token_path, a->token_where, true, &len, err);
	if (text == NULL)
		return -1;
	n = parse_tokens(text, a->token_where, a->token_path, &t, err);
	free_secret(text, len);
	if (n == -1)
		return -1;
	if (a->tokens != NULL) {
		explicit_bzero(a->tokens, a->ntokens * sizeof(*a->tokens));
		free(a->tokens);
	}
	a->tokens = t;
	a->ntokens = (size_t)n;
	return 0;
}

struct auth *
auth_load(const struct config *cfg, struct rrerr *err)
{
	char where[WHERE_MAX];
	struct auth *a;
	size_t len = 0;

	if ((a = calloc(1, sizeof(*a))) == NULL) {
		rrerr_set(err, RRERR_INTERNAL, NULL, "out of memory");
		return NULL;
	}
	a->insecure = cfg->tcp_insecure;
	if ((cfg->tls_cert == NULL) != (cfg->tls_key == NULL)) {
		const char *set = cfg->tls_cert != NULL ? "tls_cert" :
							  "tls_key";

		rrerr_set(err, RRERR_INVALID, NULL, "%s: needs %s too",
		    config_where(cfg, set, where, sizeof(where)),
		    cfg->tls_cert != NULL ? "tls_key" : "tls_cert");
		goto fail;
	}
	if (cfg->tls_client_ca != NULL && cfg->tls_cert == NULL) {
		rrerr_set(err, RRERR_INVALID, NULL,
		    "%s: needs tls_cert and "
		    "tls_key (client certificates are part of TLS)",
		    config_where(cfg, "tls_client_ca", where, sizeof(where)));
		goto fail;
	}
	if (cfg->tls_cert != NULL) {
		config_where(cfg, "tls_cert", where, sizeof(where));
		a->cert = read_file(cfg->tls_cert, where, false, &len, err);
		if (a->cert == NULL ||
		    check_certs(a->cert, len, where, cfg->tls_cert, err) == -1)
			goto fail;
		config_where(cfg, "tls_key", where, sizeof(where));
		a->key = read_file(cfg->tls_key, where, true, &a->key_len, err);
		if (a->key == NULL ||
		    check_key(a, where, cfg->tls_key, err) == -1)
			goto fail;
	}
	if (cfg->tls_client_ca != NULL) {
		config_where(cfg, "tls_client_ca", where, sizeof(where));
		a->client_ca = read_file(cfg->tls_client_ca, where, false, &len,
		    err);
		if (a->client_ca == NULL ||
		    check_certs(a->client_ca, len, where, cfg->tls_client_ca,
			err) == -1)
			goto fail;
	}
	if (cfg->token_file != NULL) {
		config_where(cfg, "token_file", a->token_where,
		    sizeof(a->token_where));
		if ((a->token_path = strdup(cfg->token_file)) == NULL) {
			rrerr_set(err, RRERR_INTERNAL, NULL, "out of memory");
			goto fail;
		}
		if (load_tokens(a, err) == -1)
			goto fail;
	}
	return a;
fail:
	auth_free(a);
	return NULL;
}

bool
auth_is_loopback(const struct sockaddr *sa)
{
	const struct sockaddr_in6 *sin6;
	const struct sockaddr_in *sin;
	const uint8_t *b;

	switch (sa->sa_family) {
	case AF_INET:
		sin = (const struct sockaddr_in *)(const void *)sa;
		return (ntohl(sin->sin_addr.s_addr) >> 24) == 127;
	case AF_INET6:
		sin6 = (const struct sockaddr_in6 *)(const void *)sa;
		if (IN6_IS_ADDR_LOOPBACK(&sin6->sin6_addr))
			return true;
		b = sin6->sin6_addr.s6_addr;
		return IN6_IS_ADDR_V4MAPPED(&sin6->sin6_addr) && b[12] == 127;
	default:
		return false;
	}
}

int
auth_check_tcp(const struct auth *a, const struct sockaddr *sa,
    const char *what, struct rrerr *err)
{
	char host[NI_MAXHOST] = "?";
	socklen_t len;
	bool authn;

	len = sa->sa_family == AF_INET6 ? sizeof(struct sockaddr_in6) :
					  sizeof(struct sockaddr_in);
	(void)getnameinfo(sa, len, host, sizeof(host), NULL, 0, NI_NUMERICHOST);
	authn = a->token_path != NULL || a->client_ca != NULL;
	if (!authn && !a->insecure)
		return rrerr_set(err, RRERR_INVALID, NULL,
		    "%s: nothing "
		    "authenticates TCP clients: set token_file (bearer tokens) "
		    "or tls_client_ca (client certificates), or tcp_insecure = "
		    "yes to serve anyone who can connect, on a loopback "
		    "address only",
		    what);
	if (!authn && !auth_is_loopback(sa))
		return rrerr_set(err, RRERR_INVALID, NULL,
		    "%s: tcp_insecure "
		    "= yes serves loopback addresses only (127.0.0.0/8, "
		    "[::1]), not %s",
		    what, host);
	if (a->cert == NULL && !auth_is_loopback(sa))
		return rrerr_set(err, RRERR_INVALID, NULL,
		    "%s: plain HTTP "
		    "(no tls_cert and tls_key) is served on loopback "
		    "addresses only, not %s: tokens must not cross a network "
		    "in clear",
		    what, host);
	return 0;
}

int
auth_reload_tokens(struct auth *a, struct rrerr *err)
{
	if (a == NULL || a->token_path == NULL)
		return 0;
	return load_tokens(a, err);
}

/* 1 when a and b (DIGEST_LEN bytes) are equal, else 0; in constant time. */
static unsigned int
digest_eq(const unsigned char *a, const unsigned char *b)
{
	unsigned int diff = 0;
	size_t i;

	for (i = 0; i < DIGEST_LEN; i++)
		diff |= (unsigned int)(a[i] ^ b[i]);
	return ((diff - 1) >> 8) & 1;
}

int
auth_bearer(const char *authorization, void *arg)
{
	const struct auth *a = arg;
	unsigned char d[DIGEST_LEN];
	const char *p, *end;
	unsigned int found = 0, mask;
	size_t i;

	if (a == NULL || a->ntokens == 0)
		return 0;
	if (authorization == NULL)
		return -1;
	/* "Bearer" 1*SP token, the scheme in any case (RFC 6750, 7235). */
	if (strncasecmp(authorization, "Bearer", 6) != 0 ||
	    (authorization[6] != ' ' && authorization[6] != '\t'))
		return -1;
	for (p = authorization + 6; *p == ' ' || *p == '\t'; p++)
		;
	end = p + strlen(p);
	while (end > p && (end[-1] == ' ' || end[-1] == '\t'))
		end--;
	if (end == p || end - p > TOKEN_MAX)
		return -1;
	if (gnutls_hash_fast(GNUTLS_DIG_SHA256, p, (size_t)(end - p), d) < 0)
		return -1;
	/* Every token is compared, whichever matches. */
	for (i = 0; i < a->ntokens; i++) {
		mask = 0U - digest_eq(d, a->tokens[i].digest);
		found |= a->tokens[i].line & mask;
	}
	explicit_bzero(d, sizeof(d));
	return found != 0 ? (int)found : -1;
}

bool
auth_has_tokens(const struct auth *a)
{
	return a != NULL && a->ntokens > 0;
}

const char *
auth_tls_cert(const struct auth *a)
{
	return a != NULL ? a->cert : NULL;
}

const char *
auth_tls_key(const struct auth *a)
{
	return a != NULL ? a->key : NULL;
}

const char *
auth_tls_client_ca(const struct auth *a)
{
	return a != NULL ? a->client_ca : NULL;
}

void
auth_free(struct auth *a)
{
	if (a == NULL)
		return;
	free(a->cert);
	free_secret(a->key, a->key_len);
	free(a->client_ca);
	free(a->token_path);
	if (a->tokens != NULL) {
		explicit_bzero(a->tokens, a->ntokens * sizeof(*a->tokens));
		free(a->tokens);
	}
	free(a);
}
