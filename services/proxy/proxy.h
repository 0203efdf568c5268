/*
 * devcloud-proxy: the HTTP/1.1 reverse proxy in front of every app.
 *
 * Shape. The main thread runs the service loop (libuv: store, bus,
 * admin) and owns the route and app tables; it publishes them to the
 * workers as an immutable, reference-counted snapshot. Each worker is a
 * thread with its own epoll loop (loop.c) and its own SO_REUSEPORT
 * listener; a client connection lives and dies on one worker and never
 * takes a lock on the warm path. Workers ask the main thread to wake
 * sleeping apps and the main thread answers them, both through
 * mutex-protected queues (woken by uv_async one way, an eventfd the
 * other).
 *
 * This header is the table of contents: every prototype, grouped under
 * the file that defines it.
 */
#ifndef DC_PROXY_H
#define DC_PROXY_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <sys/queue.h>
#include <sys/socket.h>
#include <sys/types.h>
#include <uv.h>

#include "app.h"
#include "config.h"
#include "msg.h"
#include "target.h"

struct service;

/* The object of type TYPE whose member M is at P. */
#define container_of(p, type, m) \
	((type *)(void *)((char *)(p) - offsetof(type, m)))

/* ------------------------------------------------------------------ */
/* http.c: the HTTP/1.x message parser (pure; fuzzed, unit tested) */

#define HTTP_MAX_FIELDS 128
#define HTTP_MAX_CONN_TOKENS 8

struct http_span {
	uint32_t off;
	uint32_t len;
};

enum http_field_kind {
	HTTP_H_OTHER,
	HTTP_H_HOST,
	HTTP_H_CONTENT_LENGTH,
	HTTP_H_TRANSFER_ENCODING,
	HTTP_H_CONNECTION,
	HTTP_H_KEEP_ALIVE,
	HTTP_H_PROXY_CONNECTION,
	HTTP_H_TE,
	HTTP_H_TRAILER,
	HTTP_H_UPGRADE,
	HTTP_H_EXPECT,
	HTTP_H_X_FORWARDED_FOR,
	HTTP_H_X_FORWARDED_PROTO,
	HTTP_H_X_FORWARDED_HOST,
};

struct http_field {
	struct http_span name;
	struct http_span value;		/* without surrounding whitespace */
	struct http_span line;		/* the whole line with its CRLF */
	enum http_field_kind kind;
};

/* Message flags. */
#define HTTP_F_CHUNKED		0x0001	/* Transfer-Encoding ends in chunked */
#define HTTP_F_TE		0x0002	/* a Transfer-Encoding was present */
#define HTTP_F_CLOSE		0x0004	/* Connection: close */
#define HTTP_F_KEEPALIVE	0x0008	/* Connection: keep-alive */
#define HTTP_F_CONN_UPGRADE	0x0010	/* Connection: upgrade */
#define HTTP_F_UPGRADE		0x0020	/* an Upgrade field was present */
#define HTTP_F_CONTINUE		0x0040	/* Expect: 100-continue */
#define HTTP_F_ABSOLUTE		0x0080	/* request target in absolute form */
#define HTTP_F_IDEMPOTENT	0x0100	/* the method may be sent twice */

struct http_msg {
	/* request line */
	struct http_span method;
	struct http_span target;	/* origin-form path (absolute: its path) */
	bool is_head;
	/* status line */
	int status;
	/* both */
	int minor;			/* HTTP/1.minor, 0 or 1 */
	uint32_t head_len;		/* through the empty line */
	uint32_t line_len;		/* first line with its CRLF */
	struct http_span host;		/* Host, or the absolute target's */
	int64_t content_length;		/* -1 when absent */
	unsigned flags;
	uint32_t nfields;
	struct http_field fields[HTTP_MAX_FIELDS];
	uint32_t ntokens;		/* other Connection tokens */
	struct http_span tokens[HTTP_MAX_CONN_TOKENS];
};

struct http_limits {
	uint32_t max_line;		/* request or status line, no CRLF */
	uint32_t max_fields;		/* header section bytes */
};

/* Why a message was refused: the status to answer and a short reason. */
struct http_err {
	int status;
	const char *why;
};

/*
 * Looks for the end of a message head in P[0..LEN). *SCAN is where the
 * previous call stopped (start at 0), so bytes arriving one at a time
 * cost O(n) in all. Returns the head length, 0 when more bytes are
 * needed, or -1 with ERR (414, 431) when the limits are already exceeded.
 */
ssize_t http_head_find(const char *p, size_t len, const struct http_limits *lim,
    size_t *scan, struct http_err *err);

/*
 * Parses the complete head P[0..LEN) (LEN from http_head_find) into M.
 * Offsets in M are relative to P. Returns 0, or -1 with ERR. M is scratch
 * either way; only a 0 return means it describes a valid message.
 */
int http_parse_request(const char *p, size_t len, const struct http_limits *lim,
    struct http_msg *m, struct http_err *err);
int http_parse_response(const char *p, size_t len, struct http_msg *m,
    struct http_err *err);

/* Incremental chunked-body scanner. */
struct http_chunk {
	uint8_t state;
	uint8_t digits;
	uint64_t left;
	uint32_t trailer;		/* trailer bytes seen */
};

enum http_body_kind {
	HTTP_BODY_NONE,			/* no body at all */
	HTTP_BODY_LENGTH,		/* Content-Length */
	HTTP_BODY_CHUNKED,
	HTTP_BODY_CLOSE,		/* until the connection closes */
};

struct http_body {
	enum http_body_kind kind;
	uint64_t left;			/* LENGTH: bytes still to come */
	struct http_chunk chunk;
};

void http_body_init(struct http_body *b, enum http_body_kind kind,
    uint64_t length);
