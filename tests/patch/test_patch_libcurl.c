/* SPDX-License-Identifier: MIT */
/* libcurl, unmodified, on one thread: 100 greenlets each curl_easy_perform a GET of a
 * server in this test whose handler takes 0.2 s (a plain blocking server: accept, read,
 * usleep, write — patched too, in greenlets of the same hub).  Unpatched the transfers
 * follow one another (20 s); patched they overlap.  curl waits in poll(2), which parks. */
#include <curl/curl.h>
#include <netinet/in.h>

#include "patch_util.h"

#define N 100

static int listener;
static unsigned port;

static void *handle(void *arg)
{
    int c = (int)(intptr_t)arg;
    char req[2048];
    size_t n = 0;
    ssize_t k;
    while (n < sizeof req - 1 && (k = read(c, req + n, sizeof req - 1 - n)) > 0) {
        n += (size_t)k;
        req[n] = '\0';
        if (strstr(req, "\r\n\r\n"))
            break;
    }
    int id = -1;
    sscanf(req, "GET /%d ", &id);
    usleep(200000); /* the slow handler */
    char resp[256];
    char body[32];
    int blen = snprintf(body, sizeof body, "hello %d", id);
    int len = snprintf(resp, sizeof resp,
                       "HTTP/1.1 200 OK\r\nContent-Length: %d\r\nConnection: close\r\n\r\n%s", blen,
                       body);
    CHECK_EQ(write(c, resp, (size_t)len), len);
    close(c);
    return NULL;
}

static volatile bool serving;

static void *serve(void *arg)
{
    (void)arg;
    while (serving) {
        int c = accept(listener, NULL, NULL);
        if (c < 0)
            break; /* closed by main: EBADF */
        green_t *g = SPAWN(handle, (void *)(intptr_t)c);
        green_release(g); /* it ends on its own */
    }
    return NULL;
}

struct fetch {
    int i;
    CURLcode rc;
    long status;
    char body[64];
    size_t len;
};

static struct fetch fetches[N];

static size_t collect(char *data, size_t size, size_t n, void *arg)
{
    struct fetch *f = arg;
    size_t room = sizeof f->body - 1 - f->len, take = size * n < room ? size * n : room;
    memcpy(f->body + f->len, data, take);
    f->len += take;
    f->body[f->len] = '\0';
    return size * n;
}

static void *fetch(void *arg)
{
    struct fetch *f = arg;
    CURL *h = curl_easy_init();
    char url[64];
    snprintf(url, sizeof url, "http://127.0.0.1:%u/%d", port, f->i);
    curl_easy_setopt(h, CURLOPT_URL, url);
    curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, collect);
    curl_easy_setopt(h, CURLOPT_WRITEDATA, f);
    curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
    f->rc = curl_easy_perform(h);
    curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &f->status);
    curl_easy_cleanup(h);
    return NULL;
}

static void test_transfers_overlap(void **state)
{
    (void)state;
    listener = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t len = sizeof a;
    assert_int_equal(bind(listener, (struct sockaddr *)&a, len), 0);
    assert_int_equal(listen(listener, 256), 0);
    assert_int_equal(getsockname(listener, (struct sockaddr *)&a, &len), 0);
    port = ntohs(a.sin_port);
    serving = true;
    green_t *srv = SPAWN(serve, NULL);
    green_t *g[N];
    double t0 = monotonic_seconds();
    for (int i = 0; i < N; i++) {
        fetches[i] = (struct fetch){.i = i};
        g[i] = SPAWN(fetch, &fetches[i]);
    }
    JOIN_ALL(g, N);
    double took = monotonic_seconds() - t0;
    serving = false;
    close(listener); /* wakes the server's accept with EBADF */
    JOIN(srv);
    assert_no_failures();
    for (int i = 0; i < N; i++) {
        char want[32];
        snprintf(want, sizeof want, "hello %d", i);
        assert_int_equal(fetches[i].rc, CURLE_OK);
        assert_int_equal(fetches[i].status, 200);
        assert_string_equal(fetches[i].body, want);
    }
    print_message("100 curl_easy_perform of a 0.2 s handler on one thread: %.3f s "
                  "(one after the other: 20 s)\n",
                  took);
    assert_true(took < (RUNNING_ON_VALGRIND || UNDER_SANITIZER ? 4.0 : 0.8));
}

