/* SPDX-License-Identifier: MIT */
/* TLS (include/green/tls.h) over loopback TCP pairs, with certificates made at run time
 * (tls_certs.h): handshake and echo (both ways at once, ALPN), verification on by default
 * (a self-signed server is refused, the test CA accepted), hostname and IP mismatches,
 * handshake, read, write and shutdown timeouts, a kill during a read, one reader at a time, the
 * two-way shutdown and an end without close_notify, a peer that speaks no TLS, the contexts'
 * refusals, and many connections on one hub at once (echo and many: with each stack model). */
#include <signal.h>

#include "io_util.h"
#include "tls_certs.h"

#include <cmocka.h>

static struct certs certs;
static green_tls_ctx_t *server_ctx; /* the CA-signed certificate, ALPN http/1.1 */
static green_tls_ctx_t *client_ctx; /* trusts the test CA, offers h2 and http/1.1 */
static int sv[2];

static int group_setup(void **state)
{
    (void)state;
    signal(SIGPIPE, SIG_IGN);
    if (certs_make(&certs) != 0)
        return -1;
    green_tls_opts_t so = GREEN_TLS_OPTS_INIT, co = GREEN_TLS_OPTS_INIT;
    so.alpn = "http/1.1";
    co.ca_file = certs.ca;
    co.alpn = "h2,http/1.1";
    server_ctx = green_tls_server_ctx_new(certs.server, certs.server_key, &so);
    client_ctx = green_tls_client_ctx_new(&co);
    if (!server_ctx || !client_ctx) {
        fprintf(stderr, "contexts: %s\n", green_last_error());
        return -1;
    }
    return 0;
}

static int group_teardown(void **state)
{
    (void)state;
    green_tls_ctx_free(server_ctx);
    green_tls_ctx_free(client_ctx);
    certs_remove(&certs);
    return 0;
}

static void pair(void) { assert_int_equal(tcp_pair(sv), 0); }

static void unpair(void)
{
    green_close(sv[0]);
    green_close(sv[1]);
}

/* ---- a server greenlet: accept, then echo until the client shuts TLS down ------------ */

struct server {
    int fd;
    green_tls_ctx_t *ctx;
    int accept_errno; /* 0: the handshake succeeded */
    size_t echoed;
    int read_errno; /* how the echo loop ended: 0 for the client's close_notify */
    bool shut_down; /* the client's close_notify came, and ours went back */
};

static void *echo_server(void *arg)
{
    struct server *s = arg;
    green_tls_t *t = green_tls_accept(s->fd, s->ctx, 10);
    if (!t) {
        s->accept_errno = errno;
        return NULL;
    }
    char buf[16384];
    ssize_t n;
    while ((n = green_tls_read(t, buf, sizeof buf, 10)) > 0) {
        CHECK_EQ(green_tls_write_all(t, buf, (size_t)n, 10, NULL), n);
        s->echoed += (size_t)n;
    }
    if (n < 0)
        s->read_errno = errno; /* the tests that end without close_notify check it */
    else {
        CHECK_EQ(green_tls_shutdown(t, 10), 0);
        s->shut_down = true;
    }
    green_tls_free(t);
    return NULL;
}

/* ---- handshake and echo --------------------------------------------------------------- */

#define BIG (1024 * 1024 + 17) /* more than the socket buffers: both ways at once */

struct big_read {
    green_tls_t *t;
    char *buf;
    size_t got;
};

static void *read_back(void *arg)
{
    struct big_read *r = arg;
    ssize_t n;
    while (r->got < BIG && (n = green_tls_read(r->t, r->buf + r->got, BIG - r->got, 10)) > 0)
        r->got += (size_t)n;
    return NULL;
}

