/* SPDX-License-Identifier: MIT */
/* Picks, once at load time, which x86-64 switch variant green_arch_switch jumps to.
 *
 * The variants differ only in how they restore MXCSR (x86_64_sysv.S): "cmp" loads it only
 * when the control bits differ, "load" loads it always.  Which is faster depends on the
 * CPU, not on the program.  On Intel (Sapphire Rapids) an ldmxcsr that changes MXCSR is
 * cheap by itself but makes the next stmxcsr wait ~100 ns, and a switch is exactly that
 * pair: the status flags of two contexts differ often, so "load" would pay it on most
 * switches and the compare wins by far.  On AMD Zen the pair costs the same whatever the
 * status flags, and the compare's read-back of the just-stored MXCSR is the slow part.  So we
 * measure what a switch does: stmxcsr then ldmxcsr, with a value that changes against one
 * that does not.  (Toggling ldmxcsr alone, without the stmxcsr, shows no difference on
 * Intel either: that probe picked "load" there and made shared switches 4x slower.)  Both
 * variants keep the same frame, so contexts saved by one can be resumed by the other, and
 * the choice never affects correctness, only speed.
 */
#include <stdint.h>
#include <string.h>
#include <time.h>

#include "arch/arch.h"

typedef int switch_fn(void **, void *, int, void *, void **);
GREEN_HIDDEN int green_arch_switch_cmp(void **, void *, int, void *, void **);
GREEN_HIDDEN int green_arch_switch_load(void **, void *, int, void *, void **);

/* Read by green_arch_switch on every switch.  Starts with the variant that is never slow
 * by much, so a switch before the constructor ran (another constructor) still works. */
GREEN_HIDDEN switch_fn *green_arch_switch_impl = green_arch_switch_cmp;

static const struct variant {
    const char *name;
    switch_fn *fn;
} variants[] = {
    {"cmp", green_arch_switch_cmp},
    {"load", green_arch_switch_load},
};

static double now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec * 1e9 + (double)ts.tv_nsec;
}

#define PROBE_LOADS 64

/* ns per stmxcsr + ldmxcsr pair, as in a switch, when every load changes MXCSR's PE
 * status flag (toggle) or when all load the current value; the best of a few batches, so
 * a preemption does not count. */
static double ldmxcsr_ns(uint32_t base, int toggle)
{
    double best = 1e30;
    for (int batch = 0; batch < 4; batch++) {
        uint32_t saved;
        double t0 = now_ns();
        for (int i = 0; i < PROBE_LOADS; i++) {
            uint32_t v = base ^ (toggle && (i & 1) ? 0x20u : 0u);
            __asm__ volatile("stmxcsr %0\n\tldmxcsr %1" : "=m"(saved) : "m"(v));
        }
        double t = (now_ns() - t0) / PROBE_LOADS;
        best = t < best ? t : best;
    }
    return best;
}

static const struct variant *measure(void)
{
    uint32_t mxcsr;
    __asm__ volatile("stmxcsr %0" : "=m"(mxcsr));
    double same = ldmxcsr_ns(mxcsr, 0), changed = ldmxcsr_ns(mxcsr, 1);
    __asm__ volatile("ldmxcsr %0" : : "m"(mxcsr));
    /* Intel pays ~100 ns per changed pair, AMD Zen nothing measurable; 5 ns is far from
     * both and above the clock's noise for a batch of 64. */
    return changed - same > 5.0 ? &variants[0] : &variants[1];
}

static const struct variant *selected = &variants[0];

int green_arch_select(const char *name)
{
    const struct variant *v = NULL;
    if (!name)
        v = measure();
    for (size_t i = 0; !v && i < sizeof variants / sizeof variants[0]; i++)
        if (!strcmp(name, variants[i].name))
            v = &variants[i];
    if (!v)
        return -1;
    selected = v;
    green_arch_switch_impl = v->fn;
    return 0;
}

const char *green_arch_variant(void) { return selected->name; }

__attribute__((constructor)) static void select_at_load(void) { green_arch_select(NULL); }
