/*
 * The intake: an artifact uploaded to the deployer's admin port becomes
 * a numbered release of its app.
 *
 *   POST /v1/apps/APP/releases     body: the artifact (.tar.gz)
 *
 * The request is answered once Redis has said whether it may go on
 * (admin.h's ADMIN_LATER; one round trip), never after the unpack:
 *
 *   401  no token or the wrong one ("Authorization: Bearer TOKEN",
 *        compared in constant time); with no deployer.token, uploads
 *        are taken only on a loopback admin address
 *   400  a bad request: the app's name, an empty body, a malformed
 *        X-Devcloud-Sha256; and a body over deployer.max_artifact_bytes,
 *        which nng refuses (its HTML page) before it reaches us
 *   404  no such app, or another path
 *   409  "deploy N in progress": the app's deploy lock is held
 *   503  Redis is not there
 *   202  "accepted N": N is the deploy's id, the number its release
 *        will have
 *
 * Then, for an accepted one, every step on the loop except the disk
 * work (release.c, on the thread pool):
 *
 *   begin (script): the app exists, its lock is free; the next number
 *       from PREFIX releaseseq:APP, the lock taken with it
 *   -> deploy.started -> unpack (pool) -> record (script): the release's
 *       hash and its place in PREFIX releases:APP; the releases beyond
 *       deployer.keep_releases forgotten -> prune (pool) -> the lock
 *       released -> deploy.done
 *
 * A failure at any step releases the lock, leaves nothing in
 * releases_dir and sends deploy.failed with the reason (artifact.h's,
 * naming the entry and the rule, for a refused artifact). The number
 * it took is not given back: release numbers may have gaps.
 */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <json-c/json.h>

#include "keys.h"
#include "log.h"
#include "metrics.h"
#include "deployer.h"

static struct metric m_done = METRIC_COUNTER(
    "devcloud_deployer_deploys_total{outcome=\"done\"}",
    "Deploys finished, by outcome.");
static struct metric m_failed = METRIC_COUNTER(
    "devcloud_deployer_deploys_total{outcome=\"failed\"}",
    "Deploys finished, by outcome.");
static struct metric m_rolledback = METRIC_COUNTER(
    "devcloud_deployer_deploys_total{outcome=\"rolledback\"}",
    "Deploys finished, by outcome.");
static struct metric m_refused = METRIC_COUNTER(
    "devcloud_deployer_uploads_refused_total",
    "Uploads answered with a 4xx or 5xx status.");

/*
 * KEYS app record, lock, counter, deploying set, releases; ARGV lock_ms,
 * app, rollback target ("": a new release). Returns {"unknown"}, {"busy",
 * holder}, {"norelease", why} or {"ok", N}: the lock is taken, holding
 * N, and the record says "deploying" N. A new release's N comes from
 * the counter; a rollback's is the release it goes back to (by
 * default the record's release_prev), which must exist and not be the
 * current one.
 */
static const char script_begin[] =
    "if redis.call('EXISTS', KEYS[1]) == 0 then return {'unknown'} end\n"
    "local held = redis.call('GET', KEYS[2])\n"
    "if held then return {'busy', held} end\n"
    "if ARGV[4] == 'image' and redis.call('HGET', KEYS[1], 'driver') ~="
    " 'docker' then\n"
    "  return {'bad', 'an image deploy needs a docker app'}\n"
    "end\n"
    "local n\n"
    "if ARGV[3] == '' then\n"
    "  n = tostring(redis.call('INCR', KEYS[3]))\n"
    "else\n"
    "  n = ARGV[3]\n"
    "  if n == 'prev' then\n"
    "    n = redis.call('HGET', KEYS[1], 'release_prev') or ''\n"
    "    if n == '' then return {'norelease', 'no previous release'} end\n"
    "  end\n"
    "  if n == redis.call('HGET', KEYS[1], 'release') then\n"
    "    return {'norelease', 'release ' .. n .. ' is the current one'}\n"
    "  end\n"
    "  if not redis.call('ZSCORE', KEYS[5], n) then\n"
    "    return {'norelease', 'no release ' .. n}\n"
    "  end\n"
    "end\n"
    "redis.call('SET', KEYS[2], n, 'PX', ARGV[1])\n"
    "redis.call('HSET', KEYS[1], 'deploying', n)\n"
    "redis.call('SADD', KEYS[4], ARGV[2])\n"
    "return {'ok', n}\n";

