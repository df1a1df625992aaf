/* SPDX-License-Identifier: MIT */
/* A concurrent HTTP/1.1 client in blocking style: CONCURRENCY greenlets from a pool, each
 * holding one keep-alive connection per distinct HOST:PORT, fetch the URLs in turn until
 * REQUESTS responses (or DURATION seconds) are done, then a summary is printed.  Each greenlet
 * reads like the loop of a thread-per-connection client (connect, write a request, read the answer,
 * again); the hub runs them all on one thread.
 *
 * Usage: http_fetch [-c CONCURRENCY] [-n REQUESTS | -d SECONDS] [-t TIMEOUT] [-e BODY] URL...
 *   URL is http://HOST[:PORT][/PATH] (no https, no userinfo).  Request i goes to
 *   URL[i % count].  TIMEOUT (default 10 s) bounds each request: connecting included.
 *   With -e, an answer whose body is not exactly BODY counts as failed ("wrong body").
 *   Exit status 0 when every request got a 2xx answer (with BODY), 1 otherwise, 2 for bad
 *   usage.
 *
 * The response reader is the minimum a client of http_hello needs: a status line, headers
 * up to the blank line, a body of Content-Length bytes (required: no chunked encoding, no
 * body read to EOF).  "Connection: close", an EOF or an error ends the connection; the next
 * request opens a new one.  A request that failed on a reused connection (the server may
 * close an idle one at any time) counts as failed, as wrk counts it: nothing is retried.
 */
#include <green.h>
#include <errno.h>
#include <inttypes.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#define MAX_HEADERS 16384 /* a status line and headers larger than this are malformed */
#define MAX_STATUSES 8    /* distinct status codes counted per URL */

struct url {
    const char *text;
    char host[256];
    unsigned port;
    size_t endpoint;    /* the first URL with the same host and port: the connection's key */
    char request[1024]; /* the whole GET, built once */
    size_t request_len;
    /* results: counts per status code, and failures (no complete answer) */
    int status[MAX_STATUSES];
    long count[MAX_STATUSES];
    long other, failed, wrong_body;
};

static struct url *urls;
static size_t url_count;
static long requests = 1000, next_request;
static double duration = -1, timeout = 10, deadline;
static long ok, failed;
static const char *expect_body; /* -e */
static size_t expect_len;

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

/* http://HOST[:PORT][/PATH] into u; -1 for anything else. */
static int parse_url(const char *text, struct url *u)
{
    const char *p = text, *path;
    if (strncmp(p, "http://", 7) != 0)
        return -1;
    p += 7;
    size_t hlen = strcspn(p, ":/");
    if (hlen == 0 || hlen >= sizeof u->host || memchr(p, '@', strcspn(p, "/")))
        return -1;
    memcpy(u->host, p, hlen);
    u->host[hlen] = 0;
    p += hlen;
    u->port = 80;
    if (*p == ':') {
        char *end;
        unsigned long port = strtoul(p + 1, &end, 10);
        if (end == p + 1 || port == 0 || port > 65535 || (*end && *end != '/'))
            return -1;
        u->port = (unsigned)port;
        p = end;
    }
    path = *p ? p : "/";
    int n = snprintf(u->request, sizeof u->request, "GET %s HTTP/1.1\r\nHost: %s:%u\r\n\r\n", path,
                     u->host, u->port);
    if (n < 0 || (size_t)n >= sizeof u->request || strpbrk(path, " \r\n"))
        return -1;
    u->request_len = (size_t)n;
    u->text = text;
    return 0;
}

static void count_status(struct url *u, int status)
{
    for (int i = 0; i < MAX_STATUSES; i++) {
        if (u->count[i] == 0)
            u->status[i] = status;
        if (u->status[i] == status) {
            u->count[i]++;
            return;
        }
    }
    u->other++;
}

/* One connection's state, on the heap: a worker on a shared stack keeps only a pointer. */
struct conn {
    int fd;
    size_t len; /* bytes in buf not yet consumed */
    char buf[MAX_HEADERS];
    char body[4096]; /* the body is read and dropped in pieces of this size */
};

static void hang_up(struct conn *c)
{
    if (c->fd >= 0)
        green_close(c->fd);
    c->fd = -1;
    c->len = 0;
}

static double remaining(double until) { return until > now() ? until - now() : 0; }

/* The value of header `name` in the header block [p, end), or NULL (names are
 * case-insensitive). */