/*
 * Consumes the message body bytes at the front of P[0..N): *USED says how
 * many belong to this body. Returns 1 when the body ended within them, 0
 * when more will come, -1 on bad chunk framing.
 */
int http_body_scan(struct http_body *b, const char *p, size_t n,
    size_t *used);
/*
 * The same for a chunked body whose framing is to be removed: consumes
 * the front of P[0..N) up to and including the first run of chunk data,
 * which *DATA locates within P (length 0: none in these bytes). Returns
 * as http_body_scan; call again for the rest.
 */
int http_body_dechunk(struct http_body *b, const char *p, size_t n,
    size_t *used, struct http_span *data);

/* Case-insensitive equality of a span and a NUL-terminated word. */
bool http_span_eq(const char *base, struct http_span s, const char *word);
/* The same for a method, which is case-sensitive (RFC 9110, 9.1). */
bool http_method_is(const char *base, struct http_span s, const char *word);

/* Does the sender of M keep the connection open after it? */
static inline bool
http_keep_alive(const struct http_msg *m)
{
	return m->minor == 1 ? !(m->flags & HTTP_F_CLOSE) :
	    (m->flags & HTTP_F_KEEPALIVE) != 0;
}

/* Does request M ask to switch protocols (WebSocket and others)? */
static inline bool
http_wants_upgrade(const struct http_msg *m)
{
	return (m->flags & HTTP_F_CONN_UPGRADE) &&
	    (m->flags & HTTP_F_UPGRADE) && m->minor == 1;
}

/* ------------------------------------------------------------------ */
/* headers.c: the forwarded heads */

struct headers_req_ctx {
	const char *peer;		/* client address for X-Forwarded-For */
	const char *proto;		/* "http" */
};

/*
 * Writes the request head to send upstream for the request M parsed from
 * SRC into DST[0..CAP). Returns the length, or -1 if it does not fit.
 */
ssize_t headers_request(char *dst, size_t cap, const char *src,
    const struct http_msg *m, const struct headers_req_ctx *ctx);

/*
 * Writes the response head to send to the client. KEEP says whether the
 * client connection stays open; CLIENT_MINOR is the client's version;
 * UPGRADE keeps the Upgrade field (101 answers). Returns the length or -1.
 */
ssize_t headers_response(char *dst, size_t cap, const char *src,
    const struct http_msg *m, bool keep, int client_minor, bool upgrade);

/* ------------------------------------------------------------------ */
/* page.c: the proxy's own small answers */

/*
 * Writes a complete response (status line, fields, small HTML page)
 * into DST. DETAIL names the domain/app/upstream and why. EXTRA is more
 * fields ("Retry-After: 5\r\n") or NULL. Returns the length (truncating
 * the page if need be).
 */
size_t page_build(char *dst, size_t cap, int status, const char *detail,
    const char *extra, bool keep);

/* ------------------------------------------------------------------ */
/* map.c: string-keyed open-addressing hash map */

struct map_slot {
	const char *key;		/* NULL: empty */
	uint32_t hash;
	void *val;
};

struct map {
	struct map_slot *slots;
	size_t cap;			/* power of two */
	size_t len;
};

uint32_t map_hash(const char *key, size_t len);
/* KEY is not copied: it must live as long as its entry. */
int map_put(struct map *m, const char *key, void *val);
void *map_get(const struct map *m, const char *key, size_t len);
void *map_del(struct map *m, const char *key);
void map_free(struct map *m);		/* the slots only */
/* Iterates: *I starts at 0; returns NULL when done. */
struct map_slot *map_next(const struct map *m, size_t *i);

/* ------------------------------------------------------------------ */
/* route.c: domain -> target, the snapshot workers read */

/*
 * An app as the proxy knows it. Created by the main thread and never
 * freed while the process runs, so workers may keep pointers to it; the
 * counters are atomics updated by workers and read by the main thread.
 */
/* A ready instance of an app, as the main thread knows it. */
struct proxy_instance {
	char id[MSG_NAME_MAX];
	char addr[MSG_ADDR_MAX];
};

/* What a struct proxy_app stands for: an app; an IDE pool, whose
 * requests for a domain with no lease wait under it; or one domain's
 * lease of a pool member, which counts its activity like an app. */
enum proxy_app_kind { PROXY_APP, PROXY_POOL, PROXY_LEASE };

struct proxy_app {
	char name[MSG_NAME_MAX];	/* the app's or the pool's name */
	struct proxy *px;		/* its owner, for bus callbacks */
	enum proxy_app_kind kind;
	/* PROXY_LEASE: its pool and domain, and the member serving it */
	struct proxy_app *pool;
	char *domain;
	char member[MSG_NAME_MAX];
	/* main thread only */
	enum app_state state;
	char addr[MSG_ADDR_MAX];	/* the record's summary address */
	struct proxy_instance *inst;	/* ready instances, by id */
	size_t ninst;
	int ttl_s;
	bool waking;			/* a wake command is in flight */
	_Atomic bool wake_page;		/* browsers get the waiting page */
	struct proxy_app *next;		/* registry list */
	uint64_t flushed;		/* requests_total at the last flush */
	/* in-flight samples since the last flush (activity.c) */
	int64_t load_sum;
	int64_t load_peak;
	uint32_t load_samples;
	bool load_sent;			/* the last flushed figure was not 0 */
	/* any thread */
	_Atomic uint64_t requests_total;
	_Atomic int64_t inflight;	/* open exchanges and tunnels */
	_Atomic int64_t tunnels;	/* of which tunnels (upgrades) */
	_Atomic int64_t held;
	_Atomic int64_t held_bytes;
	/* on px->touched, waiting for the main thread (apps_touch) */
	_Atomic bool touched;
	struct proxy_app *touched_next;
	/* main thread: on px->active_list, what activity.c walks */
	bool active;
	struct proxy_app *active_next;
};

