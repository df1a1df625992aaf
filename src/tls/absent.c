/* SPDX-License-Identifier: MIT */
/* A build without OpenSSL (or without the hub): include/green/tls.h is still there, and
 * every call fails with ENOSYS, so programs can test for TLS at run time. */
#include <errno.h>

#include "base.h"
#include "core/error.h"
#include "green/tls.h"

#define ABSENT(api) green__fail(ENOSYS, api, "libgreen was built without TLS (OpenSSL)")

GREEN_API green_tls_ctx_t *green_tls_client_ctx_new(const green_tls_opts_t *opts)
{
    (void)opts;
    ABSENT("green_tls_client_ctx_new");
    return NULL;
}

GREEN_API green_tls_ctx_t *green_tls_server_ctx_new(const char *cert_file, const char *key_file,
                                                    const green_tls_opts_t *opts)
{
    (void)cert_file, (void)key_file, (void)opts;
    ABSENT("green_tls_server_ctx_new");
    return NULL;
}

GREEN_API void green_tls_ctx_free(green_tls_ctx_t *ctx) { (void)ctx; }

GREEN_API green_tls_t *green_tls_connect(int fd, green_tls_ctx_t *ctx, const char *server_name,
                                         double timeout)
{
    (void)fd, (void)ctx, (void)server_name, (void)timeout;
    ABSENT("green_tls_connect");
    return NULL;
}

GREEN_API green_tls_t *green_tls_accept(int fd, green_tls_ctx_t *ctx, double timeout)
{
    (void)fd, (void)ctx, (void)timeout;
    ABSENT("green_tls_accept");
    return NULL;
}

GREEN_API ssize_t green_tls_read(green_tls_t *t, void *buf, size_t len, double timeout)
{
    (void)t, (void)buf, (void)len, (void)timeout;
    return ABSENT("green_tls_read");
}

GREEN_API ssize_t green_tls_write(green_tls_t *t, const void *buf, size_t len, double timeout)
{
    (void)t, (void)buf, (void)len, (void)timeout;
    return ABSENT("green_tls_write");
}

GREEN_API ssize_t green_tls_write_all(green_tls_t *t, const void *buf, size_t len, double timeout,
                                      size_t *done)
{
    (void)t, (void)buf, (void)len, (void)timeout;
    if (done)
        *done = 0;
    return ABSENT("green_tls_write_all");
}

GREEN_API int green_tls_shutdown(green_tls_t *t, double timeout)
{
    (void)t, (void)timeout;
    return ABSENT("green_tls_shutdown");
}

GREEN_API void green_tls_free(green_tls_t *t) { (void)t; }

GREEN_API int green_tls_fd(const green_tls_t *t)
{
    (void)t;
    return -1;
}

GREEN_API const char *green_tls_alpn(const green_tls_t *t)
{
    (void)t;
    return NULL;
}

GREEN_API const char *green_tls_version(const green_tls_t *t)
{
    (void)t;
    return NULL;
}
