/*
 * devcloudctl deploy and releases: an artifact sent to the deployer, and
 * the releases it made.
 *
 * deploy APP FILE uploads FILE with libcurl to the deployer's admin port
 * (POST /v1/apps/APP/releases, deployer.token as the bearer token; see
 * docs/api.md), then waits on the bus for the deploy.done or
 * deploy.failed of the deploy id the answer gave. It subscribes before
 * uploading, so an outcome that comes at once is not missed. Exit 0 for
 * deploy.done, 1 otherwise. The wait is bounded by -w (default 60 s);
 * the upload itself by its progress: one that moves no byte for 30 s
 * is given up.
 *
 * releases APP lists PREFIX releases:APP with each release's hash
 * (keys.h) and state (ready; failed: refused before its switch; bad:
 * rolled back), the app's current one (its record's "release") marked
 * "*".
 */
#include <curl/curl.h>
#include <errno.h>
#include <json-c/json.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "keys.h"
#include "service.h"
#include "ctl.h"

#define DEPLOY_WAIT_MS 60000
#define DEPLOY_STALL_S 30

/* The answer's body, cut at what fits. */
struct deploy_answer {
	char text[1024];
	size_t len;
};

static size_t
deploy_body_cb(char *p, size_t size, size_t n, void *arg)
{
	struct deploy_answer *a = arg;
	size_t len = size * n, room = sizeof(a->text) - 1 - a->len;

	memcpy(a->text + a->len, p, len < room ? len : room);
	a->len += len < room ? len : room;
	a->text[a->len] = '\0';
	return len;
}

/* A progress line on a terminal, redrawn at most every 200 ms. */
struct deploy_progress {
	int64_t last_ms;
};

static int
deploy_progress_cb(void *arg, curl_off_t dltotal, curl_off_t dlnow,
    curl_off_t ultotal, curl_off_t ulnow)
{
	struct deploy_progress *p = arg;
	int64_t now = service_mono_ms();

	(void)dltotal;
	(void)dlnow;
	if (ultotal <= 0 || (now - p->last_ms < 200 && ulnow < ultotal))
		return 0;
	p->last_ms = now;
	fprintf(stderr, "\ruploading: %3d%% (%.1f of %.1f MiB)",
	    (int)(ulnow * 100 / ultotal), (double)ulnow / 1048576.0,
	    (double)ultotal / 1048576.0);
	return 0;
}

/*
 * POSTs the open file F (SIZE bytes) to the deployer for APP. Returns
 * the HTTP status (0 if none came) with the answer's body in ANS.
 */
static long
deploy_upload(struct ctl *c, const char *app, const char *what, FILE *f,
    off_t size, const char *mem, struct curl_slist *hdr,
    struct deploy_answer *ans)
{
	struct deploy_progress prog = {0};
	char url[CONFIG_ADDR_MAX + 128], auth[256];
	bool tty = isatty(STDERR_FILENO);
	long status = 0;
	CURLcode rc;
	CURL *h;

