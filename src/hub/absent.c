/* SPDX-License-Identifier: MIT */
/* A build without libev has no hub: the thread-exit table still names its term. */
#include "core/thread.h"

void green__hub_term(struct green_thread *ts) { (void)ts; }