/* Is A running, with an address to send requests to? (main thread) */
static inline bool
apps_running(const struct proxy_app *a)
{
	return a->state == APP_RUNNING && a->addr[0] != '\0';
}

/* One upstream a route may send to: a static address, or one ready
 * instance of an app. */
struct backend {
	char *id;			/* instance id; "" for a static address */
	char *addr;			/* "host:port" */
};

/* Where a target's requests go: every route with the same target shares
 * one set. Empty for an app with no ready instance. */
struct backend_set {
	char *key;			/* the route's target string */
	size_t idx;			/* 0..nsets-1 in its table */
	size_t n;
	struct backend *b;
};

/* A route as the snapshot holds it: immutable. */
struct route {
	const char *domain;		/* lower case; "*.x" for wildcards */
	enum target_kind kind;
	struct backend_set *set;
	struct proxy_app *app;		/* TARGET_APP */
};

struct route_table {
	_Atomic int refs;
	uint64_t gen;			/* tables built before, plus one */
	struct map exact;		/* domain -> struct route */
	struct map wild;		/* suffix after "*." -> struct route */
	struct map sets;		/* target -> struct backend_set */
	size_t nsets;
	size_t nroutes;
	struct route *routes;
};

struct route_table *route_table_new(void);
/* Adds DOMAIN -> TARGET (target_parse's form); -1 if invalid. */
int route_table_add(struct route_table *t, const char *domain,
    const char *target,
    struct proxy_app *(*app_of)(const struct target *, void *), void *arg);
/* Adds the exact route of LEASE (a running PROXY_LEASE): its domain to
 * its member, before any other route of that domain. -1 if invalid or
 * on ENOMEM. */
int route_table_add_lease(struct route_table *t, struct proxy_app *lease);
/* Finishes building (indexes the routes); -1 on ENOMEM. */
int route_table_seal(struct route_table *t);
void route_table_ref(struct route_table *t);
void route_table_unref(struct route_table *t);
/* HOST: lower case, no port. The most specific route, or NULL. */
const struct route *route_lookup(const struct route_table *t,
    const char *host, size_t len);
/* The set of TARGET in T, or NULL. */
const struct backend_set *route_table_set(const struct route_table *t,
    const char *target);

/* ------------------------------------------------------------------ */
/* loop.c: the workers' event loop (epoll, timers, end-of-round lists) */

struct loop_io;
struct loop_timer;
struct loop_task;
typedef void (*loop_io_fn)(struct loop_io *io, uint32_t events);
typedef void (*loop_timer_fn)(struct loop_timer *t);
typedef void (*loop_task_fn)(struct loop_task *t);

struct loop_io {
	int fd;				/* -1 once closed */
	loop_io_fn cb;
};

#define LOOP_TIMER_IDLE SIZE_MAX

struct loop_timer {
	uint64_t due;			/* loop ms */
	size_t slot;			/* heap slot, LOOP_TIMER_IDLE if off */
	loop_timer_fn cb;
};

struct loop_task {
	struct loop_task *next;
	loop_task_fn cb;
	bool queued;
};

struct loop {
	int epfd;
	int evfd;			/* eventfd: wake-ups from other threads */
	uint64_t now;			/* monotonic ms, read once per round */
	uint64_t now_us;		/* the same reading in microseconds */
	uint64_t round;			/* rounds run so far */
	struct loop_timer **heap;
	size_t ntimers, heapcap;
	struct loop_task *tasks, *tasks_tail;	/* run after this round */
	struct loop_task *defers;	/* then these (frees) */
	int nalive;			/* outside work the loop waits for */
	bool stop;
	atomic_bool woken;		/* a wake-up is owed to on_wake */
	atomic_bool sleeping;		/* in (or entering) epoll_wait */
};

int loop_init(struct loop *l);
void loop_free(struct loop *l);
/* Registers FD (epoll events, e.g. EPOLLIN | EPOLLOUT | EPOLLET). */
int loop_add(struct loop *l, struct loop_io *io, int fd, uint32_t events,
    loop_io_fn cb);
int loop_mod(struct loop *l, struct loop_io *io, uint32_t events);
/* From any thread: makes the loop call its on_wake. */
void loop_wake(struct loop *l);
/* Runs until loop_stop and no outside work is pending. */
void loop_run(struct loop *l, void (*on_wake)(struct loop *l));
/* One round, waiting MAX_WAIT ms at most (-1: no bound but the timers'). */
void loop_run_once(struct loop *l, int max_wait,
    void (*on_wake)(struct loop *l));
void loop_stop(struct loop *l);
static inline void
loop_timer_init(struct loop_timer *t)
{
	t->slot = LOOP_TIMER_IDLE;
}
static inline bool
loop_timer_active(const struct loop_timer *t)
{
	return t->slot != LOOP_TIMER_IDLE;
}
int loop_timer_start(struct loop *l, struct loop_timer *t, uint64_t ms,
    loop_timer_fn cb);
void loop_timer_stop(struct loop *l, struct loop_timer *t);
/* Runs T once, after this round's events (no-op if already queued). */
void loop_post(struct loop *l, struct loop_task *t, loop_task_fn cb);
/* Runs T at the very end of the round: where objects are freed. */
void loop_defer(struct loop *l, struct loop_task *t, loop_task_fn cb);

/* ------------------------------------------------------------------ */
/* buf.c: per-worker pool of fixed-size I/O buffers */

struct proxy_buf {
	struct proxy_buf *next;		/* free list */
	uint32_t start;			/* first unconsumed byte */
	uint32_t end;			/* one past the last byte */
	char data[];
};

struct buf_pool {
	struct proxy_buf *free;
	size_t nfree;
	size_t size;			/* capacity of data[] */
	size_t max_free;
};

