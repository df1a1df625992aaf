/* Bad input: every API refuses NULL and invalid arguments with a documented errno and a
 * message, and changes nothing. */
#include "testutil.h"

static void *nop(void *arg) { return arg; }

#define assert_fails(expr, err)                                                           \
    do {                                                                                  \
        errno = 0;                                                                        \
        assert_int_equal((expr), -1);                                                     \
        assert_int_equal(errno, (err));                                                   \
        assert_true(green_last_error()[0] != 0);                                          \
    } while (0)

static void test_null_greenlet(void **state)
{
    (void)state;
    assert_fails(green_switch(NULL, NULL, NULL), EINVAL);
    assert_fails(green_throw(NULL, EIO, NULL, NULL), EINVAL);
    assert_fails(green_destroy(NULL), EINVAL);
    assert_fails(green_set_name(NULL, "x"), EINVAL);
    assert_fails(green_state(NULL), EINVAL);
    assert_int_equal(green_id(NULL), 0);
    assert_null(green_name(NULL));
    assert_null(green_parent(NULL));
    assert_false(green_started(NULL));
    assert_false(green_active(NULL));
    assert_false(green_dead(NULL));
    assert_false(green_is_main(NULL));
}

static void test_bad_creation(void **state)
{
    (void)state;
    errno = 0;
    assert_null(green_new(NULL, NULL, NULL));
    assert_int_equal(errno, EINVAL);
    green_attr_t a = GREEN_ATTR_INIT;
    a.stack_model = 7;
    errno = 0;
    assert_null(green_new(nop, NULL, &a));
    assert_int_equal(errno, EINVAL);
    assert_non_null(strstr(green_last_error(), "stack model"));
    a.stack_model = GREEN_STACK_PRIVATE;
    a.stack_size = (size_t)1 << 50;
    errno = 0;
    assert_null(green_new(nop, NULL, &a));
    assert_int_equal(errno, EINVAL);
}

static void test_shared_size_rules(void **state)
{
    (void)state;
    assert_fails(green_set_shared_stack_size(1024), EINVAL);
}

static void test_message_names_the_greenlet(void **state)
{
    (void)state;
    green_attr_t a = GREEN_ATTR_INIT;
    a.name = "the-parent";
    green_t *p = green_new(nop, NULL, &a);
    green_t *c = green_new(nop, p, NULL);
    assert_fails(green_set_parent(p, c), ELOOP);
    assert_non_null(strstr(green_last_error(), "the-parent"));
    green_destroy(c);
    green_destroy(p);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_null_greenlet),
        cmocka_unit_test(test_bad_creation),
        cmocka_unit_test(test_shared_size_rules),
        cmocka_unit_test(test_message_names_the_greenlet),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
