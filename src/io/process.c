/* SPDX-License-Identifier: MIT */
/* Spawning: posix_spawn with one file action per redirected stream.
 *
 * Every fd the child is to get is first copied to a number of 3 or more with
 * close-on-exec, so the dup2 actions onto 0, 1 and 2 can never overwrite a source still
 * needed (a caller whose own stdin was closed gets pipes at 0, say), and nothing but 0, 1
 * and 2 survives the exec.  glibc's posix_spawn runs the child on a vfork-like clone and
 * reports an exec failure (ENOENT...) as its own result. */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <spawn.h>
#include <stdlib.h>
#include <string.h>
#include <stdio.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "core/error.h"
#include "io.h"
#include "process.h"

extern char **environ;

#define API "green_process_spawn"

/* The child's side of each stream (-1: no action), and the caller's pipe ends. */
struct plan {
    int child[3];
    int parent[3];
};

static int high_cloexec(int fd) { return fcntl(fd, F_DUPFD_CLOEXEC, 3); }

static void plan_close(struct plan *pl, bool parent_too)
{
    for (int i = 0; i < 3; i++) {
        if (pl->child[i] >= 0)
            close(pl->child[i]);
        if (parent_too && pl->parent[i] >= 0)
            close(pl->parent[i]);
        pl->child[i] = -1;
    }
}

static int check_stream(const green_process_stream_t *s, int i)
{
    static const char *name[] = {"in", "out", "err"};
    if (s->mode < GREEN_PROCESS_INHERIT || s->mode > GREEN_PROCESS_STDOUT ||
        (s->mode == GREEN_PROCESS_STDOUT && i != 2))
        return green__fail(EINVAL, API, "opts->%s: bad mode %d", name[i], s->mode);
    if (s->mode == GREEN_PROCESS_FD && s->fd < 0)
        return green__fail(EINVAL, API, "opts->%s: fd %d", name[i], s->fd);
    return 0;
}

/* The pipes and fd copies of opts; returns 0, or -1 with errno (nothing left open). */
static int plan_make(struct plan *pl, const green_process_opts_t *o)
{
    const green_process_stream_t *s[3] = {&o->in, &o->out, &o->err};
    for (int i = 0; i < 3; i++)
        pl->child[i] = pl->parent[i] = -1;
    for (int i = 0; i < 3; i++) {
        if (check_stream(s[i], i) < 0)
            goto fail;
        if (s[i]->mode == GREEN_PROCESS_FD) {
            if ((pl->child[i] = high_cloexec(s[i]->fd)) < 0) {
                green__fail(errno == EINVAL ? EMFILE : errno, API, "opts stream %d: fd %d: %s", i,
                            s[i]->fd, strerror(errno));
                goto fail;
            }
        } else if (s[i]->mode == GREEN_PROCESS_PIPE) {
            int p[2];
            if (pipe2(p, O_CLOEXEC) < 0) {
                green__fail(errno, API, "pipe: %s", strerror(errno));
                goto fail;
            }
            int mine = i == 0 ? p[1] : p[0], theirs = i == 0 ? p[0] : p[1];
            pl->child[i] = high_cloexec(theirs);
            close(theirs);
            pl->parent[i] = mine;
            if (pl->child[i] < 0 || fcntl(mine, F_SETFL, O_NONBLOCK) < 0) {
                green__fail(errno, API, "pipe: %s", strerror(errno));
                goto fail;
            }
        }
    }
    return 0;
fail:;
    int e = errno;
    plan_close(pl, true);
    errno = e;
    return -1;
}

/* Whether file names a program we may run, as exec would judge it after the chdir to cwd
 * (NULL: none): 0, or an errno. */
static int runnable(const char *file, const char *cwd)
{
    char buf[PATH_MAX];
    if (file[0] != '/' && cwd) {
        if (snprintf(buf, sizeof buf, "%s/%s", cwd, file) >= (int)sizeof buf)
            return ENAMETOOLONG;
        file = buf;
    }
    struct stat st;
    if (stat(file, &st) < 0)
        return errno;
    if (!S_ISREG(st.st_mode) || access(file, X_OK) < 0)
        return EACCES;
    return 0;
}

/* The file to exec, checked here rather than left to the exec: a failed exec is only
 * reported by posix_spawn where the child shares the parent's memory until it execs,
 * which is not so under valgrind.  A name without '/' is searched in PATH (execvp's
 * rule).  Returns 0 with the file in buf, or an errno. */
