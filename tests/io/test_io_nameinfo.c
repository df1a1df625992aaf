/* SPDX-License-Identifier: MIT */
/* green_getnameinfo: numeric answers at once, names from the host's files on the
 * threadpool while other greenlets run (the same answers libc gives), every refusal, a
 * budget that ends before the worker answers. */
#include <arpa/inet.h>
#include <netdb.h>

#include "io_util.h"

static struct sockaddr_in loopback(unsigned port)
{
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    return a;
}

static void test_numeric(void **state)
{
    (void)state;
    struct sockaddr_in a = loopback(8080);
    char host[NI_MAXHOST], serv[NI_MAXSERV];
    assert_int_equal(green_getnameinfo((struct sockaddr *)&a, sizeof a, host, sizeof host, serv,
                                       sizeof serv, NI_NUMERICHOST | NI_NUMERICSERV, 1.0, NULL),
                     0);
    assert_string_equal(host, "127.0.0.1");
    assert_string_equal(serv, "8080");
    struct sockaddr_in6 a6 = {
        .sin6_family = AF_INET6, .sin6_port = htons(443), .sin6_addr = IN6ADDR_LOOPBACK_INIT};
    assert_int_equal(green_getnameinfo((struct sockaddr *)&a6, sizeof a6, host, sizeof host, NULL,
                                       0, NI_NUMERICHOST, 1.0, NULL),
                     0);
    assert_string_equal(host, "::1");
    /* only a service, numeric: no host buffer needed */
    assert_int_equal(green_getnameinfo((struct sockaddr *)&a, sizeof a, NULL, 0, serv, sizeof serv,
                                       NI_NUMERICSERV, 1.0, NULL),
                     0);
    assert_string_equal(serv, "8080");
}

static void *ticker(void *arg)
{
    (void)arg;
    say("tick");
    return NULL;
}

/* A name comes from the pool while the hub runs other greenlets; it is what libc says. */
static void test_names_like_libc(void **state)
{
    (void)state;
    struct sockaddr_in a = loopback(80);
    char want_host[NI_MAXHOST], want_serv[NI_MAXSERV];
    int want = getnameinfo((struct sockaddr *)&a, sizeof a, want_host, sizeof want_host, want_serv,
                           sizeof want_serv, 0);
    green_t *t = SPAWN(ticker, NULL);
    char host[NI_MAXHOST] = "", serv[NI_MAXSERV] = "";
    int gai = -1;
    int rc = green_getnameinfo((struct sockaddr *)&a, sizeof a, host, sizeof host, serv,
                               sizeof serv, 0, 5.0, &gai);
    say("main answered");
    JOIN(t);
    assert_order("tick", "main answered"); /* the ticker ran during the lookup */
    if (want != 0) {
        assert_int_equal(rc, -1);
        assert_int_equal(gai, want);
        return;
    }
    assert_int_equal(rc, 0);
    assert_int_equal(gai, 0);
    assert_string_equal(host, want_host);
    assert_string_equal(serv, want_serv);
}

static void test_refusals(void **state)
{
    (void)state;
    struct sockaddr_in a = loopback(80);
    char host[NI_MAXHOST], tiny[3];
    int gai = -1;
    CHECK_FAILS(green_getnameinfo(NULL, sizeof a, host, sizeof host, NULL, 0, 0, 1.0, &gai),
                EINVAL);
    CHECK_EQ(gai, 0); /* not the resolver's */
    CHECK_FAILS(
        green_getnameinfo((struct sockaddr *)&a, 0, host, sizeof host, NULL, 0, 0, 1.0, NULL),
        EINVAL);
    CHECK_FAILS(green_getnameinfo((struct sockaddr *)&a, sizeof a, NULL, 0, NULL, 0, 0, 1.0, NULL),
                EINVAL);
    CHECK(strstr(green_last_error(), "green_getnameinfo") != NULL);
    struct sockaddr_in bad = a;
    bad.sin_family = 12345;
    CHECK_FAILS(green_getnameinfo((struct sockaddr *)&bad, sizeof bad, host, sizeof host, NULL, 0,
                                  NI_NUMERICHOST, 1.0, &gai),
                EINVAL);
    CHECK_EQ(gai, EAI_FAMILY);
    CHECK_FAILS(green_getnameinfo((struct sockaddr *)&a, sizeof a, tiny, sizeof tiny, NULL, 0,
                                  NI_NUMERICHOST, 1.0, &gai),
                EINVAL);
    CHECK_EQ(gai, EAI_OVERFLOW);
    assert_no_failures();
}

/* A zero budget: a name goes to the pool, which cannot answer before the budget ends; the
 * abandoned task frees its own copy later (the sanitizers and valgrind check that). */
static void test_budget(void **state)
{
    (void)state;
    struct sockaddr_in a = loopback(80);
    char host[NI_MAXHOST] = "untouched";
    CHECK_FAILS(
        green_getnameinfo((struct sockaddr *)&a, sizeof a, host, sizeof host, NULL, 0, 0, 0, NULL),
        ETIMEDOUT);
    CHECK(strcmp(host, "untouched") == 0);
    CHECK_FAILS(green_getnameinfo((struct sockaddr *)&a, sizeof a, host, sizeof host, NULL, 0, 0,
                                  0.0 / 0.0, NULL),
                EINVAL);
    assert_no_failures();
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        HUB_TEST(test_numeric),
        HUB_TEST(test_names_like_libc),
        HUB_TEST(test_refusals),
        HUB_TEST(test_budget),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