static void test_echo(void **state)
{
    pair();
    struct server s = {.fd = sv[1], .ctx = server_ctx};
    green_t *g = SPAWN_MODEL(echo_server, &s, model_of(state));
    green_tls_t *t = green_tls_connect(sv[0], client_ctx, "localhost", 10);
    assert_non_null(t);
    assert_int_equal(green_tls_fd(t), sv[0]);
    assert_string_equal(green_tls_alpn(t), "http/1.1"); /* the server's choice */
    assert_string_equal(green_tls_version(t), "TLSv1.3");
    assert_int_equal(green_tls_write(t, "hello", 5, 10), 5);
    char buf[8] = {0};
    assert_int_equal(green_tls_read(t, buf, sizeof buf, 10), 5);
    assert_string_equal(buf, "hello");
    /* 1 MiB out while a second greenlet reads it back: a reader and a writer at once */
    char *out = malloc(BIG);
    struct big_read r = {t, malloc(BIG), 0};
    for (size_t i = 0; i < BIG; i++)
        out[i] = (char)(i * 7 + i / 251);
    green_t *rg = SPAWN_MODEL(read_back, &r, model_of(state));
    size_t done = 0;
    assert_int_equal(green_tls_write_all(t, out, BIG, 10, &done), BIG);
    assert_int_equal(done, BIG);
    JOIN(rg);
    assert_int_equal(r.got, BIG);
    assert_memory_equal(r.buf, out, BIG);
    free(out);
    free(r.buf);
    /* the two-way shutdown: ours, the server's read sees 0 and answers */
    assert_int_equal(green_tls_shutdown(t, 10), 0);
    JOIN(g);
    assert_no_failures();
    assert_true(s.shut_down);
    assert_int_equal(s.echoed, 5 + BIG);
    assert_int_equal(green_tls_read(t, buf, sizeof buf, 10), 0); /* after the end: EOF */
    CHECK_FAILS(green_tls_write(t, "x", 1, 10), EPROTO);
    green_tls_free(t);
    /* the fd is still ours, and open */
    assert_true(fcntl(sv[0], F_GETFD) >= 0);
    unpair();
}

/* ---- verification --------------------------------------------------------------------- */

/* A handshake of a client ctx against a server ctx; returns the client's errno (0: it
 * connected) and the server's in *server_errno. */
static int try_handshake(green_tls_ctx_t *cctx, green_tls_ctx_t *sctx, const char *name,
                         int *server_errno, char *msg, size_t msglen)
{
    pair();
    struct server s = {.fd = sv[1], .ctx = sctx};
    green_t *g = SPAWN(echo_server, &s);
    green_tls_t *t = green_tls_connect(sv[0], cctx, name, 10);
    int e = t ? 0 : errno;
    snprintf(msg, msglen, "%s", green_last_error());
    if (t) {
        green_tls_shutdown(t, 10);
        green_tls_free(t);
    } else {
        green_close(sv[0]); /* the server's read ends */
        sv[0] = -1;
    }
    JOIN(g);
    *server_errno = s.accept_errno;
    if (sv[0] >= 0)
        green_close(sv[0]);
    green_close(sv[1]);
    return e;
}

static green_tls_ctx_t *self_server(void)
{
    green_tls_ctx_t *c = green_tls_server_ctx_new(certs.self, certs.self_key, NULL);
    assert_non_null(c);
    return c;
}

static void test_verify_default(void **state)
{
    (void)state;
    char msg[512];
    int server_errno;
    green_tls_ctx_t *self = self_server();
    /* the defaults: the system's CA store, verification on */
    green_tls_ctx_t *sys = green_tls_client_ctx_new(NULL);
    assert_non_null(sys);
    assert_int_equal(try_handshake(sys, self, "localhost", &server_errno, msg, sizeof msg),
                     EKEYREJECTED);
    assert_non_null(strstr(msg, "certificate verify failed: self-signed certificate"));
    assert_int_equal(server_errno, EPROTO); /* the client's alert */
    /* a CA-signed certificate, but not by a CA the system knows */
    assert_int_equal(try_handshake(sys, server_ctx, "localhost", &server_errno, msg, sizeof msg),
                     EKEYREJECTED);
    assert_non_null(strstr(msg, "unable to get local issuer certificate"));
    /* trusting the test CA does not make the self-signed one acceptable */
    assert_int_equal(try_handshake(client_ctx, self, "localhost", &server_errno, msg, sizeof msg),
                     EKEYREJECTED);
    /* only an explicit no_verify accepts it, whatever the name */
    green_tls_opts_t o = GREEN_TLS_OPTS_INIT;
    o.no_verify = true;
    green_tls_ctx_t *blind = green_tls_client_ctx_new(&o);
    assert_non_null(blind);
    assert_int_equal(try_handshake(blind, self, "example.com", &server_errno, msg, sizeof msg), 0);
    assert_int_equal(try_handshake(blind, self, NULL, &server_errno, msg, sizeof msg), 0);
    assert_int_equal(server_errno, 0);
    green_tls_ctx_free(blind);
    green_tls_ctx_free(sys);
    green_tls_ctx_free(self);
    assert_no_failures();
}

