/*
 * I/O buffers. Every buffer of a worker has the same size (big enough for
 * the longest head the limits allow), comes from the worker's free list,
 * and is held by a connection only while it has bytes in flight: an idle
 * keep-alive connection holds none, which is what lets a worker carry
 * tens of thousands of them.
 */
#include <stdlib.h>
#include <string.h>

#include "proxy.h"

struct proxy_buf *
buf_get(struct buf_pool *p)
{
	struct proxy_buf *b = p->free;

	if (b != NULL) {
		p->free = b->next;
		p->nfree--;
	} else if ((b = malloc(sizeof(*b) + p->size)) == NULL) {
		return NULL;
	}
	b->next = NULL;
	b->start = b->end = 0;
	return b;
}

void
buf_put(struct buf_pool *p, struct proxy_buf *b)
{
	if (b == NULL)
		return;
	if (p->nfree >= p->max_free) {
		free(b);
		return;
	}
	b->next = p->free;
	p->free = b;
	p->nfree++;
}

void
buf_pool_drain(struct buf_pool *p)
{
	while (p->free != NULL) {
		struct proxy_buf *b = p->free;

		p->free = b->next;
		free(b);
	}
	p->nfree = 0;
}

void
buf_compact(struct proxy_buf *b)
{
	if (b->start == 0)
		return;
	memmove(b->data, b->data + b->start, b->end - b->start);
	b->end -= b->start;
	b->start = 0;
}
