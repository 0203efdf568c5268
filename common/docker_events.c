/*
 * Docker's event stream (docker_events.h). A thread of its own runs a
 * libcurl multi handle: the stream's transfer while it is open, nothing
 * while it waits to reconnect, and curl_multi_wakeup from the loop
 * thread cuts either short at close. The stream's body is one JSON
 * object per line; each container death read from it is queued under a
 * mutex and the loop thread is woken with uv_async_send, which merges
 * wake-ups: the async callback drains the whole queue.
 *
 * An outage (a stream that broke, or a daemon that cannot be reached) is
 * logged when it starts and when it ends, never once per retry.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <curl/curl.h>
#include <json-c/json.h>

#include "config.h"
#include "docker_events.h"
#include "log.h"

#define DKE_CONNECT_TIMEOUT_MS 2000
#define DKE_BACKOFF_MIN_MS 100
#define DKE_BACKOFF_MAX_MS 5000
#define DKE_STABLE_MS 1000	/* a stream open this long resets the backoff */
#define DKE_POLL_MS 1000
#define DKE_LINE_MAX (64 << 10)	/* an event line; Docker's are ~1 KB */
#define DKE_QUEUE_MAX 4096	/* events the loop has not taken yet */

struct dke_item {
	struct docker_event e;
	struct dke_item *next;
};

struct docker_events {
	uv_loop_t *loop;
	char socket[CONFIG_PATH_MAX];
	docker_events_cb cb;
	void *arg;
	uv_async_t async;
	uv_thread_t thread;
	CURLM *multi;		/* curl_multi_wakeup is safe from any thread */

	uv_mutex_t mu;		/* guards what follows */
	bool stop;
	struct dke_item *head, *tail;
	int nqueued;
	long dropped;

	/* thread only */
	long status;		/* of the stream's reply, 0 until it came */
	char line[DKE_LINE_MAX];
	size_t linelen;
	bool skipping;		/* the rest of a line that was too long */
	char reply[512];	/* the start of a refusal's body */
	size_t replylen;
};

static long
dke_now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* A string member of O into BUF; false if absent, not a string or too
 * long (BUF is then left alone). */
static bool
dke_str(json_object *o, const char *key, char *buf, size_t len)
{
	json_object *v;

	if (!json_object_object_get_ex(o, key, &v) ||
	    !json_object_is_type(v, json_type_string) ||
	    (size_t)json_object_get_string_len(v) >= len)
		return false;
	memcpy(buf, json_object_get_string(v),
	    (size_t)json_object_get_string_len(v) + 1);
	return true;
}

int
docker_event_parse(const char *line, struct docker_event *e)
{
	struct docker_event ev = {.exit_code = -1};
	json_object *o, *actor, *attrs;
	char type[32], action[32], code[16], *end;
	long n;
	int ret = -1;

	if ((o = json_tokener_parse(line)) == NULL)
		return -1;
	if (!json_object_is_type(o, json_type_object) ||
	    !dke_str(o, "Type", type, sizeof(type)) ||
	    !dke_str(o, "Action", action, sizeof(action)))
		goto done;
	ret = 1;
	if (strcmp(type, "container") != 0)
		goto done;
	if (strcmp(action, "die") == 0)
		ev.kind = DOCKER_EVENT_DIE;
	else if (strcmp(action, "oom") == 0)
		ev.kind = DOCKER_EVENT_OOM;
	else
		goto done;
	ret = -1;
	if (!json_object_object_get_ex(o, "Actor", &actor) ||
	    !json_object_object_get_ex(actor, "Attributes", &attrs) ||
	    !json_object_is_type(attrs, json_type_object) ||
	    !dke_str(actor, "ID", ev.id, sizeof(ev.id)) || ev.id[0] == '\0' ||
	    !dke_str(attrs, "name", ev.name, sizeof(ev.name)) ||
	    ev.name[0] == '\0')
		goto done;
	/* Labels are optional; one too long to be ours is no label. */
	if (!dke_str(attrs, DOCKER_LABEL_APP, ev.app, sizeof(ev.app)))
		ev.app[0] = '\0';
	if (!dke_str(attrs, DOCKER_LABEL_INSTANCE, ev.inst, sizeof(ev.inst)))
		ev.inst[0] = '\0';
	if (ev.kind == DOCKER_EVENT_DIE &&
	    dke_str(attrs, "exitCode", code, sizeof(code))) {
		n = strtol(code, &end, 10);
		if (end != code && *end == '\0' && n >= 0 && n <= 255)
			ev.exit_code = (int)n;
	}
	*e = ev;
	ret = 0;
done:
	json_object_put(o);
	return ret;
}