static void test_ca_file_and_names(void **state)
{
    (void)state;
    char msg[512];
    int server_errno;
    assert_int_equal(
        try_handshake(client_ctx, server_ctx, "localhost", &server_errno, msg, sizeof msg), 0);
    assert_int_equal(
        try_handshake(client_ctx, server_ctx, "127.0.0.1", &server_errno, msg, sizeof msg), 0);
    assert_int_equal(server_errno, 0);
    /* the chain is good, the name is not */
    assert_int_equal(
        try_handshake(client_ctx, server_ctx, "example.com", &server_errno, msg, sizeof msg),
        EKEYREJECTED);
    assert_non_null(strstr(msg, "hostname mismatch"));
    assert_int_equal(server_errno, EPROTO);
    assert_int_equal(
        try_handshake(client_ctx, server_ctx, "127.0.0.2", &server_errno, msg, sizeof msg),
        EKEYREJECTED);
    assert_non_null(strstr(msg, "IP address mismatch"));
    assert_no_failures();
}

/* ---- timeouts and kills --------------------------------------------------------------- */

static void test_handshake_timeouts(void **state)
{
    (void)state;
    pair(); /* the peer never answers, either way */
    double t0 = monotonic_seconds();
    CHECK_NULL(green_tls_connect(sv[0], client_ctx, "localhost", 0.05), ETIMEDOUT);
    double waited = monotonic_seconds() - t0;
    assert_true(waited >= 0.05 && waited < 5);
    assert_string_equal(green_last_error(), "libgreen: green_tls_connect: timed out");
    unpair();
    pair();
    CHECK_NULL(green_tls_accept(sv[1], server_ctx, 0.05), ETIMEDOUT);
    /* a scoped timeout ends a handshake without a limit of its own */
    green_timeout_t *to = green_timeout_start(0.02);
    CHECK_NULL(green_tls_accept(sv[0], server_ctx, GREEN_FOREVER), ETIMEDOUT);
    assert_int_equal(green_timeout_end(to), 1);
    unpair();
    assert_no_failures();
}

/* A connected pair: *c the client's end, *s the server's (the server greenlet echoes). */
static green_t *connected(struct server *s, green_tls_t **c)
{
    pair();
    *s = (struct server){.fd = sv[1], .ctx = server_ctx};
    green_t *g = SPAWN(echo_server, s);
    *c = green_tls_connect(sv[0], client_ctx, "localhost", 10);
    assert_non_null(*c);
    return g;
}

struct blocked_read {
    green_tls_t *t;
    ssize_t rc;
    int err;
};

static void *read_forever(void *arg)
{
    struct blocked_read *b = arg;
    char buf[16];
    b->rc = green_tls_read(b->t, buf, sizeof buf, GREEN_FOREVER);
    b->err = errno;
    return NULL;
}

