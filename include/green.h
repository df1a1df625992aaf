/* SPDX-License-Identifier: MIT */
/* libgreen: greenlets and a gevent-style hub for C.  The one header to include.
 *
 * Layers (each has its own header under green/):
 *   green/core.h  greenlets: create, switch, throw, parents, the two stack models.
 */
#ifndef GREEN_H
#define GREEN_H

#include "green/core.h"

#endif /* GREEN_H */