/*
 * KEYS releases, release hash, app record; ARGV N, sha256, size, time
 * (ms), keep, a release hash's key ending in "1" (key_release's
 * template: the last character is replaced by a number), max, source
 * ("upload", the URL it was downloaded from, or "image"), image (an
 * image deploy's; for files, the record's image is kept with them, so
 * that a rollback to them brings it back). Records
 * release N, then forgets the oldest releases past the newest KEEP,
 * never the record's current one (its "release" field), which is kept
 * besides; at most MAX of them (struct deploy's prune list), the rest
 * at the next deploy. Returns the numbers forgotten, to remove from
 * disk.
 */
static const char script_record[] =
    "local img = ARGV[9]\n"
    "if img == '' then img = redis.call('HGET', KEYS[3], 'image') or '' end\n"
    "redis.call('HSET', KEYS[2], 'sha256', ARGV[2], 'size', ARGV[3],"
    " 'source', ARGV[8], 'time', ARGV[4], 'state', 'ready', 'image', img)\n"
    "redis.call('ZADD', KEYS[1], ARGV[1], ARGV[1])\n"
    "local cur = redis.call('HGET', KEYS[3], 'release') or ''\n"
    "local keep = tonumber(ARGV[5])\n"
    "local kept, gone = 0, {}\n"
    "for _, n in ipairs(redis.call('ZREVRANGE', KEYS[1], 0, -1)) do\n"
    "  if n ~= cur and #gone < tonumber(ARGV[7]) then\n"
    "    if kept < keep then kept = kept + 1 else\n"
    "      redis.call('ZREM', KEYS[1], n)\n"
    "      redis.call('DEL', string.sub(ARGV[6], 1, -2) .. n)\n"
    "      gone[#gone + 1] = n\n"
    "    end\n"
    "  end\n"
    "end\n"
    "return gone\n";

/*
 * KEYS lock, app record, deploying set; ARGV N, app: released only if
 * it still holds N, with the record's "deploying" mark.
 */
static const char script_unlock[] =
    "if redis.call('GET', KEYS[1]) == ARGV[1] then\n"
    "  redis.call('DEL', KEYS[1])\n"
    "  if redis.call('HGET', KEYS[2], 'deploying') == ARGV[1] then\n"
    "    redis.call('HDEL', KEYS[2], 'deploying')\n"
    "  end\n"
    "  redis.call('SREM', KEYS[3], ARGV[2])\n"
    "  return 1\n"
    "end\n"
    "return 0\n";

/* Frees D now, or once the callbacks that name it are back. */
static void
deploy_free(struct deploy *d)
{
	d->finished = true;
	if (d->pending > 0)
		return;
	LIST_REMOVE(d, link);
	free(d->body);
	free(d);
}

bool
deploy_back(struct deploy *d)
{
	d->pending--;
	if (d->finished) {
		deploy_free(d);
		return true;
	}
	return d->dp->stopping;
}

void
deploy_progress(struct deploy *d, const char *phase)
{
	struct msg m;

	d->phase = phase;
	msg_init(&m, MSG_DEPLOY_PROGRESS);
	snprintf(m.app, sizeof(m.app), "%s", d->app);
	snprintf(m.release, sizeof(m.release), "%llu", d->release);
	snprintf(m.phase, sizeof(m.phase), "%s", phase);
	bus_publish(d->dp->svc->bus, &m);
	log_info("deploy progress", "app=%s release=%llu phase=%s", d->app,
	    d->release, phase);
}

