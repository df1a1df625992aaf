/* SPDX-License-Identifier: MIT */
/* libgreen tls: TLS clients and servers on OpenSSL, cooperative (gevent.ssl).
 *
 * A connection wraps a connected stream socket the caller owns: green_tls_connect() or
 * green_tls_accept() runs the handshake on it, then green_tls_read()/write() move
 * application data.  Where OpenSSL would block (SSL_ERROR_WANT_READ or WANT_WRITE) the
 * calling greenlet waits for the fd on the hub (green_wait_fd, watch.h) and other
 * greenlets run; the socket is made non-blocking.  One greenlet may read while another
 * writes on the same connection (a reader that needs to write, e.g. for a TLS 1.3 key
 * update, counts as a writer: EBUSY as in io.h).
 *
 * Verification.  A client context verifies the server by default: its certificate chain
 * against the system's CA store (or opts->ca_file / ca_path), and its name against the
 * server_name given to green_tls_connect() (a DNS name, or an IP address literal matched
 * against the certificate's IP addresses).  Only opts->no_verify turns this off.  A
 * failed verification fails the handshake with EKEYREJECTED; green_last_error() then
 * names X509's reason ("certificate verify failed: self-signed certificate", "hostname
 * mismatch", ...).
 *
 * Timeouts and errors as io.h: every call takes a timeout in seconds for the whole call
 * (GREEN_FOREVER: none), and fails with -1 (NULL) and errno: ETIMEDOUT, ECANCELED (the
 * greenlet is being killed), EBADF (the fd closed with green_close() while waiting),
 * EBUSY, EDEADLK, EPERM (from the hub), EINTR, ENOMEM, EINVAL (NaN timeout), plus each
 * call's own codes.  green_last_error() adds OpenSSL's own description of a failure.
 * After a failure other than ETIMEDOUT/ECANCELED in a read or the handshake, the
 * connection is broken: free it.  A write that timed out or was killed may have queued
 * part of a TLS record: only repeating the same write (same buffer, same length) or
 * freeing the connection is safe then (OpenSSL's retry rule).
 *
 * Signals.  OpenSSL writes to the socket with write(2): writing to a peer that is gone
 * raises SIGPIPE (as io.h), so ignore it.
 *
 * Builds.  Without OpenSSL (meson option tls, libssl-dev) or without the hub, every call
 * here fails with ENOSYS.
 */
#ifndef GREEN_TLS_H
#define GREEN_TLS_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

#include "hub.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct green_tls_ctx green_tls_ctx_t; /* shared settings: trust, identity, ALPN */
typedef struct green_tls green_tls_t;         /* one TLS connection over a socket */

/* Options of a context; zero them (GREEN_TLS_OPTS_INIT) and set what you need. */
typedef struct green_tls_opts {
    const char *ca_file; /* PEM file of trusted CAs instead of the system store (clients) */
    const char *ca_path; /* a hashed directory of CAs (c_rehash) instead of it (clients) */
    bool no_verify;      /* clients: accept any certificate and name (insecure) */
    const char *alpn;    /* protocols to offer (client) or accept (server), in order of
                            preference, comma-separated ("h2,http/1.1"); NULL: no ALPN */
} green_tls_opts_t;

#define GREEN_TLS_OPTS_INIT                                                                        \
    {                                                                                              \
        .ca_file = NULL, .ca_path = NULL, .no_verify = false, .alpn = NULL                         \
    }

/* ---- contexts ------------------------------------------------------------------------- */

/* A client context: TLS 1.2 or later, verifying servers (see above) against opts->ca_file
 * and/or opts->ca_path if set, else the system's default CA store.  opts may be NULL
 * (defaults).  Never switches.  Returns the context, or NULL with errno EINVAL (a bad alpn
 * list: empty names or longer than 255 bytes), ENOENT (ca_file or ca_path does not exist),
 * EACCES (cannot be read), EPROTO (they hold no usable certificate), ENOMEM, ENOSYS (built
 * without TLS). */
GREEN_API green_tls_ctx_t *green_tls_client_ctx_new(const green_tls_opts_t *opts);

/* A server context presenting the certificate chain of cert_file (PEM: the server's
 * certificate first, then its intermediates) with the private key of key_file (PEM).
 * Client certificates are not requested; opts (may be NULL) gives only alpn: a client's
 * offer is answered with the first of the server's protocols it contains (none in common:
 * no ALPN, the handshake goes on).  Never switches.  Returns the context, or NULL with
 * errno EINVAL (cert_file or key_file NULL, opts with ca_file, ca_path or no_verify set,
 * a bad alpn list), ENOENT (a file does not exist), EACCES (cannot be read), EPROTO (not a
 * certificate or a key,
 * or the key does not match the certificate), ENOMEM, ENOSYS. */
