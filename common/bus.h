/*
 * The message bus, seen from a daemon.
 *
 * Events: a pub0 socket dials the broker's *in* address and a sub0 socket
 * dials its *out* address. nng redials by itself, so publishers,
 * subscribers and the broker may start and restart in any order.
 *
 * Commands: a daemon answers on a raw rep0 socket listening on its
 * control address; callers use req0. Raw mode lets a daemon hold a
 * request (say, until an app is ready) while it serves others.
 *
 * Everything received is delivered on the daemon's libuv loop (nng's
 * receive fds are polled there), so handlers may use the store; nothing
 * runs inside an nng callback but counters.
 */
#ifndef DC_BUS_H
#define DC_BUS_H

#include <stdbool.h>
#include <uv.h>

#include "config.h"
#include "msg.h"

/*
 * How many events each bus socket queues: per pipe on a pub0 socket
 * (NNG_OPT_SENDBUF), per sub0 socket (NNG_OPT_RECVBUF), in the daemons
 * and in the broker alike. A burst of up to this many arrives whole at
 * every subscriber whose own sub0 queue is as deep; beyond it, a hop that
 * cannot keep up drops its oldest events. nng 1.5's defaults (16 for
 * pub0, 128 for sub0) lost most of a burst; nng accepts 1 to 8192.
 * docs/decisions.md says why 1024.
 */
#define BUS_QUEUE_MSGS 1024

struct bus;
struct bus_request;

typedef void (*bus_event_cb)(struct bus *b, const struct msg *m, void *arg);
/* REQ is owned by the handler until bus_reply() or bus_request_drop(). */
typedef void (*bus_command_cb)(struct bus *b, struct bus_request *req,
    const struct msg *m, void *arg);
/*
 * How a bus_call ended, so callers branch on a value and not on the
 * wording of ERR. There is no "refused": the call's dial does not block,
 * so a daemon that is not there is seen as BUS_ETIMEDOUT.
 */
enum bus_status {
	BUS_OK,			/* R is the answer */
	BUS_ETIMEDOUT,		/* no answer within the timeout */
	BUS_ETRANSPORT,		/* nng failed the send or receive otherwise */
	BUS_EBADREPLY,		/* the answer did not decode */
	BUS_EREPLY,		/* an MSG_ERROR answer; ERR is its reason */
};

/*
 * Reply to bus_call: R with BUS_OK, or a NULL R with ST saying what kind
 * of failure and ERR why, in words for logs and pages. Both are valid
 * only during the callback.
 */
typedef void (*bus_reply_cb)(const struct msg *r, enum bus_status st,
    const char *err, void *arg);

/*
 * Dials the broker for events, and listens on CONTROL (if not NULL) for
 * commands. SOURCE is "daemon/instance". Returns NULL with ERR set.
 */
struct bus *bus_open(uv_loop_t *loop, const struct config *cfg,
    const char *source, const char *control, bus_event_cb on_event,
    bus_command_cb on_command, void *arg, char *err, size_t errlen);
void bus_close(struct bus *b);

/* Receives events whose topic starts with PREFIX ("" for all). */
int bus_subscribe(struct bus *b, const char *prefix);

/* Publishes M (fills v, ts, source). Never blocks; -1 if not encodable. */
int bus_publish(struct bus *b, struct msg *m);

/* True when both event sockets have a live pipe to the broker. */
bool bus_connected(const struct bus *b);	/* any thread */

/* Answers REQ with M and frees REQ. */
int bus_reply(struct bus *b, struct bus_request *req, struct msg *m);
/* Answers REQ with MSG_ERROR and REASON, and frees REQ. */
int bus_reply_error(struct bus *b, struct bus_request *req,
    const char *reason);
/* Frees REQ without answering (the caller will time out). */
void bus_request_drop(struct bus_request *req);

/*
 * Sends command M to the daemon at URL and calls CB on the loop with the
 * answer, or with an error after TIMEOUT_MS. Connections to each URL are
 * kept and shared.
 */
int bus_call(struct bus *b, const char *url, struct msg *m, int timeout_ms,
    bus_reply_cb cb, void *arg);

/*
 * Blocking variant for tools: one request, one answer or an error within
 * TIMEOUT_MS. Returns 0 with *REPLY filled, or -1 with ERR set.
 */
int bus_call_sync(const char *url, const char *source, struct msg *m,
    int timeout_ms, struct msg *reply, char *err, size_t errlen);

#endif