static bool
dke_stopping(struct docker_events *ev)
{
	bool stop;

	uv_mutex_lock(&ev->mu);
	stop = ev->stop;
	uv_mutex_unlock(&ev->mu);
	return stop;
}

/* From the stream's thread to the loop's. */
static void
dke_post(struct docker_events *ev, const struct docker_event *e)
{
	struct dke_item *it = malloc(sizeof(*it));
	long dropped = 0;

	if (it != NULL) {
		it->e = *e;
		it->next = NULL;
	}
	uv_mutex_lock(&ev->mu);
	if (it == NULL || ev->nqueued >= DKE_QUEUE_MAX) {
		dropped = ++ev->dropped;
		free(it);
		it = NULL;
	} else {
		if (ev->tail != NULL)
			ev->tail->next = it;
		else
			ev->head = it;
		ev->tail = it;
		ev->nqueued++;
	}
	uv_mutex_unlock(&ev->mu);
	if (it != NULL)
		uv_async_send(&ev->async);
	else if ((dropped & (dropped - 1)) == 0)	/* 1, 2, 4, 8... */
		log_warn("docker event dropped", "socket=%s dropped=%ld "
		    "why=\"queue full or out of memory\"", ev->socket, dropped);
}

static void
dke_line(struct docker_events *ev)
{
	struct docker_event e;

	ev->line[ev->linelen] = '\0';
	if (ev->linelen == 0)
		return;
	switch (docker_event_parse(ev->line, &e)) {
	case 0:
		dke_post(ev, &e);
		break;
	case 1:
		break;		/* the filter let through something else */
	default:
		log_warn("docker event not understood", "socket=%s "
		    "line=\"%.120s\"", ev->socket, ev->line);
		break;
	}
}

static size_t
dke_write(char *p, size_t size, size_t n, void *arg)
{
	struct docker_events *ev = arg;
	size_t len = size * n, i;

	if (ev->status != 200) {
		/* a refusal: keep the start of its body for the log */
		i = sizeof(ev->reply) - 1 - ev->replylen;
		if (i > len)
			i = len;
		memcpy(ev->reply + ev->replylen, p, i);
		ev->replylen += i;
		ev->reply[ev->replylen] = '\0';
		return len;
	}
	for (i = 0; i < len; i++) {
		if (p[i] == '\n') {
			if (!ev->skipping)
				dke_line(ev);
			ev->linelen = 0;
			ev->skipping = false;
		} else if (ev->skipping) {
			continue;
		} else if (ev->linelen + 1 >= sizeof(ev->line)) {
			log_warn("docker event too long, skipped", "socket=%s "
			    "max=%d", ev->socket, DKE_LINE_MAX);
			ev->skipping = true;
		} else {
			ev->line[ev->linelen++] = p[i];
		}
	}
	return len;
}

/* Waits MS, or less if woken by docker_events_close. */
static void
dke_sleep(struct docker_events *ev, long ms)
{
	long until = dke_now_ms() + ms, left;

	while (!dke_stopping(ev) && (left = until - dke_now_ms()) > 0)
		curl_multi_poll(ev->multi, NULL, 0, (int)left, NULL);
}

/* Logs the stream (re)opened: EVER, it was open before; DOWN_MS, since
 * when it was not (0: it was, or has just begun). */
static void
dke_log_up(struct docker_events *ev, bool ever, long down_ms, int retries)
{
	long now = dke_now_ms();

	if (!ever && down_ms == 0)
		log_info("docker event stream connected", "socket=%s",
		    ev->socket);
	else if (!ever)
		log_info("docker event stream connected", "socket=%s "
		    "after_ms=%ld retries=%d", ev->socket, now - down_ms,
		    retries);
	else
		log_info("docker event stream reconnected", "socket=%s "
		    "down_ms=%ld retries=%d", ev->socket, now - down_ms,
		    retries);
}

