/* SPDX-License-Identifier: MIT */
/* A randomized model test of the core semantics (include/green/core.h).
 *
 * A reference model of every greenlet (NEW / ACTIVE / DEAD, parent, stack model, released,
 * who is waiting to destroy it, what call it is suspended in) and of "who is current" is
 * kept in plain C here, with the transfer rules of the header implemented independently:
 *
 *   - a switch or throw to a dead greenlet goes to its nearest live ancestor;
 *   - an unstarted greenlet that receives an error dies without running and passes the
 *     error on to its parent (GREEN_EXIT becoming a plain value, so the next unstarted
 *     greenlet up the chain starts with it);
 *   - an unstarted greenlet that receives a value starts, the value being run()'s argument;
 *   - a greenlet that finishes (returns, or green_exit()) delivers to its parent chain, or
 *     to the greenlet destroying it;
 *   - green_destroy() of a suspended greenlet throws GREEN_EXIT into it and its finish
 *     comes back to the destroyer (0), or the destroyer gets EBUSY / EINTR when it is
 *     resumed while the victim still lives;
 *   - switching or throwing to the current greenlet returns at once;
 *   - refused calls (-1) change nothing.
 *
 * Every greenlet runs the same body: a few recursive frames holding a stack pattern (so a
 * shared-stack slice restored wrong is caught), then a loop calling step(), which performs
 * the next random operation from inside whichever greenlet is current: switch, throw,
 * create, destroy, reparent, finish by return, green_exit, settrace, set_name, and the
 * refused variants of each.  Before the real call the model predicts where control goes and
 * what is delivered; the greenlet that gets control next checks the prediction (who runs,
 * return code, value, errno, the trace hook's (event, origin, target) sequence), then the
 * state bits, parents, ids and names of the whole pool are compared with the model.
 *
 * Both stack models are mixed at random (small private stacks; shared greenlets with some
 * frames big enough that their saved slices exceed the library's kept copy buffer).  The
 * trace hook is switched on and off at random, so green_switch()'s fast path (no hook) and
 * the general path both run.  The operations are split over two rounds, each on a thread of
 * its own: round 0 with the default shared region and a full teardown by green_destroy();
 * round 1 with a 272 KiB region (nested shared greenlets soon fall back to the top of the
 * region) and half the greenlets left for the thread's exit to release.
 *
 * GREEN_MODEL_SEED overrides the seed, GREEN_MODEL_OPS the operation count (default one
 * million, scaled by GREEN_TEST_SCALE).  A mismatch prints the seed, the operation index,
 * the operation and the model's and the library's values, then aborts.
 */
#include <inttypes.h>
#include <pthread.h>

#include "testutil.h"

#define POOL_MAX 64               /* live (unreleased) greenlets besides main */
#define PRIVATE_STACK (32 * 1024) /* small private stacks keep a million operations light */
#define DEFAULT_SEED UINT64_C(20240601)
#define DEFAULT_OPS 1000000L
#define MAX_EVENTS 512
#define MAX_FRAMES 4
#define SENTINEL ((void *)(uintptr_t)0x5e5e5e5e5e5e5e5eULL)

/* ---- random numbers ------------------------------------------------------------------ */

static uint64_t rng;

static uint64_t rnd(void)
{
    uint64_t z = (rng += UINT64_C(0x9e3779b97f4a7c15));
    z = (z ^ (z >> 30)) * UINT64_C(0xbf58476d1ce4e5b9);
    z = (z ^ (z >> 27)) * UINT64_C(0x94d049bb133111eb);
    return z ^ (z >> 31);
}

static unsigned below(unsigned n) { return (unsigned)(((rnd() >> 32) * n) >> 32); }
static bool chance(unsigned per_mille) { return below(1000) < per_mille; }

/* ---- the model ----------------------------------------------------------------------- */

enum { M_NEW, M_ACTIVE, M_DEAD };
/* What a suspended greenlet is waiting in. */
enum { P_NONE, P_CALL, P_DESTROY };

struct mg {
    green_t *h;
    uint64_t id;
    uint64_t salt;    /* seeds the greenlet's stack pattern */
    int parent;       /* model index; -1 for main */
    int finish_to;    /* the greenlet waiting in green_destroy() for it to die, or -1 */
    int pend_target;  /* P_DESTROY: the victim */
    int pool_slot;    /* index in pool[], -1 once released */
    uint8_t state, pend, shared, released, ran;
    char name[24];    /* "" for none */
};

static struct mg *M;      /* every greenlet ever created in this run, main first */
static int nM, capM;
static int pool[POOL_MAX + 1]; /* unreleased greenlets (pool[0] is main) */
static int npool;
static int cur;           /* the model's current greenlet */

/* The delivery the model predicts for the next greenlet to get control. */
static struct {
    int to;
    int rc;
    void *val;
    bool any_val; /* the payload is unspecified (a kill's GREEN_EXIT) */
    bool start;   /* to was unstarted: this is its run() argument */
} dlv;

/* Run parameters and progress. */
static uint64_t seed;
static long total_ops, nops, opi;
static int round_no;     /* 0: default shared regions, full teardown; 1: one small region,
                            and half the greenlets are left to the thread's exit */
static size_t region_size;
static unsigned region_count;
static bool shared_started;
static bool draining;
static char opdesc[160];
static uintptr_t valctr;

/* Trace hook state. */
struct ev {
    int ev;
    green_t *origin, *target;
};
static struct ev exp_ev[MAX_EVENTS], act_ev[MAX_EVENTS];
static int n_exp, n_act;
static bool trace_on;
static void *trace_arg_model; /* the arg the library should hold */
static int hook_token;
static unsigned long hook_calls;

/* Coverage counters, printed at the end. */
static struct {
    unsigned long sw, sw_self, thr, thr_self, starts, hops, hop_exit, dead_resolved, finishes,
        fin_err, kills, kill_ok, kill_ebusy, kill_eintr, destroy_new, destroy_dead, creates,
        reparent, eloop, refused, immediate_back, shared_created, events;
} st;

static const char *idx_name(int i, char *buf, size_t len)
{
    if (i < 0)
        snprintf(buf, len, "(none)");
    else if (i == 0)
        snprintf(buf, len, "main");
    else
        snprintf(buf, len, "g%d[%s,%s%s]", i,
                 M[i].state == M_NEW ? "new" : M[i].state == M_ACTIVE ? "active" : "dead",
                 M[i].shared ? "shared" : "private", M[i].released ? ",released" : "");
    return buf;
}