void
deploy_finish(struct deploy *d, const char *reason)
{
	struct service *s = d->dp->svc;
	char key[KEY_MAX], kapp[KEY_MAX], kset[KEY_MAX], n[32];
	struct msg m;

	if (d->finished)
		return;
	snprintf(n, sizeof(n), "%llu", d->release);
	if (d->quiet) {
		deploy_free(d);
		return;
	}
	if (d->dp->stopping) {
		log_warn("deploy cut short by the shutdown", "app=%s "
		    "release=%s reason=\"%s\"", d->app, n,
		    reason ? reason : "");
		deploy_free(d);
		return;
	}
	if (key_deploy_lock(key, sizeof(key), d->app) != NULL &&
	    key_app(kapp, sizeof(kapp), d->app) != NULL &&
	    key_deploying(kset, sizeof(kset)) != NULL)
		store_command(s->store, NULL, NULL, "EVAL %s 3 %s %s %s %s %s",
		    script_unlock, key, kapp, kset, n, d->app);
	msg_init(&m, reason == NULL ? MSG_DEPLOY_DONE : MSG_DEPLOY_FAILED);
	snprintf(m.app, sizeof(m.app), "%s", d->app);
	snprintf(m.release, sizeof(m.release), "%s", n);
	m.duration_ms = service_mono_ms() - d->t0;
	if (reason != NULL) {
		snprintf(m.reason, sizeof(m.reason), "%s", reason);
		snprintf(m.phase, sizeof(m.phase), "%s", d->phase != NULL ?
		    d->phase : "intake");
		metric_add(d->rolling_back ? &m_rolledback : &m_failed, 1);
		log_warn("deploy failed", "app=%s release=%s duration_ms=%lld "
		    "phase=%s reason=\"%s\"", d->app, n,
		    (long long)m.duration_ms, m.phase, reason);
	} else {
		metric_add(&m_done, 1);
		log_info("deploy done", "app=%s release=%s duration_ms=%lld "
		    "sha256=%s", d->app, n, (long long)m.duration_ms,
		    d->sha256);
	}
	bus_publish(s->bus, &m);
	deploy_free(d);
}

static void
deploy_pruned(struct deploy *d)
{
	if (d->rc != 0)
		log_warn("cannot remove an old release", "app=%s err=\"%s\"",
		    d->app, d->err);
	switch_begin(d);
}

/* The release could not be recorded: it goes from the disk too. */
static void
deploy_removed(struct deploy *d)
{
	if (d->rc != 0)
		log_warn("cannot remove an unrecorded release", "app=%s "
		    "release=%llu err=\"%s\"", d->app, d->release, d->err);
	deploy_finish(d, "redis: the release could not be recorded");
}

static void
deploy_recorded(struct store *st, redisReply *r, void *arg)
{
	struct deploy *d = arg;

	if (d->dp->stopping) {
		deploy_finish(d, "shutdown");
		return;
	}
	if (r == NULL || r->type != REDIS_REPLY_ARRAY) {
		log_warn("cannot record a release", "app=%s release=%llu "
		    "err=\"%s\"", d->app, d->release, r != NULL &&
		    r->type == REDIS_REPLY_ERROR ? r->str : "no answer");
		if (release_remove(d, deploy_removed) != 0)
			deploy_finish(d, "redis: the release could not be "
			    "recorded");
		return;
	}
	d->nprune = 0;
	for (size_t i = 0; i < r->elements; i++) {
		const redisReply *e = r->element[i];
		char *end;
		unsigned long long n;

		if (e->type != REDIS_REPLY_STRING ||
		    d->nprune == sizeof(d->prune) / sizeof(d->prune[0]))
			continue;
		n = strtoull(e->str, &end, 10);
		if (*end == '\0' && n > 0)
			d->prune[d->nprune++] = n;
	}
	if (d->nprune == 0 || release_prune(d, deploy_pruned) != 0)
		switch_begin(d);
}