/* A kill and a scoped timeout interrupt curl_easy_perform while it waits for a handler
 * that never answers (it sleeps until the hub shuts down): curl reports an error, promptly,
 * and its handle is cleaned up as after any failed transfer.  (curl 7.88's easy interface
 * maps a failed curl_multi_poll to CURLE_BAD_FUNCTION_ARGUMENT whatever the errno; the
 * test asserts only that the transfer failed, not curl's wording.) */
static void *handle_never(void *arg)
{
    int c = (int)(intptr_t)arg;
    usleep(30 * 1000000); /* parks until the test's hub shuts down and kills it */
    close(c);
    return NULL;
}

static void *serve_never(void *arg)
{
    (void)arg;
    for (;;) {
        int c = accept(listener, NULL, NULL);
        if (c < 0)
            return NULL;
        green_release(SPAWN(handle_never, (void *)(intptr_t)c));
    }
}

struct stuck {
    bool scoped; /* a green_timeout of 0.1 s around the transfer; else killed */
    CURLcode rc;
    double took;
    int fired;
};

static void *fetch_stuck(void *arg)
{
    struct stuck *st = arg;
    CURL *h = curl_easy_init();
    char url[64];
    snprintf(url, sizeof url, "http://127.0.0.1:%u/", port);
    curl_easy_setopt(h, CURLOPT_URL, url);
    curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
    green_timeout_t *t = st->scoped ? green_timeout_start(0.1) : NULL;
    double t0 = monotonic_seconds();
    st->rc = curl_easy_perform(h);
    st->took = monotonic_seconds() - t0;
    if (t)
        st->fired = green_timeout_end(t);
    curl_easy_cleanup(h);
    return NULL;
}

static void test_kill_and_timeout(void **state)
{
    (void)state;
    listener = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t len = sizeof a;
    assert_int_equal(bind(listener, (struct sockaddr *)&a, len), 0);
    assert_int_equal(listen(listener, 16), 0);
    assert_int_equal(getsockname(listener, (struct sockaddr *)&a, &len), 0);
    port = ntohs(a.sin_port);
    green_release(SPAWN(serve_never, NULL));
    struct stuck killed = {.scoped = false}, timed = {.scoped = true};
    green_t *k = SPAWN(fetch_stuck, &killed), *t = SPAWN(fetch_stuck, &timed);
    assert_int_equal(green_sleep(0.2), 0); /* both are in curl's poll by now */
    assert_int_equal(green_kill(k, 1.0), 0);
    JOIN(k);
    JOIN(t);
    close(listener); /* the server's accept fails; its handlers die at the hub's shutdown */
    assert_no_failures();
    print_message("killed: curl said \"%s\" after %.3f s; scoped timeout: \"%s\" after %.3f s\n",
                  curl_easy_strerror(killed.rc), killed.took, curl_easy_strerror(timed.rc),
                  timed.took);
    assert_int_not_equal(killed.rc, CURLE_OK);
    assert_true(killed.took < 1.0);
    assert_int_not_equal(timed.rc, CURLE_OK);
    assert_int_equal(timed.fired, 1);
    assert_true(timed.took >= 0.09 && timed.took < 1.0);
}

static int global_init(void **state)
{
    (void)state;
    return curl_global_init(CURL_GLOBAL_DEFAULT) == CURLE_OK ? 0 : -1;
}

static int global_cleanup(void **state)
{
    (void)state;
    curl_global_cleanup();
    return 0;
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        HUB_TEST(test_transfers_overlap),
        HUB_TEST(test_kill_and_timeout),
    };
    return cmocka_run_group_tests(tests, global_init, global_cleanup);
}
