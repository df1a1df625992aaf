/* SPDX-License-Identifier: MIT */
/* The per-fd table: which fds we made non-blocking underneath (the program still believes
 * they block), which the program made non-blocking itself, which are sockets, which are
 * never waited for.  One byte per fd number, process-wide like the fds themselves, read
 * and written with relaxed atomics (a race classifies an fd twice, with the same answer).
 *
 * Which fds become non-blocking: sockets, and the pipes and socket pairs this process made
 * through a patched call.  Not inherited pipes and terminals (stdin, stdout, a shell's
 * pipe): their open file description is shared with other processes, which would start to
 * see EAGAIN; calls on them stay libc's, blocking the thread.  Not regular files and block
 * devices either: poll(2) says they are always ready, and a read of them does not return
 * EAGAIN. */
#include <fcntl.h>
#include <sys/stat.h>

#include "patch.h"

uint8_t patch_fd_table[FD_TABLE];

static unsigned load(int fd) { return __atomic_load_n(&patch_fd_table[fd], __ATOMIC_RELAXED); }

static void store(int fd, unsigned s)
{
    __atomic_store_n(&patch_fd_table[fd], (uint8_t)s, __ATOMIC_RELAXED);
}

static bool in_table(int fd) { return fd >= 0 && fd < FD_TABLE; }

static unsigned classify(int fd, unsigned s)
{
    int fl = NEXT(fcntl)(fd, F_GETFL);
    struct stat st;
    if (fl < 0 || fstat(fd, &st) < 0)
        return 0;
    unsigned sock = S_ISSOCK(st.st_mode) ? FD_SOCKET : 0;
    unsigned created = s & (FD_CREATED | FD_TIMEO);
    if (fl & O_NONBLOCK)
        s = FD_KNOWN | FD_USER_NB | sock | created;
    else if ((sock || created) && !S_ISREG(st.st_mode) && !S_ISBLK(st.st_mode) &&
             NEXT(fcntl)(fd, F_SETFL, fl | O_NONBLOCK) == 0)
        s = FD_KNOWN | FD_OURS | sock | created;
    else
        s = FD_KNOWN | FD_PASS | sock | created;
    store(fd, s);
    return s;
}

unsigned patch_fd_prepare(int fd)
{
    if (!in_table(fd))
        return fd >= 0 ? FD_KNOWN | FD_PASS : 0;
    unsigned s = load(fd);
    return GREEN_LIKELY(s & FD_KNOWN) ? s : classify(fd, s);
}

void patch_fd_created(int fd, bool socket, bool nonblock)
{
    if (!in_table(fd))
        return;
    unsigned sock = socket ? FD_SOCKET : 0;
    store(fd, nonblock ? FD_KNOWN | FD_USER_NB | FD_CREATED | sock : FD_CREATED | sock);
}

void patch_fd_forget(int fd)
{
    if (in_table(fd))
        store(fd, 0);
}

void patch_fd_copy(int oldfd, int newfd)
{
    if (in_table(newfd))
        store(newfd, patch_fd_peek(oldfd));
}

void patch_fd_user_mode(int fd, bool nonblock)
{
    if (!in_table(fd))
        return;
    unsigned keep = load(fd) & (FD_SOCKET | FD_CREATED | FD_TIMEO);
    /* Cleared: unknown again, so the next call that may park makes it ours. */
    store(fd, nonblock ? FD_KNOWN | FD_USER_NB | keep : keep);
}

void patch_fd_timeo(int fd)
{
    if (in_table(fd))
        __atomic_fetch_or(&patch_fd_table[fd], (uint8_t)FD_TIMEO, __ATOMIC_RELAXED);
}
