/*
 * Prometheus metrics. A metric is a static struct registered once; its
 * value is atomic, so any thread may update it and the admin thread may
 * read it. Labels are part of the name as written on the wire:
 *
 *   static struct metric m_req = METRIC_COUNTER(
 *       "devcloud_proxy_requests_total{status=\"200\"}", "Requests.");
 *   metrics_register(&m_req);
 *   metric_add(&m_req, 1);
 *
 * Renderers add lines that are not known in advance (per-app counters).
 */
#ifndef DC_METRICS_H
#define DC_METRICS_H

#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

enum metric_kind { METRIC_KIND_COUNTER, METRIC_KIND_GAUGE };

struct metric {
	const char *name;
	const char *help;
	enum metric_kind kind;
	_Atomic int64_t value;
	struct metric *next;
};

#define METRIC_COUNTER(n, h) { .name = (n), .help = (h), \
	.kind = METRIC_KIND_COUNTER }
#define METRIC_GAUGE(n, h) { .name = (n), .help = (h), \
	.kind = METRIC_KIND_GAUGE }

/* Registers M (not copied: it must outlive the process's metrics). */
void metrics_register(struct metric *m);

static inline void
metric_add(struct metric *m, int64_t n)
{
	atomic_fetch_add_explicit(&m->value, n, memory_order_relaxed);
}

static inline void
metric_set(struct metric *m, int64_t n)
{
	atomic_store_explicit(&m->value, n, memory_order_relaxed);
}

static inline int64_t
metric_get(struct metric *m)
{
	return atomic_load_explicit(&m->value, memory_order_relaxed);
}

/* A renderer appends text to BUF (see metrics_buf_printf). */
struct metrics_buf {
	char *data;
	size_t len;
	size_t cap;
};
void metrics_buf_printf(struct metrics_buf *b, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
typedef void (*metrics_render_fn)(struct metrics_buf *b, void *arg);
void metrics_add_renderer(metrics_render_fn fn, void *arg);

/* The whole exposition text; caller frees b->data. */
void metrics_render(struct metrics_buf *b);

#endif
