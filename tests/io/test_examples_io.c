/* SPDX-License-Identifier: MIT */
/* The server examples run as programs (examples/echo_server, chat_server,
 * port_forwarder): each is started on a port the kernel picks (it prints "port N" once it
 * listens), spoken to with plain blocking sockets, and stopped with SIGTERM, after which it
 * must exit with status 0. */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>

#include "testutil.h"

#include <cmocka.h>

#define IO_SECONDS 10 /* a bound on every read, so a broken example fails instead of hanging */

struct prog {
    pid_t pid;
    unsigned port;
};

/* Start examples/NAME with args (NULL-terminated, at most 4) and read its "port N". */
static struct prog start(const char *name, const char *a1, const char *a2)
{
    char path[1024], rel[64];
    snprintf(rel, sizeof rel, "examples/%s", name);
    build_path(path, sizeof path, rel);
    int out[2];
    assert_int_equal(pipe(out), 0);
    fflush(NULL);
    struct prog p = {.pid = fork()};
    assert_true(p.pid >= 0);
    if (p.pid == 0) {
        dup2(out[1], STDOUT_FILENO);
        close(out[0]);
        close(out[1]);
        const char *wrapper = getenv("MESON_EXE_WRAPPER"); /* qemu-user in a cross build */
        if (wrapper && *wrapper) {
            char cmd[1400];
            snprintf(cmd, sizeof cmd, "exec %s %s %s %s", wrapper, path, a1 ? a1 : "",
                     a2 ? a2 : "");
            execl("/bin/sh", "sh", "-c", cmd, (char *)NULL);
        } else {
            execl(path, path, a1, a2, (char *)NULL);
        }
        _exit(127);
    }
    close(out[1]);
    FILE *f = fdopen(out[0], "r");
    char line[64] = "";
    bool up = fgets(line, sizeof line, f) != NULL;
    fclose(f);
    if (!up || sscanf(line, "port %u", &p.port) != 1)
        fail_msg("%s did not start (printed '%s')", name, line);
    return p;
}

/* SIGTERM: the program must exit with status 0. */
static void stop(struct prog p)
{
    int status;
    assert_int_equal(kill(p.pid, SIGTERM), 0);
    assert_int_equal(waitpid(p.pid, &status, 0), p.pid);
    assert_true(WIFEXITED(status));
    assert_int_equal(WEXITSTATUS(status), 0);
}

static int dial(unsigned port)
{
    int s = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    assert_true(s >= 0);
    struct timeval tv = {.tv_sec = IO_SECONDS};
    setsockopt(s, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    struct sockaddr_in a = {.sin_family = AF_INET,
                            .sin_port = htons((uint16_t)port),
                            .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    assert_int_equal(connect(s, (struct sockaddr *)&a, sizeof a), 0);
    return s;
}

static void send_text(int s, const char *p)
{
    size_t n = strlen(p);
    while (n) {
        ssize_t w = send(s, p, n, MSG_NOSIGNAL);
        assert_true(w > 0);
        p += w;
        n -= (size_t)w;
    }
}

/* Reads exactly strlen(want) bytes (fails on EOF or the bound) and compares. */
static void expect(int s, const char *want)
{
    char got[4096];
    size_t n = strlen(want), have = 0;
    assert_true(n < sizeof got);
    while (have < n) {
        ssize_t r = recv(s, got + have, n - have, 0);
        if (r <= 0)
            fail_msg("after %zu of %zu bytes: %s", have, n, r ? strerror(errno) : "EOF");
        have += (size_t)r;
    }
    got[n] = 0;
    assert_string_equal(got, want);
}

static void expect_eof(int s)
{
    char c;
    assert_int_equal(recv(s, &c, 1, 0), 0);
}

/* ---- echo_server ------------------------------------------------------------------------ */

/* Two clients at once, each echoed; a client still connected at SIGTERM is closed by the
 * stop (its handler is killed after the grace second) and the exit status is 0. */
static void test_echo_server(void **state)
{
    const char *model = *state ? "shared" : "private";
    struct prog p = start("echo_server", "0", model);
    int a = dial(p.port), b = dial(p.port);
    for (int i = 0; i < 20; i++) {
        char line[32];
        snprintf(line, sizeof line, "line %d\n", i);
        send_text(a, line);
        send_text(b, "b");
        expect(a, line);
        expect(b, "b");
    }
    close(a);
    stop(p);
    expect_eof(b);
    close(b);
}

int main(void)
{
    signal(SIGPIPE, SIG_IGN);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_prestate(test_echo_server, NULL),
        cmocka_unit_test_prestate(test_echo_server, (void *)1),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
