/* SPDX-License-Identifier: MIT */
/* The c-ares resolver (green_resolver_set): names from the host's files (as libc answers
 * them), a real DNS query to a responder greenlet of the test, a server that never answers
 * (the caller's timeout, long before c-ares's own), a kill during a query, the choice back
 * to the threadpool and the refusals.  Abandoned queries are freed by the hub's shutdown:
 * the sanitizers and valgrind check that. */
#include <arpa/inet.h>
#include <math.h>
#include <netdb.h>
#include <time.h>
#include <unistd.h>

#include "io_util.h"

static const unsigned char answer_addr[4] = {192, 0, 2, 7}; /* TEST-NET-1 */

struct responder {
    int fd;
    int queries; /* A queries answered */
    char qname[256];
};

/* The question's name in dotted form; the offset past the question, or 0 if malformed. */
static size_t parse_question(const unsigned char *m, size_t len, char *name, size_t cap)
{
    size_t off = 12, out = 0;
    while (off < len && m[off]) {
        size_t l = m[off++];
        if (l > 63 || off + l > len || out + l + 1 >= cap)
            return 0;
        if (out)
            name[out++] = '.';
        memcpy(name + out, m + off, l);
        out += l;
        off += l;
    }
    name[out] = 0;
    return off + 5 <= len ? off + 5 : 0; /* the root label, type, class */
}

/* "host.green-test" as DNS labels, for the PTR answer. */
static const unsigned char answer_name[] = "\4host\12green-test";

/* A name server for one name: answers every A query with answer_addr, every PTR query with
 * answer_name, anything else with no records, until its socket is closed. */
static void *respond(void *arg)
{
    struct responder *r = arg;
    for (;;) {
        unsigned char m[512];
        struct sockaddr_storage from;
        socklen_t fromlen = sizeof from;
        ssize_t n = green_recvfrom(r->fd, m, sizeof m, 0, (struct sockaddr *)&from, &fromlen,
                                   GREEN_FOREVER);
        if (n < 0)
            break; /* EBADF: the test closed it */
        size_t q = parse_question(m, (size_t)n, r->qname, sizeof r->qname);
        if (n < 12 || !q)
            continue;
        bool a = m[q - 4] == 0 && m[q - 3] == 1, ptr = m[q - 4] == 0 && m[q - 3] == 12;
        m[2] = 0x81; /* a response, recursion desired */
        m[3] = 0x80; /* recursion available, no error */
        m[6] = 0, m[7] = a || ptr;
        memset(m + 8, 0, 4); /* no authority or additional records */
        size_t len = q;
        if (a || ptr) { /* the question's name (a pointer to it), its type, IN, 60 s */
            unsigned char rr[] = {0xc0, 0x0c, 0, a ? 1 : 12, 0, 1,
                                  0,    0,    0, 60,         0, a ? 4 : sizeof answer_name};
            memcpy(m + len, rr, sizeof rr);
            memcpy(m + len + sizeof rr, a ? answer_addr : answer_name, rr[11]);
            len += sizeof rr + rr[11];
            r->queries++;
        }
        if (green_sendto(r->fd, m, len, 0, (struct sockaddr *)&from, fromlen, 1.0) < 0)
            note_failure(__LINE__, "sendto: %s", green_last_error());
    }
    return NULL;
}

