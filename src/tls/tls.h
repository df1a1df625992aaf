/* SPDX-License-Identifier: MIT */
/* What the TLS files share: the two objects, and the one try-then-wait loop every SSL call
 * goes through (loop.c).  OpenSSL tells which way it is blocked (WANT_READ or WANT_WRITE),
 * so unlike io/fd.c's loop the direction of each wait is chosen per attempt. */
#ifndef GREEN_TLS_TLS_H
#define GREEN_TLS_TLS_H

#include <openssl/ssl.h>
#include <stdatomic.h>

#include "green/tls.h"
#include "io/io.h"

struct green_tls_ctx {
    SSL_CTX *ssl_ctx;
    bool server;
    atomic_int refs;     /* the handle, and one per connection (alpn must outlive them) */
    unsigned char *alpn; /* the protocol list in ALPN's wire format, or NULL */
    unsigned alpn_len;
};

struct green_tls {
    SSL *ssl;
    int fd;
    struct green_tls_ctx *ctx;
    char alpn[256]; /* the protocol ALPN agreed on, terminated; "" for none */
};

/* Drop one reference of ctx, freeing it with the last (ctx.c). */
GREEN_HIDDEN void green__tls_ctx_unref(struct green_tls_ctx *ctx);

/* One attempt of an SSL call: 1 on success (its results in arg), or the call's return
 * value for SSL_get_error(). */
typedef int (*green__tls_op)(SSL *ssl, void *arg);

/* Run op until it succeeds or fails for good, waiting on t's fd within budget b in the
 * direction OpenSSL asks for.  Returns 1, 0 when the peer's close_notify ended it
 * (SSL_ERROR_ZERO_RETURN), or -1 with errno (the mapping of tls.h) naming api. */
GREEN_HIDDEN int green__tls_loop(struct green_tls *t, green__tls_op op, void *arg,
                                 struct green__budget *b, const char *api);

#endif /* GREEN_TLS_TLS_H */