struct proxy_buf *buf_get(struct buf_pool *p);
void buf_put(struct buf_pool *p, struct proxy_buf *b);
void buf_pool_drain(struct buf_pool *p);
/* Moves the unconsumed bytes to the front. */
void buf_compact(struct proxy_buf *b);

/* ------------------------------------------------------------------ */
/* stream.c: a TCP stream with a lazy read buffer and bounded writes */

struct proxy_worker;
struct proxy_stream;
struct stream_write;

/*
 * What moves a stream's bytes: plain TCP today, room for TLS. Each call
 * returns what recv(2) and sendmsg(2) return (bytes, 0 at EOF for
 * recv, or -1 with errno; EAGAIN when the transport must wait).
 */
struct stream_ops {
	ssize_t (*recv)(struct proxy_stream *s, char *buf, size_t len);
	/* MORE: more bytes follow soon; hold a small segment back */
	ssize_t (*send)(struct proxy_stream *s, const uv_buf_t *bufs,
	    unsigned nbufs, bool more);
	void (*shutdown)(struct proxy_stream *s);
	/* A read shorter than the room given means nothing more is
	 * waiting (a socket read emptied its buffer); a transport that
	 * reads in records cannot say so. */
	bool short_read_drains;
};

extern const struct stream_ops stream_tcp_ops;

#define STREAM_READING	0x01	/* the owner wants to read */
#define STREAM_EOF	0x02	/* peer finished sending */
#define STREAM_CLOSING	0x04	/* stream_close called */
#define STREAM_SHUT	0x08	/* our write side was shut down */
#define STREAM_CONNECTING 0x20	/* connect(2) in progress */
#define STREAM_SHUT_PENDING 0x40 /* shut down once the queue is sent */
#define STREAM_RD_READY	0x80	/* the socket may have bytes (or EOF) */
#define STREAM_WR_READY	0x100	/* the socket may take bytes */
#define STREAM_RDHUP	0x200	/* the peer's FIN or an error was seen */
#define STREAM_UNWATCHED 0x400	/* not in the epoll set yet */

/* Called with 0 after data arrived, UV_EOF, or a negative error. */
typedef void (*stream_read_fn)(struct proxy_stream *s, int status);
/* Called when every queued write has completed (status 0) or failed. */
typedef void (*stream_drain_fn)(struct proxy_stream *s, int status);
typedef void (*stream_close_fn)(struct proxy_stream *s);
typedef void (*stream_connect_fn)(struct proxy_stream *s, int status);

struct proxy_stream {
	struct loop_io io;		/* io.fd is the socket */
	const struct stream_ops *ops;
	struct loop_task read_task;	/* a read owed without an event */
	struct loop_task free_task;	/* on_close, at the end of round */
	struct proxy_worker *w;
	struct proxy_buf *in;
	struct stream_write *wq, *wq_tail;	/* what the socket refused */
	size_t queued;			/* bytes in wq */
	unsigned flags;
	stream_read_fn on_read;
	stream_drain_fn on_drain;
	stream_close_fn on_close;
	stream_connect_fn on_connect;
	void *owner;
};

void stream_init(struct proxy_stream *s, struct proxy_worker *w, void *owner,
    stream_read_fn on_read, stream_drain_fn on_drain,
    stream_close_fn on_close);
/* Adopts the connected, non-blocking socket FD. 0 or a libuv error code
 * (errors are libuv's UV_E* numbers throughout, for uv_strerror). */
int stream_open(struct proxy_stream *s, int fd);
/* Connects to SA; ON_CONNECT reports how it ended. 0 or a libuv error
 * (then nothing was opened). */
int stream_connect(struct proxy_stream *s, const struct sockaddr *sa,
    stream_connect_fn on_connect);
/* Starts or stops reading (idempotent). */
void stream_read(struct proxy_stream *s, bool on);
/*
 * Writes BUFS: as much as the socket takes now, the rest copied and
 * queued. Returns 0, or a negative libuv error (the stream is broken).
 */
int stream_send(struct proxy_stream *s, const uv_buf_t *bufs,
    unsigned nbufs);
/* Sends BUFS as the last bytes of the stream: then shuts it down. */
int stream_send_last(struct proxy_stream *s, const uv_buf_t *bufs,
    unsigned nbufs);
/* Shuts our write side down once the queue is sent. */
void stream_shutdown(struct proxy_stream *s);
/* Gives the read buffer back to the pool if it holds nothing. */
void stream_trim(struct proxy_stream *s);
/* Closes the socket now; on_close runs at the end of the round. */
void stream_close(struct proxy_stream *s);
static inline size_t
stream_avail(const struct proxy_stream *s)
{
	return s->in != NULL ? s->in->end - s->in->start : 0;
}

/* ------------------------------------------------------------------ */
/* balance.c: a route's set of upstreams, the picker and the queue */

struct proxy_conn;
struct upstream_conn;
struct upstream_pool;
struct wmsg;

TAILQ_HEAD(conn_queue, proxy_conn);
LIST_HEAD(upstream_conn_list, upstream_conn);
LIST_HEAD(upstream_pool_list, upstream_pool);

/*
 * The worker's side of a route's backend set (route.c): a pool of
 * connections per member, the picker's round-robin cursor, and the
 * queue of requests waiting for a slot in any member. Keyed by the
 * set's key, so it outlives snapshots; rebuilt when the snapshot
 * changes (a member that left keeps its busy connections until they
 * finish: draining).
 */
struct upstream_group {
	struct proxy_worker *w;
	char *key;			/* the set's key (map key) */
	struct upstream_pool_list pools;	/* members and leavers */
	struct upstream_pool **cur;	/* the current members, in order */
	size_t ncur;
	uint64_t gen;			/* route table cur was built from */
	size_t slot;			/* in w->set_groups, or SIZE_MAX */
	unsigned rr;			/* round robin among equals */
	struct conn_queue queue;	/* waiting for a slot */
	struct loop_task dispatch;	/* queued: a slot went free */
	bool dispatching;		/* the dispatch task is running */
};

