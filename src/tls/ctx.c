/* SPDX-License-Identifier: MIT */
/* Contexts: a client's trust (verification on unless switched off explicitly), a server's
 * identity, and the ALPN list both sides may carry.
 *
 * A context is referenced by its handle and by each connection made with it, because the
 * server's ALPN callback reads the context's list during every later handshake. */
#include <errno.h>
#include <openssl/err.h>
#include <openssl/x509.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/error.h"
#include "tls.h"

/* "h2,http/1.1" -> "\x02h2\x08http/1.1". */
static int alpn_wire(struct green_tls_ctx *c, const char *list, const char *api)
{
    size_t n = strlen(list);
    c->alpn = malloc(n + 1);
    if (!c->alpn)
        return green__fail(ENOMEM, api, "no memory for the ALPN list");
    size_t out = 0;
    for (const char *p = list;;) {
        const char *end = strchr(p, ',');
        size_t len = end ? (size_t)(end - p) : strlen(p);
        if (len == 0 || len > 255)
            return green__fail(EINVAL, api, "ALPN list '%s': names must be 1 to 255 bytes", list);
        c->alpn[out++] = (unsigned char)len;
        memcpy(c->alpn + out, p, len);
        out += len;
        if (!end)
            break;
        p = end + 1;
    }
    c->alpn_len = (unsigned)out;
    return 0;
}

static int alpn_select(SSL *ssl, const unsigned char **out, unsigned char *outlen,
                       const unsigned char *in, unsigned inlen, void *arg)
{
    (void)ssl;
    struct green_tls_ctx *c = arg;
    unsigned char *chosen;
    if (SSL_select_next_proto(&chosen, outlen, c->alpn, c->alpn_len, in, inlen) !=
        OPENSSL_NPN_NEGOTIATED)
        return SSL_TLSEXT_ERR_NOACK; /* nothing in common: go on without ALPN */
    *out = chosen;
    return SSL_TLSEXT_ERR_OK;
}

static struct green_tls_ctx *ctx_new(bool server, const green_tls_opts_t *opts, const char *api)
{
    struct green_tls_ctx *c = calloc(1, sizeof *c);
    if (!c) {
        green__fail(ENOMEM, api, "no memory for the context");
        return NULL;
    }
    atomic_init(&c->refs, 1);
    c->server = server;
    c->ssl_ctx = SSL_CTX_new(server ? TLS_server_method() : TLS_client_method());
    if (!c->ssl_ctx) {
        ERR_clear_error();
        free(c);
        green__fail(ENOMEM, api, "SSL_CTX_new failed");
        return NULL;
    }
    SSL_CTX_set_min_proto_version(c->ssl_ctx, TLS1_2_VERSION);
    /* A write returns after each record (green_tls_write may be partial), and a retried
     * write may come from another buffer address (the caller's copy of the same bytes). */
    SSL_CTX_set_mode(c->ssl_ctx,
                     SSL_MODE_ENABLE_PARTIAL_WRITE | SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER);
    if (opts && opts->alpn && alpn_wire(c, opts->alpn, api) < 0) {
        green__tls_ctx_unref(c);
        return NULL;
    }
    return c;
}

/* Refuse with the errno of a file OpenSSL could not use: access(2)'s, or EPROTO. */
static int bad_file(const char *path, const char *what, const char *api)
{
    int e = access(path, R_OK) < 0 ? errno : EPROTO;
    unsigned long err = ERR_peek_error();
    char text[256];
    ERR_error_string_n(err, text, sizeof text);
    ERR_clear_error();
    if (e != EPROTO)
        return green__fail(e, api, "%s '%s': %s", what, path, strerror(e));
    return green__fail(EPROTO, api, "%s '%s' is not usable: %s", what, path,
                       err ? text : "no certificate in it");
}

GREEN_API green_tls_ctx_t *green_tls_client_ctx_new(const green_tls_opts_t *opts)
{
    const char *api = "green_tls_client_ctx_new";
    struct green_tls_ctx *c = ctx_new(false, opts, api);
    if (!c)
        return NULL;
    int rc = 0;
    if (opts && (opts->ca_file || opts->ca_path)) {
        if (!SSL_CTX_load_verify_locations(c->ssl_ctx, opts->ca_file, opts->ca_path))
            rc = opts->ca_file ? bad_file(opts->ca_file, "CA file", api)
                               : bad_file(opts->ca_path, "CA directory", api);
    } else if (!SSL_CTX_set_default_verify_paths(c->ssl_ctx)) {
        ERR_clear_error();
        rc = green__fail(ENOMEM, api, "cannot set the system's CA store");
    }
    if (rc == 0 && c->alpn && SSL_CTX_set_alpn_protos(c->ssl_ctx, c->alpn, c->alpn_len) != 0)
        rc = green__fail(ENOMEM, api, "cannot set the ALPN list");
    if (rc < 0) {
        green__tls_ctx_unref(c);
        return NULL;
    }
    SSL_CTX_set_verify(c->ssl_ctx, opts && opts->no_verify ? SSL_VERIFY_NONE : SSL_VERIFY_PEER,
                       NULL);
    return c;
}

GREEN_API green_tls_ctx_t *green_tls_server_ctx_new(const char *cert_file, const char *key_file,
                                                    const green_tls_opts_t *opts)
{
    const char *api = "green_tls_server_ctx_new";
    if (!cert_file || !key_file) {
        green__fail(EINVAL, api, "the certificate and the key file are needed");
        return NULL;
    }
    if (opts && (opts->ca_file || opts->ca_path || opts->no_verify)) {
        green__fail(EINVAL, api, "servers verify no clients: no ca_file, ca_path, no_verify");
        return NULL;
    }
    struct green_tls_ctx *c = ctx_new(true, opts, api);
    if (!c)
        return NULL;
    int rc = 0;
    if (!SSL_CTX_use_certificate_chain_file(c->ssl_ctx, cert_file))
        rc = bad_file(cert_file, "certificate file", api);
    else if (!SSL_CTX_use_PrivateKey_file(c->ssl_ctx, key_file, SSL_FILETYPE_PEM) &&
             ERR_GET_REASON(ERR_peek_last_error()) != X509_R_KEY_VALUES_MISMATCH)
        rc = bad_file(key_file, "key file", api);
    else if (ERR_peek_error() || !SSL_CTX_check_private_key(c->ssl_ctx)) {
        ERR_clear_error();
        rc = green__fail(EPROTO, api, "the key of '%s' does not match the certificate of '%s'",
                         key_file, cert_file);
    }
    if (rc < 0) {
        green__tls_ctx_unref(c);
        return NULL;
    }
    if (c->alpn)
        SSL_CTX_set_alpn_select_cb(c->ssl_ctx, alpn_select, c);
    return c;
}

void green__tls_ctx_unref(struct green_tls_ctx *c)
{
    if (atomic_fetch_sub(&c->refs, 1) != 1)
        return;
    SSL_CTX_free(c->ssl_ctx);
    free(c->alpn);
    free(c);
}

GREEN_API void green_tls_ctx_free(green_tls_ctx_t *ctx)
{
    if (ctx)
        green__tls_ctx_unref(ctx);
}
