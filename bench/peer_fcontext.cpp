// Peer for bench_switch: boost.context's fcontext (jump_fcontext), from Debian's
// libboost-context-dev.  Compiled only when meson finds boost context and a C++ compiler.
//
// The same ping-pong as every other switch row of bench_switch: the main context and one
// context on a 64 KiB heap stack switch back and forth; the figure is per one-way switch.
#include <boost/context/detail/fcontext.hpp>

#include <cstdlib>
#include <ctime>
#if defined(__x86_64__) || defined(__i386__)
#include <xmmintrin.h>
#endif

namespace ctx = boost::context::detail;

namespace {

// Both loops on a 64-byte boundary, as bench/switch.c aligns its own (it says why).
__attribute__((noinline, aligned(64))) void bounce(ctx::transfer_t t)
{
    for (;;)
        t = ctx::jump_fcontext(t.fctx, t.data);
}

double now_ns()
{
    timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec * 1e9 + ts.tv_nsec;
}

} // namespace

// flags_differ = 0: both contexts run with the same MXCSR value, as make_fcontext captured it
// just before; every ldmxcsr in jump_fcontext then loads the value already there.
// flags_differ = 1: the main context's MXCSR differs from the other's in one sticky status
// flag (PE, "inexact", set by any rounding floating-point operation), as happens in a
// program that did floating-point work after the context was made.  jump_fcontext loads
// MXCSR unconditionally, so every switch now changes it; on the machines we measure on that
// makes ldmxcsr take ~55 ns more.  (libgreen compares the control bits only and never loads
// MXCSR for a status-flag difference.)  Returns -1 where this cannot be set up.
extern "C" __attribute__((noinline, aligned(64))) double bench_peer_fcontext_ns(long round_trips,
                                                                      int flags_differ)
{
#if !(defined(__x86_64__) || defined(__i386__))
    if (flags_differ)
        return -1;
#endif
    const std::size_t size = 64 * 1024;
    static char *stack = static_cast<char *>(std::malloc(size));
    if (!stack)
        return -1;
    // A fresh context per batch; the previous one is simply abandoned (it holds nothing).
    ctx::fcontext_t c = ctx::make_fcontext(stack + size, size, bounce);
    ctx::transfer_t t = ctx::jump_fcontext(c, nullptr); // start it: now both are warm
#if defined(__x86_64__) || defined(__i386__)
    unsigned mxcsr = _mm_getcsr();
    if (flags_differ)
        _mm_setcsr(mxcsr ^ 0x20); // toggle PE in this context only
#endif
    t = ctx::jump_fcontext(t.fctx, nullptr);
    double t0 = now_ns();
    for (long i = 0; i < round_trips; i++)
        t = ctx::jump_fcontext(t.fctx, reinterpret_cast<void *>(i));
    double t1 = now_ns();
#if defined(__x86_64__) || defined(__i386__)
    _mm_setcsr(mxcsr);
#endif
    return (t1 - t0) / (2.0 * static_cast<double>(round_trips));
}
