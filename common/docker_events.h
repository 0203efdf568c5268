/*
 * Docker's event stream: one long-lived GET /events on the daemon's unix
 * socket, kept open on a thread of its own (libcurl blocks, and the
 * stream never ends while Docker runs), reconnected with a backoff when
 * it breaks. Each container death it reports is handed to the loop
 * thread through a uv_async_t; the callback always runs there.
 *
 * The stream asks Docker for container events "die" and "oom" only
 * (filters type=container, event=die,oom). It does not filter on a
 * label: an app may name a container devcloud did not create, which
 * carries none of ours, and the caller tells its containers apart.
 */
#ifndef DC_DOCKER_EVENTS_H
#define DC_DOCKER_EVENTS_H

#include <stdbool.h>
#include <uv.h>

#include "docker_api.h"	/* DOCKER_API */

/* The labels devcloud puts on the containers it creates. */
#define DOCKER_LABEL_APP "devcloud.app"
#define DOCKER_LABEL_INSTANCE "devcloud.instance"
/* the release a container was made for (deploys: the driver replaces a
 * kept container made for another) */
#define DOCKER_LABEL_RELEASE "devcloud.release"

enum docker_event_kind {
	DOCKER_EVENT_DIE,	/* the container's main process ended */
	DOCKER_EVENT_OOM,	/* the kernel's OOM killer struck in it */
	DOCKER_EVENT_CONNECTED,	/* the stream is (again) open: what came
				 * before may have been missed */
};

/*
 * One event, as read from a line of the stream. For a container: its id
 * and name, the devcloud labels it carries ("" when it has none), and
 * for a death the exit status (-1 when Docker did not say).
 */
struct docker_event {
	enum docker_event_kind kind;
	char id[72];
	char name[256];
	char app[64];
	char inst[64];
	int exit_code;
};

typedef void (*docker_events_cb)(const struct docker_event *e, void *arg);

struct docker_events;

/*
 * Starts following the daemon at SOCKET (copied). CB runs on LOOP's
 * thread for every event, until docker_events_close. NULL with ERR on
 * failure.
 */
struct docker_events *docker_events_open(uv_loop_t *loop, const char *socket,
    docker_events_cb cb, void *arg, char *err, size_t errlen);
/*
 * Stops the stream and its thread (it is woken, not waited out); CB
 * does not run again. The memory goes when the async handle has closed.
 */
void docker_events_close(struct docker_events *ev);

/*
 * One line of the stream (NUL-terminated JSON) into *E: 0 for a
 * container's "die" or "oom", 1 for a well-formed event of another kind,
 * -1 for anything else. *E is written only when 0 is returned.
 */
int docker_event_parse(const char *line, struct docker_event *e);

#endif
