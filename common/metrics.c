/*
 * Prometheus text exposition of the registered metrics.
 */
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "metrics.h"

#define MAX_RENDERERS 8

static pthread_mutex_t metrics_lock = PTHREAD_MUTEX_INITIALIZER;
static struct metric *metrics_head;
static struct metric **metrics_tail = &metrics_head;
static struct {
	metrics_render_fn fn;
	void *arg;
} renderers[MAX_RENDERERS];
static int nrenderers;

/* Length of the metric family name (before any '{'). */
static size_t
family_len(const char *name)
{
	return strcspn(name, "{");
}

/*
 * Keeps the members of a family together (after the last one already
 * registered), so the family gets one HELP/TYPE whatever the order in
 * which modules register.
 */
void
metrics_register(struct metric *m)
{
	size_t fl = family_len(m->name);
	struct metric **at = NULL;

	pthread_mutex_lock(&metrics_lock);
	for (struct metric **pp = &metrics_head; *pp != NULL;
	    pp = &(*pp)->next)
		if (family_len((*pp)->name) == fl &&
		    strncmp((*pp)->name, m->name, fl) == 0)
			at = &(*pp)->next;
	if (at == NULL)
		at = metrics_tail;
	m->next = *at;
	*at = m;
	if (m->next == NULL)
		metrics_tail = &m->next;
	pthread_mutex_unlock(&metrics_lock);
}

void
metrics_add_renderer(metrics_render_fn fn, void *arg)
{
	pthread_mutex_lock(&metrics_lock);
	if (nrenderers < MAX_RENDERERS) {
		renderers[nrenderers].fn = fn;
		renderers[nrenderers].arg = arg;
		nrenderers++;
	}
	pthread_mutex_unlock(&metrics_lock);
}

void
metrics_buf_printf(struct metrics_buf *b, const char *fmt, ...)
{
	va_list ap;
	int n;

	for (;;) {
		size_t room = b->cap - b->len;

		va_start(ap, fmt);
		n = vsnprintf(b->data ? b->data + b->len : NULL, room, fmt, ap);
		va_end(ap);
		if (n < 0)
			return;
		if ((size_t)n < room) {
			b->len += (size_t)n;
			return;
		}
		size_t cap = b->cap ? b->cap * 2 : 4096;
		while (cap - b->len <= (size_t)n)
			cap *= 2;
		char *p = realloc(b->data, cap);
		if (p == NULL)
			return;
		b->data = p;
		b->cap = cap;
	}
}

void
metrics_render(struct metrics_buf *b)
{
	const char *last = NULL;
	size_t lastlen = 0;

	pthread_mutex_lock(&metrics_lock);
	for (struct metric *m = metrics_head; m != NULL; m = m->next) {
		size_t fl = family_len(m->name);

		if (last == NULL || fl != lastlen ||
		    strncmp(last, m->name, fl) != 0) {
			metrics_buf_printf(b, "# HELP %.*s %s\n# TYPE %.*s %s\n",
			    (int)fl, m->name, m->help, (int)fl, m->name,
			    m->kind == METRIC_KIND_COUNTER ? "counter" :
			    "gauge");
			last = m->name;
			lastlen = fl;
		}
		metrics_buf_printf(b, "%s %lld\n", m->name,
		    (long long)metric_get(m));
	}
	for (int i = 0; i < nrenderers; i++)
		renderers[i].fn(b, renderers[i].arg);
	pthread_mutex_unlock(&metrics_lock);
	if (b->data == NULL)
		metrics_buf_printf(b, "%s", "");
}