/* The model index of a handle among the unreleased greenlets, or -1. */
static int idx_of(const green_t *h)
{
    for (int k = 0; k < npool; k++)
        if (M[pool[k]].h == h)
            return pool[k];
    return -1;
}

static void model_fail(int line, const char *fmt, ...) __attribute__((format(printf, 2, 3), noreturn));
static void model_fail(int line, const char *fmt, ...)
{
    char a[48], b[48];
    fprintf(stderr,
            "\nMODEL MISMATCH at test_model.c:%d\n  seed %" PRIu64 " (reproduce with "
            "GREEN_MODEL_SEED=%" PRIu64 " GREEN_MODEL_OPS=%ld), round %d, operation %ld of "
            "%ld%s\n  operation: %s\n  model current %s, library current %p (model index "
            "%d)\n  ",
            line, seed, seed, total_ops, round_no, opi, nops, draining ? " (teardown)" : "",
            opdesc,
            idx_name(cur, a, sizeof a), (void *)green_current(), idx_of(green_current()));
    va_list ap;
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fprintf(stderr, "\n  model delivery: to %s rc %d value %p%s\n  last error: %s\n",
            idx_name(dlv.to, b, sizeof b), dlv.rc, dlv.val, dlv.start ? " (start)" : "",
            green_last_error());
    fflush(stderr);
    abort();
}