/* Back from the pool with release D->release on disk, or a reason. */
static void
deploy_unpacked(struct deploy *d)
{
	struct service *s = d->dp->svc;
	char krels[KEY_MAX], krel[KEY_MAX], kapp[KEY_MAX], ktpl[KEY_MAX];
	char n[32], size[32], now[32], keep[16], max[16];
	const char *argv[15];
	size_t i = 0;

	if (d->rc != 0 || d->dp->stopping) {
		deploy_finish(d, d->rc != 0 ? d->err : "shutdown");
		return;
	}
	d->phase = "record";
	snprintf(n, sizeof(n), "%llu", d->release);
	snprintf(size, sizeof(size), "%zu", d->len);
	snprintf(now, sizeof(now), "%lld", (long long)service_now_ms());
	snprintf(keep, sizeof(keep), "%d", s->cfg.deployer.keep_releases);
	snprintf(max, sizeof(max), "%zu", sizeof(d->prune) /
	    sizeof(d->prune[0]));
	argv[i++] = "EVAL";
	argv[i++] = script_record;
	argv[i++] = "3";
	argv[i++] = key_releases(krels, sizeof(krels), d->app);
	argv[i++] = key_release(krel, sizeof(krel), d->app, d->release);
	argv[i++] = key_app(kapp, sizeof(kapp), d->app);
	argv[i++] = n;
	argv[i++] = d->sha256;
	argv[i++] = size;
	argv[i++] = now;
	argv[i++] = keep;
	argv[i++] = key_release(ktpl, sizeof(ktpl), d->app, 1);
	argv[i++] = max;
	argv[i++] = d->image[0] != '\0' ? "image" : d->url[0] != '\0' ?
	    d->url : "upload";
	argv[i++] = d->image;
	if (argv[3] == NULL || argv[4] == NULL || argv[5] == NULL ||
	    argv[11] == NULL || store_commandv(s->store, deploy_recorded, d,
	    (int)i, argv, NULL) != 0) {
		if (release_remove(d, deploy_removed) != 0)
			deploy_finish(d, "redis: the release could not be "
			    "recorded");
	}
}

/* Answers D's request and forgets it; a refusal frees D. */
static void
deploy_answer(struct deploy *d, int status, const char *fmt, const char *a)
{
	char body[ADMIN_ANSWER_MAX];

	snprintf(body, sizeof(body), fmt, a);
	admin_answer_later(&d->later, status, body);
	d->waiting = false;
	if (status != 202) {
		metric_add(&m_refused, 1);
		log_warn("upload refused", "app=%s status=%d reason=\"%.*s\"",
		    d->app, status, (int)strcspn(body, "\n"), body);
		deploy_free(d);
	}
}

