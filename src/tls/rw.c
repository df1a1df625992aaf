/* SPDX-License-Identifier: MIT */
/* Application data: read, write, write everything, and the two-way shutdown, each an SSL
 * call run through loop.c. */
#include <errno.h>

#include "core/error.h"
#include "tls.h"

struct transfer {
    void *buf;
    size_t len;
    size_t done; /* the bytes the call moved */
};

static int do_read(SSL *ssl, void *arg)
{
    struct transfer *x = arg;
    return SSL_read_ex(ssl, x->buf, x->len, &x->done);
}

static int do_write(SSL *ssl, void *arg)
{
    struct transfer *x = arg;
    return SSL_write_ex(ssl, x->buf, x->len, &x->done);
}

/* Our close_notify: 1 once it is out (SSL_shutdown's 0 or 1 then). */
static int do_shutdown(SSL *ssl, void *arg)
{
    (void)arg;
    int rc = SSL_shutdown(ssl);
    return rc >= 0 ? 1 : rc;
}

static int check(const green_tls_t *t, struct green__budget *b, double timeout, const char *api)
{
    if (!t)
        return green__fail(EINVAL, api, "no connection");
    return green__budget_begin(b, timeout, api);
}

GREEN_API ssize_t green_tls_read(green_tls_t *t, void *buf, size_t len, double timeout)
{
    const char *api = "green_tls_read";
    struct green__budget b;
    if (check(t, &b, timeout, api) < 0)
        return -1;
    if (len == 0)
        return 0;
    struct transfer x = {buf, len, 0};
    int rc = green__tls_loop(t, do_read, &x, &b, api);
    green__budget_end(&b);
    return rc < 0 ? -1 : (ssize_t)x.done; /* rc 0: close_notify, done is 0 */
}

/* Write within budget b: the bytes of the first successful SSL_write_ex, or -1. */
static ssize_t write_some(green_tls_t *t, const char *buf, size_t len, struct green__budget *b,
                          const char *api)
{
    struct transfer x = {(void *)buf, len, 0};
    int rc = green__tls_loop(t, do_write, &x, b, api);
    if (rc == 0) /* SSL_write never sees close_notify as an end: only after our own */
        return green__fail(EPROTO, api, "the connection has been shut down");
    return rc < 0 ? -1 : (ssize_t)x.done;
}

GREEN_API ssize_t green_tls_write(green_tls_t *t, const void *buf, size_t len, double timeout)
{
    const char *api = "green_tls_write";
    struct green__budget b;
    if (check(t, &b, timeout, api) < 0)
        return -1;
    if (len == 0)
        return 0;
    ssize_t n = write_some(t, buf, len, &b, api);
    green__budget_end(&b);
    return n;
}

GREEN_API ssize_t green_tls_write_all(green_tls_t *t, const void *buf, size_t len, double timeout,
                                      size_t *done)
{
    const char *api = "green_tls_write_all";
    struct green__budget b;
    if (done)
        *done = 0;
    if (check(t, &b, timeout, api) < 0)
        return -1;
    size_t got = 0;
    ssize_t n = 0;
    while (got < len && (n = write_some(t, (const char *)buf + got, len - got, &b, api)) > 0)
        got += (size_t)n;
    green__budget_end(&b);
    if (done)
        *done = got;
    return n < 0 ? -1 : (ssize_t)got;
}

GREEN_API int green_tls_shutdown(green_tls_t *t, double timeout)
{
    const char *api = "green_tls_shutdown";
    struct green__budget b;
    if (check(t, &b, timeout, api) < 0)
        return -1;
    int rc = green__tls_loop(t, do_shutdown, NULL, &b, api);
    /* Then the peer's close_notify: data still coming before it is dropped. */
    char sink[4096];
    while (rc > 0 && !(SSL_get_shutdown(t->ssl) & SSL_RECEIVED_SHUTDOWN)) {
        struct transfer x = {sink, sizeof sink, 0};
        rc = green__tls_loop(t, do_read, &x, &b, api);
    }
    green__budget_end(&b);
    return rc < 0 ? -1 : 0;
}
