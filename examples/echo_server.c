/* SPDX-License-Identifier: MIT */
/* An echo server on green_server_t: one greenlet per connection sends back whatever it
 * reads, in blocking style, until the client closes.
 *
 * Usage: echo_server PORT [private|shared]
 *   serves on 127.0.0.1:PORT (0: a port the kernel picks) with handlers of one stack model,
 *   prints "port N" once it listens, and runs until SIGTERM, which stops it gracefully
 *   (handlers get one second to finish, then are killed) with exit status 0.
 */
#include <green.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void echo(int fd, const struct sockaddr *peer, socklen_t peerlen, void *arg)
{
    (void)peer, (void)peerlen, (void)arg;
    char buf[4096];
    ssize_t n;
    /* EOF, a reset, or ECANCELED when the server stops: the handler returns and the server
     * closes fd. */
    while ((n = green_read(fd, buf, sizeof buf, GREEN_FOREVER)) > 0)
        if (green_write_all(fd, buf, (size_t)n, GREEN_FOREVER, NULL) < 0)
            break;
}

static void *stopper(void *arg)
{
    if (green_signal_wait(SIGTERM, GREEN_FOREVER) == 0)
        green_server_stop(arg, 1.0);
    return NULL;
}

int main(int argc, char **argv)
{
    green_server_opts_t opts = GREEN_SERVER_OPTS_INIT;
    char *end = NULL;
    long port = argc >= 2 ? strtol(argv[1], &end, 10) : -1;
    if (argc > 3 || port < 0 || port > 65535 || !end || *end ||
        (argc == 3 && strcmp(argv[2], "private") != 0 && strcmp(argv[2], "shared") != 0)) {
        fprintf(stderr, "usage: %s PORT [private|shared]\n", argv[0]);
        return 2;
    }
    if (argc == 3 && strcmp(argv[2], "shared") == 0)
        opts.handler_attr.stack_model = GREEN_STACK_SHARED;
    signal(SIGPIPE, SIG_IGN); /* a client that is gone ends its handler, not the server */

    green_server_t *s = green_server_new("127.0.0.1", (unsigned)port, echo, NULL, &opts);
    green_t *stop = s ? green_spawn(stopper, s, NULL) : NULL;
    if (!stop) {
        fprintf(stderr, "echo_server: %s\n", green_last_error());
        return 1;
    }
    printf("port %u\n", green_server_port(s));
    fflush(stdout);
    int rc = green_server_serve_forever(s);
    if (rc < 0)
        fprintf(stderr, "echo_server: %s\n", green_last_error());
    green_kill(stop, GREEN_FOREVER); /* done already after a SIGTERM; waiting after an error */
    green_release(stop);
    green_server_destroy(s);
    return green_hub_shutdown() == 0 && rc == 0 ? 0 : 1;
}