static void
deploy_begun(struct store *st, redisReply *r, void *arg)
{
	struct deploy *d = arg;
	const char *what;
	struct msg m;
	char *end;

	/* The port answers a request still waiting when it stops. */
	if (d->dp->stopping) {
		deploy_free(d);
		return;
	}
	if (r == NULL || r->type != REDIS_REPLY_ARRAY || r->elements < 1 ||
	    r->element[0]->type != REDIS_REPLY_STRING) {
		deploy_answer(d, 503, "redis: %s\n", r != NULL &&
		    r->type == REDIS_REPLY_ERROR ? r->str : "no answer");
		return;
	}
	what = r->element[0]->str;
	if (strcmp(what, "unknown") == 0) {
		deploy_answer(d, 404, "unknown app %s\n", d->app);
		return;
	}
	if (r->elements != 2 || r->element[1]->type != REDIS_REPLY_STRING) {
		deploy_answer(d, 503, "redis: %s\n", "unexpected answer");
		return;
	}
	if (strcmp(what, "busy") == 0) {
		deploy_answer(d, 409, "deploy %s in progress\n",
		    r->element[1]->str);
		return;
	}
	if (strcmp(what, "bad") == 0) {
		deploy_answer(d, 400, "%s\n", r->element[1]->str);
		return;
	}
	if (strcmp(what, "norelease") == 0) {
		deploy_answer(d, 409, "cannot roll back: %s\n",
		    r->element[1]->str);
		return;
	}
	d->release = strtoull(r->element[1]->str, &end, 10);
	if (*end != '\0' || d->release == 0) {
		deploy_answer(d, 503, "redis: bad release number %s\n",
		    r->element[1]->str);
		return;
	}
	deploy_answer(d, 202, "accepted %s\n", r->element[1]->str);
	log_info("deploy started", "app=%s release=%llu bytes=%zu", d->app,
	    d->release, d->len);
	msg_init(&m, MSG_DEPLOY_STARTED);
	snprintf(m.app, sizeof(m.app), "%s", d->app);
	snprintf(m.release, sizeof(m.release), "%llu", d->release);
	bus_publish(d->dp->svc->bus, &m);
	d->renew_at = service_mono_ms() + DEPLOYER_RENEW_MS;
	if (d->manual_rollback) {
		d->target = d->release;
		switch_begin(d);
		return;
	}
	if (d->image[0] != '\0') {
		/* an image has no files to check: recorded as it is */
		d->rc = 0;
		deploy_unpacked(d);
		return;
	}
	d->phase = "unpack";
	if (release_unpack(d, deploy_unpacked) != 0) {
		snprintf(d->err, sizeof(d->err), "cannot queue the unpack");
		deploy_finish(d, d->err);
	}
}

/* 0 when R may upload; else the answer is filled (401). */
static int
intake_authorize(const struct config *cfg, const struct admin_req *r,
    struct admin_answer *a)
{
	const char *auth = admin_req_header(r, "Authorization");

	if (cfg->deployer.token[0] == '\0') {
		if (admin_addr_loopback(cfg->deployer.d.admin))
			return 0;
		snprintf(a->body, sizeof(a->body), "no deployer.token is "
		    "configured: uploads are taken on a loopback admin "
		    "address only\n");
	} else if (auth == NULL || strncmp(auth, "Bearer ", 7) != 0) {
		snprintf(a->body, sizeof(a->body), "a token is required "
		    "(Authorization: Bearer TOKEN)\n");
	} else if (admin_token_equal(auth + 7, strlen(auth + 7),
	    cfg->deployer.token)) {
		return 0;
	} else {
		snprintf(a->body, sizeof(a->body), "wrong token\n");
	}
	a->status = 401;
	return -1;
}

/*
 * The app's name from "/v1/apps/APP/releases" (a new release) or
 * "/v1/apps/APP/rollback" (*ROLLBACK set) into APP; 0, or -1 for
 * another path (404), or -2 for a name keys_name_valid refuses (400).
 */
static int
intake_app(const char *path, char app[MSG_NAME_MAX], bool *rollback)
{
	static const char pre[] = "/v1/apps/";
	const char *p, *slash;
	size_t len;

	if (strncmp(path, pre, sizeof(pre) - 1) != 0)
		return -1;
	p = path + sizeof(pre) - 1;
	if ((slash = strchr(p, '/')) == NULL)
		return -1;
	if (strcmp(slash, "/rollback") == 0)
		*rollback = true;
	else if (strcmp(slash, "/releases") == 0)
		*rollback = false;
	else
		return -1;
	len = (size_t)(slash - p);
	if (len == 0 || len >= MSG_NAME_MAX)
		return -2;
	memcpy(app, p, len);
	app[len] = '\0';
	return keys_name_valid(app) ? 0 : -2;
}

/* What a request asks of the switch-over, from its headers. */
struct deploy_opts {
	char check[256];
	bool wake;
	int watch_ms;
};

