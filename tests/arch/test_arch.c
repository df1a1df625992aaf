/* Tests of the stack switch alone (src/arch/arch.h): this program links only the one
 * src/arch/ file that the build selected, not the rest of libgreen.
 *
 * Conventions: cmocka's assertions are used only on the test's own (main) stack.  Code
 * running in a context made by green_arch_init records failures with CHECK(), and the
 * main side reports them after switching back (a cmocka failure longjmps, which must not
 * happen from another stack).  entry() takes no argument, so each entry function finds
 * what it needs in file-scope variables; the `arg` of the first switch into a fresh
 * context is not delivered anywhere (arch.h).
 */
#include <fenv.h>
#include <float.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include <cmocka.h>

#include "arch/arch.h"

#ifdef GREEN_VALGRIND
#include <valgrind/valgrind.h>
#else
#define RUNNING_ON_VALGRIND 0
#endif

#if defined(__x86_64__) || defined(__aarch64__) || (defined(__riscv) && __riscv_xlen == 64)
#define HAVE_REG_PROBES 1
#endif

/* ---- helpers ---------------------------------------------------------------------- */

static int failures;
static char first_failure[256];

static void note_failure(int line, const char *what)
{
    if (failures++ == 0)
        snprintf(first_failure, sizeof first_failure, "line %d: %s", line, what);
}

/* For code that runs on a green_arch_init stack. */
#define CHECK(cond) do { if (!(cond)) note_failure(__LINE__, #cond); } while (0)

static void reset_failures(void)
{
    failures = 0;
    first_failure[0] = '\0';
}

static void assert_no_failures(void)
{
    if (failures != 0)
        fail_msg("%d check(s) failed in another context, first at %s", failures, first_failure);
}

struct stack {
    unsigned char *map;     /* guard page, then the usable stack */
    unsigned char *lo, *top;
    size_t map_size;
    unsigned vg_id;
};

static void stack_new(struct stack *s, size_t size)
{
    size_t page = (size_t)sysconf(_SC_PAGESIZE);
    size = (size + page - 1) / page * page;
    s->map_size = size + page;
    void *p = mmap(NULL, s->map_size, PROT_READ | PROT_WRITE,
                   MAP_PRIVATE | MAP_ANONYMOUS | MAP_STACK, -1, 0);
    assert_true(p != MAP_FAILED);
    s->map = p;
    assert_int_equal(mprotect(s->map, page, PROT_NONE), 0);  /* overflow faults */
    s->lo = s->map + page;
    s->top = s->lo + size;
#ifdef GREEN_VALGRIND
    s->vg_id = VALGRIND_STACK_REGISTER(s->lo, s->top);
#else
    s->vg_id = 0;
#endif
}

static void stack_free(struct stack *s)
{
#ifdef GREEN_VALGRIND
    VALGRIND_STACK_DEREGISTER(s->vg_id);
#endif
    munmap(s->map, s->map_size);
}

static void *main_sp;   /* the test's own context while another one runs */
static void *co_sp;     /* the other context while the test runs */

static noreturn_dummy_unused;