static const char *header(const char *p, const char *end, const char *name, size_t *vlen)
{
    size_t nlen = strlen(name);
    for (const char *line = memchr(p, '\n', (size_t)(end - p)); line && line + 1 < end;
         line = memchr(line + 1, '\n', (size_t)(end - line - 1))) {
        const char *h = line + 1;
        if ((size_t)(end - h) > nlen && h[nlen] == ':' && strncasecmp(h, name, nlen) == 0) {
            const char *v = h + nlen + 1, *e = memchr(v, '\r', (size_t)(end - v));
            while (v < e && (*v == ' ' || *v == '\t'))
                v++;
            *vlen = e ? (size_t)(e - v) : 0;
            return v;
        }
    }
    return NULL;
}

/* Reads one response on c; returns its status code with *keep telling whether the
 * connection may be reused and *matches whether the body is -e's, or -1 (errno from the
 * read, EPROTO for a malformed answer). */
static int read_response(struct conn *c, double until, bool *keep, bool *matches)
{
    char *end;
    while (!(end = memmem(c->buf, c->len, "\r\n\r\n", 4))) {
        if (c->len == sizeof c->buf) {
            errno = EPROTO;
            return -1;
        }
        ssize_t n = green_read(c->fd, c->buf + c->len, sizeof c->buf - c->len, remaining(until));
        if (n <= 0) {
            if (n == 0)
                errno = c->len ? EPROTO : ECONNRESET; /* closed before a (whole) answer */
            return -1;
        }
        c->len += (size_t)n;
    }
    end += 4;
    int status = 0;
    size_t vlen;
    if (c->len < 12 || strncmp(c->buf, "HTTP/1.", 7) != 0 || c->buf[8] != ' ' ||
        sscanf(c->buf + 9, "%3d", &status) != 1 || status < 100) {
        errno = EPROTO;
        return -1;
    }
    const char *v = header(c->buf, end, "Content-Length", &vlen);
    char *vend;
    unsigned long long body = v ? strtoull(v, &vend, 10) : 0;
    if (!v || vend == v || vend != v + vlen) {
        errno = EPROTO;
        return -1;
    }
    v = header(c->buf, end, "Connection", &vlen);
    *keep = !(v && vlen == 5 && strncasecmp(v, "close", 5) == 0);

    /* The body: what is buffered already, then the rest from the socket. */
    size_t head = (size_t)(end - c->buf), have = c->len - head;
    size_t take = have < body ? have : (size_t)body;
    /* -e: compared piece by piece at its offset; a length that differs is wrong at once */
    size_t off = take;
    *matches = !expect_body || (body == expect_len && memcmp(end, expect_body, take) == 0);
    memmove(c->buf, end + take, have - take); /* a pipelined next answer's start, if any */
    c->len = have - take;
    for (body -= take; body > 0;) {
        size_t want = body < sizeof c->body ? (size_t)body : sizeof c->body;
        ssize_t got = green_read_exactly(c->fd, c->body, want, remaining(until), NULL);
        if (got != (ssize_t)want) {
            if (got >= 0)
                errno = EPROTO; /* EOF inside the body */
            return -1;
        }
        if (*matches && expect_body && memcmp(expect_body + off, c->body, want) != 0)
            *matches = false;
        off += want;
        body -= want;
    }
    return status;
}

/* One request on c (connecting first if needed).  Returns its status (*matches: the body
 * is -e's), or -1. */
