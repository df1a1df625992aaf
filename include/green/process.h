/* SPDX-License-Identifier: MIT */
/* libgreen process: child programs with pipes, waited for cooperatively (gevent.subprocess).
 *
 * green_process_spawn() starts a program with posix_spawn(3) and each of its standard
 * streams inherited, on /dev/null, on an fd of the caller's, or on a pipe; the parent's
 * ends of the pipes are non-blocking and close-on-exec, for green_read()/green_write()
 * (io.h) or green_process_communicate().  No other fd of the caller reaches the program
 * unless it lacks FD_CLOEXEC (everything libgreen opens has it).  The program starts with
 * every signal at its default disposition and none blocked (an ignored SIGPIPE of the
 * caller's is not inherited).
 *
 * Exit.  From the spawn on, the hub watches the child (a wait registered with the main
 * thread's hub's child watcher, a pidfd on other threads), so its status is kept even if it
 * ends while nobody waits, and green_process_wait() returns it any number of times.  On the
 * main thread's hub the handle gets the status before any green_waitpid() for its pid,
 * which then fails with ECHILD; on other threads the first to reap it wins, and the loser
 * (green_process_wait() too) fails with ECHILD.  The process belongs to the hub of the
 * thread that spawned it: other threads get EXDEV.  At hub shutdown the watch stops; a
 * later green_process_wait() then waits with green_waitpid().
 *
 * Threads.  As green_waitpid() (watch.h): while the main thread's hub runs, libev reaps
 * every child there, so spawn and wait on the main thread when its hub is in use.
 *
 * Errors: -1 (NULL) with errno; blocking calls take a timeout in seconds (GREEN_FOREVER:
 * none) and fail with ETIMEDOUT, ECANCELED (being killed), EDEADLK, EPERM (from the hub),
 * EINTR, ENOMEM, EINVAL (NaN timeout) as hub.h, plus their own codes.
 */
#ifndef GREEN_PROCESS_H
#define GREEN_PROCESS_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

#include "hub.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct green_process green_process_t;

/* What a standard stream of the program is connected to. */
#define GREEN_PROCESS_INHERIT 0 /* the caller's own stream (the default) */
#define GREEN_PROCESS_PIPE 1    /* a pipe to the caller: green_process_stdin() etc. */
#define GREEN_PROCESS_DEVNULL 2 /* /dev/null */
#define GREEN_PROCESS_FD 3      /* the caller's fd in the stream's `fd` (dup'ed) */
#define GREEN_PROCESS_STDOUT 4  /* stderr only: wherever stdout goes (2>&1) */

typedef struct green_process_stream {
    int mode; /* GREEN_PROCESS_INHERIT, ... */
    int fd;   /* for GREEN_PROCESS_FD */
} green_process_stream_t;

/* Options of green_process_spawn(); zero them (GREEN_PROCESS_OPTS_INIT). */
typedef struct green_process_opts {
    green_process_stream_t in, out, err; /* the program's stdin, stdout, stderr */
    const char *cwd;                     /* its working directory; NULL: the caller's */
} green_process_opts_t;

#define GREEN_PROCESS_OPTS_INIT                                                                    \
    {                                                                                              \
        .cwd = NULL                                                                                \
    }

/* Start program `path` with arguments argv (argv[0] its name, NULL-terminated) and
 * environment envp (NULL: the caller's environ).  A path without '/' is looked up in the
 * caller's PATH (execvp's rule).  opts may be NULL (every stream inherited).  Never
 * switches.  Returns the process (free it with green_process_free()), or NULL with errno
 * EINVAL (path or argv NULL, a bad stream mode, GREEN_PROCESS_FD with fd < 0,
 * GREEN_PROCESS_STDOUT for in or out), EBADF (a GREEN_PROCESS_FD fd is not open), ENOENT
 * (no such program, or cwd does not exist), EACCES, ENOEXEC, ENOTDIR, ENAMETOOLONG, E2BIG
 * (posix_spawn's errors of the exec or the chdir), EMFILE, ENFILE (no fd for a pipe), EAGAIN (no
 * process could be made), ENOMEM. */