	if ((h = curl_easy_init()) == NULL) {
		snprintf(ans->text, sizeof(ans->text), "cannot start libcurl");
		return 0;
	}
	snprintf(url, sizeof(url), "http://%s/v1/apps/%s/%s",
	    c->cfg.deployer.d.admin, app, what);
	/* nng's server does not answer "Expect: 100-continue": curl would
	 * wait a second for nothing */
	hdr = curl_slist_append(hdr, "Expect:");
	if (c->cfg.deployer.token[0] != '\0') {
		snprintf(auth, sizeof(auth), "Authorization: Bearer %s",
		    c->cfg.deployer.token);
		hdr = curl_slist_append(hdr, auth);
	}
	curl_easy_setopt(h, CURLOPT_URL, url);
	curl_easy_setopt(h, CURLOPT_POST, 1L);
	if (f != NULL) {
		curl_easy_setopt(h, CURLOPT_READDATA, f);
		curl_easy_setopt(h, CURLOPT_POSTFIELDSIZE_LARGE,
		    (curl_off_t)size);
	} else {
		curl_easy_setopt(h, CURLOPT_POSTFIELDS, mem ? mem : "");
		curl_easy_setopt(h, CURLOPT_POSTFIELDSIZE,
		    (long)(mem ? strlen(mem) : 0));
	}
	curl_easy_setopt(h, CURLOPT_HTTPHEADER, hdr);
	curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, deploy_body_cb);
	curl_easy_setopt(h, CURLOPT_WRITEDATA, ans);
	curl_easy_setopt(h, CURLOPT_CONNECTTIMEOUT_MS, 5000L);
	curl_easy_setopt(h, CURLOPT_LOW_SPEED_LIMIT, 1L);
	curl_easy_setopt(h, CURLOPT_LOW_SPEED_TIME, (long)DEPLOY_STALL_S);
	if (tty && f != NULL) {
		curl_easy_setopt(h, CURLOPT_XFERINFOFUNCTION,
		    deploy_progress_cb);
		curl_easy_setopt(h, CURLOPT_XFERINFODATA, &prog);
		curl_easy_setopt(h, CURLOPT_NOPROGRESS, 0L);
	} else if (f != NULL) {
		printf("uploading %lld bytes to %s\n", (long long)size, url);
		fflush(stdout);
	}
	rc = curl_easy_perform(h);
	if (tty && f != NULL)
		fprintf(stderr, "\n");
	if (rc != CURLE_OK)
		snprintf(ans->text, sizeof(ans->text), "upload to %s failed: "
		    "%s", url, curl_easy_strerror(rc));
	else
		curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &status);
	curl_slist_free_all(hdr);
	curl_easy_cleanup(h);
	return status;
}

/*
 * Waits on S for deploy.done or deploy.failed of APP's deploy ID until
 * -w; prints it. 0 for done, 1 otherwise.
 */
static int
deploy_wait(struct ctl *c, nng_socket s, const char *app, const char *id)
{
	int64_t until = service_mono_ms() +
	    (c->wait_ms >= 0 ? c->wait_ms : DEPLOY_WAIT_MS);
	int64_t now;

	while ((now = service_mono_ms()) < until) {
		struct msg m;
		char *buf, err[256];
		size_t len;
		bool mine;

		nng_socket_set_ms(s, NNG_OPT_RECVTIMEO, (int)(until - now));
		if (nng_recv(s, &buf, &len, NNG_FLAG_ALLOC) != 0)
			break;
		mine = msg_decode(&m, buf, len, err, sizeof(err)) == 0 &&
		    (m.type == MSG_DEPLOY_DONE ||
		    m.type == MSG_DEPLOY_FAILED) &&
		    strcmp(m.app, app) == 0 && strcmp(m.release, id) == 0;
		nng_free(buf, len);
		if (!mine)
			continue;
		if (m.type == MSG_DEPLOY_DONE) {
			printf("deploy %s of %s done in %lld ms: release %s\n",
			    id, app, (long long)m.duration_ms, m.release);
			return 0;
		}
		printf("deploy %s of %s failed: %s\n", id, app, m.reason);
		return 1;
	}
	return ctl_error("deploy %s of %s: no outcome on the bus within %d "
	    "ms (devcloudctl releases %s tells whether it was made)", id, app,
	    c->wait_ms >= 0 ? c->wait_ms : DEPLOY_WAIT_MS, app);
}

/*
 * Sends the request (an upload of F, or a rollback when F is NULL) with
 * the headers HDR (freed here), then waits for the outcome on the bus.
 */
static int
deploy_send(struct ctl *c, const char *app, const char *what, FILE *f,
    off_t size, const char *mem, struct curl_slist *hdr)
{
	struct deploy_answer ans = {0};
	const char *id;
	nng_socket s;
	long status;
	char *nl;

	if (ctl_subscribe(c, &s, "deploy.") != 0) {
		curl_slist_free_all(hdr);
		return 1;
	}
	curl_global_init(CURL_GLOBAL_DEFAULT);
	status = deploy_upload(c, app, what, f, size, mem, hdr, &ans);
	if ((nl = strchr(ans.text, '\n')) != NULL)
		*nl = '\0';
	if (status != 202 || strncmp(ans.text, "accepted ", 9) != 0) {
		if (status == 0)
			return ctl_error("%s: %s", f ? "deploy" : "rollback",
			    ans.text);
		return ctl_error("%s: the deployer answered %ld: %s",
		    f || mem ? "deploy" : "rollback", status, ans.text);
	}
	id = ans.text + 9;
	printf("%s %s of %s accepted\n", f || mem ? "deploy" :
	    "rollback to release", id, app);
	fflush(stdout);
	return deploy_wait(c, s, app, id);
}

