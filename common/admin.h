/*
 * The admin port of a daemon: GET /healthz answers 200 "ok" when the
 * daemon is ready (its readiness callback says so) or 503 with the
 * reason; GET /metrics answers the Prometheus text of metrics.h.
 * Served by nng's HTTP server on its own threads: the readiness callback
 * must only read atomics.
 *
 * A daemon may add routes of its own (the regulator's webhooks). Their
 * handler runs on the daemon's loop thread, not nng's: the request is
 * handed over through a uv_async, the handler fills in the answer before
 * it returns, and the answer goes back from there. A handler that must
 * first ask Redis answers later instead (ADMIN_LATER below): the request
 * stays with the port, never with the daemon, so stopping the port
 * answers what is still queued or waiting with 503 and frees everything.
 */
#ifndef DC_ADMIN_H
#define DC_ADMIN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <uv.h>

struct admin;

/* Writes why the daemon is not ready into WHY and returns 0, or 1 if ready. */
typedef int (*admin_ready_fn)(char *why, size_t len, void *arg);

/* Listens on ADDR ("HOST:PORT"). Returns NULL with ERR set. */
struct admin *admin_start(const char *addr, admin_ready_fn ready, void *arg,
    char *err, size_t errlen);
void admin_stop(struct admin *a);

/* One request to a daemon's route, valid during the handler only. */
struct admin_req {
	const char *method;
	const char *path;		/* without the query */
	const char *query;		/* after '?', "" if none */
	const char *body;		/* not NUL-terminated */
	size_t len;
	void *nreq;			/* nng's request, for admin_req_header */
};

/* The value of header NAME of R, or NULL. */
const char *admin_req_header(const struct admin_req *r, const char *name);

/*
 * The handler's answer: a status and a short text body. A handler that
 * cannot answer before it returns (it waits for Redis) sets STATUS to
 * ADMIN_LATER, keeps a copy of LATER and answers with admin_answer_later
 * once, on the loop. R is not valid after the handler returns: copy
 * what is needed of it first.
 */
#define ADMIN_ANSWER_MAX 1024
#define ADMIN_LATER 0
struct admin_later {
	struct admin *a;
	uint64_t id;
};
struct admin_answer {
	int status;
	char body[ADMIN_ANSWER_MAX];
	struct admin_later later;	/* filled by the port */
};

/*
 * Answers the request L names with STATUS and BODY (copied), on the
 * loop thread. A request still waiting when the port stops is answered
 * 503 by admin_stop, which frees the port: call this only until the
 * daemon's shutdown hook (service.h) has run. admin_stop closes the
 * connections right after, so such a 503 may not reach its client; a
 * daemon answers what it holds in its shutdown hook, which runs the
 * skeleton's linger time earlier.
 */
void admin_answer_later(const struct admin_later *l, int status,
    const char *body);

typedef void (*admin_route_fn)(const struct admin_req *r,
    struct admin_answer *a, void *arg);

struct admin_route {
	const char *method;		/* "POST" */
	const char *path;		/* exact, or a prefix with tree */
	size_t max_body;		/* nng refuses a larger one */
	admin_route_fn fn;
	void *arg;
	bool tree;			/* also every path below PATH/ */
};

/*
 * Adds ROUTES (N of them; the array must outlive A) to A, their handlers
 * to run on LOOP. Call from LOOP's thread before it runs. 0, or -1 with
 * ERR set.
 */
int admin_add_routes(struct admin *a, uv_loop_t *loop,
    const struct admin_route *routes, size_t n, char *err, size_t errlen);

/*
 * A bearer token: GIVEN (GLEN bytes, not NUL-terminated) equals WANT, in
 * a time that depends only on their lengths.
 */
bool admin_token_equal(const char *given, size_t glen, const char *want);

/* ADDR ("HOST:PORT") is a loopback address: 127.x.x.x, [::1], localhost. */
bool admin_addr_loopback(const char *addr);

#endif