/*
 * The group for SET (from the worker's current snapshot), created or
 * brought up to date. NULL on ENOMEM.
 */
struct upstream_group *balance_group(struct proxy_worker *w,
    const struct backend_set *set);
/*
 * Hands C an upstream connection to a member of G: an idle one (returns
 * 1, ready to write) or a new one (returns 0; exchange_upstream_ready()
 * follows). The member is the one with the fewest requests outstanding
 * on this worker, round robin among equals, skipping members in backoff
 * while another is up and never c->ex.avoid. When every member is at its
 * cap, or others already wait, queues C (returns 2): exchange_forward()
 * runs again when a slot is free. Returns -1 with a reason in WHY when
 * G has no member to send to.
 */
int balance_acquire(struct upstream_group *g, struct proxy_conn *c,
    struct upstream_conn **upp, const char **why);
/* Takes C out of the queue it waits in (no-op if none). */
void balance_unqueue(struct proxy_conn *c);
/* A slot of a member of G went free: the queue gets it at the end of the
 * round. */
void balance_slot_freed(struct upstream_group *g);
/* P refused a connection or timed out: skipped for a short while. */
void balance_backoff(struct upstream_pool *p);
/* Is there a member of G other than P to try? */
bool balance_has_other(const struct upstream_group *g,
    const struct upstream_pool *p);
/* A name for G in pages and logs: its one member's address, or its key. */
const char *balance_name(const struct upstream_group *g);
/* G lost a pool or a waiting request: free it if nothing names it. */
void balance_gc(struct upstream_group *g);
/* The snapshot changed: every group follows it. */
void balance_routes_changed(struct proxy_worker *w);
void balance_close_all(struct proxy_worker *w);

/* ------------------------------------------------------------------ */
/* upstream.c: connections to one upstream address, and the idle pool */

/*
 * Every connection of this worker to one member of a group. At most the
 * cap (upstream_cap) are busy, connecting or carrying an exchange: an
 * app with a small listen backlog drops the SYNs of a burst, and its
 * clients would wait for their timeouts.
 */
struct upstream_pool {
	struct upstream_group *g;
	char *addr;			/* "host:port" */
	char *id;			/* instance id, "" for a static route */
	LIST_ENTRY(upstream_pool) link;	/* g->pools */
	struct upstream_conn_list idle;	/* most recently used first */
	size_t nidle;
	size_t nopen;
	size_t nbusy;			/* outstanding: counted in the cap */
	uint64_t down_until;		/* loop ms: in backoff until then */
	bool member;			/* in g's current set */
};

/* One connection to an upstream: idle in its pool, or carrying C's
 * exchange. */
struct upstream_conn {
	struct proxy_stream s;
	struct upstream_pool *pool;
	struct proxy_conn *c;		/* NULL while idle */
	LIST_ENTRY(upstream_conn) idle_link;
	uint64_t idle_since;
	uint32_t uses;			/* exchanges carried */
	bool idle;			/* in pool->idle */
	bool busy;			/* counted in pool->nbusy */
	bool closed;			/* the close callback ran */
	bool resolving;			/* a name lookup is out */
};

struct upstream_pool *upstream_pool_new(struct upstream_group *g,
    const char *addr, const char *id);
/* Frees P if it is no member and has no connection left. */
void upstream_pool_gc(struct upstream_pool *p);
/* Does P take another busy connection now (an idle one unless FRESH,
 * or room under the cap)? */
bool upstream_has_slot(const struct upstream_pool *p, bool fresh);
/*
 * A connection of P for C: an idle one (returns 1) unless FRESH, else a
 * new one (returns 0). -1 with WHY if none can be opened.
 */
int upstream_get(struct upstream_pool *p, struct proxy_conn *c, bool fresh,
    struct upstream_conn **upp, const char **why);
/* Gives UP back: to the idle pool when REUSE, else closed. A request
 * waiting for the slot gets it at the end of the round. */
void upstream_release(struct upstream_conn *up, bool reuse);
/* UP became a tunnel: it stops counting against the cap. */
void upstream_uncount(struct upstream_conn *up);
/* Closes P's idle connections (P left its set, or the worker stops). */
void upstream_close_idle(struct upstream_pool *p);
/* A name lookup for an upstream connection came back (WMSG_RESOLVED). */
void upstream_resolved(struct proxy_worker *w, struct wmsg *m);
/* Closes idle connections older than the keep-alive timeout. */
void upstream_sweep(struct proxy_worker *w, uint64_t now);

/* ------------------------------------------------------------------ */
/* conn.c: one client connection, one request at a time */

enum conn_state {
	CONN_IDLE,		/* between requests (keep-alive) */
	CONN_HEAD,		/* reading a request head */
	CONN_HELD,		/* waiting for its app to wake */
	CONN_CONNECT,		/* waiting for an upstream connection (or
				 * queued for one: ex.queued) */
	CONN_EXCHANGE,		/* request and response flowing */
	CONN_TUNNEL,		/* after 101: bytes both ways */
	CONN_LINGER,		/* last answer queued, closing after it */
};

/*
 * One request and its answer. Everything here belongs to the exchange
 * in progress and is cleared in one step when the next request's head
 * has been read (dispatch_request); by then the previous exchange has let
 * go of what it held (conn_detach).
 */
