/* bench_memory: what a suspended greenlet costs in memory, and how long making one takes.
 *
 * For each case, in a fresh child process (so one case's heap does not pad the next one's
 * figures): create N greenlets, start each (it runs a tiny generator-like body that keeps a
 * running sum in a local and switches back to main), so all N end up suspended; read the
 * resident set size (/proc/self/statm) before and after.  The array of N handles is
 * allocated and touched before the first reading, so it is not counted in the per-greenlet
 * figure (it is in the process RSS, which is also shown).  Then resume a sample of the
 * greenlets in random order to check each still has its own state (and time that), and
 * destroy them all (each is killed: GREEN_EXIT is thrown into it).
 *
 * The peer, Python greenlet (which slices a shared stack too), runs the same body in a
 * python3 subprocess; its figures include its Python objects.
 *
 * Usage: bench_memory [CASE...]     CASE = shared:N | private:N[:STACK] | python:N
 *        N and STACK take k/M/G suffixes (powers of 1000 for N, 1024 for STACK).
 *        Default: shared:1M shared:10M private:1M:16k python:1M
 */
#include <errno.h>
#include <green.h>
#include <inttypes.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "benchutil.h"

#define TARGET_BYTES 2.5e9 /* the target for 10M suspended shared greenlets */
#define TARGET_COUNT 10000000L

static green_t *g_main;

/* One case's figures; the children write them into memory shared with the parent, which
 * prints the table (with ratios) at the end. */
struct result {
    char label[40];
    long n;
    bool ok, shared_model;
    char note[120];
    double per, delta, rss, create, resume, destroy; /* bytes, bytes, bytes, ns, ns, ns */
};

static long rss_bytes(void)
{
    long size, resident;
    FILE *f = fopen("/proc/self/statm", "r");
    if (!f || fscanf(f, "%ld %ld", &size, &resident) != 2)
        die("reading /proc/self/statm");
    fclose(f);
    return resident * sysconf(_SC_PAGESIZE);
}

/* The tiny body: a running sum seeded with the greenlet's index, reported at every switch. */
static void *accumulate(void *arg)
{
    intptr_t sum = (intptr_t)arg;
    void *v;
    for (;;) {
        if (green_switch(g_main, (void *)sum, &v) != 0)
            return NULL; /* killed */
        sum += (intptr_t)v;
    }
}

static void run_case(bool shared, long n, size_t stack, struct result *res)
{
    green_attr_t attr = GREEN_ATTR_INIT;
    attr.stack_model = shared ? GREEN_STACK_SHARED : GREEN_STACK_PRIVATE;
    attr.stack_size = stack;

    if (n <= 0 || n > (1L << 36))
        die("the greenlet count");
    green_t **gs = malloc(sizeof *gs * (size_t)n);
    if (!gs)
        die("malloc");
    /* Touch every page now (not with zeros: the compiler would turn malloc + zeroing into
     * calloc, which leaves fresh pages untouched). */
    memset(gs, 0xff, sizeof *gs * (size_t)n);
    g_main = green_main();
    if (!g_main)
        die("green_main");
    /* Map the shared regions (a greenlet started from main takes the next in turn), or a
     * private stack chunk, before the first reading. */
    for (unsigned w = 0; w < GREEN_SHARED_STACKS_DEFAULT; w++) {
        green_t *warm = green_new(accumulate, NULL, &attr);
        if (!warm || green_switch(warm, NULL, NULL) != 0 || green_destroy(warm) != 0)
            die("warm-up");
    }

    long rss0 = rss_bytes();
    double t0 = now_ns();
    for (long i = 0; i < n; i++) {
        void *v;
        if (!(gs[i] = green_new(accumulate, NULL, &attr)))
            die("green_new");
        if (green_switch(gs[i], (void *)(intptr_t)i, &v) != 0 || v != (void *)(intptr_t)i)
            die("green_switch");
    }
    double t_create = (now_ns() - t0) / (double)n;
    long rss1 = rss_bytes();

    /* Each resumed greenlet adds 1 to its sum and reports it: index + 1. */
    long samples = n < 1000000 ? n : 1000000;
    double t1 = now_ns();
    for (long k = 0; k < samples; k++) {
        long i = (long)(rng() % (uint64_t)n);
        void *v;
        if (green_switch(gs[i], (void *)1, &v) != 0)
            die("green_switch");
        if ((intptr_t)v <= i) {
            fprintf(stderr, "bench_memory: greenlet %ld lost its state\n", i);
            exit(1);
        }
    }
    double t_resume = (now_ns() - t1) / (double)samples;
    long rss2 = rss_bytes();

    double t2 = now_ns();
    for (long i = 0; i < n; i++)
        if (green_destroy(gs[i]) != 0)
            die("green_destroy");
    double t_destroy = (now_ns() - t2) / (double)n;

    res->per = (double)(rss1 - rss0) / (double)n;
    res->delta = (double)(rss1 - rss0);
    res->rss = (double)rss1;
    res->create = t_create;
    res->resume = t_resume;
    res->destroy = t_destroy;
    if (rss2 > rss1 + n / 100)
        snprintf(res->note, sizeof res->note, "RSS grew by another %.1f B per greenlet during "
                 "the random resumes", (double)(rss2 - rss1) / (double)n);
    res->ok = true;
    _exit(0);
}

