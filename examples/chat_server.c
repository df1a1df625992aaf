/* SPDX-License-Identifier: MIT */
/* A chat server: every line a client sends goes to all the other connected clients.
 *
 * Usage: chat_server PORT
 *   serves on 127.0.0.1:PORT (0: a port the kernel picks), prints "port N" once it listens,
 *   and runs until SIGTERM (exit status 0).
 *
 * Protocol: on connecting a client is told "welcome guestN\n" and the others
 * "* guestN joined\n"; each line L it sends reaches the others as "guestN: L\n"; when it
 * leaves they get "* guestN left\n".
 *
 * Each client has two greenlets: the server's handler reads its lines, and a writer drains
 * the client's outgoing Queue.  A broadcast only puts into queues (it never waits on a
 * socket), so one slow reader cannot hold up the room: a client whose queue is full is
 * disconnected instead.  The writer is the connection's last user — the handler may be
 * gone while messages are still going out — so it closes the fd (GREEN_SERVER_KEEP_FD).
 */
#include <green.h>
#include <errno.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#define QUEUE_MAX 256 /* messages waiting for one client; beyond it the client is dropped */
#define LINE_MAX_BYTES 1024

struct client {
    int fd;
    unsigned id;
    green_queue_t *out; /* heap strings; shut down when the handler ends */
    struct client *prev, *next;
};

static struct client *room; /* every connected client */
static unsigned next_id;

static void send_to(struct client *c, const char *text)
{
    char *copy = strdup(text);
    if (copy && green_queue_try_put(c->out, copy) == 0)
        return;
    free(copy);
    shutdown(c->fd, SHUT_RDWR); /* too slow (or no memory): its handler reads EOF and ends */
}

static void broadcast(struct client *from, const char *text)
{
    for (struct client *c = room; c; c = c->next)
        if (c != from)
            send_to(c, text);
}

/* Writes the client's queue out until the queue is shut down and empty, then frees it. */
static void *writer(void *arg)
{
    struct client *c = arg;
    void *item;
    while (green_queue_get(c->out, GREEN_FOREVER, &item) == 0) {
        int rc = green_send_all(c->fd, item, strlen(item), MSG_NOSIGNAL, GREEN_FOREVER, NULL);
        free(item);
        if (rc < 0)
            shutdown(c->fd, SHUT_RDWR); /* gone: the handler ends too */
    }
    while (green_queue_try_get(c->out, &item) == 0) /* killed at shutdown: drop the rest */
        free(item);
    green_queue_destroy(c->out);
    green_close(c->fd);
    free(c);
    return NULL;
}

static void join_room(struct client *c)
{
    c->next = room;
    if (room)
        room->prev = c;
    room = c;
}

static void leave_room(struct client *c)
{
    if (c->prev)
        c->prev->next = c->next;
    else
        room = c->next;
    if (c->next)
        c->next->prev = c->prev;
}

/* One line (without its '\n') from the client into line, buffered in buf; 0 at EOF or on
 * an error (errno: ECANCELED when the server stops). */
static size_t read_line(int fd, char *buf, size_t *have, char *line)
{
    for (;;) {
        char *nl = memchr(buf, '\n', *have);
        if (nl) {
            size_t n = (size_t)(nl - buf);
            memcpy(line, buf, n);
            line[n] = 0;
            if (n && line[n - 1] == '\r')
                line[n - 1] = 0;
            *have -= n + 1;
            memmove(buf, nl + 1, *have);
            return n + 1;
        }
        if (*have == LINE_MAX_BYTES) {
            errno = EMSGSIZE;
            return 0; /* a line too long: the client is dropped */
        }
        ssize_t r = green_read(fd, buf + *have, LINE_MAX_BYTES - *have, GREEN_FOREVER);
        if (r <= 0) {
            if (r == 0)
                errno = 0; /* EOF: the client left */
            return 0;
        }
        *have += (size_t)r;
    }
}

static void chat(int fd, const struct sockaddr *peer, socklen_t peerlen, void *arg)
{
    (void)peer, (void)peerlen, (void)arg;
    struct client *c = calloc(1, sizeof *c);
    char *buf = malloc(LINE_MAX_BYTES), *line = malloc(LINE_MAX_BYTES + 1);
    char *msg = malloc(LINE_MAX_BYTES + 64);
    green_t *w = NULL;
    if (c && buf && line && msg && (c->out = green_queue_new(QUEUE_MAX)))
        w = green_spawn(writer, c, NULL);
    if (!w) {
        if (c && c->out)
            green_queue_destroy(c->out);
        free(c), free(buf), free(line), free(msg);
        green_close(fd);
        return;
    }
    green_release(w); /* it frees itself (and c) when the queue is done */
    c->fd = fd;
    c->id = ++next_id;
    snprintf(msg, LINE_MAX_BYTES + 64, "welcome guest%u\n", c->id);
    send_to(c, msg);
    snprintf(msg, LINE_MAX_BYTES + 64, "* guest%u joined\n", c->id);
    broadcast(c, msg);
    join_room(c);
    size_t have = 0;
    while (read_line(fd, buf, &have, line)) {
        snprintf(msg, LINE_MAX_BYTES + 64, "guest%u: %s\n", c->id, line);
        broadcast(c, msg);
    }
    bool stopping = errno == ECANCELED; /* the server is stopping: everyone leaves at once */
    leave_room(c);
    snprintf(msg, LINE_MAX_BYTES + 64, "* guest%u left\n", c->id);
    if (!stopping)
        broadcast(c, msg);
    green_queue_shutdown(c->out, false); /* the writer sends what is queued, then ends */
    free(buf), free(line), free(msg);
}

static void *stopper(void *arg)
{
    /* Chat clients never end on their own: no grace period, the handlers are killed. */
    if (green_signal_wait(SIGTERM, GREEN_FOREVER) == 0)
        green_server_stop(arg, 0);
    return NULL;
}

int main(int argc, char **argv)
{
    char *end = NULL;
    long port = argc == 2 ? strtol(argv[1], &end, 10) : -1;
    if (port < 0 || port > 65535 || !end || *end) {
        fprintf(stderr, "usage: %s PORT\n", argv[0]);
        return 2;
    }
    signal(SIGPIPE, SIG_IGN);
    green_server_opts_t opts = GREEN_SERVER_OPTS_INIT;
    opts.flags = GREEN_SERVER_KEEP_FD; /* the writer closes it */
    green_server_t *s = green_server_new("127.0.0.1", (unsigned)port, chat, NULL, &opts);
    green_t *stop = s ? green_spawn(stopper, s, NULL) : NULL;
    if (!stop) {
        fprintf(stderr, "chat_server: %s\n", green_last_error());
        return 1;
    }
    printf("port %u\n", green_server_port(s));
    fflush(stdout);
    int rc = green_server_serve_forever(s);
    if (rc < 0)
        fprintf(stderr, "chat_server: %s\n", green_last_error());
    green_kill(stop, GREEN_FOREVER);
    green_release(stop);
    green_server_destroy(s);
    /* Writers still sending are killed here: their sends fail, they free their client. */
    return green_hub_shutdown() == 0 && rc == 0 ? 0 : 1;
}
