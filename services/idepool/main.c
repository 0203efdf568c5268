/*
 * devcloud-idepool: the daemon's hooks on the shared service skeleton.
 * Commands: acquire (a proxy's held request), release (devcloudctl).
 * Events: pool.changed (devcloudctl made, changed or removes a pool: read
 * it again, refill or remove it); the other pool.* events are our own
 * and our peers', and go to service_event_ignored. Its state is a struct
 * idepool in s->priv.
 */
#include <stdlib.h>

#include "idepool.h"
#include "log.h"
#include "service.h"

static int
idepool_init(struct service *s)
{
	struct idepool *ip = s->priv;

	ip->svc = s;
	if ((ip->members = members_open(s->loop, &s->cfg)) == NULL) {
		log_error("cannot start the member drivers", "err=\"out of "
		    "memory\"");
		return -1;
	}
	pool_init_metrics();
	lease_init_metrics();
	reconcile_init(ip);
	return 0;
}

static void
idepool_on_store(struct service *s, bool up)
{
	if (up)
		reconcile_all(s->priv);
}

static void
idepool_changed(struct idepool *ip, struct pool *p, void *arg)
{
	(void)arg;
	if (p != NULL)
		reconcile_all(ip);
}

static void
idepool_on_event(struct service *s, const struct msg *m)
{
	switch (m->type) {
	case MSG_POOL_CHANGED:
		pool_load(s->priv, m->pool, idepool_changed, NULL);
		break;
	default:
		service_event_ignored(s, m);
		break;
	}
}

static bool
idepool_on_command(struct service *s, struct bus_request *req,
    const struct msg *m)
{
	return lease_on_command(s->priv, req, m);
}

static void
idepool_shutdown(struct service *s)
{
	struct idepool *ip = s->priv;

	uv_close((uv_handle_t *)&ip->sweep, NULL);
	uv_close((uv_handle_t *)&ip->reconcile, NULL);
	members_close(ip->members);
}

int
main(int argc, char **argv)
{
	/* Member calls block on libuv's pool (Docker, copies, a stop's
	 * grace): four threads would queue an acquire's load behind
	 * releases. Set before the loop's first job. */
	setenv("UV_THREADPOOL_SIZE", "16", 0);
	static const char *const topics[] = {"pool.changed", NULL};
	static struct idepool ip;
	static struct service s = {
		.name = "idepool",
		.summary = "The devcloud IDE pool: started IDE containers "
		    "handed out in milliseconds, and nothing of one developer "
		    "left for the next.",
		.topics = topics,
		.init = idepool_init,
		.on_store = idepool_on_store,
		.on_event = idepool_on_event,
		.on_command = idepool_on_command,
		.shutdown = idepool_shutdown,
		.priv = &ip,
	};

	return service_main(&s, argc, argv);
}