/* The peer: Python greenlet, which also slices a shared stack, with the same tiny body, in
 * a /usr/bin/python3 subprocess (or $BENCH_PYTHON).  Each greenlet also costs its Python
 * objects (the greenlet, its frame, the int it holds). */
static const char py_script[] =
    "import os, random, sys, time\n"
    "try:\n"
    "    import greenlet\n"
    "except ImportError as e:\n"
    "    print('skip', e)\n"
    "    sys.exit(0)\n"
    "n = int(sys.argv[1])\n"
    "def rss():\n"
    "    with open('/proc/self/statm') as f:\n"
    "        return int(f.read().split()[1]) * os.sysconf('SC_PAGE_SIZE')\n"
    "main = greenlet.getcurrent()\n"
    "def accumulate(i):\n"
    "    s = i\n"
    "    while True:\n"
    "        s += main.switch(s)\n"
    "gs = [None] * n\n"
    "G = greenlet.greenlet\n"
    "r0 = rss()\n"
    "t = time.perf_counter()\n"
    "for i in range(n):\n"
    "    g = G(accumulate)\n"
    "    g.switch(i)\n"
    "    gs[i] = g\n"
    "g = None\n"
    "create = (time.perf_counter() - t) / n * 1e9\n"
    "r1 = rss()\n"
    "m = min(n, 1000000)\n"
    "idx = [random.randrange(n) for _ in range(m)]\n"
    "t = time.perf_counter()\n"
    "for i in idx:\n"
    "    if gs[i].switch(1) <= i:\n"
    "        sys.exit('lost state')\n"
    "resume = (time.perf_counter() - t) / m * 1e9\n"
    "t = time.perf_counter()\n"
    "for i in range(n):\n"
    "    gs[i] = None\n"
    "destroy = (time.perf_counter() - t) / n * 1e9\n"
    "print('result', greenlet.__version__, r0, r1, create, resume, destroy)\n";