/*
 * X-Devcloud-Check: /PATH (must answer 2xx before the switch),
 * X-Devcloud-Wake: 1 (a sleeping app is started now), X-Devcloud-Watch-Ms:
 * N (the watch's length, deployer.watch_ms by default). 0, or -1 with
 * the reason in ERR.
 */
static int
intake_opts(const struct admin_req *r, struct deploy_opts *o, char *err,
    size_t errlen)
{
	const char *v;
	char *end;
	long n;

	memset(o, 0, sizeof(*o));
	o->watch_ms = -1;
	if ((v = admin_req_header(r, "X-Devcloud-Check")) != NULL) {
		if (v[0] != '/' || strlen(v) >= sizeof(o->check) ||
		    strpbrk(v, " \t\r\n") != NULL) {
			snprintf(err, errlen, "X-Devcloud-Check must be a "
			    "path (/...), at most %zu bytes, without spaces\n",
			    sizeof(o->check) - 1);
			return -1;
		}
		snprintf(o->check, sizeof(o->check), "%s", v);
	}
	if ((v = admin_req_header(r, "X-Devcloud-Wake")) != NULL) {
		if (strcmp(v, "1") != 0 && strcmp(v, "0") != 0) {
			snprintf(err, errlen, "X-Devcloud-Wake must be 0 or "
			    "1\n");
			return -1;
		}
		o->wake = v[0] == '1';
	}
	if ((v = admin_req_header(r, "X-Devcloud-Watch-Ms")) != NULL) {
		n = strtol(v, &end, 10);
		if (*v == '\0' || *end != '\0' || n < 0 || n > 3600000) {
			snprintf(err, errlen, "X-Devcloud-Watch-Ms must be "
			    "0-3600000\n");
			return -1;
		}
		o->watch_ms = (int)n;
	}
	return 0;
}

/* {"image": "NAME:TAG"}: a docker app's release is that image. */
static int
intake_image(json_object *v, struct deploy *d, char *err, size_t errlen)
{
	const char *img;

	if (!json_object_is_type(v, json_type_string) ||
	    (img = json_object_get_string(v))[0] == '\0' ||
	    strlen(img) >= sizeof(d->image) ||
	    !isalnum((unsigned char)img[0]) ||
	    strspn(img, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
	    "0123456789-._:/@") != strlen(img)) {
		snprintf(err, errlen, "\"image\" must be an image reference "
		    "(NAME[:TAG] or NAME@DIGEST) of at most %zu bytes\n",
		    sizeof(d->image) - 1);
		return -1;
	}
	snprintf(d->image, sizeof(d->image), "%s", img);
	return 0;
}

/*
 * A JSON body, {"url": URL, "sha256": HEX}: the artifact is downloaded
 * from URL (http or https) by the deployer; or {"image": IMAGE}, a
 * docker app's release that is an image. Into D; 0, or -1 with ERR.
 */
static int
intake_json(const struct admin_req *r, struct deploy *d, char *err,
    size_t errlen)
{
	struct json_tokener *tok;
	json_object *o, *v;
	const char *url;
	uint8_t digest[SHA256_LEN];
	int rv = -1;

	if ((tok = json_tokener_new()) == NULL) {
		snprintf(err, errlen, "out of memory\n");
		return -1;
	}
	o = json_tokener_parse_ex(tok, r->body, (int)r->len);
	if (o == NULL || json_tokener_get_error(tok) != json_tokener_success ||
	    !json_object_is_type(o, json_type_object)) {
		snprintf(err, errlen, "the body is not a JSON object "
		    "{\"url\": ..., \"sha256\": ...}\n");
		goto done;
	}
	if (json_object_object_get_ex(o, "image", &v)) {
		rv = intake_image(v, d, err, errlen);
		goto done;
	}
	if (!json_object_object_get_ex(o, "url", &v) ||
	    !json_object_is_type(v, json_type_string)) {
		snprintf(err, errlen, "\"url\" (or \"image\") is required, a "
		    "string\n");
		goto done;
	}
	url = json_object_get_string(v);
	if ((strncmp(url, "http://", 7) != 0 &&
	    strncmp(url, "https://", 8) != 0) ||
	    strlen(url) >= sizeof(d->url) ||
	    strspn(url, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
	    "0123456789-._~:/?#[]@!$&'()*+,;=%") != strlen(url)) {
		snprintf(err, errlen, "\"url\" must be an http:// or https:// "
		    "URL of at most %zu bytes\n", sizeof(d->url) - 1);
		goto done;
	}
	snprintf(d->url, sizeof(d->url), "%s", url);
	if (json_object_object_get_ex(o, "sha256", &v)) {
		if (!json_object_is_type(v, json_type_string) ||
		    sha256_parse_hex(json_object_get_string(v), digest) != 0) {
			snprintf(err, errlen, "\"sha256\" must be 64 hex "
			    "digits\n");
			goto done;
		}
		sha256_hex(digest, d->want_sha256);
	}
	rv = 0;
done:
	json_object_put(o);
	json_tokener_free(tok);
	return rv;
}

