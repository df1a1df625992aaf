/* SPDX-License-Identifier: MIT */
/* A TLS echo server and its client, each a few blocking-looking calls per connection.
 *
 * Usage: tls_echo server PORT CERT KEY
 *          listens on 127.0.0.1:PORT (0: a free port), prints "listening on PORT" once it
 *          accepts, and echoes every connection's data in a greenlet of its own until the
 *          client shuts TLS down; SIGTERM stops it (exit status 0).
 *        tls_echo client HOST PORT CAFILE [MESSAGE...]
 *          connects to HOST:PORT, verifies the server's certificate against CAFILE for the
 *          name HOST, sends each MESSAGE (or, without any, each line of standard input)
 *          and prints what comes back, "echo: ...", then shuts TLS down.  Exit status 0
 *          when every echo matched, 1 otherwise (a refused certificate too), 2 for bad
 *          usage.
 */
#include <green.h>
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <netinet/in.h>

#define TIMEOUT 10.0 /* each call's bound: a silent peer ends its connection, not us */

static green_tls_ctx_t *ctx;
static int listener = -1;

static void *echo(void *arg)
{
    int fd = (int)(intptr_t)arg;
    green_tls_t *t = green_tls_accept(fd, ctx, TIMEOUT);
    if (!t) {
        fprintf(stderr, "tls_echo: %s\n", green_last_error());
        green_close(fd);
        return NULL;
    }
    char buf[16384];
    ssize_t n;
    while ((n = green_tls_read(t, buf, sizeof buf, GREEN_FOREVER)) > 0)
        if (green_tls_write_all(t, buf, (size_t)n, TIMEOUT, NULL) < 0)
            break;
    if (n == 0) /* the client's close_notify: answer it */
        green_tls_shutdown(t, TIMEOUT);
    green_tls_free(t);
    green_close(fd);
    return NULL;
}

/* SIGTERM closes the listener: main's accept fails with EBADF and main shuts the hub
 * down, which kills the connections still open (their reads fail with ECANCELED). */
static void *stopper(void *arg)
{
    (void)arg;
    if (green_signal_wait(SIGTERM, GREEN_FOREVER) == 0)
        green_close(listener);
    return NULL;
}

static int server(const char *port, const char *cert, const char *key)
{
    ctx = green_tls_server_ctx_new(cert, key, NULL);
    listener = ctx ? green_listen("127.0.0.1", (unsigned)atoi(port), SOCK_STREAM, 128, 0) : -1;
    green_t *stop = listener >= 0 ? green_spawn(stopper, NULL, NULL) : NULL;
    if (!stop) {
        fprintf(stderr, "tls_echo: %s\n", green_last_error());
        return 1;
    }
    green_release(stop);
    struct sockaddr_in a;
    socklen_t len = sizeof a;
    getsockname(listener, (struct sockaddr *)&a, &len);
    printf("listening on %u\n", ntohs(a.sin_port));
    fflush(stdout);
    for (;;) {
        int fd = green_accept(listener, NULL, NULL, GREEN_FOREVER);
        if (fd < 0 && errno == EBADF) /* the stopper closed the listener */
            break;
        if (fd < 0) {
            green_sleep(0.01); /* out of fds, say: let connections end first */
            continue;
        }
        green_t *g = green_spawn(echo, (void *)(intptr_t)fd, NULL);
        if (g)
            green_release(g); /* freed when it ends */
        else
            green_close(fd);
    }
    green_tls_ctx_free(ctx);
    return green_hub_shutdown() == 0 ? 0 : 1;
}

/* Send one message and read its echo back; 0 when it matched. */
static int roundtrip(green_tls_t *t, const char *msg, size_t len)
{
    char back[4096];
    if (len > sizeof back || green_tls_write_all(t, msg, len, TIMEOUT, NULL) < 0)
        return -1;
    size_t got = 0;
    ssize_t n = 1;
    while (got < len && (n = green_tls_read(t, back + got, len - got, TIMEOUT)) > 0)
        got += (size_t)n;
    if (got < len)
        return -1;
    printf("echo: %.*s\n", (int)len, back);
    return memcmp(back, msg, len) == 0 ? 0 : -1;
}

static int client(const char *host, const char *port, const char *ca_file, char **msgs, int n)
{
    green_tls_opts_t o = GREEN_TLS_OPTS_INIT;
    o.ca_file = ca_file;
    ctx = green_tls_client_ctx_new(&o);
    int fd = ctx ? green_connect_name(host, (unsigned)atoi(port), SOCK_STREAM, TIMEOUT) : -1;
    green_tls_t *t = fd >= 0 ? green_tls_connect(fd, ctx, host, TIMEOUT) : NULL;
    int rc = t ? 0 : -1;
    if (t && n > 0) {
        for (int i = 0; i < n && rc == 0; i++)
            rc = roundtrip(t, msgs[i], strlen(msgs[i]));
    } else if (t) {
        char line[4096];
        while (rc == 0 && fgets(line, sizeof line, stdin))
            rc = roundtrip(t, line, strcspn(line, "\n"));
    }
    if (rc == 0)
        rc = green_tls_shutdown(t, TIMEOUT);
    if (rc != 0)
        fprintf(stderr, "tls_echo: %s\n", green_last_error());
    green_tls_free(t);
    if (fd >= 0)
        green_close(fd);
    green_tls_ctx_free(ctx);
    green_hub_shutdown();
    return rc == 0 ? 0 : 1;
}

int main(int argc, char **argv)
{
    signal(SIGPIPE, SIG_IGN); /* a peer that is gone ends its connection, not the program */
    if (argc == 5 && strcmp(argv[1], "server") == 0)
        return server(argv[2], argv[3], argv[4]);
    if (argc >= 5 && strcmp(argv[1], "client") == 0)
        return client(argv[2], argv[3], argv[4], argv + 5, argc - 5);
    fprintf(stderr,
            "usage: %s server PORT CERT KEY\n"
            "       %s client HOST PORT CAFILE [MESSAGE...]\n",
            argv[0], argv[0]);
    return 2;
}
