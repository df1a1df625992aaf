/* SPDX-License-Identifier: MIT */
/* Capture what the library writes on stderr (the unjoined-error report, the monitor, run
 * info dumps) to compare it with what is expected: capture_start(), run the code,
 * capture_stop(buf, len).  The text goes through a temporary file, so a writer that
 * blocks on a full pipe cannot hang the test.  Main stack of the test only (it asserts
 * with cmocka); one capture at a time. */
#ifndef GREEN_TEST_STDERR_CAPTURE_H
#define GREEN_TEST_STDERR_CAPTURE_H

#include <stdio.h>
#include <unistd.h>

static FILE *capture_file;
static int capture_saved_fd = -1;

static inline void capture_start(void)
{
    fflush(stderr);
    capture_file = tmpfile();
    assert_non_null(capture_file);
    capture_saved_fd = dup(STDERR_FILENO);
    assert_true(capture_saved_fd >= 0);
    assert_true(dup2(fileno(capture_file), STDERR_FILENO) >= 0);
}

/* Stop capturing; the text (NUL-terminated, truncated to len) into buf. */
static inline void capture_stop(char *buf, size_t len)
{
    fflush(stderr);
    dup2(capture_saved_fd, STDERR_FILENO);
    close(capture_saved_fd);
    capture_saved_fd = -1;
    rewind(capture_file);
    size_t got = fread(buf, 1, len - 1, capture_file);
    buf[got] = 0;
    fclose(capture_file);
    capture_file = NULL;
}

#endif /* GREEN_TEST_STDERR_CAPTURE_H */