static void run_python(long n, struct result *res)
{
    const char *python = getenv("BENCH_PYTHON") ? getenv("BENCH_PYTHON") : "/usr/bin/python3";
    char ns[32];
    snprintf(ns, sizeof ns, "%ld", n);
    int fd[2];
    if (pipe(fd) != 0)
        die("pipe");
    fflush(NULL);
    pid_t pid = fork();
    if (pid < 0)
        die("fork");
    if (pid == 0) {
        dup2(fd[1], STDOUT_FILENO);
        close(fd[0]);
        close(fd[1]);
        execl(python, python, "-c", py_script, ns, (char *)NULL);
        _exit(127);
    }
    close(fd[1]);
    FILE *f = fdopen(fd[0], "r");
    if (!f)
        die("fdopen");
    char line[512], version[32] = "";
    long r0 = 0, r1 = 0;
    double create = 0, resume = 0, destroy = 0;
    bool ok = false, skip = false;
    while (fgets(line, sizeof line, f)) {
        if (sscanf(line, "result %31s %ld %ld %lf %lf %lf", version, &r0, &r1, &create, &resume,
                   &destroy) == 6)
            ok = true;
        else if (!strncmp(line, "skip ", 5))
            skip = true;
    }
    fclose(f);
    int status;
    waitpid(pid, &status, 0);
    snprintf(res->label, sizeof res->label, "Python greenlet %s", ok ? version : "");
    if (!ok) {
        snprintf(res->note, sizeof res->note, "%s",
                 skip ? "python3-greenlet not importable, skipped" : "the subprocess failed");
        return;
    }
    res->ok = true;
    res->per = (double)(r1 - r0) / (double)n;
    res->delta = (double)(r1 - r0);
    res->rss = (double)r1;
    res->create = create;
    res->resume = resume;
    res->destroy = destroy;
}

static long parse_count(const char *s, long unit, const char **end)
{
    char *e;
    double v = strtod(s, &e);
    if (e == s || v <= 0)
        return -1;
    long mul = 1;
    if (*e == 'k' || *e == 'K')
        mul = unit, e++;
    else if (*e == 'm' || *e == 'M')
        mul = unit * unit, e++;
    else if (*e == 'g' || *e == 'G')
        mul = unit * unit * unit, e++;
    *end = e;
    return (long)(v * (double)mul);
}

static void usage(FILE *f)
{
    fprintf(f, "usage: bench_memory [CASE...]   CASE = shared:N | private:N[:STACK] | python:N\n"
               "  N and STACK take k/M/G suffixes (powers of 1000 for N, of 1024 for STACK)\n"
               "  python:N runs the same in Python greenlet ($BENCH_PYTHON or /usr/bin/python3)\n"
               "  default: shared:1M shared:10M private:1M:16k python:1M\n");
}

/* Parses one CASE into r (label, n, model); returns the private stack size (0 for the
 * shared model and Python), or -1 if the case is malformed. */
static long parse_case(const char *c, struct result *r, bool *python)
{
    const char *e;
    *python = false;
    if (!strncmp(c, "python:", 7)) {
        r->n = parse_count(c + 7, 1000, &e);
        *python = true;
        return r->n > 0 && !*e ? 0 : -1;
    }
    bool shared;
    if (!strncmp(c, "shared:", 7))
        shared = true, c += 7;
    else if (!strncmp(c, "private:", 8))
        shared = false, c += 8;
    else
        return -1;
    long n = parse_count(c, 1000, &e);
    size_t stack = shared ? 0 : 16 * 1024;
    if (n > 0 && *e == ':' && !shared) {
        long sz = parse_count(e + 1, 1024, &e);
        stack = sz > 0 ? (size_t)sz : 0;
    }
    if (n <= 0 || *e || (!shared && !stack))
        return -1;
    r->n = n;
    r->shared_model = shared;
    if (shared)
        snprintf(r->label, sizeof r->label, "libgreen shared");
    else
        snprintf(r->label, sizeof r->label, "libgreen private %zu KiB", stack / 1024);
    return (long)stack;
}

/* Runs one libgreen case in a fresh child process; its figures land in *r (shared memory). */
static void run_in_child(struct result *r, size_t stack)
{
    fflush(NULL);
    pid_t pid = fork();
    if (pid < 0)
        die("fork");
    if (pid == 0)
        run_case(r->shared_model, r->n, stack, r);
    int status;
    if (waitpid(pid, &status, 0) < 0)
        die("waitpid");
    if (!r->ok)
        snprintf(r->note, sizeof r->note, "failed (%s %d)", WIFEXITED(status) ? "exit" : "signal",
                 WIFEXITED(status) ? WEXITSTATUS(status) : WTERMSIG(status));
}

