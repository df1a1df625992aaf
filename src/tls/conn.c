/* SPDX-License-Identifier: MIT */
/* Connections: the handshake on the caller's socket, and what can be read off a live
 * connection.  The fd stays the caller's throughout: green_tls_free() leaves it open, so
 * the caller closes it with green_close(), which wakes whoever still waits on it. */
#include <arpa/inet.h>
#include <errno.h>
#include <openssl/err.h>
#include <openssl/x509v3.h>
#include <stdlib.h>
#include <string.h>

#include "core/error.h"
#include "tls.h"

static int do_handshake(SSL *ssl, void *arg)
{
    (void)arg;
    return SSL_do_handshake(ssl);
}

static bool is_ip_literal(const char *name)
{
    unsigned char buf[sizeof(struct in6_addr)];
    return inet_pton(AF_INET, name, buf) == 1 || inet_pton(AF_INET6, name, buf) == 1;
}

/* Who the client expects: SNI for a DNS name, and the name or address to verify. */
static int set_peer_name(SSL *ssl, const char *name, const char *api)
{
    bool ip = is_ip_literal(name);
    int ok = ip ? X509_VERIFY_PARAM_set1_ip_asc(SSL_get0_param(ssl), name)
                : SSL_set_tlsext_host_name(ssl, name) && SSL_set1_host(ssl, name);
    if (ok)
        return 0;
    ERR_clear_error();
    return green__fail(EINVAL, api, "cannot use '%s' as the server's name", name);
}

static struct green_tls *handshake(int fd, struct green_tls_ctx *ctx, const char *name,
                                   double timeout, const char *api)
{
    struct green__budget b;
    if (green__budget_begin(&b, timeout, api) < 0 || green__nonblock(fd, api) < 0)
        return NULL;
    struct green_tls *t = calloc(1, sizeof *t);
    if (!t || !(t->ssl = SSL_new(ctx->ssl_ctx))) {
        ERR_clear_error();
        free(t);
        green__fail(ENOMEM, api, "no memory for the connection");
        return NULL;
    }
    t->fd = fd;
    t->ctx = ctx;
    atomic_fetch_add(&ctx->refs, 1);
    int rc = SSL_set_fd(t->ssl, fd) ? 0 : green__fail(ENOMEM, api, "SSL_set_fd failed");
    if (rc == 0 && name && *name)
        rc = set_peer_name(t->ssl, name, api);
    if (rc == 0) {
        if (ctx->server)
            SSL_set_accept_state(t->ssl);
        else
            SSL_set_connect_state(t->ssl);
        rc = green__tls_loop(t, do_handshake, NULL, &b, api);
        if (rc == 0)
            rc = green__fail(ECONNRESET, api, "the peer ended TLS during the handshake");
    }
    green__budget_end(&b);
    if (rc > 0) {
        const unsigned char *p;
        unsigned len;
        SSL_get0_alpn_selected(t->ssl, &p, &len); /* OpenSSL's copy is not terminated */
        if (len)
            memcpy(t->alpn, p, len);
        t->alpn[len] = 0;
    }
    if (rc < 0) {
        int e = errno;
        green_tls_free(t);
        errno = e;
        return NULL;
    }
    return t;
}

GREEN_API green_tls_t *green_tls_connect(int fd, green_tls_ctx_t *ctx, const char *server_name,
                                         double timeout)
{
    const char *api = "green_tls_connect";
    if (fd < 0 || !ctx || ctx->server) {
        green__fail(EINVAL, api, "needs an fd and a client context");
        return NULL;
    }
    bool verify = SSL_CTX_get_verify_mode(ctx->ssl_ctx) != SSL_VERIFY_NONE;
    if (verify && (!server_name || !*server_name)) {
        green__fail(EINVAL, api, "verifying the server needs its name");
        return NULL;
    }
    return handshake(fd, ctx, server_name, timeout, api);
}

GREEN_API green_tls_t *green_tls_accept(int fd, green_tls_ctx_t *ctx, double timeout)
{
    const char *api = "green_tls_accept";
    if (fd < 0 || !ctx || !ctx->server) {
        green__fail(EINVAL, api, "needs an fd and a server context");
        return NULL;
    }
    return handshake(fd, ctx, NULL, timeout, api);
}

GREEN_API void green_tls_free(green_tls_t *t)
{
    if (!t)
        return;
    SSL_free(t->ssl); /* leaves the fd open: the socket BIO was made with BIO_NOCLOSE */
    green__tls_ctx_unref(t->ctx);
    free(t);
}

GREEN_API int green_tls_fd(const green_tls_t *t) { return t ? t->fd : -1; }

GREEN_API const char *green_tls_alpn(const green_tls_t *t)
{
    if (!t)
        return NULL;
    return t->alpn[0] ? t->alpn : NULL;
}

GREEN_API const char *green_tls_version(const green_tls_t *t)
{
    return t ? SSL_get_version(t->ssl) : NULL;
}