GREEN_API green_process_t *green_process_spawn(const char *path, char *const argv[],
                                               char *const envp[],
                                               const green_process_opts_t *opts);

/* The process id (-1 for NULL).  Never fails. */
GREEN_API pid_t green_process_pid(const green_process_t *p);

/* The caller's end of the program's stdin pipe: non-blocking, close-on-exec, owned by p
 * (green_process_close() or green_process_free() close it).  -1 if stdin is not a pipe,
 * was closed, or p is NULL.  Never fails. */
GREEN_API int green_process_stdin(const green_process_t *p);

/* The caller's end of the stdout pipe, as green_process_stdin().  Never fails. */
GREEN_API int green_process_stdout(const green_process_t *p);

/* The caller's end of the stderr pipe, as green_process_stdin().  Never fails. */
GREEN_API int green_process_stderr(const green_process_t *p);

/* Close the caller's end of pipe `stream` (0 stdin: the program reads end of file; 1
 * stdout, 2 stderr: its writes fail with EPIPE) with green_close(), which wakes the
 * greenlets waiting on it with EBADF.  Never switches.  Returns 0, or -1 with errno
 * EINVAL (p NULL, stream not 0, 1 or 2), EBADF (that stream is no open pipe). */
GREEN_API int green_process_close(green_process_t *p, int stream);

/* Wait until the program has ended, at most timeout seconds; its wait status (as
 * waitpid's: WIFEXITED, WEXITSTATUS, WIFSIGNALED, WTERMSIG) goes to *status (if not NULL).
 * An ended program returns at once, every time.  Returns 0, or -1 with errno ETIMEDOUT
 * (still running), EINVAL (p NULL), EXDEV (p of another thread's hub), ECHILD (it was
 * reaped by someone else: see Threads above) and the blocking errors above. */
GREEN_API int green_process_wait(green_process_t *p, double timeout, int *status);

/* Send signal sig to the program (kill(2)); 0 checks that it can be signalled.  Never
 * switches.  Returns 0, or -1 with errno ESRCH (it has ended and been reaped: its pid may
 * belong to another process now, so nothing is sent), EINVAL (p NULL, a bad sig), EPERM. */
GREEN_API int green_process_kill(green_process_t *p, int sig);

/* Write inlen bytes of in to the program's stdin and close it, read its stdout and stderr
 * to their end, all at once (so neither side blocks the other, whatever the sizes), then
 * wait for it to end: all within timeout seconds.  A stream that is no pipe is skipped (in
 * with inlen > 0 then fails EINVAL); out or err NULL discards that output (it is still
 * read).  The outputs go to *out and *err as malloc'd, NUL-terminated buffers (free them),
 * their lengths (without the NUL) to *outlen and *errlen (if not NULL); a program that
 * stops reading its input early is no error (the rest is dropped, as Python's).  SIGPIPE
 * is not raised by the writes here.  Returns 0 with the wait status in *status (if not
 * NULL), or -1 with errno ETIMEDOUT (the program is left running: kill it, or wait again),
 * EINVAL (p NULL, in NULL with inlen > 0, input without a stdin pipe), EXDEV, ECHILD,
 * EBADF (a pipe closed with green_process_close() meanwhile), EIO (a read failed), and
 * the blocking errors above; *out and *err then hold what arrived before the failure
 * (also to be freed; NULL if nothing could be allocated). */
GREEN_API int green_process_communicate(green_process_t *p, const void *in, size_t inlen,
                                        char **out, size_t *outlen, char **err, size_t *errlen,
                                        int *status, double timeout);

/* Close the pipes still open and free p.  The program is neither signalled nor waited for:
 * kill and wait first if it must end (on the main thread libev reaps it when it ends).
 * Never switches.  NULL is ignored (returns 0).  Returns 0, or -1 with errno EXDEV, EBUSY
 * (greenlets wait in green_process_wait()). */
GREEN_API int green_process_free(green_process_t *p);

#ifdef __cplusplus
}
#endif

#endif /* GREEN_PROCESS_H */