static int find_program(const char *path, const char *cwd, char *buf, size_t len)
{
    if (strchr(path, '/')) {
        if (snprintf(buf, len, "%s", path) >= (int)len)
            return ENAMETOOLONG;
        return runnable(buf, cwd);
    }
    const char *dirs = getenv("PATH");
    int found = ENOENT;
    for (const char *d = dirs && *dirs ? dirs : "/bin:/usr/bin";;) {
        const char *end = strchrnul(d, ':');
        int n = end == d ? snprintf(buf, len, "./%s", path) /* an empty entry: "." */
                         : snprintf(buf, len, "%.*s/%s", (int)(end - d), d, path);
        int e = n > 0 && (size_t)n < len ? runnable(buf, cwd) : ENAMETOOLONG;
        if (e == 0 || e == EACCES)
            found = e; /* execvp reports EACCES if only unrunnable files were found */
        if (e == 0 || !*end)
            break;
        d = end + 1;
    }
    return found;
}

static int spawn(pid_t *pid, const char *path, char *const argv[], char *const envp[],
                 const green_process_opts_t *o, const struct plan *pl)
{
    posix_spawn_file_actions_t fa;
    posix_spawnattr_t attr;
    int rc = posix_spawn_file_actions_init(&fa);
    if (rc)
        return rc;
    if ((rc = posix_spawnattr_init(&attr))) {
        posix_spawn_file_actions_destroy(&fa);
        return rc;
    }
    const green_process_stream_t *s[3] = {&o->in, &o->out, &o->err};
    for (int i = 0; i < 3 && !rc; i++) {
        if (pl->child[i] >= 0)
            rc = posix_spawn_file_actions_adddup2(&fa, pl->child[i], i);
        else if (s[i]->mode == GREEN_PROCESS_DEVNULL)
            rc = posix_spawn_file_actions_addopen(&fa, i, "/dev/null", i ? O_WRONLY : O_RDONLY, 0);
        else if (s[i]->mode == GREEN_PROCESS_STDOUT)
            rc = posix_spawn_file_actions_adddup2(&fa, 1, 2);
    }
    if (!rc && o->cwd)
        rc = posix_spawn_file_actions_addchdir_np(&fa, o->cwd);
    /* Dispositions the caller changed (SIGPIPE ignored, signals blocked for the hub) are
     * not the program's business. */
    sigset_t all, none;
    sigfillset(&all);
    sigemptyset(&none);
    if (!rc)
        rc = posix_spawnattr_setsigdefault(&attr, &all);
    if (!rc)
        rc = posix_spawnattr_setsigmask(&attr, &none);
    if (!rc)
        rc = posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETSIGDEF | POSIX_SPAWN_SETSIGMASK);
    if (!rc)
        rc = posix_spawn(pid, path, &fa, &attr, argv, envp ? envp : environ);
    posix_spawnattr_destroy(&attr);
    posix_spawn_file_actions_destroy(&fa);
    return rc;
}

GREEN_API green_process_t *green_process_spawn(const char *path, char *const argv[],
                                               char *const envp[], const green_process_opts_t *opts)
{
    static const green_process_opts_t defaults = GREEN_PROCESS_OPTS_INIT;
    if (!path || !argv) {
        green__fail(EINVAL, API, "path and argv are needed");
        return NULL;
    }
    const green_process_opts_t *o = opts ? opts : &defaults;
    struct green_hub_part *h = green__hub_get(API);
    if (!h || !green__watch_get(h, API))
        return NULL;
    struct green_process *p = calloc(1, sizeof *p);
    green_event_t *ev = p ? green_event_new() : NULL;
    if (!ev) {
        free(p);
        green__fail(ENOMEM, API, "no memory for the process");
        return NULL;
    }
    struct plan pl;
    char file[PATH_MAX];
    struct stat st;
    int found = o->cwd && stat(o->cwd, &st) < 0  ? errno
                : o->cwd && !S_ISDIR(st.st_mode) ? ENOTDIR
                                                 : 0;
    if (found) {
        green__fail(found, API, "cannot run '%s' in '%s': %s", path, o->cwd, strerror(found));
    } else if ((found = find_program(path, o->cwd, file, sizeof file))) {
        green__fail(found, API, "cannot run '%s': %s", path, strerror(found));
    }
    if (found || plan_make(&pl, o) < 0) {
        int e = errno;
        green_event_destroy(ev);
        free(p);
        errno = e;
        return NULL;
    }
    int rc = spawn(&p->pid, file, argv, envp, o, &pl);
    plan_close(&pl, rc != 0);
    if (rc) {
        green_event_destroy(ev);
        free(p);
        green__fail(rc, API, "cannot run '%s': %s", path, strerror(rc));
        return NULL;
    }
    p->exited = ev;
    p->pidfd = -1;
    memcpy(p->fd, pl.parent, sizeof p->fd);
    if (green__process_watch(h, p, API) < 0) {
        int e = errno;
        kill(p->pid, SIGKILL);
        waitpid(p->pid, NULL, 0); /* at once: it was killed (the hub cannot reap it first) */
        p->h = NULL;
        green_process_free(p);
        errno = e;
        return NULL;
    }
    return p;
}
