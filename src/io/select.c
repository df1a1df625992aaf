/* SPDX-License-Identifier: MIT */
/* select(2) on top of green_poll(), with Linux's mapping of poll events to the three sets
 * (fs/select.c: a hang-up or error makes an fd readable; an error makes it writable). */
#include <errno.h>
#include <stdlib.h>
#include <sys/select.h>

#include "core/error.h"
#include "io.h"

#define API "green_select"
#define READ_SET (POLLIN | POLLRDNORM | POLLRDBAND | POLLHUP | POLLERR)
#define WRITE_SET (POLLOUT | POLLWRNORM | POLLWRBAND | POLLERR)

static bool in(const fd_set *s, int fd) { return s && FD_ISSET(fd, s); }

GREEN_API int green_select(int nfds, fd_set *readfds, fd_set *writefds, fd_set *exceptfds,
                           double timeout)
{
    if (nfds < 0 || nfds > FD_SETSIZE)
        return green__fail(EINVAL, API, "nfds must be within 0..%d (got %d)", FD_SETSIZE, nfds);
    if (timeout != timeout)
        return green__fail(EINVAL, API, "the timeout is NaN");
    struct pollfd *p = malloc(((size_t)nfds + 1) * sizeof *p);
    if (!p)
        return green__fail(ENOMEM, API, "no memory for %d entries", nfds);
    nfds_t n = 0;
    for (int fd = 0; fd < nfds; fd++) {
        short ev = (short)((in(readfds, fd) ? POLLIN : 0) | (in(writefds, fd) ? POLLOUT : 0) |
                           (in(exceptfds, fd) ? POLLPRI : 0));
        if (ev)
            p[n++] = (struct pollfd){fd, ev, 0};
    }
    int rc = green_poll(p, n, timeout);
    if (rc < 0)
        green__io_refail(API);
    for (nfds_t i = 0; rc > 0 && i < n; i++)
        if (p[i].revents & POLLNVAL) {
            int fd = p[i].fd;
            free(p);
            return green__fail(EBADF, API, "fd %d is not open (or was closed while waiting)", fd);
        }
    if (rc >= 0) {
        fd_set *sets[3] = {readfds, writefds, exceptfds};
        for (int s = 0; s < 3; s++)
            if (sets[s])
                FD_ZERO(sets[s]);
        rc = 0;
        for (nfds_t i = 0; i < n; i++) {
            short want = p[i].events, got = p[i].revents;
            short masks[3] = {READ_SET, WRITE_SET, POLLPRI};
            short asked[3] = {POLLIN, POLLOUT, POLLPRI};
            for (int s = 0; s < 3; s++)
                if ((want & asked[s]) && (got & masks[s])) {
                    FD_SET(p[i].fd, sets[s]);
                    rc++;
                }
        }
    }
    free(p);
    return rc;
}