/* {KEY: VALUE, "sha256": SHA} (SHA may be NULL); caller frees. */
static char *
deploy_json(const char *key, const char *value, const char *sha)
{
	json_object *o = json_object_new_object();
	char *s = NULL;

	if (o == NULL)
		return NULL;
	json_object_object_add(o, key, json_object_new_string(value));
	if (sha != NULL)
		json_object_object_add(o, "sha256",
		    json_object_new_string(sha));
	s = strdup(json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN));
	json_object_put(o);
	return s;
}

int
ctl_deploy(struct ctl *c, int argc, char **argv)
{
	static const char usage[] = "usage: deploy APP FILE.tar.gz | "
	    "--url URL [--sha256 HEX] | --image IMAGE:TAG  [--check /PATH] "
	    "[--wake] [--watch-ms MS]";
	struct curl_slist *hdr = NULL;
	const char *app, *file = NULL, *url = NULL, *sha = NULL, *img = NULL;
	char line[400], *body;
	struct stat st;
	FILE *f;
	int rv;

	if (argc < 2)
		return ctl_usage_error(usage);
	app = argv[0];
	if (!keys_name_valid(app))
		return ctl_usage_error("deploy: invalid app name \"%s\"", app);
	for (int i = 1; i < argc; i++) {
		const char *o = argv[i];

		if (strcmp(o, "--wake") == 0) {
			hdr = curl_slist_append(hdr, "X-Devcloud-Wake: 1");
		} else if ((strcmp(o, "--check") == 0 ||
		    strcmp(o, "--watch-ms") == 0) && i + 1 < argc) {
			snprintf(line, sizeof(line), "%s: %s",
			    o[2] == 'c' ? "X-Devcloud-Check" :
			    "X-Devcloud-Watch-Ms", argv[++i]);
			hdr = curl_slist_append(hdr, line);
		} else if (strcmp(o, "--url") == 0 && i + 1 < argc) {
			url = argv[++i];
		} else if (strcmp(o, "--image") == 0 && i + 1 < argc) {
			img = argv[++i];
		} else if (strcmp(o, "--sha256") == 0 && i + 1 < argc) {
			sha = argv[++i];
		} else if (o[0] != '-' && file == NULL) {
			file = o;
		} else {
			curl_slist_free_all(hdr);
			return ctl_usage_error(usage);
		}
	}
	if ((file != NULL) + (url != NULL) + (img != NULL) != 1 ||
	    (sha != NULL && url == NULL)) {
		curl_slist_free_all(hdr);
		return ctl_usage_error(usage);
	}
	if (url != NULL || img != NULL) {
		if ((body = deploy_json(url ? "url" : "image", url ? url : img,
		    sha)) == NULL) {
			curl_slist_free_all(hdr);
			return ctl_error("deploy: out of memory");
		}
		hdr = curl_slist_append(hdr, "Content-Type: application/json");
		rv = deploy_send(c, app, "releases", NULL, 0, body, hdr);
		free(body);
		return rv;
	}
	if ((f = fopen(file, "rb")) == NULL) {
		curl_slist_free_all(hdr);
		return ctl_error("deploy: cannot open %s: %s", file,
		    strerror(errno));
	}
	if (fstat(fileno(f), &st) != 0 || !S_ISREG(st.st_mode)) {
		fclose(f);
		curl_slist_free_all(hdr);
		return ctl_error("deploy: %s is not a regular file", file);
	}
	hdr = curl_slist_append(hdr, "Content-Type: application/gzip");
	rv = deploy_send(c, app, "releases", f, st.st_size, NULL, hdr);
	fclose(f);
	return rv;
}

