/*
 * The workers' event loop: epoll, a timer heap, an eventfd for messages
 * from other threads, and two end-of-round lists (tasks to run and
 * objects to free). In the spirit of Redis' ae.c, and as small.
 *
 * Why not libuv here (the main thread does use it): a proxy connection
 * changes what it waits for all the time, and libuv's uv_poll turns each
 * change into epoll_ctl calls (a DEL and an ADD per start, a probing
 * ADD/DEL per new handle). Sockets here are registered once, edge
 * triggered, for both directions; the stream layer remembers whether a
 * socket may be read or written, so the kernel hears about a connection
 * once when it opens and never again (close(2) unregisters it).
 *
 * Everything that can be freed while a batch of events is being
 * dispatched is freed at the end of the round (loop_defer), so an event
 * later in the same batch never touches freed memory.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <time.h>
#include <unistd.h>

#include "proxy.h"

#define LOOP_EVENTS 256

/* The one clock reading of a round: the request path takes its times
 * from it (timeouts in ms, upstream latency in us) instead of asking
 * the clock again. */
static void
loop_clock(struct loop *l)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	l->now_us = (uint64_t)ts.tv_sec * 1000000 +
	    (uint64_t)ts.tv_nsec / 1000;
	l->now = l->now_us / 1000;
}

int
loop_init(struct loop *l)
{
	memset(l, 0, sizeof(*l));
	l->evfd = -1;
	if ((l->epfd = epoll_create1(EPOLL_CLOEXEC)) < 0)
		return -1;
	if ((l->evfd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC)) < 0) {
		close(l->epfd);
		return -1;
	}
	loop_clock(l);
	return 0;
}

void
loop_free(struct loop *l)
{
	free(l->heap);
	l->heap = NULL;
	if (l->evfd >= 0)
		close(l->evfd);
	if (l->epfd >= 0)
		close(l->epfd);
	l->evfd = l->epfd = -1;
}

int
loop_add(struct loop *l, struct loop_io *io, int fd, uint32_t events,
    loop_io_fn cb)
{
	struct epoll_event ev = {.events = events, .data.ptr = io};

	io->fd = fd;
	io->cb = cb;
	if (epoll_ctl(l->epfd, EPOLL_CTL_ADD, fd, &ev) < 0)
		return -1;
	return 0;
}

int
loop_mod(struct loop *l, struct loop_io *io, uint32_t events)
{
	struct epoll_event ev = {.events = events, .data.ptr = io};

	return epoll_ctl(l->epfd, EPOLL_CTL_MOD, io->fd, &ev);
}

/*
 * One eventfd write per wake-up, and none for a loop that is running a
 * round: it looks at WOKEN before it sleeps again. The two sides each
 * store their flag and then read the other's (sequentially consistent),
 * so either the loop sees WOKEN and does not block, or the waker sees
 * SLEEPING and writes. Under load the loop is seldom asleep, and a
 * connection handed to it costs no system call on either side.
 */
void
loop_wake(struct loop *l)
{
	uint64_t one = 1;

	if (atomic_exchange(&l->woken, true))
		return;			/* owed already */
	if (!atomic_load(&l->sleeping))
		return;
	/* EAGAIN means a wake-up is pending already: as good. */
	if (write(l->evfd, &one, sizeof(one)) < 0)
		return;
}

void
loop_stop(struct loop *l)
{
	l->stop = true;
}

/* ---- timers: a binary min-heap of pointers, each knowing its slot */

static void
loop_heap_swap(struct loop *l, size_t a, size_t b)
{
	struct loop_timer *t = l->heap[a];

	l->heap[a] = l->heap[b];
	l->heap[b] = t;
	l->heap[a]->slot = a;
	l->heap[b]->slot = b;
}

static void
loop_heap_up(struct loop *l, size_t i)
{
	while (i > 0) {
		size_t p = (i - 1) / 2;

		if (l->heap[p]->due <= l->heap[i]->due)
			break;
		loop_heap_swap(l, i, p);
		i = p;
	}
}

static void
loop_heap_down(struct loop *l, size_t i)
{
	for (;;) {
		size_t c = 2 * i + 1, m = i;

		if (c < l->ntimers && l->heap[c]->due < l->heap[m]->due)
			m = c;
		if (c + 1 < l->ntimers && l->heap[c + 1]->due < l->heap[m]->due)
			m = c + 1;
		if (m == i)
			return;
		loop_heap_swap(l, i, m);
		i = m;
	}
}

void
loop_timer_stop(struct loop *l, struct loop_timer *t)
{
	size_t i = t->slot;

	if (i == LOOP_TIMER_IDLE)
		return;
	t->slot = LOOP_TIMER_IDLE;
	if (--l->ntimers == i)
		return;
	l->heap[i] = l->heap[l->ntimers];
	l->heap[i]->slot = i;
	loop_heap_up(l, i);
	loop_heap_down(l, l->heap[i]->slot);
}