#undef CHECK /* testutil.h's records and goes on; this one reports and aborts */
#define CHECK(cond, ...)                                                                  \
    do {                                                                                  \
        if (!(cond))                                                                      \
            model_fail(__LINE__, "check failed: " #cond ": " __VA_ARGS__);                \
    } while (0)

#define CHECK_INT(actual, expected, what)                                                 \
    do {                                                                                  \
        long a_ = (long)(actual), e_ = (long)(expected);                                  \
        if (a_ != e_)                                                                     \
            model_fail(__LINE__, "%s: library %ld, model %ld", (what), a_, e_);           \
    } while (0)

#define CHECK_PTR(actual, expected, what)                                                 \
    do {                                                                                  \
        const void *a_ = (actual), *e_ = (expected);                                      \
        if (a_ != e_)                                                                     \
            model_fail(__LINE__, "%s: library %p (model index %d), model %p (model index " \
                                 "%d)",                                                   \
                       (what), a_, idx_of(a_), e_, idx_of(e_));                           \
    } while (0)

/* Every id handed out in this process (both rounds, two threads): ids are process-wide
 * unique. */
static uint64_t *all_ids;
static size_t n_ids, cap_ids;

static void note_id(uint64_t id)
{
    if (n_ids == cap_ids) {
        cap_ids = cap_ids ? cap_ids * 2 : 4096;
        all_ids = realloc(all_ids, cap_ids * sizeof *all_ids);
        if (!all_ids) {
            fprintf(stderr, "test_model: out of memory\n");
            abort();
        }
    }
    all_ids[n_ids++] = id;
}

static int cmp_u64(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return x < y ? -1 : x > y;
}

static void *newval(void) { return (void *)(uintptr_t)((++valctr << 4) | 0x8); }

static int new_record(void)
{
    if (nM == capM) {
        capM = capM ? capM * 2 : 1024;
        M = realloc(M, (size_t)capM * sizeof *M);
        if (!M) {
            fprintf(stderr, "test_model: out of memory\n");
            abort();
        }
    }
    memset(&M[nM], 0, sizeof M[nM]);
    M[nM].parent = -1;
    M[nM].finish_to = -1;
    M[nM].pend_target = -1;
    M[nM].salt = rnd() | 1;
    return nM++;
}

static void pool_add(int i)
{
    M[i].pool_slot = npool;
    pool[npool++] = i;
}

static void pool_remove(int i)
{
    int s = M[i].pool_slot;
    pool[s] = pool[--npool];
    M[pool[s]].pool_slot = s;
    M[i].pool_slot = -1;
}

/* ---- the transfer rules ---------------------------------------------------------------- */

static void expect_event(int ev, int origin, int target)
{
    st.events++;
    if (!trace_on)
        return;
    CHECK(n_exp < MAX_EVENTS, "too many trace events in one operation");
    exp_ev[n_exp++] = (struct ev){ev, M[origin].h, M[target].h};
}

/* The greenlet that takes a transfer of *err sent to t: dead greenlets pass it to their
 * parent; an unstarted greenlet receiving an error dies without running and passes it on
 * (GREEN_EXIT as a plain value).  Each such death is a hop the trace hook sees, from
 * *origin; *origin becomes the greenlet that died. */
static int m_resolve(int t, int *err, int *origin)
{
    for (;;) {
        while (M[t].state == M_DEAD) {
            t = M[t].parent;
            CHECK(t >= 0, "the main greenlet is dead in the model");
        }
        if (M[t].state == M_ACTIVE || *err == 0)
            return t;
        expect_event(GREEN_EVENT_THROW, *origin, t);
        st.hops++;
        M[t].state = M_DEAD; /* killed before it could start: it never ran */
        *origin = t;
        if (*err == GREEN_EXIT) {
            *err = 0;
            st.hop_exit++;
        }
        t = M[t].parent;
    }
}

/* Control passes to r with (err, val). */
static void m_pass(int r, int err, void *val, bool any_val)
{
    dlv.to = r;
    dlv.rc = err;
    dlv.val = val;
    dlv.any_val = any_val;
    dlv.start = M[r].state == M_NEW;
    if (dlv.start) {
        CHECK(err == 0, "the model starts a greenlet with an error");
        M[r].state = M_ACTIVE;
        M[r].ran = 1;
        st.starts++;
        shared_started |= M[r].shared;
    }
    cur = r;
}

/* The current greenlet calls green_switch (err 0) / green_throw / the kill inside
 * green_destroy, and is suspended in pend until something resumes it. */
static void m_call(int target, int err, void *val, int pend, int pend_target)
{
    int self = cur, origin = cur;
    if (M[target].state == M_DEAD)
        st.dead_resolved++;
    if (M[target].state == M_DEAD && err == GREEN_EXIT)
        err = 0; /* the dead target "dies of" GREEN_EXIT: the receiver gets a value */
    int r = m_resolve(target, &err, &origin);
    M[self].pend = (uint8_t)pend;
    M[self].pend_target = pend_target;
    if (r == self) {
        /* to itself, or back through greenlets that died unstarted: returns at once */
        if (origin != self) {
            expect_event(err ? GREEN_EVENT_THROW : GREEN_EVENT_SWITCH, origin, self);
            st.immediate_back++;
        }
        m_pass(self, err, val, false);
        return;
    }
    expect_event(err ? GREEN_EVENT_THROW : GREEN_EVENT_SWITCH, origin, r);
    m_pass(r, err, val, pend == P_DESTROY);
}

/* g (the current greenlet) finishes with (err, val). */
static void m_finish(int g, int err, void *val)
{
    st.finishes++;
    if (err == GREEN_EXIT)
        err = 0;
    if (err)
        st.fin_err++;
    int dest = M[g].finish_to >= 0 ? M[g].finish_to : M[g].parent;
    M[g].finish_to = -1;
    M[g].state = M_DEAD;
    M[g].pend = P_NONE;
    int origin = g;
    int r = m_resolve(dest, &err, &origin);
    expect_event(err ? GREEN_EVENT_THROW : GREEN_EVENT_SWITCH, origin, r);
    m_pass(r, err, val, false);
}

static void m_release(int y)
{
    M[y].released = 1;
    pool_remove(y);
}

/* ---- checks against the library ------------------------------------------------------ */

static void check_one(int i)
{
    const struct mg *g = &M[i];
    char buf[48];
    unsigned want = 0;
    if (i == 0)
        want = GREEN_STARTED | GREEN_ACTIVE | GREEN_MAIN;
    else {
        /* GREEN_STARTED: it ran, or died before it could (dead implies started) */
        if (g->ran || g->state == M_DEAD)
            want |= GREEN_STARTED;
        if (g->state == M_ACTIVE)
            want |= GREEN_ACTIVE;
        if (g->state == M_DEAD)
            want |= GREEN_DEAD;
        if (g->shared)
            want |= GREEN_SHARED;
    }
    if (i == cur)
        want |= GREEN_CURRENT;
    int s = green_state(g->h);
    if (s != (int)want)
        model_fail(__LINE__, "green_state(%s): library %#x, model %#x",
                   idx_name(i, buf, sizeof buf), (unsigned)s, want);
    green_t *p = green_parent(g->h);
    int mpi = g->parent; /* destroyed parents are skipped: their handles are gone */
    while (mpi >= 0 && M[mpi].released)
        mpi = M[mpi].parent;
    green_t *mp = mpi < 0 ? NULL : M[mpi].h;
    if (p != mp) {
        char b2[48];
        model_fail(__LINE__, "green_parent(%s): library %p, model %p = %s",
                   idx_name(i, buf, sizeof buf), (void *)p, (void *)mp,
                   idx_name(mpi, b2, sizeof b2));
    }
    CHECK_INT(green_id(g->h), g->id, "green_id (stable for the greenlet's life)");
    const char *n = green_name(g->h);
    const char *mn = g->name[0] ? g->name : i == 0 ? "main" : NULL;
    if (!mn ? n != NULL : (!n || strcmp(n, mn) != 0))
        model_fail(__LINE__, "green_name(%s): library \"%s\", model \"%s\"",
                   idx_name(i, buf, sizeof buf), n ? n : "(null)", mn ? mn : "(null)");
}

static unsigned long sweeps;

static void check_world(void)
{
    CHECK_PTR(green_current(), M[cur].h, "green_current()");
    if (++sweeps % 4 == 0 || draining) {
        for (int k = 0; k < npool; k++)
            check_one(pool[k]);
    } else {
        check_one(cur);
        check_one(pool[below((unsigned)npool)]);
        check_one(pool[below((unsigned)npool)]);
    }
}

static void check_events(void)
{
    if (n_act > MAX_EVENTS)
        model_fail(__LINE__, "the trace hook was called %d times in one operation", n_act);
    bool same = n_act == n_exp;
    for (int k = 0; same && k < n_act; k++)
        same = act_ev[k].ev == exp_ev[k].ev && act_ev[k].origin == exp_ev[k].origin &&
               act_ev[k].target == exp_ev[k].target;
    if (!same) {
        fprintf(stderr, "\ntrace events, model (%d):\n", n_exp);
        for (int k = 0; k < n_exp; k++)
            fprintf(stderr, "  %s %d -> %d\n", exp_ev[k].ev == GREEN_EVENT_SWITCH ? "switch" : "throw",
                    idx_of(exp_ev[k].origin), idx_of(exp_ev[k].target));
        fprintf(stderr, "trace events, library (%d):\n", n_act);
        for (int k = 0; k < n_act && k < MAX_EVENTS; k++)
            fprintf(stderr, "  %s %d -> %d\n", act_ev[k].ev == GREEN_EVENT_SWITCH ? "switch" : "throw",
                    idx_of(act_ev[k].origin), idx_of(act_ev[k].target));
        model_fail(__LINE__, "the trace hook's (event, origin, target) sequence differs "
                             "(indices are model indices; -1: not in the pool)");
    }
    n_exp = n_act = 0;
}

/* Control arrived in self: the model must agree that self was to get it. */
static void check_arrival(int self, bool start)
{
    char a[48], b[48];
    if (dlv.to != self)
        model_fail(__LINE__, "control came back to %s, the model resumes %s",
                   idx_name(self, a, sizeof a), idx_name(dlv.to, b, sizeof b));
    if (dlv.start != start)
        model_fail(__LINE__, "%s was %s, the model says %s", idx_name(self, a, sizeof a),
                   start ? "started" : "resumed", dlv.start ? "start" : "resume");
    CHECK_PTR(green_current(), M[self].h, "green_current() on arrival");
}

/* The current greenlet's pending call returned (rc, *result / errno) in self. */
static void after_call(int self, int rc, void *res, int err_no, bool res_given)
{
    check_arrival(self, false);
    char a[48];
    if (M[self].pend == P_CALL) {
        CHECK_INT(rc, dlv.rc, "green_switch/green_throw return value");
        if (res_given && !dlv.any_val)
            CHECK_PTR(res, dlv.val, "the switch result (*result)");
    } else {
        CHECK(M[self].pend == P_DESTROY, "%s resumed without a pending call",
              idx_name(self, a, sizeof a));
        int y = M[self].pend_target;
        st.kills++;
        if (M[y].released) {
            /* another greenlet destroyed y while self waited */
            CHECK_INT(rc, 0, "green_destroy of a greenlet destroyed meanwhile by another");
            st.kill_ok++;
        } else if (M[y].state == M_DEAD) {
            CHECK_INT(rc, 0, "green_destroy of a greenlet that died when killed");
            m_release(y);
            st.kill_ok++;
        } else {
            /* control came back while the victim still lives; a later destroyer's claim on
             * its finish stays */
            if (M[y].finish_to == self)
                M[y].finish_to = -1;
            CHECK_INT(rc, -1, "green_destroy of a greenlet still alive after the kill");
            int want = dlv.rc > 0 ? EINTR : EBUSY;
            CHECK_INT(err_no, want, "green_destroy errno (victim survived the kill)");
            if (want == EINTR)
                st.kill_eintr++;
            else
                st.kill_ebusy++;
        }
    }
    M[self].pend = P_NONE;
    M[self].pend_target = -1;
    check_events();
    check_world();
}

/* A refused call: -1, errno, nothing changed. */
static void after_refusal(int rc, int err_no, int want_errno, void *res, const char *what)
{
    st.refused++;
    CHECK_INT(rc, -1, what);
    CHECK_INT(err_no, want_errno, what);
    CHECK_PTR(res, SENTINEL, "*result after a refused call");
    /* the description is of this failure: it names the function (what starts with it) */
    char fn[40];
    size_t n = strcspn(what, "( ");
    snprintf(fn, sizeof fn, "%.*s", (int)(n < sizeof fn ? n : sizeof fn - 1), what);
    if (!strstr(green_last_error(), fn))
        model_fail(__LINE__, "green_last_error() after a refused %s: \"%s\"", fn,
                   green_last_error());
    CHECK_INT(n_act, 0, "trace events reported by a refused call");
    check_world();
}

/* ---- the trace hook -------------------------------------------------------------------- */

static void hook(green_trace_event_t ev, green_t *origin, green_t *target, void *arg)
{
    CHECK_PTR(arg, &hook_token, "the trace hook's arg");
    if (n_act < MAX_EVENTS)
        act_ev[n_act] = (struct ev){(int)ev, origin, target};
    n_act++;
    if (++hook_calls % 5 == 0) {
        /* switching, throwing and exiting are refused inside a hook */
        void *res = SENTINEL;
        int rc = green_switch(M[0].h, NULL, &res);
        int e = errno;
        CHECK_INT(rc, -1, "green_switch inside the trace hook");
        CHECK_INT(e, EBUSY, "green_switch errno inside the trace hook");
        CHECK_PTR(res, SENTINEL, "*result after a refused switch inside the hook");
        rc = green_throw(target, 5, NULL, &res);
        e = errno;
        CHECK_INT(rc, -1, "green_throw inside the trace hook");
        CHECK_INT(e, EBUSY, "green_throw errno inside the trace hook");
        rc = green_exit(0, NULL);
        e = errno;
        CHECK_INT(rc, -1, "green_exit inside the trace hook");
        CHECK_INT(e, EBUSY, "green_exit errno inside the trace hook");
        /* destroying is refused too, whatever the state of the greenlet */
        int y = pool[below((unsigned)npool)];
        if (y != 0 && y != cur) {
            rc = green_destroy(M[y].h);
            e = errno;
            CHECK_INT(rc, -1, "green_destroy inside the trace hook");
            CHECK_INT(e, EBUSY, "green_destroy errno inside the trace hook");
        }
    }
}

/* ---- picking operands ------------------------------------------------------------------ */

static int pick_any(void) { return pool[below((unsigned)npool)]; }

/* A target, biased towards the interesting states. */
static int pick_target(void)
{
    unsigned want = below(10); /* 0-3 suspended, 4-5 new, 6-7 dead, 8 main, 9 anything */
    if (want == 8)
        return 0;
    if (want == 9)
        return pick_any();
    int st_want = want < 4 ? M_ACTIVE : want < 6 ? M_NEW : M_DEAD;
    for (int tries = 0; tries < 8; tries++) {
        int i = pick_any();
        if (i != 0 && i != cur && M[i].state == st_want)
            return i;
    }
    return pick_any();
}

static int pick_error(void)
{
    unsigned r = below(10);
    if (r < 3)
        return GREEN_EXIT;
    if (r < 8)
        return 1 + (int)below(150);
    return 1000 + (int)below(60000); /* beyond errno, still positive */
}

/* ---- the body every greenlet runs -------------------------------------------------------- */

struct frame {
    uint64_t pat[5];
    unsigned char *pad;
    size_t npad;
    const struct frame *up;
    int self, depth;
};

static uint64_t pattern(int self, int depth, int k)
{
    return M[self].salt * (uint64_t)(2 * k + 3) ^ ((uint64_t)depth << 56) ^ (uint64_t)self;
}

static void fill_frame(struct frame *f, int self, int depth, unsigned char *pad, size_t npad,
                       const struct frame *up)
{
    f->self = self;
    f->depth = depth;
    f->up = up;
    f->pad = pad;
    f->npad = npad;
    for (int k = 0; k < 5; k++)
        f->pat[k] = pattern(self, depth, k);
    for (size_t k = 0; k < npad; k++)
        pad[k] = (unsigned char)(M[self].salt >> (k % 57)) ^ (unsigned char)k;
}

/* Every frame of self's stack still holds its pattern (a slice restored wrong, or another
 * greenlet writing into this stack, shows here). */
static void verify_frames(const struct frame *f, int self)
{
    char a[48];
    for (; f; f = f->up) {
        if (f->self != self)
            model_fail(__LINE__, "stack frame of %s names greenlet %d",
                       idx_name(self, a, sizeof a), f->self);
        for (int k = 0; k < 5; k++)
            if (f->pat[k] != pattern(self, f->depth, k))
                model_fail(__LINE__, "stack of %s corrupted: frame %d word %d is %#" PRIx64
                                     ", expected %#" PRIx64,
                           idx_name(self, a, sizeof a), f->depth, k, f->pat[k],
                           pattern(self, f->depth, k));
        for (size_t k = 0; k < f->npad; k++)
            if (f->pad[k] != ((unsigned char)(M[self].salt >> (k % 57)) ^ (unsigned char)k))
                model_fail(__LINE__, "stack of %s corrupted: frame %d pad byte %zu",
                           idx_name(self, a, sizeof a), f->depth, k);
    }
}

enum { R_CONT, R_FINISH, R_DONE };
static int step(int self, void **ret);

static void *run_level(int self, int depth, const struct frame *up)
{
    /* Some frames are big.  One shared greenlet in 16 with four frames has a huge one: its
     * saved slice exceeds the 64 KiB copy buffer the library keeps between resumes. */
    size_t npad = 8;
    if (depth == 3 && M[self].shared && (M[self].salt >> 50) % 16 == 0)
        npad = 66000 + (size_t)(M[self].salt >> 40) % 10000;
    else if (depth % 2)
        npad = 16 + (size_t)(M[self].salt >> 40) % (depth == 3 ? 10000 : 1500);
    unsigned char pad[npad];
    struct frame f;
    fill_frame(&f, self, depth, pad, npad, up);
    void *r;
    if (depth > 0) {
        r = run_level(self, depth - 1, &f);
    } else {
        for (;;) {
            int what = step(self, &r);
            verify_frames(&f, self);
            if (what == R_FINISH)
                break;
            CHECK(what == R_CONT, "step() returned %d in a non-main greenlet", what);
        }
    }
    verify_frames(&f, self);
    return r;
}

static void *body(void *arg)
{
    int self = dlv.to;
    check_arrival(self, true);
    if (!dlv.any_val)
        CHECK_PTR(arg, dlv.val, "run()'s argument (the first switch's value)");
    check_events();
    check_world();
    return run_level(self, (int)((M[self].salt >> 20) % MAX_FRAMES), NULL);
}

/* ---- operations ------------------------------------------------------------------------ */

/* self destroys y (not main, not self). */
static void do_destroy(int self, int y)
{
    char a[48], b[48];
    snprintf(opdesc, sizeof opdesc, "%s: green_destroy(%s)", idx_name(self, a, sizeof a),
             idx_name(y, b, sizeof b));
    if (M[y].state == M_ACTIVE) {
        M[y].finish_to = self;
        m_call(y, GREEN_EXIT, NULL, P_DESTROY, y);
        volatile uint64_t canary = M[self].salt ^ (uint64_t)opi;
        uint64_t want = M[self].salt ^ (uint64_t)opi;
        errno = 0;
        int rc = green_destroy(M[y].h);
        int e = errno;
        CHECK(canary == want, "local variable of step() changed across green_destroy");
        after_call(self, rc, NULL, e, false);
        return;
    }
    if (M[y].state == M_NEW)
        st.destroy_new++;
    else
        st.destroy_dead++;
    int rc = green_destroy(M[y].h);
    CHECK_INT(rc, 0, "green_destroy of an unstarted or dead greenlet");
    M[y].state = M_DEAD; /* an unstarted one is released without ever running */
    m_release(y);
    CHECK_INT(n_act, 0, "trace events reported by green_destroy of a greenlet that does not run");
    check_world();
}

static void do_create(int self)
{
    char a[48], b[48];
    int p = chance(600) ? -1 : pick_any();
    green_attr_t attr = GREEN_ATTR_INIT;
    bool shared = chance(500);
    attr.stack_model = shared ? GREEN_STACK_SHARED : GREEN_STACK_PRIVATE;
    attr.stack_size = shared && chance(500) ? 12345 : PRIVATE_STACK; /* ignored if shared */
    char name[24] = "";
    if (chance(150)) {
        snprintf(name, sizeof name, "m%ld", opi);
        attr.name = name;
    }
    snprintf(opdesc, sizeof opdesc, "%s: green_new(parent %s, %s)", idx_name(self, a, sizeof a),
             p < 0 ? "NULL" : idx_name(p, b, sizeof b), shared ? "shared" : "private");
    bool defaults = !shared && !attr.name && chance(50);
    green_t *h = green_new(body, p < 0 ? NULL : M[p].h, defaults ? NULL : &attr);
    CHECK(h != NULL, "green_new failed: %s", green_last_error());
    name[0] = name[0] ? 'X' : 0; /* the library keeps a copy */
    int i = new_record();
    M[i].h = h;
    M[i].id = green_id(h);
    M[i].parent = p < 0 ? self : p;
    M[i].state = M_NEW;
    M[i].shared = shared;
    if (attr.name)
        snprintf(M[i].name, sizeof M[i].name, "m%ld", opi);
    CHECK(M[i].id > 0, "green_id of a new greenlet is 0");
    note_id(M[i].id);
    for (int k = 0; k < npool; k++)
        if (M[pool[k]].id == M[i].id)
            model_fail(__LINE__, "green_id %" PRIu64 " of a new greenlet is also g%d's",
                       M[i].id, pool[k]);
    pool_add(i);
    st.creates++;
    st.shared_created += shared;
    check_world();
}

static void do_reparent(int self)
{
    char a[48], b[48], c[48];
    int p = pick_any(), g;
    if (chance(300)) {
        /* g an unreleased ancestor of p (or p itself): a cycle unless g is main */
        int n = 0;
        for (int x = p; x >= 0; x = M[x].parent)
            n += !M[x].released;
        int k = (int)below((unsigned)n);
        g = p;
        for (int x = p; x >= 0; x = M[x].parent)
            if (!M[x].released && k-- == 0)
                g = x;
    } else {
        g = pick_any();
    }
    snprintf(opdesc, sizeof opdesc, "%s: green_set_parent(%s, %s)", idx_name(self, a, sizeof a),
             idx_name(g, b, sizeof b), idx_name(p, c, sizeof c));
    int want = 0;
    if (g == 0)
        want = EINVAL;
    else
        for (int x = p; x >= 0; x = M[x].parent)
            if (x == g)
                want = ELOOP;
    errno = 0;
    int rc = green_set_parent(M[g].h, M[p].h);
    int e = errno;
    if (want) {
        if (want == ELOOP)
            st.eloop++;
        after_refusal(rc, e, want, SENTINEL, "green_set_parent (refused)");
        return;
    }
    CHECK_INT(rc, 0, "green_set_parent");
    M[g].parent = p;
    st.reparent++;
    check_world();
}

/* The refused variants: every one must fail with its errno and change nothing.  Each
 * takes the current greenlet and its description (for opdesc). */

static void refuse_switch_null(int self, const char *a)
{
    (void)self;
    void *res = SENTINEL;
    snprintf(opdesc, sizeof opdesc, "%s: green_switch(NULL)", a);
    int rc = green_switch(NULL, newval(), &res);
    after_refusal(rc, errno, EINVAL, res, "green_switch(NULL)");
}

static void refuse_throw_bad_error(int self, const char *a)
{
    (void)self;
    void *res = SENTINEL;
    int t = pick_target(), err = -(int)below(3);
    snprintf(opdesc, sizeof opdesc, "%s: green_throw(g%d, %d)", a, t, err);
    int rc = green_throw(M[t].h, err, newval(), &res);
    after_refusal(rc, errno, EINVAL, res, "green_throw with error <= 0");
}

static void refuse_throw_null(int self, const char *a)
{
    (void)self;
    void *res = SENTINEL;
    snprintf(opdesc, sizeof opdesc, "%s: green_throw(NULL, 3)", a);
    int rc = green_throw(NULL, 3, newval(), &res);
    after_refusal(rc, errno, EINVAL, res, "green_throw(NULL)");
}

static void refuse_destroy(int self, const char *a)
{
    snprintf(opdesc, sizeof opdesc, "%s: green_destroy(NULL / main / current)", a);
    int rc = green_destroy(NULL);
    after_refusal(rc, errno, EINVAL, SENTINEL, "green_destroy(NULL)");
    rc = green_destroy(M[0].h);
    after_refusal(rc, errno, EINVAL, SENTINEL, "green_destroy(main)");
    if (self != 0) {
        rc = green_destroy(M[self].h);
        after_refusal(rc, errno, EBUSY, SENTINEL, "green_destroy(current)");
    }
}

static void refuse_exit(int self, const char *a)
{
    snprintf(opdesc, sizeof opdesc, "%s: green_exit(-1 / from main)", a);
    int rc = green_exit(-1 - (int)below(5), newval());
    after_refusal(rc, errno, EINVAL, SENTINEL, "green_exit with error < 0");
    if (self == 0) {
        rc = green_exit(below(2) ? 0 : GREEN_EXIT, newval());
        after_refusal(rc, errno, EPERM, SENTINEL, "green_exit from main");
    }
}

static void refuse_null_parent_or_name(int self, const char *a)
{
    (void)self;
    snprintf(opdesc, sizeof opdesc, "%s: green_set_parent(NULL / main)", a);
    int rc = green_set_parent(NULL, M[pick_any()].h);
    after_refusal(rc, errno, EINVAL, SENTINEL, "green_set_parent(NULL, p)");
    rc = green_set_parent(M[pick_any()].h, NULL);
    after_refusal(rc, errno, EINVAL, SENTINEL, "green_set_parent(g, NULL)");
    rc = green_set_name(NULL, "x");
    after_refusal(rc, errno, EINVAL, SENTINEL, "green_set_name(NULL)");
}

static void refuse_new(int self, const char *a)
{
    (void)self;
    snprintf(opdesc, sizeof opdesc, "%s: green_new(NULL run / bad model)", a);
    green_attr_t attr = GREEN_ATTR_INIT;
    errno = 0;
    green_t *h = green_new(NULL, NULL, NULL);
    int e = errno;
    CHECK_PTR(h, NULL, "green_new(NULL run)");
    after_refusal(-1, e, EINVAL, SENTINEL, "green_new(NULL run)");
    attr.stack_model = 2 + (int)below(5);
    errno = 0;
    h = green_new(body, NULL, &attr);
    e = errno;
    CHECK_PTR(h, NULL, "green_new(unknown stack model)");
    after_refusal(-1, e, EINVAL, SENTINEL, "green_new(unknown stack model)");
}

static void refuse_region_size_and_query_null(int self, const char *a)
{
    (void)self;
    snprintf(opdesc, sizeof opdesc, "%s: NULL queries, green_set_shared_stack_size", a);
    int rc;
    if (shared_started) {
        errno = 0;
        rc = green_set_shared_stack_size(region_size + 65536 * below(4));
        after_refusal(rc, errno, EBUSY, SENTINEL,
                      "green_set_shared_stack_size once the region exists");
        errno = 0;
        rc = green_set_shared_stacks(1 + below(GREEN_SHARED_STACKS_MAX));
        after_refusal(rc, errno, EBUSY, SENTINEL,
                      "green_set_shared_stacks once a region exists");
    }
    errno = 0;
    rc = green_set_shared_stack_size(below(65536));
    after_refusal(rc, errno, EINVAL, SENTINEL, "green_set_shared_stack_size below 64 KiB");
    errno = 0;
    rc = green_state(NULL);
    int e = errno;
    CHECK_INT(rc, -1, "green_state(NULL)");
    CHECK_INT(e, EINVAL, "green_state(NULL) errno");
    CHECK_PTR(green_parent(NULL), NULL, "green_parent(NULL)");
    CHECK_INT(green_id(NULL), 0, "green_id(NULL)");
    CHECK_PTR(green_name(NULL), NULL, "green_name(NULL)");
    CHECK_PTR(green_main(), M[0].h, "green_main()");
}

/* Not a refusal: drawn with them, one time in nine. */
static void do_set_name(int self, const char *a)
{
    (void)self;
    int g = pick_any();
    snprintf(opdesc, sizeof opdesc, "%s: green_set_name(g%d)", a, g);
    char name[24];
    int rc;
    if (chance(300)) {
        rc = green_set_name(M[g].h, NULL);
        M[g].name[0] = 0;
    } else {
        snprintf(name, sizeof name, "n%ld", opi);
        rc = green_set_name(M[g].h, name);
        snprintf(M[g].name, sizeof M[g].name, "%s", name);
        name[0] = 'Y';
    }
    CHECK_INT(rc, 0, "green_set_name");
    check_one(g);
}

static void do_refusals(int self)
{
    static void (*const variants[])(int, const char *) = {
        refuse_switch_null, refuse_throw_bad_error, refuse_throw_null,
        refuse_destroy,     refuse_exit,            refuse_null_parent_or_name,
        refuse_new,         refuse_region_size_and_query_null, do_set_name,
    };
    char a[48];
    idx_name(self, a, sizeof a);
    variants[below(sizeof variants / sizeof variants[0])](self, a);
}

static void do_settrace(int self)
{
    char a[48];
    snprintf(opdesc, sizeof opdesc, "%s: green_settrace(%s)", idx_name(self, a, sizeof a),
             trace_on ? "NULL" : "hook");
    void *old_arg = SENTINEL;
    green_trace_fn old = trace_on ? NULL : hook; /* the wrong answer, unless overwritten */
    void *new_arg = trace_on ? newval() : &hook_token;
    int rc = green_settrace(trace_on ? NULL : hook, new_arg, &old, &old_arg);
    CHECK_INT(rc, 0, "green_settrace");
    CHECK(old == (trace_on ? hook : NULL), "green_settrace stored the wrong previous hook");
    CHECK_PTR(old_arg, trace_arg_model, "green_settrace's previous arg");
    trace_on = !trace_on;
    trace_arg_model = trace_on ? new_arg : NULL; /* removing the hook drops its arg */
    n_exp = n_act = 0;
}

/* The operations step() draws from, each run from inside self, the current greenlet.
 * Those that call green_switch/green_throw keep a canary of their own across the call. */

static void op_switch(int self)
{
    char a[48], b[48];
    volatile uint64_t canary = M[self].salt * (uint64_t)opi;
    const uint64_t canary_want = M[self].salt * (uint64_t)opi;
    int t = pick_target();
    void *v = newval(), *res = SENTINEL;
    bool give = !chance(30);
    snprintf(opdesc, sizeof opdesc, "%s: green_switch(%s, %p)", idx_name(self, a, sizeof a),
             idx_name(t, b, sizeof b), v);
    st.sw++;
    st.sw_self += t == self;
    m_call(t, 0, v, P_CALL, -1);
    int rc = green_switch(M[t].h, v, give ? &res : NULL);
    int e = errno;
    CHECK(canary == canary_want, "local variable changed across green_switch");
    after_call(self, rc, res, e, give);
}

static void op_throw(int self)
{
    char a[48], b[48];
    volatile uint64_t canary = M[self].salt * (uint64_t)opi;
    const uint64_t canary_want = M[self].salt * (uint64_t)opi;
    int t = pick_target(), err = pick_error();
    void *v = newval(), *res = SENTINEL;
    snprintf(opdesc, sizeof opdesc, "%s: green_throw(%s, %d, %p)", idx_name(self, a, sizeof a),
             idx_name(t, b, sizeof b), err, v);
    st.thr++;
    st.thr_self += t == self;
    m_call(t, err, v, P_CALL, -1);
    int rc = green_throw(M[t].h, err, v, &res);
    int e = errno;
    CHECK(canary == canary_want, "local variable changed across green_throw");
    after_call(self, rc, res, e, true);
}

/* Not main, not self (those are the refused variants).  A greenlet that another greenlet
 * is already destroying is fair game: the first destroyer must then see it released. */
static bool destroyable(int y, int self) { return y != 0 && y != self; }

static void op_create_or_make_room(int self)
{
    if (npool - 1 < POOL_MAX) {
        do_create(self);
        return;
    }
    int y = 0;
    for (int tries = 0; tries < 16 && !destroyable(y, self); tries++)
        y = pick_any();
    if (destroyable(y, self))
        do_destroy(self, y);
}

static void op_destroy(int self)
{
    int y = pick_target();
    if (destroyable(y, self))
        do_destroy(self, y);
}

/* Finish by returning; main cannot, and tries green_exit instead (refused). */
static int op_return(int self, void **ret)
{
    char a[48];
    void *v = newval();
    snprintf(opdesc, sizeof opdesc, "%s: return %p", idx_name(self, a, sizeof a), v);
    if (self == 0) {
        int rc = green_exit(0, v);
        after_refusal(rc, errno, EPERM, SENTINEL, "green_exit from main");
        return R_CONT;
    }
    m_finish(self, 0, v);
    *ret = v;
    return R_FINISH;
}

static void op_exit(int self)
{
    char a[48];
    int err = below(3) == 0 ? 0 : pick_error();
    void *v = newval();
    snprintf(opdesc, sizeof opdesc, "%s: green_exit(%d, %p)", idx_name(self, a, sizeof a), err,
             v);
    if (self == 0) {
        int rc = green_exit(err, v);
        after_refusal(rc, errno, EPERM, SENTINEL, "green_exit from main");
        return;
    }
    m_finish(self, err, v);
    int rc = green_exit(err, v);
    model_fail(__LINE__, "green_exit(%d) returned %d (errno %d)", err, rc, errno);
}

/* Switch to one's own parent chain: the generator pattern. */
static void op_switch_to_parent(int self)
{
    char a[48], b[48];
    int t = M[self].parent < 0 ? 0 : M[self].parent;
    if (M[t].released)
        t = 0; /* a released parent cannot be named; go to main instead */
    void *v = newval(), *res = SENTINEL;
    snprintf(opdesc, sizeof opdesc, "%s: green_switch(parent %s, %p)",
             idx_name(self, a, sizeof a), idx_name(t, b, sizeof b), v);
    st.sw++;
    m_call(t, 0, v, P_CALL, -1);
    int rc = green_switch(M[t].h, v, &res);
    int e = errno;
    after_call(self, rc, res, e, true);
}

/* Out of operations: main is done; every other greenlet finishes when it gets control. */
static int out_of_operations(int self, void **ret)
{
    char a[48];
    if (self == 0)
        return R_DONE;
    void *v = newval();
    snprintf(opdesc, sizeof opdesc, "%s: return %p (out of operations)",
             idx_name(self, a, sizeof a), v);
    m_finish(self, 0, v);
    *ret = v;
    return R_FINISH;
}

/* Perform the next random operation from inside self, the current greenlet. */
static int step(int self, void **ret)
{
    char a[48], b[48];
    if (cur != self)
        model_fail(__LINE__, "step() runs in %s, the model's current is %s",
                   idx_name(self, a, sizeof a), idx_name(cur, b, sizeof b));
    if (opi >= nops)
        return out_of_operations(self, ret);
    opi++;
    n_exp = n_act = 0;
    volatile uint64_t canary = M[self].salt * (uint64_t)opi;
    const uint64_t canary_want = M[self].salt * (uint64_t)opi;
    unsigned r = below(1000);
    int what = R_CONT;
    if (r < 300)
        op_switch(self);
    else if (r < 430)
        op_throw(self);
    else if (r < 590)
        op_create_or_make_room(self);
    else if (r < 700)
        op_destroy(self);
    else if (r < 770)
        do_reparent(self);
    else if (r < 830)
        what = op_return(self, ret);
    else if (r < 880)
        op_exit(self);
    else if (r < 885)
        do_settrace(self);
    else if (r < 925)
        do_refusals(self);
    else
        op_switch_to_parent(self);
    if (what == R_CONT)
        CHECK(canary == canary_want, "local variable of step() changed");
    return what;
}

/* ---- the run ------------------------------------------------------------------------------ */

static void *run_model(void *unused)
{
    (void)unused;
    nM = npool = 0;
    trace_on = false;
    shared_started = false;
    draining = false;
    n_exp = n_act = 0;
    int m = new_record();
    M[m].h = green_current();
    CHECK(M[m].h != NULL, "green_current() is NULL");
    CHECK_PTR(green_main(), M[m].h, "green_main()");
    M[m].id = green_id(M[m].h);
    CHECK(M[m].id > 0, "green_id of the main greenlet is 0");
    note_id(M[m].id);
    M[m].state = M_ACTIVE;
    M[m].ran = 1;
    pool_add(m);
    cur = 0;
    dlv.to = 0;
    green_trace_fn old = hook;
    CHECK_INT(green_settrace(NULL, NULL, &old, NULL), 0, "green_settrace");
    CHECK(old == NULL, "a trace hook is installed at start");
    trace_arg_model = NULL;
    if (region_size != GREEN_SHARED_STACK_DEFAULT)
        CHECK_INT(green_set_shared_stack_size(region_size), 0, "green_set_shared_stack_size");
    if (region_count != GREEN_SHARED_STACKS_DEFAULT)
        CHECK_INT(green_set_shared_stacks(region_count), 0, "green_set_shared_stacks");
    check_world();

    struct frame f;
    unsigned char pad[64];
    fill_frame(&f, 0, 0, pad, sizeof pad, NULL);
    void *unused_ret;
    while (step(0, &unused_ret) != R_DONE)
        verify_frames(&f, 0);

    /* Teardown: destroy everything (round 0) or half (round 1: the rest is released by the
     * thread's exit, which a leak checker verifies).  A greenlet that gets control now
     * finishes at once, so every kill succeeds.  Greenlets some other greenlet is busy
     * destroying go last: killing their destroyer ends its destroy first (EINTR). */
    draining = true;
    int keep = round_no == 0 ? 1 : 1 + (npool - 1) / 2;
    while (npool > keep) {
        int y = -1;
        for (int k = 1; k < npool && y < 0; k++)
            if (M[pool[k]].finish_to < 0)
                y = pool[k];
        CHECK(y > 0, "every remaining greenlet is being destroyed by another");
        do_destroy(0, y);
        verify_frames(&f, 0);
    }
    if (trace_on && round_no == 0)
        do_settrace(0);
    return NULL;
}

static void test_model(void **state)
{
    (void)state;
    const char *s = getenv("GREEN_MODEL_SEED");
    seed = s && *s ? strtoull(s, NULL, 0) : DEFAULT_SEED;
    const char *o = getenv("GREEN_MODEL_OPS");
    long total = total_ops = o && *o ? atol(o) : scaled(DEFAULT_OPS, 2000);
    rng = seed;
    printf("model: seed %" PRIu64 " (set GREEN_MODEL_SEED to change), %ld operations\n",
           seed, total);
    fflush(stdout);

    /* Two rounds, each on a thread of its own, so that the thread's exit releases the
     * library's per-thread state (and, in round 1, the greenlets left alive) and a leak
     * checker sees only real leaks.  Round 0 spreads shared greenlets over the default
     * number of regions; round 1 uses greenlet's one region, and a small one, where nested
     * shared greenlets soon run out of room and start at the top of the region. */
    for (round_no = 0; round_no < 2; round_no++) {
        region_size = round_no == 0 ? GREEN_SHARED_STACK_DEFAULT : 272 * 1024;
        region_count = round_no == 0 ? GREEN_SHARED_STACKS_DEFAULT : 1;
        nops = round_no == 0 ? total / 2 : total - total / 2;
        opi = 0;
        memset(&st, 0, sizeof st);
        hook_calls = 0;
        pthread_t t;
        assert_int_equal(pthread_create(&t, NULL, run_model, NULL), 0);
        assert_int_equal(pthread_join(t, NULL), 0);

        printf("model round %d (%u shared regions of %zu KiB, %ld operations): %d greenlets created "
               "(%lu shared), %lu switches (%lu to self), %lu throws (%lu to self), %lu "
               "starts, %lu finishes (%lu with an error), %lu unstarted deaths by error (%lu "
               "of GREEN_EXIT), %lu transfers to dead targets, %lu immediate returns through "
               "dead-unstarted chains, %lu kills (%lu died, %lu EBUSY, %lu EINTR), %lu "
               "destroys of new and %lu of dead greenlets, %lu reparents, %lu ELOOP, %lu "
               "refusals, %lu transfer events (%lu seen by the trace hook), %d greenlets "
               "left to the thread's exit\n",
               round_no, region_count, region_size / 1024, nops, nM - 1, st.shared_created, st.sw,
               st.sw_self, st.thr, st.thr_self, st.starts, st.finishes, st.fin_err, st.hops,
               st.hop_exit, st.dead_resolved, st.immediate_back, st.kills, st.kill_ok,
               st.kill_ebusy, st.kill_eintr, st.destroy_new, st.destroy_dead, st.reparent,
               st.eloop, st.refused, st.events, hook_calls, npool - 1);
        fflush(stdout);
        free(M);
        M = NULL;
        nM = capM = 0;
    }

    qsort(all_ids, n_ids, sizeof *all_ids, cmp_u64);
    for (size_t k = 1; k < n_ids; k++)
        if (all_ids[k] == all_ids[k - 1])
            fail_msg("seed %" PRIu64 ": green_id %" PRIu64 " was given to two greenlets", seed,
                     all_ids[k]);
    free(all_ids);
    all_ids = NULL;
    n_ids = cap_ids = 0;
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_model),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