/* A rollback's target: X-Devcloud-Release, or the body; neither: the
 * previous release (""). */
static int
intake_target(const struct admin_req *r, char *buf, size_t len, char *err,
    size_t errlen)
{
	const char *p = admin_req_header(r, "X-Devcloud-Release");
	size_t n;

	if (p == NULL)
		p = r->body;
	n = p == r->body ? r->len : strlen(p);
	while (n > 0 && (p[n - 1] == '\n' || p[n - 1] == '\r'))
		n--;
	if (n == 0) {
		buf[0] = '\0';
		return 0;
	}
	for (size_t i = 0; i < n; i++)
		if (p[i] < '0' || p[i] > '9')
			n = len;	/* not a number: refused below */
	if (n >= len || p[0] == '0') {
		snprintf(err, errlen, "a rollback's body is empty or a "
		    "release number\n");
		return -1;
	}
	memcpy(buf, p, n);
	buf[n] = '\0';
	return 0;
}

/* The route's handler (loop). */
static void
intake_post(const struct admin_req *r, struct admin_answer *a, void *arg)
{
	struct deployer *dp = arg;
	struct service *s = dp->svc;
	char app[MSG_NAME_MAX], kapp[KEY_MAX], klock[KEY_MAX], kseq[KEY_MAX];
	char lock_ms[16], krels[KEY_MAX], kset[KEY_MAX], target[32] = "";
	const char *sha;
	struct deploy *d;
	struct deploy_opts o;
	uint8_t digest[SHA256_LEN];
	bool rollback = false, json;
	const char *ctype;
	int rv;

	a->status = 400;
	if (dp->stopping) {
		a->status = 503;
		snprintf(a->body, sizeof(a->body), "shutting down\n");
		goto refuse;
	}
	if (intake_authorize(&s->cfg, r, a) != 0)
		goto refuse;
	if ((rv = intake_app(r->path, app, &rollback)) == -1) {
		a->status = 404;
		snprintf(a->body, sizeof(a->body), "no such route: POST "
		    "/v1/apps/APP/releases or /v1/apps/APP/rollback\n");
		goto refuse;
	}
	if (rv == -2) {
		snprintf(a->body, sizeof(a->body), "invalid app name: 1-63 of "
		    "A-Z a-z 0-9 . _ -, not starting with . or -\n");
		goto refuse;
	}
	if (intake_opts(r, &o, a->body, sizeof(a->body)) != 0)
		goto refuse;
	if (rollback && intake_target(r, target, sizeof(target), a->body,
	    sizeof(a->body)) != 0)
		goto refuse;
	ctype = admin_req_header(r, "Content-Type");
	json = !rollback && ctype != NULL &&
	    strncmp(ctype, "application/json", 16) == 0;
	if (!rollback && r->len == 0) {
		snprintf(a->body, sizeof(a->body), "empty body: the artifact "
		    "(.tar.gz) is the request's body\n");
		goto refuse;
	}
	sha = admin_req_header(r, "X-Devcloud-Sha256");
	if (sha != NULL && sha256_parse_hex(sha, digest) != 0) {
		snprintf(a->body, sizeof(a->body), "X-Devcloud-Sha256 must be "
		    "64 hex digits\n");
		goto refuse;
	}
	if ((d = calloc(1, sizeof(*d))) == NULL ||
	    (!rollback && !json && (d->body = malloc(r->len)) == NULL)) {
		free(d);
		a->status = 503;
		snprintf(a->body, sizeof(a->body), "out of memory\n");
		goto refuse;
	}
	d->dp = dp;
	snprintf(d->app, sizeof(d->app), "%s", app);
	if (sha != NULL)
		sha256_hex(digest, d->want_sha256);
	if (json && intake_json(r, d, a->body, sizeof(a->body)) != 0) {
		free(d);
		goto refuse;
	}
	if (!rollback && !json) {
		memcpy(d->body, r->body, r->len);
		d->len = r->len;
	}
	d->manual_rollback = rollback;
	snprintf(d->check, sizeof(d->check), "%s", o.check);
	d->wake = o.wake;
	d->watch_ms = o.watch_ms;
	d->later = a->later;
	d->waiting = true;
	d->t0 = service_mono_ms();
	LIST_INSERT_HEAD(&dp->deploys, d, link);
	snprintf(lock_ms, sizeof(lock_ms), "%d", DEPLOYER_LEASE_MS);
	if (key_app(kapp, sizeof(kapp), app) == NULL ||
	    key_deploy_lock(klock, sizeof(klock), app) == NULL ||
	    key_release_seq(kseq, sizeof(kseq), app) == NULL ||
	    key_deploying(kset, sizeof(kset)) == NULL ||
	    key_releases(krels, sizeof(krels), app) == NULL ||
	    store_command(s->store, deploy_begun, d,
	    "EVAL %s 5 %s %s %s %s %s %s %s %s %s", script_begin, kapp, klock,
	    kseq, kset, krels, lock_ms, app, rollback ? (target[0] ? target :
	    "prev") : "", d->image[0] ? "image" : "files") != 0) {
		deploy_free(d);
		a->status = 503;
		snprintf(a->body, sizeof(a->body), "redis is not reachable\n");
		goto refuse;
	}
	a->status = ADMIN_LATER;
	return;
refuse:
	metric_add(&m_refused, 1);
	log_warn("upload refused", "path=%s status=%d reason=\"%.*s\"",
	    r->path, a->status, (int)strcspn(a->body, "\n"), a->body);
}

void
intake_routes(struct deployer *dp)
{
	struct service *s = dp->svc;

	metrics_register(&m_done);
	metrics_register(&m_failed);
	metrics_register(&m_rolledback);
	metrics_register(&m_refused);
	LIST_INIT(&dp->deploys);
	dp->routes[0] = (struct admin_route){
		.method = "POST",
		.path = "/v1/apps",
		.tree = true,
		.max_body = (size_t)s->cfg.deployer.max_artifact_bytes,
		.fn = intake_post,
		.arg = dp,
	};
	s->routes = dp->routes;
	s->nroutes = 1;
}

/*
 * The store and the bus close after this: deploys still on their way
 * end quietly (a lock still held expires, a number taken is a gap). A
 * request still waiting for Redis is answered 503 now rather than by
 * the port's stop, which closes its connections right after: answered
 * here, the answer has the skeleton's linger time to leave.
 */
void
intake_shutdown(struct deployer *dp)
{
	struct deploy *d;

	dp->stopping = true;
	LIST_FOREACH(d, &dp->deploys, link) {
		if (!d->waiting)
			continue;
		admin_answer_later(&d->later, 503, "shutting down\n");
		d->waiting = false;
	}
}