static void test_read_timeout_and_kill(void **state)
{
    (void)state;
    struct server s;
    green_tls_t *t;
    green_t *g = connected(&s, &t);
    char buf[16];
    CHECK_FAILS(green_tls_read(t, buf, sizeof buf, 0.02), ETIMEDOUT);
    /* a read that timed out leaves the connection usable */
    assert_int_equal(green_tls_write(t, "again", 5, 10), 5);
    assert_int_equal(green_tls_read(t, buf, sizeof buf, 10), 5);
    /* a kill ends a read with ECANCELED */
    struct blocked_read b = {t, 0, 0};
    green_t *r = SPAWN(read_forever, &b);
    assert_int_equal(green_sleep(0.01), 0); /* r blocks in its read */
    assert_int_equal(green_kill(r, 1), 0);
    assert_int_equal(green_release(r), 0);
    assert_int_equal(b.rc, -1);
    assert_int_equal(b.err, ECANCELED);
    /* and a close of the fd under a reader wakes it with EBADF */
    b = (struct blocked_read){t, 0, 0};
    r = SPAWN(read_forever, &b);
    assert_int_equal(green_sleep(0.01), 0);
    assert_int_equal(green_close(sv[0]), 0);
    JOIN(r);
    assert_int_equal(b.rc, -1);
    assert_int_equal(b.err, EBADF);
    green_tls_free(t);
    JOIN(g); /* the server's read ends: the client is gone without close_notify */
    assert_false(s.shut_down);
    assert_int_equal(s.read_errno, ECONNRESET);
    green_close(sv[1]);
    assert_no_failures();
}

/* A peer that completes the handshake, then neither reads nor writes until released. */
struct silent {
    green_event_t *release;
    bool accepted;
};

static void *silent_server(void *arg)
{
    struct silent *s = arg;
    green_tls_t *t = green_tls_accept(sv[1], server_ctx, 10);
    s->accepted = t != NULL;
    CHECK_EQ(green_event_wait(s->release, 10), 0);
    green_tls_free(t);
    return NULL;
}

static void test_silent_peer(void **state)
{
    (void)state;
    pair();
    small_buffers(sv);
    struct silent s = {green_event_new(), false};
    green_t *g = SPAWN(silent_server, &s);
    green_tls_t *t = green_tls_connect(sv[0], client_ctx, "localhost", 10);
    assert_non_null(t);
    /* a write the peer never takes: the timeout, with the bytes that did go out */
    size_t big = 4 * 1024 * 1024, done = 0;
    char *junk = calloc(1, big);
    CHECK_FAILS(green_tls_write_all(t, junk, big, 0.1, &done), ETIMEDOUT);
    assert_true(done > 0 && done < big);
    free(junk);
    /* one reader at a time */
    struct blocked_read b = {t, 0, 0};
    green_t *r = SPAWN(read_forever, &b);
    assert_int_equal(green_sleep(0), 0); /* r waits */
    char buf[8];
    CHECK_FAILS(green_tls_read(t, buf, sizeof buf, 1), EBUSY);
    assert_int_equal(green_kill(r, 1), 0);
    assert_int_equal(green_release(r), 0);
    assert_int_equal(b.err, ECANCELED);
    green_tls_free(t); /* the unfinished write above forbids anything else on t */
    green_close(sv[0]);
    assert_int_equal(green_event_set(s.release), 0);
    JOIN(g);
    assert_true(s.accepted);
    green_close(sv[1]);
    assert_int_equal(green_event_destroy(s.release), 0);
    /* again, for the shutdown's timeout: nothing written before it */
    pair();
    s = (struct silent){green_event_new(), false};
    g = SPAWN(silent_server, &s);
    t = green_tls_connect(sv[0], client_ctx, "localhost", 10);
    assert_non_null(t);
    double t0 = monotonic_seconds();
    CHECK_FAILS(green_tls_shutdown(t, 0.05), ETIMEDOUT); /* ours went out, theirs never */
    assert_true(monotonic_seconds() - t0 >= 0.05);
    green_tls_free(t);
    assert_int_equal(green_event_set(s.release), 0);
    JOIN(g);
    assert_int_equal(green_event_destroy(s.release), 0);
    unpair();
    assert_no_failures();
}

/* ---- ends ----------------------------------------------------------------------------- */