static int fetch(struct conn *c, const struct url *u, bool *matches)
{
    double until = now() + timeout;
    if (c->fd < 0) {
        c->fd = green_connect_name(u->host, u->port, SOCK_STREAM, timeout);
        if (c->fd < 0)
            return -1;
        int one = 1;
        setsockopt(c->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    }
    bool keep = false;
    int status = -1;
    if (green_send_all(c->fd, u->request, u->request_len, MSG_NOSIGNAL, remaining(until), NULL) >=
        0)
        status = read_response(c, until, &keep, matches);
    if (status < 0 || !keep)
        hang_up(c);
    return status;
}

static bool more(void)
{
    if (duration >= 0)
        return now() < deadline;
    return next_request < requests;
}

/* A worker's connections, one per endpoint, each made at its first use. */
static void *worker(void *arg)
{
    struct conn **conns = arg;
    while (more()) {
        struct url *u = &urls[(size_t)(next_request++ % (long)url_count)];
        struct conn **c = &conns[u->endpoint];
        if (!*c) {
            if (!(*c = malloc(sizeof **c))) {
                u->failed++;
                failed++;
                continue;
            }
            (*c)->fd = -1;
            (*c)->len = 0;
        }
        bool matches = false;
        int status = fetch(*c, u, &matches);
        if (status < 0) {
            u->failed++;
            failed++;
            if (errno == ECANCELED)
                break;
            continue;
        }
        count_status(u, status);
        if (!matches) {
            u->wrong_body++;
            failed++;
        } else if (status >= 200 && status < 300)
            ok++;
        else
            failed++;
    }
    for (size_t i = 0; i < url_count; i++)
        if (conns[i]) {
            hang_up(conns[i]);
            free(conns[i]);
        }
    free(conns);
    return NULL;
}

static int usage(const char *argv0)
{
    fprintf(stderr,
            "usage: %s [-c CONCURRENCY] [-n REQUESTS | -d SECONDS] [-t TIMEOUT] [-e BODY] "
            "http://HOST[:PORT][/PATH]...\n",
            argv0);
    return 2;
}

static void summary(double wall)
{
    printf("requests: %ld ok, %ld failed\n", ok, failed);
    printf("wall time: %.3f s\n", wall);
    printf("requests/s: %.0f\n", wall > 0 ? (double)(ok + failed) / wall : 0.0);
    for (size_t i = 0; i < url_count; i++) {
        struct url *u = &urls[i];
        printf("%s:", u->text);
        for (int k = 0; k < MAX_STATUSES && u->count[k]; k++)
            printf(" %d x%ld", u->status[k], u->count[k]);
        if (u->other)
            printf(" other x%ld", u->other);
        if (u->failed)
            printf(" failed x%ld", u->failed);
        if (u->wrong_body)
            printf(" wrong body x%ld", u->wrong_body);
        printf("\n");
    }
}

int main(int argc, char **argv)
{
    long concurrency = 10;
    int opt;
    char *end;
    while ((opt = getopt(argc, argv, "c:n:d:t:e:")) != -1) {
        switch (opt) {
        case 'e':
            expect_body = optarg;
            expect_len = strlen(optarg);
            break;
        case 'c':
            concurrency = strtol(optarg, &end, 10);
            if (*end || concurrency < 1 || concurrency > 100000)
                return usage(argv[0]);
            break;
        case 'n':
            requests = strtol(optarg, &end, 10);
            if (*end || requests < 0)
                return usage(argv[0]);
            break;
        case 'd':
        case 't': {
            double v = strtod(optarg, &end);
            if (*end || !(v >= 0))
                return usage(argv[0]);
            *(opt == 'd' ? &duration : &timeout) = v;
            break;
        }
        default:
            return usage(argv[0]);
        }
    }
    url_count = (size_t)(argc - optind);
    if (url_count == 0)
        return usage(argv[0]);
    urls = calloc(url_count, sizeof *urls);
    if (!urls)
        return 1;
    for (size_t i = 0; i < url_count; i++) {
        if (parse_url(argv[optind + (int)i], &urls[i]) < 0) {
            fprintf(stderr, "http_fetch: not an http://HOST[:PORT][/PATH] URL: %s\n",
                    argv[optind + (int)i]);
            return 2;
        }
        size_t e = 0;
        while (urls[e].port != urls[i].port || strcmp(urls[e].host, urls[i].host) != 0)
            e++;
        urls[i].endpoint = e;
    }
    signal(SIGPIPE, SIG_IGN);

    /* One greenlet per connection, from a pool of CONCURRENCY: the pool is never full here
     * (exactly that many are spawned), it is what main joins. */
    green_group_t *pool = green_pool_new((size_t)concurrency);
    if (!pool) {
        fprintf(stderr, "http_fetch: %s\n", green_last_error());
        return 1;
    }
    double start = now();
    deadline = start + duration;
    for (long i = 0; i < concurrency; i++) {
        struct conn **conns = calloc(url_count, sizeof *conns);
        green_t *g = conns ? green_group_spawn(pool, worker, conns, NULL, GREEN_FOREVER) : NULL;
        if (!g) {
            fprintf(stderr, "http_fetch: %s\n", conns ? green_last_error() : "out of memory");
            free(conns);
            break;
        }
        green_release(g); /* the pool tracks it until it ends */
    }
    if (green_group_join(pool, GREEN_FOREVER) < 0)
        fprintf(stderr, "http_fetch: %s\n", green_last_error());
    summary(now() - start);
    green_group_destroy(pool);
    free(urls);
    green_hub_shutdown();
    return failed == 0 && ok > 0 ? 0 : 1;
}