/*
 * One life of the stream: connect, read events until it breaks or we
 * stop. *UP says whether Docker accepted it, and then at what time.
 * The reason it ended goes into ERR.
 */
static void
dke_stream(struct docker_events *ev, CURL *c, const char *url, bool *up,
    long *up_ms, bool ever, long down_ms, int retries, char *err,
    size_t errlen)
{
	CURLMsg *m;
	CURLcode rc = CURLE_OK;
	long oserr = 0;
	int running = 1, left;
	bool done = false;

	*up = false;
	ev->status = 0;
	ev->linelen = ev->replylen = 0;
	ev->skipping = false;
	ev->reply[0] = '\0';
	curl_easy_reset(c);
	curl_easy_setopt(c, CURLOPT_UNIX_SOCKET_PATH, ev->socket);
	curl_easy_setopt(c, CURLOPT_URL, url);
	curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT_MS,
	    (long)DKE_CONNECT_TIMEOUT_MS);
	curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, dke_write);
	curl_easy_setopt(c, CURLOPT_WRITEDATA, ev);
	if (curl_multi_add_handle(ev->multi, c) != CURLM_OK) {
		snprintf(err, errlen, "cannot start a transfer");
		return;
	}
	while (!done && !dke_stopping(ev)) {
		curl_multi_perform(ev->multi, &running);
		if (ev->status == 0)
			curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE,
			    &ev->status);
		if (ev->status == 200 && !*up) {
			/* Docker sends its headers as soon as it listens. */
			struct docker_event e = {.kind = DOCKER_EVENT_CONNECTED};

			*up = true;
			*up_ms = dke_now_ms();
			dke_log_up(ev, ever, down_ms, retries);
			dke_post(ev, &e);
		}
		while ((m = curl_multi_info_read(ev->multi, &left)) != NULL)
			if (m->msg == CURLMSG_DONE) {
				rc = m->data.result;
				done = true;
			}
		if (!done && running > 0)
			curl_multi_poll(ev->multi, NULL, 0, DKE_POLL_MS, NULL);
	}
	if (rc == CURLE_OK && ev->status != 200 && ev->status != 0)
		snprintf(err, errlen, "HTTP %ld: %.200s", ev->status,
		    ev->reply);
	else if (rc == CURLE_OK)
		snprintf(err, errlen, "the daemon ended the stream");
	else if (curl_easy_getinfo(c, CURLINFO_OS_ERRNO, &oserr) ==
	    CURLE_OK && oserr != 0)
		snprintf(err, errlen, "%s (%s)", curl_easy_strerror(rc),
		    strerror((int)oserr));
	else
		snprintf(err, errlen, "%s", curl_easy_strerror(rc));
	curl_multi_remove_handle(ev->multi, c);
}

static void
dke_thread(void *arg)
{
	static const char filters[] = "{\"type\":[\"container\"],"
	    "\"event\":[\"die\",\"oom\"]}";
	struct docker_events *ev = arg;
	char url[256], err[320], *q;
	long backoff = DKE_BACKOFF_MIN_MS, up_ms = 0, down_ms = 0;
	bool up, down = false, ever = false;
	int retries = 0;
	CURL *c;

	if ((c = curl_easy_init()) == NULL ||
	    (q = curl_easy_escape(c, filters, 0)) == NULL) {
		log_error("docker event stream cannot start", "socket=%s "
		    "err=\"out of memory\"", ev->socket);
		curl_easy_cleanup(c);
		return;
	}
	snprintf(url, sizeof(url), "%s/events?filters=%s", DOCKER_API, q);
	curl_free(q);
	while (!dke_stopping(ev)) {
		dke_stream(ev, c, url, &up, &up_ms, ever, down ? down_ms : 0,
		    retries, err, sizeof(err));
		if (dke_stopping(ev))
			break;
		if (up) {
			ever = true;
			down = false;
			retries = 0;
			if (dke_now_ms() - up_ms >= DKE_STABLE_MS)
				backoff = DKE_BACKOFF_MIN_MS;
		}
		if (!down) {
			down = true;
			down_ms = dke_now_ms();
			/* the retries that follow are logged at debug */
			log_warn(up ? "docker event stream lost" :
			    "docker event stream cannot connect", "socket=%s "
			    "err=\"%s\" retry_ms=%ld retry_max_ms=%d",
			    ev->socket, err, backoff, DKE_BACKOFF_MAX_MS);
		} else {
			retries++;
			log_debug("docker event stream retry failed",
			    "socket=%s err=\"%s\" retries=%d", ev->socket, err,
			    retries);
		}
		dke_sleep(ev, backoff);
		if ((backoff *= 2) > DKE_BACKOFF_MAX_MS)
			backoff = DKE_BACKOFF_MAX_MS;
	}
	curl_easy_cleanup(c);
}