/* "127.0.0.1:PORT" of a bound UDP socket. */
static void server_of(int fd, char *buf, size_t cap)
{
    struct sockaddr_in a;
    socklen_t len = sizeof a;
    assert_int_equal(getsockname(fd, (struct sockaddr *)&a, &len), 0);
    snprintf(buf, cap, "127.0.0.1:%u", ntohs(a.sin_port));
}

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void test_hosts_file_like_libc(void **state)
{
    (void)state;
    assert_int_equal(green_resolver_set(GREEN_RESOLVER_CARES, NULL), 0);
    struct addrinfo hints = {.ai_family = AF_INET, .ai_socktype = SOCK_STREAM};
    struct addrinfo *want = NULL, *got = NULL;
    assert_int_equal(getaddrinfo("localhost", "80", &hints, &want), 0);
    assert_int_equal(green_getaddrinfo("localhost", "80", &hints, &got, 5.0, NULL), 0);
    assert_non_null(got);
    assert_int_equal(got->ai_family, AF_INET);
    assert_int_equal(got->ai_addrlen, want->ai_addrlen);
    assert_memory_equal(got->ai_addr, want->ai_addr, want->ai_addrlen); /* address and port */
    freeaddrinfo(got);
    freeaddrinfo(want);
    /* the reverse, through c-ares's reading of the same file */
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons(80)};
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    char want_host[NI_MAXHOST], want_serv[NI_MAXSERV];
    char host[NI_MAXHOST] = "", serv[NI_MAXSERV] = "";
    int rc = getnameinfo((struct sockaddr *)&a, sizeof a, want_host, sizeof want_host, want_serv,
                         sizeof want_serv, NI_NAMEREQD);
    if (rc == 0) { /* libc names 127.0.0.1 from the files: c-ares must give the same name */
        assert_int_equal(green_getnameinfo((struct sockaddr *)&a, sizeof a, host, sizeof host, serv,
                                           sizeof serv, NI_NAMEREQD, 5.0, NULL),
                         0);
        assert_string_equal(host, want_host);
        assert_string_equal(serv, want_serv); /* both from /etc/services, or both numeric */
    }
}

static void test_query_to_a_name_server(void **state)
{
    (void)state;
    struct responder r = {.fd = green_listen("127.0.0.1", 0, SOCK_DGRAM, 0, 0)};
    assert_true(r.fd >= 0);
    char server[64];
    server_of(r.fd, server, sizeof server);
    assert_int_equal(green_resolver_set(GREEN_RESOLVER_CARES, server), 0);
    green_t *g = SPAWN(respond, &r);
    struct addrinfo hints = {.ai_family = AF_INET, .ai_socktype = SOCK_STREAM};
    struct addrinfo *res = NULL;
    int gai = -1;
    assert_int_equal(green_getaddrinfo("host.green-test", "8080", &hints, &res, 5.0, &gai), 0);
    assert_int_equal(gai, 0);
    assert_non_null(res);
    assert_int_equal(res->ai_family, AF_INET);
    struct sockaddr_in *sin = (struct sockaddr_in *)res->ai_addr;
    assert_memory_equal(&sin->sin_addr, answer_addr, 4);
    assert_int_equal(ntohs(sin->sin_port), 8080);
    assert_null(res->ai_next); /* one record, one socket type asked */
    freeaddrinfo(res);
    assert_int_equal(r.queries, 1);
    assert_string_equal(r.qname, "host.green-test");
    /* libc's flags reach c-ares as c-ares's (their values differ) */
    hints.ai_flags = AI_CANONNAME;
    assert_int_equal(green_getaddrinfo("host.green-test", NULL, &hints, &res, 5.0, NULL), 0);
    assert_non_null(res->ai_canonname);
    assert_string_equal(res->ai_canonname, "host.green-test");
    freeaddrinfo(res);
    assert_int_equal(r.queries, 2);
    /* the reverse: a PTR query for the address (not in the host's files) */
    struct sockaddr_in back = {.sin_family = AF_INET, .sin_port = htons(8080)};
    memcpy(&back.sin_addr, answer_addr, 4);
    char host[NI_MAXHOST] = "", serv[NI_MAXSERV] = "";
    assert_int_equal(green_getnameinfo((struct sockaddr *)&back, sizeof back, host, sizeof host,
                                       serv, sizeof serv, NI_NAMEREQD | NI_NUMERICSERV, 5.0, NULL),
                     0);
    assert_string_equal(host, "host.green-test");
    assert_string_equal(serv, "8080");
    assert_int_equal(r.queries, 3);
    assert_string_equal(r.qname, "7.2.0.192.in-addr.arpa");
    assert_int_equal(green_close(r.fd), 0);
    JOIN(g);
    assert_no_failures();
}

