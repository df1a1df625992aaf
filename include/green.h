/* SPDX-License-Identifier: MIT */
/* libgreen: greenlets and a gevent-style hub for C.  The one header to include.
 *
 * Layers (each has its own header under green/):
 *   green/core.h  greenlets: create, switch, throw, parents, the two stack models.
 *   green/hub.h   the hub: spawn, sleep, join, kill, timeouts, in gevent's order.
 *   green/sync.h  Event, AsyncResult, Semaphore, Lock, Queue; RLock, Condition, Queue kinds,
 *                 Channel, Group and Pool.
 *   green/wait.h  waiting for any or all of several objects (wait, iwait, joinall).
 *   green/watch.h every libev watcher kind: fds, signals, children, files, hooks...
 *   green/threadpool.h  blocking functions on worker threads, waited for cooperatively.
 *   green/io.h    cooperative fds and sockets: read/write, send/recv, accept/connect, poll.
 *   green/patch.h libgreen-patch: unmodified blocking code made cooperative (interposition).
 *   green/tls.h   TLS clients and servers on OpenSSL (ENOSYS in a build without it).
 *   green/process.h  child programs with pipes: spawn, wait, kill, communicate.
 *   green/server.h  stream and datagram servers; N worker threads on one port.
 */
#ifndef GREEN_H
#define GREEN_H

#include "green/core.h"
#include "green/hub.h"
#include "green/sync.h"
#include "green/wait.h"
#include "green/watch.h"
#include "green/threadpool.h"
#include "green/io.h"
#include "green/patch.h"
#include "green/tls.h"
#include "green/process.h"
#include "green/server.h"

#endif /* GREEN_H */
