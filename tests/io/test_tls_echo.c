/* SPDX-License-Identifier: MIT */
/* examples/tls_echo run as programs: the server on a free port with a certificate of the
 * test CA (tls_certs.h), clients with messages, with standard input, by name and by
 * address, a client that does not trust the server, and the server's clean exit on
 * SIGTERM. */
#include <stdio.h>

#include "testutil.h"
#include "tls_certs.h"

#include <cmocka.h>

static struct certs certs;
static char prog[1024];

/* Start argv[] with stdin from `in` (NULL: /dev/null) and stdout+stderr into a pipe;
 * returns the pid and the pipe's read end in *out. */
static pid_t start(char *const argv[], const char *in, int *out)
{
    int o[2], i[2];
    assert_int_equal(pipe(o), 0);
    assert_int_equal(pipe(i), 0);
    fflush(NULL);
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        dup2(i[0], STDIN_FILENO);
        dup2(o[1], STDOUT_FILENO);
        dup2(o[1], STDERR_FILENO);
        close(o[0]), close(o[1]), close(i[0]), close(i[1]);
        execv(argv[0], argv);
        _exit(127);
    }
    close(o[1]);
    close(i[0]);
    if (in)
        assert_int_equal(write(i[1], in, strlen(in)), (ssize_t)strlen(in)); /* fits a pipe */
    close(i[1]);
    *out = o[0];
    return pid;
}

/* Run argv[] to its end; returns its wait status, its output in buf. */
static int run(char *const argv[], const char *in, char *buf, size_t len)
{
    int out;
    pid_t pid = start(argv, in, &out);
    size_t got = 0;
    ssize_t n;
    while (got + 1 < len && (n = read(out, buf + got, len - 1 - got)) > 0)
        got += (size_t)n;
    buf[got] = 0;
    close(out);
    int status;
    assert_int_equal(waitpid(pid, &status, 0), pid);
    return status;
}

static void test_echo_pair(void **state)
{
    (void)state;
    char *server[] = {prog, "server", "0", certs.server, certs.server_key, NULL};
    int out;
    pid_t srv = start(server, NULL, &out);
    FILE *f = fdopen(out, "r");
    unsigned port = 0;
    assert_int_equal(fscanf(f, "listening on %u", &port), 1); /* it accepts from now on */
    char port_s[16], buf[4096];
    snprintf(port_s, sizeof port_s, "%u", port);

    char *by_name[] = {prog, "client", "localhost", port_s, certs.ca, "hello", "world", NULL};
    int st = run(by_name, NULL, buf, sizeof buf);
    assert_string_equal(buf, "echo: hello\necho: world\n");
    assert_true(WIFEXITED(st) && WEXITSTATUS(st) == 0);

    char *by_ip[] = {prog, "client", "127.0.0.1", port_s, certs.ca, NULL};
    st = run(by_ip, "one line\nand another\n", buf, sizeof buf);
    assert_string_equal(buf, "echo: one line\necho: and another\n");
    assert_true(WIFEXITED(st) && WEXITSTATUS(st) == 0);

    /* a client trusting another certificate refuses the server */
    char *distrust[] = {prog, "client", "localhost", port_s, certs.self, "x", NULL};
    st = run(distrust, NULL, buf, sizeof buf);
    assert_true(WIFEXITED(st) && WEXITSTATUS(st) == 1);
    assert_non_null(strstr(buf, "certificate verify failed"));

    char *usage[] = {prog, "client", NULL};
    st = run(usage, NULL, buf, sizeof buf);
    assert_true(WIFEXITED(st) && WEXITSTATUS(st) == 2);

    /* the server survived the refused client, and stops on SIGTERM */
    assert_int_equal(kill(srv, SIGTERM), 0);
    assert_int_equal(waitpid(srv, &st, 0), srv);
    assert_true(WIFEXITED(st));
    assert_int_equal(WEXITSTATUS(st), 0);
    /* what it printed after its first line: the refused handshake's error */
    size_t got = fread(buf, 1, sizeof buf - 1, f);
    buf[got] = 0;
    assert_non_null(strstr(buf, "green_tls_accept"));
    fclose(f);
}

static int setup(void **state)
{
    (void)state;
    const char *dir = getenv("GREEN_BUILD_DIR");
    if (!dir)
        return -1;
    snprintf(prog, sizeof prog, "%s/examples/tls_echo", dir);
    return certs_make(&certs);
}

static int teardown(void **state)
{
    (void)state;
    certs_remove(&certs);
    return 0;
}

int main(void)
{
    const struct CMUnitTest tests[] = {cmocka_unit_test(test_echo_pair)};
    return cmocka_run_group_tests(tests, setup, teardown);
}