/* The reference for a row's ratio column: libgreen shared at the same N, else the first. */
static const struct result *reference_for(const struct result *res, int ncases,
                                          const struct result *r)
{
    for (int j = 0; j < ncases; j++)
        if (res[j].ok && res[j].shared_model && res[j].n == r->n)
            return &res[j];
    for (int j = 0; j < ncases; j++)
        if (res[j].ok && res[j].shared_model)
            return &res[j];
    return NULL;
}

static void print_table(const struct result *res, int ncases)
{
    printf("bench_memory: N greenlets created, started and left suspended; RSS from "
           "/proc/self/statm. B/greenlet excludes the caller's N-entry handle array (8 B each), "
           "process RSS includes it. GB = 10^9 bytes. x shared: B/greenlet over libgreen "
           "shared's at the same N.\n\n");
    printf("| %-24s | %10s | %9s | %8s | %7s | %7s | %9s | %9s | %9s |\n", "stack model", "N",
           "B/green", "x shared", "delta GB", "RSS GB", "create ns", "resume ns", "destroy ns");
    printf("|--------------------------|-----------:|----------:|---------:|---------:|--------:|"
           "----------:|----------:|-----------:|\n");
    const struct result *target = NULL;
    for (int i = 0; i < ncases; i++) {
        const struct result *r = &res[i], *ref = reference_for(res, ncases, r);
        if (!r->ok) {
            printf("| %-24s | %10ld | %s |\n", r->label, r->n, r->note);
            continue;
        }
        char x[16] = "-";
        if (ref)
            snprintf(x, sizeof x, "%.2f", r->per / ref->per);
        printf("| %-24s | %10ld | %9.1f | %8s | %8.2f | %7.2f | %9.0f | %9.0f | %10.0f |\n",
               r->label, r->n, r->per, x, r->delta / 1e9, r->rss / 1e9, r->create, r->resume,
               r->destroy);
        if (r->shared_model && r->n == TARGET_COUNT)
            target = r;
    }
    for (int i = 0; i < ncases; i++)
        if (res[i].ok && res[i].note[0])
            printf("(%s, N = %ld: %s)\n", res[i].label, res[i].n, res[i].note);
    printf("\ncreate: green_new + first switch until the body suspends (ns per greenlet); "
           "resume: switch into a random suspended greenlet and back (ns per round trip, up to "
           "1M samples); destroy: green_destroy of a suspended greenlet (kills it).\n");
    if (target)
        printf("target: %s 10M suspended shared-stack greenlets <= 2.5 GB RSS: process RSS "
               "%.2f GB (%.2f GiB), of which %.2f GB for the greenlets and %.2f GB the handle "
               "array\n",
               target->rss <= TARGET_BYTES ? "MET" : "MISSED", target->rss / 1e9,
               target->rss / (1024.0 * 1024 * 1024), target->delta / 1e9,
               8.0 * (double)target->n / 1e9);
}

int main(int argc, char **argv)
{
    static const char *defaults[] = {"shared:1M", "shared:10M", "private:1M:16k", "python:1M"};
    bench_name = "bench_memory";
    const char **cases = (const char **)argv + 1;
    int ncases = argc - 1;
    if (ncases == 0) {
        cases = defaults;
        ncases = 4;
    }
    for (int i = 0; i < ncases; i++)
        if (!strcmp(cases[i], "-h") || !strcmp(cases[i], "--help")) {
            usage(stdout);
            return 0;
        }

    /* Anonymous shared memory comes zeroed: every result starts with ok = false. */
    struct result *res = mmap(NULL, sizeof *res * (size_t)ncases, PROT_READ | PROT_WRITE,
                              MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    if (res == MAP_FAILED)
        die("mmap");
    for (int i = 0; i < ncases; i++) {
        bool python;
        long stack = parse_case(cases[i], &res[i], &python);
        if (stack < 0) {
            usage(stderr);
            return 2;
        }
        fprintf(stderr, "bench_memory: %s ...\n", cases[i]);
        if (python)
            run_python(res[i].n, &res[i]);
        else
            run_in_child(&res[i], (size_t)stack);
    }
    print_table(res, ncases);
    return 0;
}