static void *accept_and_read(void *arg)
{
    struct blocked_read *b = arg;
    green_tls_t *t = green_tls_accept(sv[1], server_ctx, 10);
    CHECK(t != NULL);
    if (!t)
        return NULL;
    char buf[16];
    b->rc = green_tls_read(t, buf, sizeof buf, 10);
    b->err = errno;
    green_tls_free(t);
    return NULL;
}

static void test_end_without_close_notify(void **state)
{
    (void)state;
    pair();
    struct blocked_read b = {0};
    green_t *g = SPAWN(accept_and_read, &b);
    green_tls_t *t = green_tls_connect(sv[0], client_ctx, "localhost", 10);
    assert_non_null(t);
    assert_int_equal(green_sleep(0.01), 0); /* the server reads */
    green_tls_free(t);                      /* no close_notify */
    green_close(sv[0]);
    JOIN(g);
    assert_int_equal(b.rc, -1);
    assert_int_equal(b.err, ECONNRESET); /* truncation is not mistaken for an end */
    green_close(sv[1]);
    assert_no_failures();
}

static void *plain_talker(void *arg)
{
    (void)arg;
    char buf[512];
    green_read(sv[1], buf, sizeof buf, 10); /* the ClientHello */
    static const char junk[] = "HTTP/1.1 400 Bad Request\r\n\r\n";
    green_write(sv[1], junk, sizeof junk - 1, 10);
    return NULL;
}

static void test_not_tls(void **state)
{
    (void)state;
    pair();
    green_t *g = SPAWN(plain_talker, NULL);
    CHECK_NULL(green_tls_connect(sv[0], client_ctx, "localhost", 10), EPROTO);
    assert_non_null(strstr(green_last_error(), "green_tls_connect: TLS error"));
    JOIN(g);
    unpair();
    /* a client that sends no TLS to a server */
    pair();
    assert_int_equal(green_write(sv[0], "GET / HTTP/1.0\r\n\r\n", 18, 10), 18);
    CHECK_NULL(green_tls_accept(sv[1], server_ctx, 10), EPROTO);
    unpair();
    assert_no_failures();
}

/* ---- refusals ------------------------------------------------------------------------- */

static void test_refusals(void **state)
{
    (void)state;
    green_tls_opts_t o = GREEN_TLS_OPTS_INIT;
    o.ca_file = "/nonexistent/ca.pem";
    CHECK_NULL(green_tls_client_ctx_new(&o), ENOENT);
    o.ca_file = certs.server_key; /* a key, not a certificate */
    CHECK_NULL(green_tls_client_ctx_new(&o), EPROTO);
    o = (green_tls_opts_t)GREEN_TLS_OPTS_INIT;
    o.alpn = "h2,,http/1.1";
    CHECK_NULL(green_tls_client_ctx_new(&o), EINVAL);
    CHECK_NULL(green_tls_server_ctx_new(certs.server, certs.server_key, &o), EINVAL);
    CHECK_NULL(green_tls_server_ctx_new(NULL, certs.server_key, NULL), EINVAL);
    CHECK_NULL(green_tls_server_ctx_new("/nonexistent.pem", certs.server_key, NULL), ENOENT);
    CHECK_NULL(green_tls_server_ctx_new(certs.server, "/nonexistent.key", NULL), ENOENT);
    CHECK_NULL(green_tls_server_ctx_new(certs.server_key, certs.server_key, NULL), EPROTO);
    CHECK_NULL(green_tls_server_ctx_new(certs.server, certs.self_key, NULL), EPROTO);
    assert_non_null(strstr(green_last_error(), "does not match"));
    o = (green_tls_opts_t)GREEN_TLS_OPTS_INIT;
    o.ca_file = certs.ca;
    CHECK_NULL(green_tls_server_ctx_new(certs.server, certs.server_key, &o), EINVAL);
    /* wrong kinds of context, fds, names */
    CHECK_NULL(green_tls_connect(0, server_ctx, "localhost", 1), EINVAL);
    CHECK_NULL(green_tls_accept(0, client_ctx, 1), EINVAL);
    CHECK_NULL(green_tls_connect(-1, client_ctx, "localhost", 1), EINVAL);
    CHECK_NULL(green_tls_connect(0, NULL, "localhost", 1), EINVAL);
    CHECK_NULL(green_tls_connect(0, client_ctx, NULL, 1), EINVAL);
    CHECK_NULL(green_tls_connect(0, client_ctx, "", 1), EINVAL);
    int fd = dup(0);
    close(fd);
    CHECK_NULL(green_tls_connect(fd, client_ctx, "localhost", 1), EBADF);
    char buf[4];
    CHECK_FAILS(green_tls_read(NULL, buf, sizeof buf, 1), EINVAL);
    CHECK_FAILS(green_tls_write(NULL, buf, sizeof buf, 1), EINVAL);
    size_t done = 99;
    CHECK_FAILS(green_tls_write_all(NULL, buf, sizeof buf, 1, &done), EINVAL);
    CHECK_EQ(done, 0);
    CHECK_FAILS(green_tls_shutdown(NULL, 1), EINVAL);
    green_tls_free(NULL);
    green_tls_ctx_free(NULL);
    CHECK_EQ(green_tls_fd(NULL), -1);
    CHECK(green_tls_alpn(NULL) == NULL && green_tls_version(NULL) == NULL);
    assert_no_failures();
}