GREEN_API green_tls_ctx_t *green_tls_server_ctx_new(const char *cert_file, const char *key_file,
                                                    const green_tls_opts_t *opts);

/* Free ctx.  Connections made with it keep what they need (OpenSSL counts references), so
 * it may be freed while they live.  NULL is ignored.  Never fails. */
GREEN_API void green_tls_ctx_free(green_tls_ctx_t *ctx);

/* ---- connections ---------------------------------------------------------------------- */

/* Run a client handshake on the connected stream socket fd with a client ctx: sends
 * server_name as SNI (not for an IP literal) and verifies the server (unless no_verify).
 * fd stays the caller's: green_tls_free() does not close it.  Returns the connection, or
 * NULL with errno EINVAL (fd < 0, ctx NULL or a server context, server_name NULL or empty
 * while verifying), EKEYREJECTED (verification failed), EPROTO (the handshake failed: an
 * alert from the server, not TLS, no protocol in common), ECONNRESET (the server closed or
 * reset the connection during the handshake), EBADF (fd is not open) and the errors
 * above (ETIMEDOUT, ECANCELED, ...), ENOSYS. */
GREEN_API green_tls_t *green_tls_connect(int fd, green_tls_ctx_t *ctx, const char *server_name,
                                         double timeout);

/* Run a server handshake on the accepted stream socket fd with a server ctx.  fd stays the
 * caller's.  Returns the connection, or NULL with errno EINVAL (fd < 0, ctx NULL or a
 * client context), EPROTO (the handshake failed: the client sent an alert, e.g. because
 * it rejected our certificate, or spoke no TLS), ECONNRESET (the client closed or reset
 * the connection during the handshake), EBADF and the errors above, ENOSYS. */
GREEN_API green_tls_t *green_tls_accept(int fd, green_tls_ctx_t *ctx, double timeout);

/* Read up to len bytes of application data.  Returns the bytes read (data already
 * decrypted is returned without waiting), 0 when the peer has shut TLS down (its
 * close_notify; also for len 0), or -1 with errno ECONNRESET (the peer closed or reset
 * the connection without a close_notify: what came may be truncated), EPROTO (a TLS
 * error, an alert), EINVAL (t NULL) and the errors above, ENOSYS. */
GREEN_API ssize_t green_tls_read(green_tls_t *t, void *buf, size_t len, double timeout);

/* Write up to len bytes of application data; returns after the first TLS record(s) went
 * out, which may be fewer bytes than len (green_tls_write_all() writes everything).
 * Returns the bytes written (0 for len 0), or -1 with errno EPIPE or ECONNRESET (the peer
 * is gone), EPROTO (a TLS error, or writing after green_tls_shutdown()), EINVAL (t NULL)
 * and the errors above, ENOSYS. */
GREEN_API ssize_t green_tls_write(green_tls_t *t, const void *buf, size_t len, double timeout);

/* Write all len bytes, within one timeout for the whole.  Returns len, or -1 with errno as
 * green_tls_write() and the bytes that did get written in *done (always set, if done is
 * not NULL). */
GREEN_API ssize_t green_tls_write_all(green_tls_t *t, const void *buf, size_t len, double timeout,
                                      size_t *done);

/* Shut TLS down both ways: send our close_notify, then read (and discard) until the
 * peer's close_notify arrives (at once if it came already), within timeout.  fd is left
 * open and at a clean TLS end (the caller may go on in plain text, or close it).  Returns
 * 0, or -1 with errno ECONNRESET (the peer closed the connection without its
 * close_notify: ours may still have been sent), EPIPE, EPROTO, EINVAL (t NULL) and the
 * errors above, ENOSYS. */
GREEN_API int green_tls_shutdown(green_tls_t *t, double timeout);

/* Free the connection without a shutdown (no close_notify is sent) and without closing
 * its fd, which stays the caller's (green_close() it).  Never switches.  NULL is
 * ignored.  Never fails. */
GREEN_API void green_tls_free(green_tls_t *t);

/* The socket t runs on (-1 for NULL).  Never fails. */
GREEN_API int green_tls_fd(const green_tls_t *t);

/* The protocol ALPN agreed on ("h2"), or NULL if none (or t NULL); valid until t is
 * freed.  Never fails. */
GREEN_API const char *green_tls_alpn(const green_tls_t *t);

/* The TLS version in use, as OpenSSL names it ("TLSv1.3"), or NULL for t NULL.  Never
 * fails. */
GREEN_API const char *green_tls_version(const green_tls_t *t);

#ifdef __cplusplus
}
#endif

#endif /* GREEN_TLS_H */
