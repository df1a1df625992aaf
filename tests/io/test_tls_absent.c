/* SPDX-License-Identifier: MIT */
/* A build without TLS (no OpenSSL, e.g. the cross builds): tls.h is there and every call
 * fails with ENOSYS, or does nothing for the calls that never fail. */
#include "hubtest.h"

#include <cmocka.h>

static void test_absent(void **state)
{
    (void)state;
    char buf[4];
    size_t done = 99;
    CHECK_NULL(green_tls_client_ctx_new(NULL), ENOSYS);
    assert_non_null(strstr(green_last_error(), "built without TLS"));
    CHECK_NULL(green_tls_server_ctx_new("cert", "key", NULL), ENOSYS);
    CHECK_NULL(green_tls_connect(0, NULL, "localhost", 1), ENOSYS);
    CHECK_NULL(green_tls_accept(0, NULL, 1), ENOSYS);
    CHECK_FAILS(green_tls_read(NULL, buf, sizeof buf, 1), ENOSYS);
    CHECK_FAILS(green_tls_write(NULL, buf, sizeof buf, 1), ENOSYS);
    CHECK_FAILS(green_tls_write_all(NULL, buf, sizeof buf, 1, &done), ENOSYS);
    CHECK_EQ(done, 0);
    CHECK_FAILS(green_tls_shutdown(NULL, 1), ENOSYS);
    green_tls_free(NULL);
    green_tls_ctx_free(NULL);
    CHECK_EQ(green_tls_fd(NULL), -1);
    CHECK(green_tls_alpn(NULL) == NULL && green_tls_version(NULL) == NULL);
    assert_no_failures();
}

int main(void)
{
    const struct CMUnitTest tests[] = {CHECKED_TEST(test_absent)};
    return cmocka_run_group_tests(tests, NULL, NULL);
}