int
ctl_rollback(struct ctl *c, int argc, char **argv)
{
	struct curl_slist *hdr = NULL;
	char line[64];

	if (argc < 1 || argc > 2)
		return ctl_usage_error("usage: rollback APP [RELEASE]");
	if (!keys_name_valid(argv[0]))
		return ctl_usage_error("rollback: invalid app name \"%s\"",
		    argv[0]);
	if (argc == 2) {
		if (argv[1][0] == '\0' || argv[1][0] == '0' ||
		    argv[1][strspn(argv[1], "0123456789")] != '\0' ||
		    strlen(argv[1]) > 20)
			return ctl_usage_error("rollback: \"%s\" is not a "
			    "release number", argv[1]);
		snprintf(line, sizeof(line), "X-Devcloud-Release: %s",
		    argv[1]);
		hdr = curl_slist_append(hdr, line);
	}
	return deploy_send(c, argv[0], "rollback", NULL, 0, NULL, hdr);
}

/* "2026-11-30 05:34:46" (UTC) of the ms timestamp S into BUF. */
static const char *
releases_time(char *buf, size_t len, const char *s)
{
	time_t t = (time_t)(strtoll(s, NULL, 10) / 1000);
	struct tm tm;

	if (s[0] == '\0' || gmtime_r(&t, &tm) == NULL ||
	    strftime(buf, len, "%Y-%m-%d %H:%M:%S", &tm) == 0)
		snprintf(buf, len, "-");
	return buf;
}

int
ctl_releases(struct ctl *c, int argc, char **argv)
{
	char kapp[KEY_MAX], krels[KEY_MAX], key[KEY_MAX], when[32];
	redisReply *cur = NULL, *nums = NULL, *r;
	const char *app, *current;
	redisContext *rc;
	int rv = 1;

	if (argc != 1)
		return ctl_usage_error("usage: releases APP");
	app = argv[0];
	if (key_app(kapp, sizeof(kapp), app) == NULL ||
	    key_releases(krels, sizeof(krels), app) == NULL)
		return ctl_usage_error("releases: invalid app name \"%s\"",
		    app);
	if ((rc = ctl_redis(c, false)) == NULL)
		return 1;
	redisAppendCommand(rc, "HGETALL %s", kapp);
	redisAppendCommand(rc, "ZRANGE %s 0 -1", krels);
	if (redisGetReply(rc, (void **)&cur) != REDIS_OK ||
	    redisGetReply(rc, (void **)&nums) != REDIS_OK ||
	    cur->type != REDIS_REPLY_ARRAY || nums->type != REDIS_REPLY_ARRAY) {
		ctl_error("releases: %s", rc->err ? rc->errstr :
		    "unexpected answer from redis");
		goto done;
	}
	if (cur->elements == 0) {
		ctl_error("releases: no app %s", app);
		goto done;
	}
	current = ctl_hash_get(cur, "release");
	for (size_t i = 0; i < nums->elements; i++)
		redisAppendCommand(rc, "HGETALL %s", key_release(key,
		    sizeof(key), app, strtoull(nums->element[i]->str, NULL,
		    10)) != NULL ? key : "-");
	printf("  %-8s %-19s %12s  %-12s  %-6s  %s\n", "RELEASE", "TIME",
	    "SIZE", "SHA256", "STATE", "SOURCE");
	for (size_t i = 0; i < nums->elements; i++) {
		const char *n = nums->element[i]->str;

		if (redisGetReply(rc, (void **)&r) != REDIS_OK) {
			ctl_error("releases: %s", rc->errstr);
			goto done;
		}
		printf("%c %-8s %-19s %12s  %-12.12s  %-6s  %s\n",
		    strcmp(n, current) == 0 ? '*' : ' ', n,
		    releases_time(when, sizeof(when), ctl_hash_get(r, "time")),
		    ctl_hash_get(r, "size"), ctl_hash_get(r, "sha256"),
		    ctl_hash_get(r, "state"), ctl_hash_get(r, "source"));
		freeReplyObject(r);
	}
	rv = 0;
done:
	freeReplyObject(cur);
	freeReplyObject(nums);
	redisFree(rc);
	return rv;
}
