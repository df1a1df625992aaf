/* SPDX-License-Identifier: MIT */
/* The loop every TLS call runs: try the SSL call; when OpenSSL wants the socket readable
 * or writable, wait for that on the hub within the call's budget, then try again.  A
 * failure is turned into one errno: the socket's own (SSL_ERROR_SYSCALL), EKEYREJECTED for
 * a certificate OpenSSL would not accept, ECONNRESET for an end without close_notify,
 * EPROTO for everything else TLS reports.
 *
 * OpenSSL's error queue is per thread and greenlets share the thread: it is cleared before
 * each attempt and read right after it, before anything could switch. */
#include <errno.h>
#include <openssl/err.h>
#include <openssl/x509.h>
#include <string.h>

#include "core/error.h"
#include "tls.h"

static int fail_ssl(struct green_tls *t, const char *api)
{
    unsigned long e = ERR_peek_error();
    int reason = ERR_GET_REASON(e);
    if (ERR_GET_LIB(e) == ERR_LIB_SSL && reason == SSL_R_CERTIFICATE_VERIFY_FAILED) {
        long v = SSL_get_verify_result(t->ssl);
        return green__fail(EKEYREJECTED, api, "certificate verify failed: %s",
                           X509_verify_cert_error_string(v));
    }
    if (ERR_GET_LIB(e) == ERR_LIB_SSL && reason == SSL_R_UNEXPECTED_EOF_WHILE_READING)
        return green__fail(ECONNRESET, api, "no TLS close_notify before the end of the connection");
    char text[256];
    ERR_error_string_n(e, text, sizeof text);
    return green__fail(EPROTO, api, "TLS error: %s", e ? text : "unknown");
}

static int fail(struct green_tls *t, int err, int sys_errno, const char *api)
{
    int rc;
    if (err == SSL_ERROR_SSL)
        rc = fail_ssl(t, api);
    else if (err == SSL_ERROR_SYSCALL && sys_errno != 0)
        rc = green__fail(sys_errno, api, "fd %d: %s", t->fd, strerror(sys_errno));
    else if (err == SSL_ERROR_SYSCALL)
        rc = green__fail(ECONNRESET, api, "no TLS close_notify before the end of the connection");
    else
        rc = green__fail(EPROTO, api, "unexpected SSL_get_error %d", err);
    ERR_clear_error();
    return rc;
}

int green__tls_loop(struct green_tls *t, green__tls_op op, void *arg, struct green__budget *b,
                    const char *api)
{
    for (;;) {
        ERR_clear_error();
        errno = 0;
        int rc = op(t->ssl, arg);
        if (rc > 0)
            return 1;
        int sys_errno = errno;
        int err = SSL_get_error(t->ssl, rc);
        int events;
        if (err == SSL_ERROR_WANT_READ)
            events = GREEN_READ;
        else if (err == SSL_ERROR_WANT_WRITE)
            events = GREEN_WRITE;
        else if (err == SSL_ERROR_ZERO_RETURN)
            return 0;
        else if (err == SSL_ERROR_SYSCALL && sys_errno == EINTR)
            continue;
        else
            return fail(t, err, sys_errno, api);
        if (green__budget_arm(b) < 0 || green_wait_fd(t->fd, events, GREEN_FOREVER) < 0)
            return green__io_refail(api); /* after EBADF the fd is not touched again */
    }
}