static void test_no_answer_times_out(void **state)
{
    (void)state;
    int mute = green_listen("127.0.0.1", 0, SOCK_DGRAM, 0, 0); /* bound, never read */
    assert_true(mute >= 0);
    char server[64];
    server_of(mute, server, sizeof server);
    assert_int_equal(green_resolver_set(GREEN_RESOLVER_CARES, server), 0);
    struct addrinfo hints = {.ai_family = AF_INET};
    struct addrinfo *res = NULL;
    double t0 = now();
    CHECK_FAILS(green_getaddrinfo("silent.green-test", NULL, &hints, &res, 0.2, NULL), ETIMEDOUT);
    double took = now() - t0;
    CHECK(took >= 0.19 && took < 2.0); /* ours, not c-ares's 5 s per try */
    CHECK(strstr(green_last_error(), "green_getaddrinfo") != NULL);
    CHECK(res == NULL);
    assert_no_failures();
    close(mute);
}

static const char *mute_server;

static void *lookup_forever(void *arg)
{
    (void)arg;
    struct addrinfo *res = NULL;
    CHECK_FAILS(green_getaddrinfo("silent.green-test", NULL, NULL, &res, GREEN_FOREVER, NULL),
                ECANCELED);
    say("lookup ECANCELED");
    return NULL;
}

static void test_kill_during_a_query(void **state)
{
    (void)state;
    int mute = green_listen("127.0.0.1", 0, SOCK_DGRAM, 0, 0);
    assert_true(mute >= 0);
    char server[64];
    server_of(mute, server, sizeof server);
    mute_server = server;
    assert_int_equal(green_resolver_set(GREEN_RESOLVER_CARES, mute_server), 0);
    green_t *g = SPAWN(lookup_forever, NULL);
    assert_int_equal(green_sleep(0), 0); /* it sends its query and waits */
    say("main kills");
    assert_int_equal(green_kill(g, 1.0), 0);
    green_release(g);
    assert_order("main kills", "lookup ECANCELED");
    /* the channel still answers the next lookup (from the files) */
    struct addrinfo hints = {.ai_family = AF_INET}, *res = NULL;
    assert_int_equal(green_getaddrinfo("localhost", NULL, &hints, &res, 5.0, NULL), 0);
    freeaddrinfo(res);
    close(mute);
}

static void test_choice_and_refusals(void **state)
{
    (void)state;
    CHECK_FAILS(green_resolver_set(7, NULL), EINVAL);
    CHECK_FAILS(green_resolver_set(GREEN_RESOLVER_THREADPOOL, "127.0.0.1"), EINVAL);
    CHECK_FAILS(green_resolver_set(GREEN_RESOLVER_CARES, "not an address"), EINVAL);
    assert_int_equal(green_resolver_set(GREEN_RESOLVER_CARES, "127.0.0.1:9"), 0);
    assert_int_equal(green_resolver_set(GREEN_RESOLVER_THREADPOOL, NULL), 0);
    /* the threadpool again: a zero budget cannot be met by a worker (c-ares would answer
     * localhost from the files at once) */
    struct addrinfo *res = NULL;
    CHECK_FAILS(green_getaddrinfo("localhost", "80", NULL, &res, 0, NULL), ETIMEDOUT);
    CHECK_FAILS(green_getaddrinfo("localhost", "80", NULL, &res, NAN, NULL), EINVAL);
    assert_no_failures();
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        HUB_TEST(test_hosts_file_like_libc), HUB_TEST(test_query_to_a_name_server),
        HUB_TEST(test_no_answer_times_out),  HUB_TEST(test_kill_during_a_query),
        HUB_TEST(test_choice_and_refusals),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
