/*
 * The message registry: every bus event and command, declared once.
 *
 * On the wire a message is "TOPIC SP JSON". The topic is the type's name
 * ("app.ready"), so subscribers filter by prefix. The JSON object carries
 * "v" (schema version), "ts" (ms since the epoch), "source" (daemon/instance)
 * and the type's fields. Decoding is strict about what it knows (types,
 * required fields, lengths) and ignores fields it does not know.
 *
 * struct msg is flat: the union of every type's fields, so a message is
 * one value that can be copied and queued. Which fields a type carries is
 * declared in msg.c's table; docs/events.md documents the same table.
 */
#ifndef DC_MSG_H
#define DC_MSG_H

#include <stddef.h>
#include <stdint.h>

#define MSG_MAX_BYTES 65536	/* a larger frame is refused */

enum msg_type {
	MSG_NONE = 0,
	/* events (pub/sub) */
	MSG_SERVICE_UP,
	MSG_SERVICE_DOWN,
	MSG_ROUTE_CHANGED,
	MSG_APP_CHANGED,
	MSG_APP_WAKING,
	MSG_APP_READY,
	MSG_APP_STOPPING,
	MSG_APP_STOPPED,
	MSG_APP_FAILED,
	MSG_APP_SCALED,
	MSG_INSTANCE_READY,
	MSG_INSTANCE_DRAINING,
	MSG_INSTANCE_STOPPED,
	MSG_HOST_OVERLOADED,
	MSG_HOST_RECOVERED,
	MSG_DEPLOY_STARTED,
	MSG_DEPLOY_DONE,
	MSG_DEPLOY_FAILED,
	MSG_POOL_LEASED,
	MSG_POOL_RELEASED,
	MSG_POOL_REFILLED,
	MSG_POOL_FAILING,
	MSG_POOL_SAVE_FAILED,
	MSG_POOL_CHANGED,
	MSG_DEPLOY_PROGRESS,
	MSG_DEPLOY_SWITCHED,
	MSG_DEPLOY_ROLLEDBACK,
	/* commands (req/rep) and their answers */
	MSG_PING,
	MSG_PING_OK,
	MSG_WAKE,
	MSG_WAKE_OK,
	MSG_STOP,
	MSG_STOP_OK,
	MSG_SCALE,
	MSG_SCALE_OK,
	MSG_ACQUIRE,
	MSG_ACQUIRE_OK,
	MSG_RELEASE,
	MSG_RELEASE_OK,
	MSG_STAGE,
	MSG_STAGE_OK,
	MSG_RETIRE,
	MSG_RETIRE_OK,
	MSG_ERROR,
	MSG_TYPE_COUNT
};

/* Field sizes, including the terminating NUL. */
#define MSG_NAME_MAX 64
#define MSG_DOMAIN_MAX 256
#define MSG_ADDR_MAX 256
#define MSG_TEXT_MAX 512

struct msg {
	enum msg_type type;
	int v;				/* schema version, set by the encoder */
	int64_t ts;			/* ms since the epoch */
	char source[MSG_NAME_MAX * 2];	/* "daemon/instance" */

	char service[MSG_NAME_MAX];
	char instance[MSG_NAME_MAX];
	char version[MSG_NAME_MAX];
	char control[MSG_ADDR_MAX];
	char app[MSG_NAME_MAX];
	char domain[MSG_DOMAIN_MAX];
	char target[MSG_ADDR_MAX];
	char addr[MSG_ADDR_MAX];
	char state[MSG_NAME_MAX];
	char host[MSG_DOMAIN_MAX];	/* where an instance runs */
	char release[MSG_NAME_MAX];	/* the release an instance runs */
	char reason[MSG_TEXT_MAX];
	int64_t uptime_ms;
	int64_t queued_ms;
	int64_t start_ms;
	int64_t ready_ms;
	int64_t pid;
	int64_t from;			/* instances before a scale */
	int64_t to;			/* instances asked for, or after */
	char origin[MSG_NAME_MAX];	/* where a host figure came from */
	char metric[MSG_NAME_MAX * 2];	/* what crossed its threshold */
	double value;			/* the metric's figure */
	int64_t duration_ms;		/* how long a deploy took */
	char pool[MSG_NAME_MAX];	/* an IDE pool */
	char tier[MSG_NAME_MAX];	/* where a lease's member came from */
	int64_t ttl_s;			/* a lease's time to live */
	int64_t acquire_ms;		/* how long an acquire took */
	char phase[MSG_NAME_MAX];	/* a deploy's step */
};

/* "app.ready" for MSG_APP_READY; NULL for an unknown type. */
const char *msg_type_name(enum msg_type type);
/* MSG_NONE if NAME is not a registered type. */
enum msg_type msg_type_lookup(const char *name, size_t len);
/* Schema version of TYPE. */
int msg_type_version(enum msg_type type);

/* Sets m to an empty message of TYPE. */
void msg_init(struct msg *m, enum msg_type type);

/*
 * Writes "TOPIC SP JSON" into a new buffer (caller frees) and its length
 * into *LENP. Fills v and ts (if 0). Returns NULL if a required field of
 * the type is empty or on allocation failure.
 */
char *msg_encode(const struct msg *m, size_t *lenp);

/*
 * Decodes one frame into M. Returns 0, or -1 with a reason in ERR:
 * oversized, no topic, unknown type, malformed JSON, wrong field type,
 * missing required field, string too long. M is written only on success.
 */
int msg_decode(struct msg *m, const char *buf, size_t len, char *err,
    size_t errlen);

/* The JSON object of M alone (for `devcloudctl events`); caller frees. */
char *msg_to_json(const struct msg *m);

#endif
