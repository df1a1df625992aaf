/* SPDX-License-Identifier: MIT */
/* A read that came back short waits for readiness before its next try (src/io/fd.c): the
 * next green_read on that socket lets the hub run first instead of failing recv(2) with
 * EAGAIN.  What must hold: no data is ever missed or delayed past the wait (data already
 * queued comes back even with a timeout of 0), end of file and timeouts are unchanged, and
 * a read that filled its buffer still tries first without letting anything run. */
#include <unistd.h>

#include "io_util.h"

static int sv[2]; /* sv[0] a plain client socket, sv[1] the accepted end green_read reads */

static int pair_setup(void **state)
{
    int rc = hub_setup(state);
    return rc || tcp_pair(sv) < 0;
}

static int pair_teardown(void **state)
{
    close(sv[0]);
    green_close(sv[1]);
    return hub_teardown(state);
}

#define PAIR_TEST(t) cmocka_unit_test_setup_teardown(t, pair_setup, pair_teardown)

static bool ran;

static void *mark_ran(void *arg)
{
    (void)arg;
    ran = true;
    return NULL;
}

/* A short read: the receive queue is empty afterwards. */
static void short_read(void)
{
    char buf[64];
    assert_int_equal(send(sv[0], "abc", 3, 0), 3);
    assert_int_equal(green_read(sv[1], buf, sizeof buf, 5.0), 3);
    assert_memory_equal(buf, "abc", 3);
}

/* Data queued after a short read comes back at once, even with a timeout of 0, and the
 * hub ran once on the way (a greenlet queued before the read has run when it returns). */
static void test_queued_data_after_short_read(void **state)
{
    (void)state;
    short_read();
    assert_int_equal(send(sv[0], "defg", 4, 0), 4);
    ran = false;
    green_t *g = SPAWN(mark_ran, NULL);
    char buf[64];
    assert_int_equal(green_read(sv[1], buf, sizeof buf, 0.0), 4);
    assert_memory_equal(buf, "defg", 4);
    assert_true(ran);
    JOIN(g);
    assert_no_failures();
}

/* A read that filled its buffer tries first again: queued data is returned without the
 * hub running anything in between. */
static void test_full_read_tries_first(void **state)
{
    (void)state;
    char buf[4];
    assert_int_equal(send(sv[0], "abcdefgh", 8, 0), 8);
    assert_int_equal(green_read(sv[1], buf, sizeof buf, 5.0), 4);
    ran = false;
    green_t *g = SPAWN(mark_ran, NULL);
    assert_int_equal(green_read(sv[1], buf, sizeof buf, 5.0), 4);
    assert_memory_equal(buf, "efgh", 4);
    assert_false(ran);
    JOIN(g);
    assert_true(ran);
    assert_no_failures();
}

static void *send_later(void *arg)
{
    green_sleep(0.0);
    CHECK_EQ(send(sv[0], arg, strlen(arg), 0), (ssize_t)strlen(arg));
    return NULL;
}

/* Data that arrives while the next read waits wakes it, and green_read_exactly gathers
 * across such waits. */
static void test_data_arriving_later(void **state)
{
    (void)state;
    short_read();
    green_t *g = SPAWN(send_later, "later");
    char buf[64];
    assert_int_equal(green_read(sv[1], buf, sizeof buf, 5.0), 5);
    assert_memory_equal(buf, "later", 5);
    JOIN(g);

    assert_int_equal(send(sv[0], "12", 2, 0), 2);
    g = SPAWN(send_later, "345");
    size_t done = 0;
    assert_int_equal(green_read_exactly(sv[1], buf, 5, 5.0, &done), 5);
    assert_int_equal(done, 5);
    assert_memory_equal(buf, "12345", 5);
    JOIN(g);
    assert_no_failures();
}

/* End of file after a short read reads as 0, every time. */
static void test_eof_after_short_read(void **state)
{
    (void)state;
    short_read();
    assert_int_equal(shutdown(sv[0], SHUT_WR), 0);
    char buf[8];
    assert_int_equal(green_read(sv[1], buf, sizeof buf, 5.0), 0);
    assert_int_equal(green_read(sv[1], buf, sizeof buf, 0.0), 0);
}

/* A timeout after a short read is ETIMEDOUT as ever; the read after it sees new data. */
static void test_timeout_after_short_read(void **state)
{
    (void)state;
    short_read();
    char buf[8];
    errno = 0;
    assert_int_equal(green_read(sv[1], buf, sizeof buf, 0.01), -1);
    assert_int_equal(errno, ETIMEDOUT);
    assert_int_equal(send(sv[0], "x", 1, 0), 1);
    assert_int_equal(green_read(sv[1], buf, sizeof buf, 0.0), 1);
    assert_int_equal(buf[0], 'x');
}

/* A socket closed through green_close and its number reused: the new file starts afresh
 * (its first read tries first). */
static void test_new_file_forgets(void **state)
{
    (void)state;
    short_read();
    close(sv[0]);
    assert_int_equal(green_close(sv[1]), 0);
    assert_int_equal(tcp_pair(sv), 0);
    char buf[8];
    assert_int_equal(send(sv[0], "y", 1, 0), 1);
    ran = false;
    green_t *g = SPAWN(mark_ran, NULL);
    assert_int_equal(green_read(sv[1], buf, sizeof buf, 5.0), 1);
    assert_false(ran);
    JOIN(g);
    assert_no_failures();
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        PAIR_TEST(test_queued_data_after_short_read),
        PAIR_TEST(test_full_read_tries_first),
        PAIR_TEST(test_data_arriving_later),
        PAIR_TEST(test_eof_after_short_read),
        PAIR_TEST(test_timeout_after_short_read),
        PAIR_TEST(test_new_file_forgets),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