struct exchange {
	struct upstream_conn *up;
	struct upstream_group *queued;	/* the group whose queue holds C */
	struct upstream_pool *avoid;	/* failed this request: not again */
	unsigned tries;			/* members that failed it */
	TAILQ_ENTRY(proxy_conn) q_link;
	LIST_ENTRY(proxy_conn) hold_link;	/* while CONN_HELD */
	struct proxy_app *app;		/* counted in app->inflight */
	struct proxy_buf *rqhead;	/* forwarded head, until answered */
	struct http_body rq;		/* request body still to forward */
	struct http_body rs;		/* response body still to forward */
	size_t rs_scan;			/* http_head_find progress, response */
	uint64_t t_start;		/* loop.now_us at upstream write */
	int64_t held_bytes;
	int minor;
	bool is_head;
	bool keep;			/* client connection may stay open */
	bool client_close;		/* the client said it sends no more */
	bool upgrade;			/* request asked for an Upgrade */
	bool rq_done;			/* request fully sent upstream */
	bool rq_retryable;		/* may go again on a fresh connection */
	bool up_keep;			/* upstream connection reusable */
	bool up_wfail;			/* writing upstream failed */
	bool rs_started;		/* a response byte arrived */
	bool rs_head_done;
	bool rs_done;
	bool rs_dechunk;		/* chunked answer to an HTTP/1.0 client */
	bool retried;
	bool wait_only;			/* the waiting page's wait request */
};

LIST_HEAD(conn_list, proxy_conn);

struct proxy_conn {
	struct proxy_stream s;
	struct loop_timer timer;
	uint64_t deadline;		/* loop ms; 0: none */
	enum conn_state state;
	size_t scan;			/* http_head_find progress, request */
	uint32_t served;		/* requests read on this connection */
	bool closing;
	struct exchange ex;
	LIST_ENTRY(proxy_conn) link;	/* worker's list */
	char host[256];			/* routed host, for pages and logs */
	char peer[48];
};

/* Takes over FD, accepted from PEER. */
void conn_accept(struct proxy_worker *w, int fd, const struct sockaddr *peer);
/* Sets C's one timer to fire MS from now (its state says what for). */
void conn_arm(struct proxy_conn *c, uint64_t ms);
/* Pushes the deadline of an armed timer later, without touching it. */
void conn_touch(struct proxy_conn *c, uint64_t ms);
/* Read interest on both sides, recomputed after every event. */
void conn_update(struct proxy_conn *c);
/* Sends B to the client (LAST: and then our FIN). Closes C and returns
 * -1 if the socket is gone. */
int conn_write(struct proxy_conn *c, const uv_buf_t *b, unsigned n,
    bool last);
/* After an answer was queued: wait for the next request or close. */
void conn_settle(struct proxy_conn *c, bool keep);
/* Lets go of what the exchange holds: its place in the hold or in a
 * queue, its upstream connection, its app, its head. */
void conn_detach(struct proxy_conn *c);
/*
 * Answers C with a page naming what failed (DETAIL; EXTRA: more fields
 * or NULL), then waits for its next request or closes.
 */
void conn_fail(struct proxy_conn *c, int status, const char *detail,
    const char *extra);
/* A request we will not forward: answer and close. */
void conn_reject(struct proxy_conn *c, int status, const char *why);
/* The waiting page (PAGE: a 503 that wakes the app) or, to its wait
 * request, the app is ready (204). */
void conn_wake_answer(struct proxy_conn *c, bool page);
void conn_close(struct proxy_conn *c);
/* Closes every connection and frees the closed ones kept for reuse (the
 * worker is stopping). */
void conn_close_all(struct proxy_worker *w);

/* ------------------------------------------------------------------ */
/* dispatch.c: where a request goes, by its route's target kind */

/* Starts C's exchange for the request M (HEAD_LEN bytes at the front of
 * C's buffer): routes it and forwards, holds or answers it. */
void dispatch_request(struct proxy_conn *c, const struct http_msg *m,
    size_t head_len);
/* Forwards C's request by its route in the current snapshot (after its
 * app woke). */
void dispatch_route(struct proxy_conn *c);

/* ------------------------------------------------------------------ */
/* exchange.c: one HTTP exchange, from a parsed head to the last byte */

/* Forwards C's request to a member of G. */
void exchange_forward(struct proxy_conn *c, struct upstream_group *g);
/* The upstream connection attempt for C finished (0 or a libuv error). */
void exchange_upstream_ready(struct proxy_conn *c, int status);
/* Upstream bytes or EOF/error arrived on C's upstream. */
void exchange_upstream_read(struct proxy_conn *c, int status);
void exchange_upstream_drain(struct proxy_conn *c, int status);
/* The client sent more of the request body (or its EOF). */
void exchange_pump_request(struct proxy_conn *c);
/* The client took what was queued: send more of the answer. */
void exchange_pump_response(struct proxy_conn *c);
/* C's timer fired while connecting or exchanging. */
void exchange_timeout(struct proxy_conn *c);

/* ------------------------------------------------------------------ */
/* tunnel.c: after 101 Switching Protocols */

/* Turns C and its upstream into a two-way pipe. */
void tunnel_start(struct proxy_conn *c);
/* Either side read (STATUS 0, UV_EOF or an error) or drained (0). */
void tunnel_pump(struct proxy_conn *c, int status);

/* ------------------------------------------------------------------ */
/* hold.c: requests waiting for a sleeping app */

/* Holds C for APP (checks the bounds, asks main to wake it). */
void hold_add(struct proxy_conn *c, struct proxy_app *app);
/* Takes C (CONN_HELD) out of the hold; the caller moves it on. */
void hold_remove(struct proxy_conn *c);
/* Asks the main thread to wake APP (one command per app in flight). */
/* DOMAIN: the request's host, which names the lease a pool's request
 * waits for. */
void hold_wake(struct proxy_worker *w, struct proxy_app *app,
    const char *domain);
/* The wake of APP finished: forward to its instances (the snapshot has
 * them by now), or fail with STATUS. */