int
loop_timer_start(struct loop *l, struct loop_timer *t, uint64_t ms,
    loop_timer_fn cb)
{
	loop_timer_stop(l, t);
	if (l->ntimers == l->heapcap) {
		size_t cap = l->heapcap == 0 ? 64 : l->heapcap * 2;
		struct loop_timer **h = realloc(l->heap, cap * sizeof(*h));

		if (h == NULL)
			return -1;
		l->heap = h;
		l->heapcap = cap;
	}
	t->due = l->now + ms;
	t->cb = cb;
	t->slot = l->ntimers;
	l->heap[l->ntimers++] = t;
	loop_heap_up(l, t->slot);
	return 0;
}

static void
loop_run_timers(struct loop *l)
{
	while (l->ntimers > 0 && l->heap[0]->due <= l->now) {
		struct loop_timer *t = l->heap[0];

		loop_timer_stop(l, t);
		t->cb(t);
	}
}

/* ---- end-of-round lists */

void
loop_post(struct loop *l, struct loop_task *t, loop_task_fn cb)
{
	if (t->queued)
		return;
	t->queued = true;
	t->cb = cb;
	t->next = NULL;
	if (l->tasks_tail != NULL)
		l->tasks_tail->next = t;
	else
		l->tasks = t;
	l->tasks_tail = t;
}

void
loop_defer(struct loop *l, struct loop_task *t, loop_task_fn cb)
{
	t->cb = cb;
	t->next = l->defers;
	t->queued = true;
	l->defers = t;
}

static void
loop_run_tasks(struct loop *l)
{
	/* Tasks posted while these run go to the next round. A task's
	 * owner may have closed meanwhile: the callback checks, and the
	 * memory is still there (freeing waits for the defers). */
	struct loop_task *t = l->tasks;

	l->tasks = l->tasks_tail = NULL;
	while (t != NULL) {
		struct loop_task *next = t->next;

		t->queued = false;
		t->cb(t);
		t = next;
	}
}

static void
loop_run_defers(struct loop *l)
{
	/* Detached first: a defer that must wait (a task still queued for
	 * its object) defers itself again, to the next round. */
	struct loop_task *t = l->defers;

	l->defers = NULL;
	while (t != NULL) {
		struct loop_task *next = t->next;

		t->queued = false;
		t->cb(t);
		t = next;
	}
}

/*
 * One round: waits for events, MAX_WAIT ms at most (-1: as long as the
 * timers allow), dispatches them, then runs the due timers, the tasks
 * and the defers. loop_run repeats it; a unit test drives a loop with it.
 */
void
loop_run_once(struct loop *l, int max_wait, void (*on_wake)(struct loop *l))
{
	struct epoll_event ev[LOOP_EVENTS];
	int timeout = -1, n;
	bool sleep;

	if (l->tasks != NULL || l->defers != NULL)
		timeout = 0;
	else if (l->ntimers > 0)
		timeout = l->heap[0]->due > l->now ?
		    (int)(l->heap[0]->due - l->now) : 0;
	if (max_wait >= 0 && (timeout < 0 || timeout > max_wait))
		timeout = max_wait;
	/* a round that will not block needs no eventfd write to end */
	if ((sleep = timeout != 0)) {
		atomic_store(&l->sleeping, true);
		if (atomic_load(&l->woken))
			timeout = 0;
	}
	n = epoll_wait(l->epfd, ev, LOOP_EVENTS, timeout);
	if (sleep)
		atomic_store(&l->sleeping, false);
	loop_clock(l);
	l->round++;
	for (int i = 0; i < n; i++) {
		struct loop_io *io = ev[i].data.ptr;

		if (io == NULL) {
			uint64_t v;

			/* EAGAIN (nothing to read) changes nothing */
			if (read(l->evfd, &v, sizeof(v)) < 0)
				v = 0;
			continue;
		}
		/* closed earlier in this batch: skip it */
		if (io->fd >= 0)
			io->cb(io, ev[i].events);
	}
	/* cleared before on_wake reads what it was woken for, so whatever
	 * comes after is seen by the next round */
	if (atomic_exchange(&l->woken, false))
		on_wake(l);
	loop_run_timers(l);
	loop_run_tasks(l);
	loop_run_defers(l);
}

void
loop_run(struct loop *l, void (*on_wake)(struct loop *l))
{
	struct epoll_event wake = {.events = EPOLLIN, .data.ptr = NULL};

	epoll_ctl(l->epfd, EPOLL_CTL_ADD, l->evfd, &wake);
	while (!l->stop || l->nalive > 0 || l->tasks != NULL ||
	    l->defers != NULL)
		loop_run_once(l, -1, on_wake);
}
