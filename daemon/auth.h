/*
 * auth: who may talk to rumprund over TCP.
 *
 * The unix socket needs nothing: its mode and group decide who can
 * connect, and each changing request is logged with the caller's uid.  A
 * TCP listener (the tcp key, or a TCP socket passed by systemd) is open to
 * whoever can reach it, so rumprund.conf must say how its clients are
 * authenticated, and rumprund refuses to start (and "rumprund -n" to pass)
 * otherwise:
 *
 * - tls_cert and tls_key (PEM) make the listener HTTPS.  tls_client_ca
 *   (PEM, one or more CA certificates) then requires every client to
 *   present a certificate that chains to one of them, checked in the TLS
 *   handshake: a client without one never gets to send a request.
 * - token_file holds bearer tokens, one a line ('#' comments and blank
 *   lines aside, at least 16 characters of [A-Za-z0-9-._~+/=]).  With it,
 *   every TCP request needs "Authorization: Bearer TOKEN" with one of
 *   them, checked before any route; otherwise 401 with the JSON error
 *   "unauthorized" and a WWW-Authenticate header.  Tokens are kept as
 *   SHA-256 digests and compared in constant time, each against all.
 *   SIGHUP rereads the file.
 * - With both, a client needs both.  With neither, nothing authenticates
 *   clients: refused unless tcp_insecure = yes, and then only on a
 *   loopback address (127.0.0.0/8, ::1).
 * - Without TLS, a token would cross the network in clear: plain HTTP is
 *   served on loopback addresses only, token or not.
 *
 * tls_key and token_file must not be readable by others (chmod o-rwx).
 * Errors name the key and where rumprund.conf set it ("FILE:LINE: key").
 *
 * Everything here runs on the loop thread (or before the loop starts).
 */
#ifndef AUTH_H
#define AUTH_H

#include <stdbool.h>

#include <sys/socket.h>

#include "config.h"
#include "rrerr.h"

struct auth;

/*
 * Read and check the TLS files and the token file that cfg names: files
 * readable, certificates and key parse, the key matches the certificate,
 * the token file holds tokens, the keys that go together are there.
 * Returns a new struct auth (free with auth_free()), or NULL with err.
 * cfg is only read during the call.
 */
struct auth *auth_load(const struct config *cfg, struct rrerr *err);

/*
 * May a TCP listener on sa be served with these settings?  what says where
 * it comes from, for the message ("FILE:LINE: tcp", "the TCP socket passed
 * by systemd").  Returns 0, or -1 with err.
 */
int auth_check_tcp(const struct auth *a, const struct sockaddr *sa,
    const char *what, struct rrerr *err);

/* Is sa a loopback address (127.0.0.0/8, ::1, ::ffff:127.0.0.0/104)? */
bool auth_is_loopback(const struct sockaddr *sa);

/*
 * Read token_file again.  On failure the tokens in use stay and err says
 * why.  Returns 0 (also when there is no token_file), or -1.
 */
int auth_reload_tokens(struct auth *a, struct rrerr *err);

/*
 * An httpd_auth_fn: whether the Authorization header value (NULL when
 * absent) carries a valid bearer token.  Returns the token's line in
 * token_file (> 0), 0 when no token is configured (everyone passes), or
 * -1.  arg is the struct auth.
 */
int auth_bearer(const char *authorization, void *arg);

/* Whether tokens are configured (TCP requests then need one). */
bool auth_has_tokens(const struct auth *a);

/* The PEM texts for httpd (borrowed; NULL when not configured). */
const char *auth_tls_cert(const struct auth *a);
const char *auth_tls_key(const struct auth *a);
const char *auth_tls_client_ca(const struct auth *a);

/* Wipe the key and the digests and free a.  NULL is fine. */
void auth_free(struct auth *a);

#endif
