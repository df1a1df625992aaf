/* SPDX-License-Identifier: MIT */
/* libgreen's interpreter for the hub's differential test (gevent_diff.py has the language
 * and gevent's interpreter; both must print the same trace).
 *
 * Reads programs from stdin, each after a "=== N UNIT" line (UNIT: seconds per delay unit),
 * and runs each on a thread of its own (a fresh hub) with the time budget off, printing
 * "=== N", the trace and "=== done N" (flushed: the script's deadline per program counts
 * from there).  Greenlets with an odd index run on shared stacks, the others on private
 * ones.
 */
#include <errno.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <green.h>

#define MAX_G 8
#define MAX_OPS 256
#define MAX_SCOPES 4

struct program {
    int n;
    double unit; /* seconds per delay unit */
    int nops[MAX_G];
    char ops[MAX_G][MAX_OPS][32];
};

struct world {
    const struct program *p;
    green_event_t *E[2];
    green_queue_t *Q[2];
    green_sem_t *S[3];
    green_lock_t *L;
    green_result_t *A[2];
    green_t *G[MAX_G];
    char *out;
    size_t len, cap;
};

static _Thread_local struct world *W;

static void say(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void say(const char *fmt, ...)
{
    char line[256];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(line, sizeof line - 1, fmt, ap);
    va_end(ap);
    line[n++] = '\n';
    if (W->len + (size_t)n > W->cap) {
        W->cap = (W->cap + (size_t)n) * 2;
        W->out = realloc(W->out, W->cap);
        if (!W->out)
            abort();
    }
    memcpy(W->out + W->len, line, (size_t)n);
    W->len += (size_t)n;
}

/* What an operation did, besides its printed result. */
enum { GO_ON = -1, KILLED = -2, FAILED = -3 }; /* >= 0: unwind to that scope */

/* "-": no limit; otherwise a number of units. */
static double tmo(const char *s) { return strcmp(s, "-") == 0 ? GREEN_FOREVER : atoi(s) * W->p->unit; }

static void *body(void *arg);

/* "alive", "dead" (returned or killed) or "failed CODE" (the buffer's) */
static const char *state(green_t *g, char *buf, size_t len)
{
    if (!green_ready(g))
        return "alive";
    if (green_successful(g))
        return "dead";
    snprintf(buf, len, "failed %d", green_join(g, 0, NULL)); /* dead: no switch */
    return buf;
}

static _Thread_local int fail_code; /* what a "fail" op dies with */

/* The greenlets spawned so far, in index order, into gs[]; returns how many. */
static size_t spawned(green_t **gs)
{
    size_t n = 0;
    for (int k = 1; k < W->p->n; k++)
        if (W->G[k])
            gs[n++] = W->G[k];
    return n;
}

/* Their states, comma-separated ("none" if there are none). */
static void states(green_t **gs, size_t n, char *res, size_t len)
{
    char buf[32];
    size_t used = (size_t)snprintf(res, len, "%s", n ? "" : "none");
    for (size_t i = 0; i < n && used < len; i++)
        used += (size_t)snprintf(res + used, len - used, "%s%s", i ? "," : "",
                                 state(gs[i], buf, sizeof buf));
}

static int failed(const char *own, char *res, size_t len, green_timeout_t **scopes, int depth);

/* A link's callback (in the hub): says who linked, on which greenlet, and its state. */
static void on_link(green_t *g, void *arg)
{
    int me = (int)(intptr_t)arg / MAX_G, k = (int)(intptr_t)arg % MAX_G;
    char buf[32];
    say("G%d's link on G%d: %s", me, k, state(g, buf, sizeof buf));
}

/* green_wait over E0 A0 S0 L0 and the greenlets spawned so far: the ready ones' names. */
static int wait_any(const char *count, double timeout, char *res, size_t len,
                    green_timeout_t **scopes, int depth)
{
    green_waitable_t objs[4 + MAX_G] = {
        green_waitable_event(W->E[0]), green_waitable_result(W->A[0]),
        green_waitable_sem(W->S[0]), green_waitable_lock(W->L)};
    char names[4 + MAX_G][12] = {"E0", "A0", "S0", "L0"};
    size_t n = 4;
    for (int k = 1; k < W->p->n; k++)
        if (W->G[k]) {
            snprintf(names[n], sizeof names[n], "G%d", k);
            objs[n++] = green_waitable_greenlet(W->G[k]);
        }
    size_t ready[4 + MAX_G];
    int got = green_wait(objs, n, timeout, strcmp(count, "all") ? (size_t)atoi(count)
                                                              : GREEN_WAIT_ALL, ready);
    if (got < 0)
        return failed("?", res, len, scopes, depth);
    size_t used = (size_t)snprintf(res, len, "%s", got ? "" : "none");
    for (int i = 0; i < got && used < len; i++)
        used += (size_t)snprintf(res + used, len - used, "%s%s", i ? " " : "", names[ready[i]]);
    return GO_ON;
}

/* The result of a failed blocking call: an own timeout gives `own`; a scope that fired,
 * a kill or LoopExit take over. */
static int failed(const char *own, char *res, size_t len, green_timeout_t **scopes, int depth)
{
    if (errno == ECANCELED)
        return KILLED;
    if (errno == EDEADLK) {
        snprintf(res, len, "LoopExit");
        return GO_ON;
    }
    if (errno == ETIMEDOUT) {
        for (int d = depth - 1; d >= 0; d--)
            if (green_timeout_fired(scopes[d])) {
                snprintf(res, len, "interrupted");
                return d;
            }
        snprintf(res, len, "%s", own);
        return GO_ON;
    }
    snprintf(res, len, "error %d (%s)", errno, strerror(errno));
    return GO_ON;
}

/* A call that must not fail: if it does, the trace says so (gevent's never does). */
static void must(int rc, char *res, size_t len)
{
    if (rc < 0)
        snprintf(res, len, "error %d (%s)", errno, green_last_error());
}

static int op(int me, char *text, char *res, size_t len, green_timeout_t **scopes, int depth)
{
    char w[16], a0[16] = "", a1[16] = "", a2[16] = "";
    sscanf(text, "%15s %15s %15s %15s", w, a0, a1, a2);
    int i0 = atoi(a0), i1 = atoi(a1);
    void *v = NULL;
    snprintf(res, len, "ok");
    if (!strcmp(w, "sleep0") || !strcmp(w, "sleep")) {
        if (green_sleep(!strcmp(w, "sleep0") ? 0 : tmo(a0)) < 0)
            return failed("?", res, len, scopes, depth);
    } else if (!strcmp(w, "say")) {
        snprintf(res, len, "%s", a0);
    } else if (!strcmp(w, "spawn")) {
        green_attr_t attr = GREEN_ATTR_INIT;
        attr.stack_model = i0 % 2 ? GREEN_STACK_SHARED : GREEN_STACK_PRIVATE;
        W->G[i0] = green_spawn(body, (void *)(intptr_t)i0, &attr);
        must(W->G[i0] ? 0 : -1, res, len);
    } else if (!strcmp(w, "spawnl")) {
        green_attr_t attr = GREEN_ATTR_INIT;
        attr.stack_model = i0 % 2 ? GREEN_STACK_SHARED : GREEN_STACK_PRIVATE;
        W->G[i0] = green_spawn_later(tmo(a1), body, (void *)(intptr_t)i0, &attr);
        must(W->G[i0] ? 0 : -1, res, len);
    } else if (!strcmp(w, "eset")) {
        must(green_event_set(W->E[i0]), res, len);
    } else if (!strcmp(w, "eclear")) {
        must(green_event_clear(W->E[i0]), res, len);
    } else if (!strcmp(w, "ewait")) {
        if (green_event_wait(W->E[i0], tmo(a1)) < 0)
            return failed("False", res, len, scopes, depth);
        snprintf(res, len, "True");
    } else if (!strcmp(w, "qput") || !strcmp(w, "qputnw")) {
        int rc = w[4] ? green_queue_try_put(W->Q[i0], (void *)(intptr_t)i1)
                      : green_queue_put(W->Q[i0], (void *)(intptr_t)i1, tmo(a2));
        if (rc < 0 && errno == EAGAIN)
            snprintf(res, len, "Full");
        else if (rc < 0)
            return failed("Full", res, len, scopes, depth);
    } else if (!strcmp(w, "qget") || !strcmp(w, "qgetnw")) {
        int rc = w[4] ? green_queue_try_get(W->Q[i0], &v) : green_queue_get(W->Q[i0], tmo(a1), &v);
        if (rc < 0 && errno == EAGAIN)
            snprintf(res, len, "Empty");
        else if (rc < 0)
            return failed("Empty", res, len, scopes, depth);
        else
            snprintf(res, len, "%d", (int)(intptr_t)v);
    } else if (!strcmp(w, "sacq") || !strcmp(w, "sacqnw")) {
        int rc = w[4] ? green_sem_try_acquire(W->S[i0]) : green_sem_acquire(W->S[i0], tmo(a1));
        if (rc < 0 && errno == EAGAIN)
            snprintf(res, len, "False");
        else if (rc < 0)
            return failed("False", res, len, scopes, depth);
        else
            snprintf(res, len, "True");
    } else if (!strcmp(w, "srel")) {
        if (green_sem_release(W->S[i0]) < 0)
            snprintf(res, len, errno == EOVERFLOW ? "ValueError" : "error %d", errno);
    } else if (!strcmp(w, "lacq") || !strcmp(w, "lacqnw")) {
        int rc = w[4] ? green_lock_try_acquire(W->L) : green_lock_acquire(W->L, tmo(a0));
        /* EDEADLK is also LoopExit's errno: the refusal is the one that says so */
        if (rc < 0 && errno == EDEADLK && strstr(green_last_error(), "already holds"))
            snprintf(res, len, "EDEADLK");
        else if (rc < 0 && errno == EAGAIN)
            snprintf(res, len, "False");
        else if (rc < 0)
            return failed("False", res, len, scopes, depth);
        else
            snprintf(res, len, "True");
    } else if (!strcmp(w, "lrel")) {
        if (green_lock_release(W->L) < 0)
            snprintf(res, len, errno == EPERM ? "EPERM" : "error %d", errno);
    } else if (!strcmp(w, "aset")) {
        must(green_result_set(W->A[i0], (void *)(intptr_t)i1), res, len);
    } else if (!strcmp(w, "aerr")) {
        must(green_result_set_error(W->A[i0], i1, NULL), res, len);
    } else if (!strcmp(w, "aget") || !strcmp(w, "agetnw")) {
        int rc = w[4] ? green_result_try_get(W->A[i0], &v) : green_result_get(W->A[i0], tmo(a1), &v);
        if (rc < 0 && errno == EAGAIN)
            snprintf(res, len, "Timeout");
        else if (rc < 0)
            return failed("Timeout", res, len, scopes, depth);
        else if (rc > 0)
            snprintf(res, len, "error %d", rc);
        else
            snprintf(res, len, "%d", (int)(intptr_t)v);
    } else if (!strcmp(w, "aready")) {
        snprintf(res, len, green_result_ready(W->A[i0]) ? "True" : "False");
    } else if (!strcmp(w, "eisset")) {
        snprintf(res, len, green_event_is_set(W->E[i0]) ? "True" : "False");
    } else if (!strcmp(w, "qsize")) {
        snprintf(res, len, "%zu", green_queue_size(W->Q[i0]));
    } else if (!strcmp(w, "sval")) {
        snprintf(res, len, "%u", green_sem_value(W->S[i0]));
    } else if (!strcmp(w, "link")) {
        if (!W->G[i0])
            snprintf(res, len, "unspawned");
        else
            must(green_link(W->G[i0], on_link, (void *)(intptr_t)(me * MAX_G + i0)), res, len);
    } else if (!strcmp(w, "killall")) {
        green_t *gs[MAX_G];
        size_t n = spawned(gs);
        if (green_killall(gs, n, tmo(a1), i0 == 1) < 0)
            return failed("Timeout", res, len, scopes, depth);
        states(gs, n, res, len);
    } else if (!strcmp(w, "wait")) {
        return wait_any(a0, tmo(a1), res, len, scopes, depth);
    } else if (!strcmp(w, "fail")) {
        say("G%d: fail %d", me, i0);
        fail_code = i0;
        return FAILED;
    } else if (!strcmp(w, "kill") || !strcmp(w, "killnw") || !strcmp(w, "join")) {
        green_t *g = W->G[i0];
        if (!g) {
            snprintf(res, len, "unspawned");
            return GO_ON;
        }
        int rc = !strcmp(w, "kill")   ? green_kill(g, tmo(a1))
                 : !strcmp(w, "join") ? green_join(g, tmo(a1), NULL)
                                      : green_kill_nowait(g);
        if (rc < 0 && !strcmp(w, "killnw")) {
            must(rc, res, len);
            return GO_ON;
        }
        if (rc < 0) {
            bool timed_out = errno == ETIMEDOUT;
            int r = failed("", res, len, scopes, depth);
            if (r != GO_ON || !timed_out)
                return r; /* killed, a scope fired, LoopExit: res says which */
        }
        char buf[32];
        snprintf(res, len, "%s", state(g, buf, sizeof buf));
    } else {
        snprintf(res, len, "unknown op");
    }
    return GO_ON;
}

static int skip_block(const struct program *p, int me, int i)
{
    for (int depth = 0; i < p->nops[me]; i++) {
        if (!strncmp(p->ops[me][i], "tbegin", 6))
            depth++;
        else if (!strcmp(p->ops[me][i], "tend") && depth-- == 0)
            return i + 1;
    }
    return i;
}

/* Run me's ops from *i to the end of the block; returns GO_ON, KILLED or a scope. */
static int block(int me, int *i, green_timeout_t **scopes, int depth)
{
    const struct program *p = W->p;
    while (*i < p->nops[me]) {
        char *text = (char *)p->ops[me][*i];
        if (!strcmp(text, "tend")) {
            ++*i;
            return GO_ON;
        }
        if (!strncmp(text, "tbegin", 6)) {
            int start = ++*i;
            scopes[depth] = green_timeout_start(tmo(text + 7));
            if (!scopes[depth])
                say("G%d: %s -> error %d (%s)", me, text, errno, green_last_error());
            int r = block(me, i, scopes, depth + 1);
            int fired = green_timeout_end(scopes[depth]);
            if (fired != (r == depth)) /* the scope unwound to is the one that fired */
                say("G%d: timeout %d: green_timeout_end -> %d", me, depth, fired);
            if (r == depth) {
                say("G%d: timeout %d fired", me, depth);
                *i = skip_block(p, me, start);
                continue;
            }
            if (r != GO_ON)
                return r;
            continue;
        }
        char res[128];
        int r = op(me, text, res, sizeof res, scopes, depth);
        if (r == KILLED || r == FAILED)
            return r;
        say("G%d: %s -> %s", me, text, res);
        if (r != GO_ON)
            return r;
        ++*i;
    }
    return GO_ON;
}

/* A greenlet that ends holding the lock gives it back, as a `with lock:` would (no one
 * else could, and a held lock cannot be destroyed). */
static void drop_lock(int me)
{
    if (green_lock_release(W->L) == 0)
        say("G%d: lock released at exit", me);
}

/* Runs me's program; returns GO_ON, KILLED (said so) or FAILED (fail_code). */
static int run_body(int me)
{
    int i = 0;
    green_timeout_t *scopes[MAX_SCOPES];
    say("G%d: starts", me);
    int r = block(me, &i, scopes, 0);
    if (r == KILLED)
        say("G%d: killed", me);
    drop_lock(me);
    return r;
}

static void *body(void *arg)
{
    int me = (int)(intptr_t)arg;
    int r = run_body(me);
    if (r == FAILED)
        green_exit(fail_code, NULL);
    if (r == GO_ON)
        say("G%d: ends", me);
    return NULL;
}

/* As gevent's side: let the hub run what the program left queued (a wake-up or a
 * Queue's hand-off for a greenlet killed meanwhile) until nothing is left (EDEADLK); then
 * every object is idle and must free.  Failures go into the trace, where gevent's side
 * has none. */
static void drain_and_free(struct world *w)
{
    green_event_t *never = green_event_new();
    if (!never || green_event_wait(never, GREEN_FOREVER) == 0 || errno != EDEADLK)
        say("G0: drain -> %s", strerror(errno));
    green_event_destroy(never);
    /* Only now: a greenlet still alive during the final kills may use any handle. */
    for (int k = 1; k < w->p->n; k++)
        if (w->G[k] && green_release(w->G[k]) < 0)
            say("G0: release %d -> %s", k, strerror(errno));
    for (int k = 0; k < 2; k++) {
        if (green_event_destroy(w->E[k]) < 0)
            say("G0: destroy E%d -> %s", k, strerror(errno));
        if (green_queue_destroy(w->Q[k]) < 0)
            say("G0: destroy Q%d -> %s", k, strerror(errno));
        if (green_result_destroy(w->A[k]) < 0)
            say("G0: destroy A%d -> %s", k, strerror(errno));
    }
    for (int k = 0; k < 3; k++)
        if (green_sem_destroy(w->S[k]) < 0)
            say("G0: destroy S%d -> %s", k, strerror(errno));
    if (green_lock_destroy(w->L) < 0)
        say("G0: destroy L0 -> %s", strerror(errno));
}

static void *run_program(void *arg)
{
    struct world *w = arg;
    W = w;
    green_hub_set_time_budget(false);
    for (int k = 0; k < 2; k++) {
        w->E[k] = green_event_new();
        w->Q[k] = green_queue_new(k == 0 ? 0 : 1);
        w->A[k] = green_result_new();
    }
    w->S[0] = green_sem_new(1, true);
    w->S[1] = green_sem_new(2, true);
    w->S[2] = green_sem_new(1, false);
    w->L = green_lock_new();
    run_body(0);
    for (int k = 1; k < w->p->n; k++) {
        if (!w->G[k])
            continue;
        green_kill(w->G[k], GREEN_FOREVER);
        char buf[32];
        say("G0: final kill %d -> %s", k, state(w->G[k], buf, sizeof buf));
    }
    say("G0: ends");
    drain_and_free(w);
    return NULL;
}
static int parse(char *text, struct program *p)
{
    memset(p, 0, sizeof *p);
    for (char *line = strtok(text, "\n"); line; line = strtok(NULL, "\n")) {
        int k;
        char *ops = strstr(line, ": ");
        if (sscanf(line, "G%d:", &k) != 1 || k < 0 || k >= MAX_G)
            return -1;
        p->n = k + 1 > p->n ? k + 1 : p->n;
        if (!ops)
            continue;
        char *save;
        for (char *o = strtok_r(ops + 2, ";", &save); o; o = strtok_r(NULL, ";", &save)) {
            if (p->nops[k] == MAX_OPS)
                return -1;
            snprintf(p->ops[k][p->nops[k]++], sizeof p->ops[k][0], "%s", o);
        }
    }
    return 0;
}

/* The first hub of the process does one-time work (libev's setup, lazy binding; much more
 * under valgrind) that can take longer than a delay unit: do it before any program. */
static void warm_up(void)
{
    char text[] = "G0: sleep 1;tbegin 0;ewait 0 0;tend";
    static struct program p;
    if (parse(text, &p) != 0)
        abort();
    p.unit = 0.001;
    struct world w = {.p = &p};
    pthread_t th;
    if (pthread_create(&th, NULL, run_program, &w) != 0 || pthread_join(th, NULL) != 0)
        abort();
    free(w.out);
}

int main(void)
{
    static char buf[1 << 24];
    warm_up();
    size_t n = fread(buf, 1, sizeof buf - 1, stdin);
    buf[n] = 0;
    for (char *hdr = strstr(buf, "=== "); hdr;) {
        int id;
        double unit = 0;
        if (sscanf(hdr + 4, "%d %lf", &id, &unit) < 1) {
            fprintf(stderr, "gevent_runner: bad header\n");
            return 2;
        }
        char *text = strchr(hdr, '\n');
        if (!text)
            break;
        text++;
        char *next = strstr(text, "=== ");
        if (next)
            next[-1] = 0;
        struct program p;
        if (parse(text, &p) != 0) {
            fprintf(stderr, "gevent_runner: program %d does not parse\n", id);
            return 2;
        }
        p.unit = unit;
        struct world w = {.p = &p};
        pthread_t th;
        if (pthread_create(&th, NULL, run_program, &w) != 0 || pthread_join(th, NULL) != 0)
            return 2;
        printf("=== %d\n%.*s=== done %d\n", id, (int)w.len, w.out, id);
        fflush(stdout);
        free(w.out);
        hdr = next;
    }
    return 0;
}
