/* SPDX-License-Identifier: MIT */
/* Real servers for the patch tests, started by the tests themselves: a program found on
 * PATH (or at a fixed path), run in a temporary directory, waited for until its Unix
 * socket accepts a connection, stopped with SIGTERM.  Run before any hub exists (the
 * calls are libc's), so nothing here depends on the patch library.
 *
 * Servers that refuse to run as root (PostgreSQL) run as `nobody`: server_spawn's
 * as_nobody drops to that user in the child, and server_tmpdir hands the directory over. */
#ifndef GREEN_TEST_PATCH_SERVERS_H
#define GREEN_TEST_PATCH_SERVERS_H

#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <grp.h>
#include <pwd.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

/* The full path of `name` found on PATH (or name itself if it has a '/' and exists), in
 * buf; false if there is none. */
static inline bool server_find(const char *name, char *buf, size_t len)
{
    if (strchr(name, '/')) {
        snprintf(buf, len, "%s", name);
        return access(buf, X_OK) == 0;
    }
    const char *path = getenv("PATH");
    char dirs[4096];
    snprintf(dirs, sizeof dirs, "%s:/usr/sbin:/sbin", path ? path : "/usr/bin:/bin");
    for (char *save, *d = strtok_r(dirs, ":", &save); d; d = strtok_r(NULL, ":", &save)) {
        snprintf(buf, len, "%s/%s", d, name);
        if (access(buf, X_OK) == 0)
            return true;
    }
    return false;
}

/* The uid and gid servers run as: ours, or nobody's when we are root. */
static inline void server_user(uid_t *uid, gid_t *gid)
{
    *uid = getuid();
    *gid = getgid();
    struct passwd *pw;
    if (*uid == 0 && (pw = getpwnam("nobody"))) {
        *uid = pw->pw_uid;
        *gid = pw->pw_gid;
    }
}

/* A fresh temporary directory in buf, owned by the server's user; false on failure. */
static inline bool server_tmpdir(char *buf, size_t len, const char *tag, bool as_nobody)
{
    const char *tmp = getenv("TMPDIR");
    snprintf(buf, len, "%s/green-%s-XXXXXX", tmp && *tmp ? tmp : "/tmp", tag);
    if (!mkdtemp(buf))
        return false;
    if (as_nobody) {
        uid_t uid;
        gid_t gid;
        server_user(&uid, &gid);
        if (chown(buf, uid, gid) != 0)
            return false;
    }
    return true;
}

static inline int server_rm_one(const char *path, const struct stat *st, int flag, struct FTW *f)
{
    (void)st, (void)flag, (void)f;
    return remove(path);
}

static inline void server_rmtree(const char *dir)
{
    nftw(dir, server_rm_one, 16, FTW_DEPTH | FTW_PHYS);
}

/* Run argv (argv[0] a full path) with stdout and stderr to `log`, as nobody if as_nobody
 * and we are root.  Returns the pid, or -1. */
static inline pid_t server_spawn(char *const argv[], const char *log, bool as_nobody)
{
    pid_t pid = fork();
    if (pid != 0)
        return pid;
    int fd = open(log, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
    if (fd >= 0) {
        dup2(fd, 1);
        dup2(fd, 2);
    }
    if (as_nobody && getuid() == 0) {
        uid_t uid;
        gid_t gid;
        server_user(&uid, &gid);
        if (setgroups(0, NULL) != 0 || setgid(gid) != 0 || setuid(uid) != 0)
            _exit(126);
    }
    execv(argv[0], argv);
    _exit(127);
}

/* Run argv to completion; its exit status (or -1). */
static inline int server_run(char *const argv[], const char *log, bool as_nobody)
{
    pid_t pid = server_spawn(argv, log, as_nobody);
    int status;
    if (pid < 0 || waitpid(pid, &status, 0) != pid)
        return -1;
    return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

/* Wait (at most `seconds`) until the Unix socket at path accepts a connection, or the
 * server died.  A readiness poll, not a sleep standing in for one. */
static inline bool server_wait_unix(pid_t pid, const char *path, double seconds)
{
    struct sockaddr_un a = {.sun_family = AF_UNIX};
    if (strlen(path) >= sizeof a.sun_path)
        return false;
    memcpy(a.sun_path, path, strlen(path) + 1);
    for (int i = 0; i < (int)(seconds * 100); i++) {
        int s = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
        int rc = connect(s, (struct sockaddr *)&a, sizeof a);
        close(s);
        if (rc == 0)
            return true;
        int status;
        if (pid > 0 && waitpid(pid, &status, WNOHANG) == pid)
            return false;
        struct timespec ten_ms = {0, 10000000};
        nanosleep(&ten_ms, NULL);
    }
    return false;
}

static inline void server_stop(pid_t pid)
{
    if (pid <= 0)
        return;
    kill(pid, SIGTERM);
    int status;
    waitpid(pid, &status, 0);
}

/* The last lines of a server's log, for a failure message. */
static inline void server_print_log(const char *log)
{
    FILE *f = fopen(log, "r");
    if (!f)
        return;
    char line[512];
    while (fgets(line, sizeof line, f))
        fprintf(stderr, "  | %s", line);
    fclose(f);
}

/* A start that failed: say so on stderr, with the server's log. */
static inline void server_failed(const char *what, const char *log)
{
    fprintf(stderr, "%s; its log:\n", what);
    server_print_log(log);
}

/* ---- redis-server ------------------------------------------------------------------- */

/* A redis-server of the test's own: on a Unix socket in a temporary directory, no TCP
 * port, nothing saved. */
struct redis_server {
    pid_t pid; /* -1: not started */
    char dir[256], sock[300], log[300];
};

/* Start one from bin (redis-server's path: server_find) and wait until it accepts.  False
 * if it did not come up (its log printed). */
static inline bool redis_start(struct redis_server *r, const char *bin)
{
    r->pid = -1;
    if (!server_tmpdir(r->dir, sizeof r->dir, "redis", false))
        return false;
    snprintf(r->sock, sizeof r->sock, "%s/redis.sock", r->dir);
    snprintf(r->log, sizeof r->log, "%s/redis.log", r->dir);
    char *argv[] = {
        (char *)bin,    "--port", "0",     "--unixsocket", r->sock,        "--save", "",
        "--appendonly", "no",     "--dir", r->dir,         "--maxclients", "1000",   NULL};
    r->pid = server_spawn(argv, r->log, false);
    if (r->pid < 0 || !server_wait_unix(r->pid, r->sock, 20.0)) {
        server_failed("redis-server did not start", r->log);
        return false;
    }
    return true;
}

/* Stop it (if it runs) and remove its directory. */
static inline void redis_stop(struct redis_server *r)
{
    server_stop(r->pid);
    if (r->dir[0])
        server_rmtree(r->dir);
}

#endif /* GREEN_TEST_PATCH_SERVERS_H */
