/*
 * An app: what devcloud knows about one registered application, as kept
 * in its Redis hash (key_app) and carried between devcloudctl, autostart
 * and the proxy. Every field is checked where it enters (app_validate):
 * a record that does not validate is never written.
 *
 *   field          meaning
 *   name           key-safe name
 *   domains        comma-separated domains that route to the app
 *   driver         "process", "docker", "swarm" or "kubernetes"
 *   command        process: shell command; $PORT holds the port
 *   dir            process: working directory ("" = run_dir)
 *   env            extra environment, "K=V" entries separated by '\n'
 *   port           process: fixed port, 0 = pick a free one per start
 *   container      docker: an existing container's name or id
 *   image          docker: or an image to create "devcloud-NAME" from;
 *                  swarm: the image of its service "devcloud-NAME"
 *   cport          docker: the port the app listens on in the container
 *                  (swarm too)
 *   deployment     kubernetes: its Deployment, "NAME" or "NAMESPACE/NAME"
 *   service        kubernetes: HOST:PORT where it answers (its Service)
 *   replicas       kubernetes, swarm: the replica count while awake
 *   ttl            seconds of quiet before the app is stopped
 *   ready          "tcp" or "http:/path" (2xx/3xx)
 *   start_timeout  ms the app has to become ready
 *   wake_page      "on": browsers get a waiting page while it starts
 *   group          comma-separated apps woken and stopped with it
 *   min_instances  instances kept while the app is awake (1..)
 *   max_instances  at most this many (>= min_instances; 1 for a fixed
 *                  port or an existing container)
 *   target_concurrency  in-flight requests per instance the autoscaler
 *                  aims at; 0: no autoscaling
 *   protect        "on": never stopped to relieve an overloaded host
 *   release_path   docker: where the current release is mounted
 *                  (read-only) in the container; "": not mounted
 *   release        the current release's number ("": none; written by
 *                  the deployer only, never by app_fields)
 *   state          stopped|starting|running|stopping|failed
 *   addr           HOST:PORT while running
 *   reason         why it failed or stopped last
 */
#ifndef DC_APP_H
#define DC_APP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define APP_MAX_DOMAINS 16
#define APP_MAX_GROUP 16
#define APP_TEXT_MAX 1024
#define APP_INSTANCES_MAX 64
#define APP_REPLICAS_MAX 1000	/* kubernetes, swarm */

enum app_state {
	APP_STOPPED,
	APP_STARTING,
	APP_RUNNING,
	APP_STOPPING,
	APP_FAILED,
};

struct app {
	char name[64];
	char domains[APP_MAX_DOMAINS][256];
	int ndomains;
	char driver[16];
	char command[APP_TEXT_MAX];
	char dir[512];
	char env[APP_TEXT_MAX];
	int port;
	char container[128];
	char image[256];
	int cport;
	char deployment[128];
	char service[256];
	int replicas;
	int ttl_s;
	char ready[256];
	int start_timeout_ms;
	bool wake_page;
	char group[APP_MAX_GROUP][64];
	int ngroup;
	int min_instances;
	int max_instances;
	int target_concurrency;
	bool protect;
	char release_path[256];
	char release[32];
	char release_dir[512];		/* set by app_release_apply */

	enum app_state state;
	char addr[256];
	char reason[512];
};

const char *app_state_name(enum app_state s);
int app_state_parse(const char *s);		/* -1 if unknown */

/* Sets A to a new app's defaults (ttl, timeouts, state stopped). */
void app_defaults(struct app *a, int ttl_s, int start_timeout_ms);

/*
 * Sets one field from its stored string form (used for the Redis hash
 * and for devcloudctl's options). Unknown fields are ignored (a newer
 * writer's); 0, or -1 with ERR naming the field and what is wrong.
 */
int app_set(struct app *a, const char *field, const char *value, char *err,
    size_t errlen);

/*
 * Sets A's fields from R, an HGETALL reply of its hash (field/value
 * pairs), as app_set does each; 0, or -1 with ERR.
 */
struct redisReply;
int app_from_hash(struct app *a, const struct redisReply *r, char *err,
    size_t errlen);

/*
 * What a reader that only routes needs of a record (the proxy keeps one
 * per app): each field read by the same rule as app_set's.
 */
struct app_summary {
	enum app_state state;		/* APP_STOPPED if none */
	char addr[256];			/* "" if none */
	int ttl_s;			/* 0 if none */
	bool wake_page;
};

/*
 * Reads the summary from R, an HGETALL reply of the app's hash (an empty
 * one gives the defaults above). 0, or -1 with ERR naming the field and
 * what is wrong; *OUT is written only on success.
 */
int app_summary_from_hash(struct app_summary *out,
    const struct redisReply *r, char *err, size_t errlen);

/* 0 if D names a Deployment as the "deployment" field takes it. */
int app_deployment_valid(const char *d);

/*
 * Points A at its release: with A->release set, its files are
 * RELEASES_DIR/NAME/RELEASE (A->release_dir); the process driver runs
 * the instance there (A->dir) and both drivers set $DEVCLOUD_RELEASE.
 * Nothing changes without a release. 0, or -1 with ERR if a path or
 * the environment does not fit.
 */
int app_release_apply(struct app *a, const char *releases_dir, char *err,
    size_t errlen);

/* Checks the whole record (driver's required fields, names, bounds). */
int app_validate(const struct app *a, char *err, size_t errlen);

/*
 * The record as field/value pairs for HSET: *ARGC strings in ARGV, which
 * point into BUF (the caller's, of APP_FIELDS_BUF bytes).
 */
#define APP_FIELDS_MAX 64
#define APP_FIELDS_BUF 8192
int app_fields(const struct app *a, const char **argv, size_t *argvlen,
    int *argc, char *buf, size_t buflen);

/*
 * A domain as routes hold it: an optional "*." in front, then at most
 * APP_DOMAIN_MAX characters of dot-separated labels of 1 to 63 of
 * a-z, 0-9, '-' and '_' (names such as Docker's service names use it).
 * app_domain_valid: 0 if D is one, else -1. app_domain_normalize: the
 * same after lowering D's case in place.
 */
#define APP_DOMAIN_MAX 253
int app_domain_valid(const char *d);
int app_domain_normalize(char *d);

#endif