/* DOMAIN: for a pool, the domain whose acquire ended (its requests
 * only). */
void hold_done(struct proxy_worker *w, struct proxy_app *app,
    const char *domain, int status,
    const char *reason);

/* ------------------------------------------------------------------ */
/* worker.c: one event loop thread */

/* Per-worker counters: written by the worker only, summed for /metrics. */
#define STATS_STATUS_CLASSES 6		/* 1xx..5xx, other */
#define STATS_LATENCY_BUCKETS 12

struct proxy_stats {
	_Atomic uint64_t requests[STATS_STATUS_CLASSES];
	_Atomic uint64_t latency[STATS_LATENCY_BUCKETS + 1];
	_Atomic uint64_t latency_sum_us;
	_Atomic uint64_t latency_count;
	_Atomic int64_t conns;
	_Atomic int64_t upstreams;
	_Atomic int64_t upstreams_idle;
	_Atomic int64_t held;
	_Atomic int64_t upstream_queued;	/* waiting for a slot */
	_Atomic uint64_t accepted;
	_Atomic uint64_t refused;		/* over max_connections */
	_Atomic uint64_t handed_off;		/* to a less loaded worker */
	_Atomic uint64_t bad_requests;
	_Atomic uint64_t upstream_errors;
	_Atomic uint64_t upstream_reused;
	_Atomic uint64_t upstream_retries;	/* sent again: stale pool */
	_Atomic uint64_t upgrades;
	_Atomic uint64_t bad_targets;		/* routes of no known kind */
};

static inline void
stat_add(_Atomic uint64_t *c, uint64_t n)
{
	/* single writer: no locked instruction needed */
	atomic_store_explicit(c, atomic_load_explicit(c,
	    memory_order_relaxed) + n, memory_order_relaxed);
}

static inline void
stat_gauge(_Atomic int64_t *g, int64_t n)
{
	atomic_store_explicit(g, atomic_load_explicit(g,
	    memory_order_relaxed) + n, memory_order_relaxed);
}

/* A message between the main thread and a worker. */
enum wmsg_type {
	WMSG_ROUTES,		/* main -> worker: new snapshot (ref held) */
	WMSG_WAKE_DONE,		/* main -> worker: wake finished */
	WMSG_STOP,		/* main -> worker: shut down */
	WMSG_DRAIN,		/* main -> worker: finish, then shut down
				 * (status: the grace in ms) */
	WMSG_WAKE,		/* worker -> main: please wake app */
	WMSG_ROUTES_OLD,	/* worker -> main: a snapshot it let go */
	WMSG_RESOLVED,		/* lookup thread -> worker: address found */
};

struct wmsg {
	struct wmsg *next;
	enum wmsg_type type;
	struct route_table *routes;
	struct proxy_app *app;
	int status;			/* WAKE_DONE: 0 ok, else 503/504;
					 * RESOLVED: 0 or a libuv error */
	struct upstream_conn *up;	/* RESOLVED */
	struct sockaddr_storage sa;	/* RESOLVED */
	char addr[MSG_ADDR_MAX];
	char reason[MSG_TEXT_MAX];
	char domain[MSG_DOMAIN_MAX];	/* WAKE, WAKE_DONE of a pool */
};

/* A locked list and how its reader is woken (one of the two). */
struct wqueue {
	pthread_mutex_t mu;
	struct wmsg *head, *tail;
	uv_async_t *async;		/* the main thread's libuv loop */
	struct loop *loop;		/* a worker's loop */
};

/* Connections another worker accepted and handed to this one. */
#define HANDOFF_SLOTS 1024
struct handoff {
	pthread_mutex_t mu;
	unsigned head, len;
	bool closed;			/* the worker has stopped */
	_Atomic int64_t backlog;	/* len, read by the other workers */
	struct handoff_slot {
		int fd;
		union {
			struct sockaddr sa;
			struct sockaddr_in in;
			struct sockaddr_in6 in6;
		} peer;
	} slot[HANDOFF_SLOTS];
};

struct proxy_worker {
	struct proxy *px;
	int id;
	pthread_t thread;
	struct loop loop;
	struct loop_io listener;
	struct loop_timer sweep;
	struct wqueue inbox;
	struct handoff handoff;
	struct route_table *routes;	/* this worker's reference */
	struct buf_pool bufs;
	struct map groups;		/* set key -> struct upstream_group */
	struct upstream_group **set_groups;	/* by set idx, this table */
	size_t nset_groups;
	struct conn_list conns;		/* every client connection */
	struct conn_list held;		/* held ones */
	char *scratch;			/* one head or page being built */
	size_t scratch_size;
	struct http_msg msg;		/* parse scratch */
	bool stopping;
	bool draining;			/* stopping once its connections end */
	struct loop_timer drain_timer;	/* the drain's deadline */
	struct loop_task drain_task;	/* looks whether any is left */
	bool accept_paused;		/* out of descriptors */
	struct proxy_conn *conn_free;	/* closed ones to reuse (conn.c) */
	size_t nconn_free;
	unsigned accept_max;		/* accepts per listener event */
	bool accept_full;		/* the last event used them all */
	uint64_t accept_round;		/* the loop round of that event */
	struct wmsg stop;		/* preallocated WMSG_STOP / _DRAIN */
	struct proxy_stats stats;
};

/* Starts WORKERS threads listening on LISTEN. -1 with ERR set. */
int worker_start_all(struct proxy *px, char *err, size_t errlen);
/*
 * Stops every worker and waits for them: with GRACE_MS > 0 each first
 * drains (no new connection, the open ones closed after their answer)
 * for at most that long; 0 closes everything at once.
 */
void worker_stop_all(struct proxy *px, int grace_ms);
/* A draining worker looks, at the end of the round, whether any
 * connection is left (worker thread). */