/* ---- many connections on one hub ------------------------------------------------------ */

struct conv {
    int fd[2];
    struct server s;
    int rounds;
};

static void *client_conv(void *arg)
{
    struct conv *c = arg;
    green_tls_t *t = green_tls_connect(c->fd[0], client_ctx, "localhost", 30);
    CHECK(t != NULL);
    if (!t)
        return NULL;
    for (int i = 0; i < 5; i++) {
        char out[32], in[32] = {0};
        int n = snprintf(out, sizeof out, "fd %d round %d", c->fd[0], i);
        CHECK_EQ(green_tls_write_all(t, out, (size_t)n, 30, NULL), n);
        size_t got = 0;
        ssize_t r;
        while (got < (size_t)n && (r = green_tls_read(t, in + got, (size_t)n - got, 30)) > 0)
            got += (size_t)r;
        CHECK(got == (size_t)n && memcmp(in, out, (size_t)n) == 0);
        c->rounds++;
    }
    CHECK_EQ(green_tls_shutdown(t, 30), 0);
    green_tls_free(t);
    return NULL;
}

static void test_many_connections(void **state)
{
    size_t n = (size_t)scaled(100, 8);
    struct conv *c = calloc(n, sizeof *c);
    green_t **g = calloc(2 * n, sizeof *g);
    for (size_t i = 0; i < n; i++) {
        assert_int_equal(tcp_pair(c[i].fd), 0);
        c[i].s = (struct server){.fd = c[i].fd[1], .ctx = server_ctx};
        g[2 * i] = SPAWN_MODEL(echo_server, &c[i].s, model_of(state));
        g[2 * i + 1] = SPAWN_MODEL(client_conv, &c[i], model_of(state));
    }
    JOIN_ALL(g, 2 * n);
    assert_no_failures();
    for (size_t i = 0; i < n; i++) {
        assert_int_equal(c[i].rounds, 5);
        assert_true(c[i].s.shut_down);
        green_close(c[i].fd[0]);
        green_close(c[i].fd[1]);
    }
    free(g);
    free(c);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        HUB_TEST_MODELS(test_echo),
        HUB_TEST(test_verify_default),
        HUB_TEST(test_ca_file_and_names),
        HUB_TEST(test_handshake_timeouts),
        HUB_TEST(test_read_timeout_and_kill),
        HUB_TEST(test_silent_peer),
        HUB_TEST(test_end_without_close_notify),
        HUB_TEST(test_not_tls),
        HUB_TEST(test_refusals),
        HUB_TEST_MODELS(test_many_connections),
    };
    return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
