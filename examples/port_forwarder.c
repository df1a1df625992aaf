/* SPDX-License-Identifier: MIT */
/* A TCP port forwarder: each connection accepted on PORT is connected to TARGET and the
 * bytes are pumped both ways by two greenlets, until either side ends.
 *
 * Usage: port_forwarder PORT TARGET_HOST TARGET_PORT
 *   listens on 127.0.0.1:PORT (0: a port the kernel picks), prints "port N" once it
 *   listens, and runs until SIGTERM (exit status 0).  A target that cannot be reached
 *   within 10 s closes the client's connection.
 *
 * The handler pumps target -> client itself and spawns a greenlet for client -> target.
 * When either direction ends (EOF, an error, the server stopping), it shuts both sockets
 * down, which ends the other direction's read at once; the second to finish closes both
 * fds, so neither greenlet ever touches an fd the other has closed (GREEN_SERVER_KEEP_FD).
 */
#include <green.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#define CONNECT_SECONDS 10.0
#define CHUNK 16384

static const char *target_host;
static unsigned target_port;

struct pair {
    int client, target;
    int pumps; /* directions still running */
};

static void finish(struct pair *p)
{
    shutdown(p->client, SHUT_RDWR); /* the other direction's read ends now */
    shutdown(p->target, SHUT_RDWR);
    if (--p->pumps == 0) {
        green_close(p->client);
        green_close(p->target);
        free(p);
    }
}

static void pump(struct pair *p, int from, int to)
{
    char *buf = malloc(CHUNK); /* heap: the greenlet may run on a shared stack */
    ssize_t n;
    while (buf && (n = green_read(from, buf, CHUNK, GREEN_FOREVER)) > 0)
        if (green_send_all(to, buf, (size_t)n, MSG_NOSIGNAL, GREEN_FOREVER, NULL) < 0)
            break;
    free(buf);
    finish(p);
}

static void *client_to_target(void *arg)
{
    struct pair *p = arg;
    pump(p, p->client, p->target);
    return NULL;
}

static void forward(int fd, const struct sockaddr *peer, socklen_t peerlen, void *arg)
{
    (void)peer, (void)peerlen, (void)arg;
    struct pair *p = malloc(sizeof *p);
    int t = p ? green_connect_name(target_host, target_port, SOCK_STREAM, CONNECT_SECONDS) : -1;
    green_t *g = NULL;
    if (t >= 0) {
        *p = (struct pair){.client = fd, .target = t, .pumps = 2};
        g = green_spawn(client_to_target, p, NULL);
    }
    if (!g) {
        if (t >= 0)
            green_close(t);
        free(p);
        green_close(fd);
        return;
    }
    green_release(g);
    pump(p, t, fd);
}

static void *stopper(void *arg)
{
    if (green_signal_wait(SIGTERM, GREEN_FOREVER) == 0)
        green_server_stop(arg, 1.0);
    return NULL;
}

int main(int argc, char **argv)
{
    char *e1 = NULL, *e2 = NULL;
    long port = argc == 4 ? strtol(argv[1], &e1, 10) : -1;
    long tport = argc == 4 ? strtol(argv[3], &e2, 10) : -1;
    if (port < 0 || port > 65535 || tport <= 0 || tport > 65535 || *e1 || *e2) {
        fprintf(stderr, "usage: %s PORT TARGET_HOST TARGET_PORT\n", argv[0]);
        return 2;
    }
    target_host = argv[2];
    target_port = (unsigned)tport;
    signal(SIGPIPE, SIG_IGN);
    green_server_opts_t opts = GREEN_SERVER_OPTS_INIT;
    opts.flags = GREEN_SERVER_KEEP_FD; /* the pair's last pump closes both fds */
    green_server_t *s = green_server_new("127.0.0.1", (unsigned)port, forward, NULL, &opts);
    green_t *stop = s ? green_spawn(stopper, s, NULL) : NULL;
    if (!stop) {
        fprintf(stderr, "port_forwarder: %s\n", green_last_error());
        return 1;
    }
    printf("port %u\n", green_server_port(s));
    fflush(stdout);
    int rc = green_server_serve_forever(s);
    if (rc < 0)
        fprintf(stderr, "port_forwarder: %s\n", green_last_error());
    green_kill(stop, GREEN_FOREVER);
    green_release(stop);
    green_server_destroy(s);
    return green_hub_shutdown() == 0 && rc == 0 ? 0 : 1;
}
