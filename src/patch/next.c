/* SPDX-License-Identifier: MIT */
/* libc's own functions, resolved once: the definition that comes after this library in
 * the lookup order (RTLD_NEXT), which is libc's, or a sanitizer's interceptor's next. */
#include <dlfcn.h>
#include <stdio.h>
#include <stdlib.h>

#include "patch.h"

struct patch_next patch_next;

static void *need(const char *name)
{
    void *p = dlsym(RTLD_NEXT, name);
    if (!p) {
        fprintf(stderr, "libgreen-patch: libc has no %s: %s\n", name, dlerror());
        abort();
    }
    return p;
}

#define RESOLVE(fn) __atomic_store_n((void **)&n.fn, need(#fn), __ATOMIC_RELAXED)

void patch_resolve(void)
{
    struct patch_next n;
    RESOLVE(read);
    RESOLVE(write);
    RESOLVE(readv);
    RESOLVE(writev);
    RESOLVE(pread);
    RESOLVE(pwrite);
    RESOLVE(recv);
    RESOLVE(recvfrom);
    RESOLVE(recvmsg);
    RESOLVE(send);
    RESOLVE(sendto);
    RESOLVE(sendmsg);
    RESOLVE(accept);
    RESOLVE(accept4);
    RESOLVE(connect);
    RESOLVE(poll);
    RESOLVE(ppoll);
    RESOLVE(select);
    RESOLVE(pselect);
    RESOLVE(epoll_wait);
    RESOLVE(sleep);
    RESOLVE(usleep);
    RESOLVE(nanosleep);
    RESOLVE(clock_nanosleep);
    RESOLVE(getaddrinfo);
    RESOLVE(getnameinfo);
    RESOLVE(gethostbyname);
    RESOLVE(gethostbyname_r);
    RESOLVE(close);
    RESOLVE(dup);
    RESOLVE(dup2);
    RESOLVE(dup3);
    RESOLVE(fcntl);
    RESOLVE(ioctl);
    RESOLVE(socket);
    RESOLVE(socketpair);
    RESOLVE(pipe);
    RESOLVE(pipe2);
    RESOLVE(waitpid);
    RESOLVE(sigaction);
    RESOLVE(setsockopt);
    RESOLVE(wait);
    /* Whole pointers, each written once with the same value by whichever thread gets here:
     * a racing reader sees NULL (and resolves too) or the final value. */
    void **from = (void **)&n, **to = (void **)&patch_next;
    for (size_t i = 0; i < sizeof n / sizeof(void *); i++)
        __atomic_store_n(&to[i], from[i], __ATOMIC_RELEASE);
}

__attribute__((constructor(101))) static void patch_init(void) { patch_resolve(); }

PATCH_API bool green_patch_enabled(void) { return patch_gate(); }