void worker_drain_check(struct proxy_worker *w);
/* Main -> worker (any thread). Takes ownership of M. */
void worker_post(struct proxy_worker *w, struct wmsg *m);
void wqueue_push(struct wqueue *q, struct wmsg *m);
struct wmsg *wqueue_take(struct wqueue *q);

/* ------------------------------------------------------------------ */
/* apps.c: the main thread's route and app tables, events, wake */

struct proxy {
	struct service *svc;
	const struct config *cfg;
	int nworkers;			/* fixed once workers start */
	int nthreads;			/* worker threads started */
	struct proxy_worker *workers;
	_Atomic int64_t conns;		/* open client connections, all */
	size_t bufsize;
	struct http_limits limits;

	/* main thread */
	struct wqueue inbox;		/* WMSG_WAKE from workers */
	uv_async_t inbox_async;
	struct map routes;		/* domain -> target string (owned) */
	struct map apps;		/* name -> struct proxy_app */
	struct map pools;		/* name -> PROXY_POOL (pools.c) */
	struct map leases;		/* domain -> PROXY_LEASE */
	struct map acquiring;		/* domain -> its acquire in flight */
	pthread_mutex_t apps_mu;	/* guards the list for /metrics */
	struct proxy_app *app_list;
	struct route_table *table;	/* current snapshot */
	uv_timer_t refresh;
	uv_timer_t flush;
	uv_timer_t sample;		/* in-flight samples (activity.c) */
	uv_idle_t publish;		/* rebuilds once per loop turn */
	int fetching;			/* record/instance reads out */
	unsigned refreshes;		/* route_refresh_ms ticks so far */
	bool publish_due;		/* a rebuild waits for them */
	uint64_t published_ms;		/* the last rebuild (loop time) */
	uint64_t load_gen;		/* the reload in flight */
	bool loaded;
	/* Apps used since the main thread last looked, pushed by workers
	 * (apps_touch), and the apps in use (activity.c): a sample or a
	 * flush costs the apps in use, not every app registered. */
	_Atomic(struct proxy_app *) touched;
	struct proxy_app *active_list;
};

/*
 * A worker starts an exchange for A: A goes on px->touched unless it is
 * there already. A push-only stack that the main thread takes whole
 * (activity.c), so no pop can see a node twice.
 */
static inline void
apps_touch(struct proxy_app *a)
{
	struct proxy *px = a->px;
	struct proxy_app *head;

	if (atomic_load_explicit(&a->touched, memory_order_relaxed) ||
	    atomic_exchange_explicit(&a->touched, true, memory_order_acq_rel))
		return;
	head = atomic_load_explicit(&px->touched, memory_order_relaxed);
	do
		a->touched_next = head;
	while (!atomic_compare_exchange_weak_explicit(&px->touched, &head, a,
	    memory_order_release, memory_order_relaxed));
}

struct proxy_app *apps_get(struct proxy *px, const char *name);
int apps_init(struct proxy *px);
void apps_shutdown(struct proxy *px);
void apps_reload(struct proxy *px);
void apps_on_event(struct proxy *px, const struct msg *m);
/* Marks the tables changed: a new snapshot goes out this loop turn. */
void apps_changed(struct proxy *px);
/* Rebuilds and sends the snapshot now (before a message that relies on
 * it). */
void apps_publish_now(struct proxy *px);
/* "app" or "pool": what A is, for pages and logs. */
static inline const char *
apps_kind_name(const struct proxy_app *a)
{
	return a->kind == PROXY_APP ? "app" : "pool";
}

/* ------------------------------------------------------------------ */
/* pools.c: IDE pools; a domain's first request acquires a member */

/* The PROXY_POOL object of NAME, made on first use; NULL if invalid. */
struct proxy_app *pools_get(struct proxy *px, const char *name);
/* Adds the route of every running lease to T. */
void pools_add_routes(struct proxy *px, struct route_table *t);
/* A worker holds a request for DOMAIN under POOL: acquire a member. */
void pools_acquire(struct proxy *px, struct proxy_app *pool,
    const char *domain);
/* pool.leased, pool.released; false for another type. */
bool pools_on_event(struct proxy *px, const struct msg *m);
/* Reads every lease again (start, store reconnect, refresh). */
void pools_reload(struct proxy *px);
/* Pushes the deadline of every lease used since the last flush, of the
 * active list from HEAD. */
void pools_flush(struct proxy *px, struct proxy_app *head, int64_t now);
void pools_init(struct proxy *px);

/* ------------------------------------------------------------------ */
/* activity.c: last access and deadlines, flushed in one pipeline; the
 * in-flight figures the autoscaler reads */

/* Starts sampling every app's in-flight count on the main thread. */
void activity_init(struct proxy *px);
void activity_flush(struct proxy *px);
void activity_shutdown(struct proxy *px);

/* ------------------------------------------------------------------ */
/* stats.c: /metrics */

void stats_init(struct proxy *px);
/* Counts an answer by status class, and USEC (time to the upstream's
 * response head) in the histogram unless it is UINT64_MAX. */
void stats_count(struct proxy_worker *w, int status, uint64_t usec);

/* ------------------------------------------------------------------ */
/* wakepage.c: the waiting page shown to browsers while an app starts */

#define WAKEPAGE_WAIT_PATH "/.devcloud/wait"

/* Does this request come from a browser (a GET that accepts HTML)? */
bool wakepage_wanted(const char *src, const struct http_msg *m);
/* Is it the page's own wait request? */
bool wakepage_is_wait(const char *src, const struct http_msg *m);
/* The page (a 503 that switches to the app) or the wait's answer (204). */
size_t wakepage_build(char *dst, size_t cap, const char *app, bool keep);
size_t wakepage_ready(char *dst, size_t cap, bool keep);

#endif
