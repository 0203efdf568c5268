/*
 * The Redis connection: hiredis' async API on the daemon's libuv loop,
 * reconnecting with a logged, capped exponential backoff. All calls are
 * made on the loop's thread; nothing here blocks.
 *
 * Commands issued while disconnected fail at once (the callback is not
 * called, store_command returns -1): state lives in Redis, so a daemon
 * reconciles when the on_state callback says the store is back.
 */
#ifndef DC_STORE_H
#define DC_STORE_H

#include <stdbool.h>
#include <hiredis/hiredis.h>
#include <uv.h>

#include "config.h"

struct store;

/* Called on the loop when the connection comes up or goes down. */
typedef void (*store_state_cb)(struct store *st, bool up, void *arg);
/*
 * Called with the reply (NULL if the connection was lost before it came).
 * The reply is owned by hiredis and freed after the callback returns.
 */
typedef void (*store_reply_cb)(struct store *st, redisReply *r, void *arg);

/* Starts connecting to cfg->redis.address. Returns NULL on ENOMEM. */
struct store *store_open(uv_loop_t *loop, const struct config *cfg,
    store_state_cb on_state, void *arg);
/* Disconnects and frees; pending callbacks get a NULL reply. */
void store_close(struct store *st);

bool store_connected(const struct store *st);	/* any thread */

/* Sends a command (printf-like, as redisAsyncCommand). cb may be NULL. */
int store_command(struct store *st, store_reply_cb cb, void *arg,
    const char *fmt, ...);
int store_commandv(struct store *st, store_reply_cb cb, void *arg, int argc,
    const char **argv, const size_t *argvlen);

#endif