static void dke_free(uv_handle_t *h);

/* On the loop thread: every queued event, in order. */
static void
dke_async(uv_async_t *a)
{
	struct docker_events *ev = a->data;
	struct dke_item *it, *next;
	bool stop;

	uv_mutex_lock(&ev->mu);
	it = ev->head;
	ev->head = ev->tail = NULL;
	ev->nqueued = 0;
	stop = ev->stop;
	uv_mutex_unlock(&ev->mu);
	for (; it != NULL; it = next) {
		next = it->next;
		if (!stop)
			ev->cb(&it->e, ev->arg);
		free(it);
	}
}

struct docker_events *
docker_events_open(uv_loop_t *loop, const char *socket, docker_events_cb cb,
    void *arg, char *err, size_t errlen)
{
	struct docker_events *ev = calloc(1, sizeof(*ev));
	int rc;

	if (ev == NULL) {
		snprintf(err, errlen, "out of memory");
		return NULL;
	}
	ev->loop = loop;
	ev->cb = cb;
	ev->arg = arg;
	snprintf(ev->socket, sizeof(ev->socket), "%s", socket);
	if ((ev->multi = curl_multi_init()) == NULL) {
		snprintf(err, errlen, "cannot create a curl multi handle");
		free(ev);
		return NULL;
	}
	if ((rc = uv_mutex_init(&ev->mu)) != 0) {
		snprintf(err, errlen, "mutex: %s", uv_strerror(rc));
		curl_multi_cleanup(ev->multi);
		free(ev);
		return NULL;
	}
	ev->async.data = ev;
	if ((rc = uv_async_init(loop, &ev->async, dke_async)) != 0) {
		snprintf(err, errlen, "async handle: %s", uv_strerror(rc));
		uv_mutex_destroy(&ev->mu);
		curl_multi_cleanup(ev->multi);
		free(ev);
		return NULL;
	}
	if ((rc = uv_thread_create(&ev->thread, dke_thread, ev)) != 0) {
		snprintf(err, errlen, "thread: %s", uv_strerror(rc));
		/* the memory goes with the handle, as at close */
		curl_multi_cleanup(ev->multi);
		uv_close((uv_handle_t *)&ev->async, dke_free);
		return NULL;
	}
	return ev;
}

static void
dke_free(uv_handle_t *h)
{
	struct docker_events *ev = h->data;
	struct dke_item *it, *next;

	for (it = ev->head; it != NULL; it = next) {
		next = it->next;
		free(it);
	}
	uv_mutex_destroy(&ev->mu);
	free(ev);
}

void
docker_events_close(struct docker_events *ev)
{
	if (ev == NULL)
		return;
	uv_mutex_lock(&ev->mu);
	ev->stop = true;
	uv_mutex_unlock(&ev->mu);
	/*
	 * The thread is polling or mid-transfer; woken, it ends within a
	 * step of curl, so this join does not stall the loop.
	 */
	curl_multi_wakeup(ev->multi);
	uv_thread_join(&ev->thread);
	/* now, while the caller's curl_global_init still holds */
	curl_multi_cleanup(ev->multi);
	ev->multi = NULL;
	uv_close((uv_handle_t *)&ev->async, dke_free);
}
