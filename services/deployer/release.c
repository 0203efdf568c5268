/*
 * The deployer's disk work, on libuv's thread pool so that the loop
 * never waits for a write, a gzip or a removal: the upload written to a
 * file with no name (it cannot be left behind or swapped), hashed and
 * unpacked by artifact_unpack into releases_dir/APP/N; old releases
 * removed; and at start, what a crash left behind.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <curl/curl.h>

#include "artifact.h"
#include "deployer.h"
#include "log.h"

int
release_path(char *buf, size_t len, const char *dir, const char *app,
    unsigned long long n)
{
	int w;

	if (n == 0)
		w = snprintf(buf, len, "%s/%s", dir, app);
	else
		w = snprintf(buf, len, "%s/%s/%llu", dir, app, n);
	return w < 0 || (size_t)w >= len ? -1 : 0;
}

/* Makes DIR if it is missing; 0, or -1 with ERR. */
static int
release_mkdir(const char *dir, char *err, size_t errlen)
{
	if (mkdir(dir, 0755) == 0 || errno == EEXIST)
		return 0;
	snprintf(err, errlen, "cannot make %.300s: %s", dir,
	    strerror(errno));
	return -1;
}

/* An open file with no name in DIR (O_TMPFILE, or a name unlinked at
 * once where the file system has no O_TMPFILE); -1 with ERR. */
static int
release_tmpfile(const char *dir, char *err, size_t errlen)
{
	char path[PATH_MAX];
	int fd;

	if ((fd = open(dir, O_TMPFILE | O_RDWR | O_CLOEXEC, 0600)) >= 0)
		return fd;
	if (errno == EOPNOTSUPP || errno == EISDIR) {
		if (snprintf(path, sizeof(path), "%s/.upload-XXXXXX",
		    dir) < (int)sizeof(path) &&
		    (fd = mkostemp(path, O_CLOEXEC)) >= 0) {
			unlink(path);
			return fd;
		}
	}
	snprintf(err, errlen, "cannot make a file in %.300s: %s", dir,
	    strerror(errno));
	return -1;
}

/* Writes LEN bytes of P to FD, hashing them into H; 0 or -1 (errno). */
static int
release_write(int fd, const char *p, size_t len, struct sha256_ctx *h)
{
	sha256_update(h, p, len);
	while (len > 0) {
		ssize_t n = write(fd, p, len);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return -1;
		p += n;
		len -= (size_t)n;
	}
	return 0;
}

/* A download's state, for libcurl's write callback. */
struct release_fetch {
	int fd;
	struct sha256_ctx *h;
	uint64_t got, max;
	bool too_big;
	int werrno;
};

static size_t
release_fetch_write(char *p, size_t size, size_t n, void *arg)
{
	struct release_fetch *f = arg;
	size_t len = size * n;

	f->got += len;
	if (f->got > f->max) {
		f->too_big = true;
		return 0;	/* libcurl stops: CURLE_WRITE_ERROR */
	}
	if (release_write(f->fd, p, len, f->h) != 0) {
		f->werrno = errno;
		return 0;
	}
	return len;
}

/*
 * Downloads D->url into FD, hashing it into H, under the fetch_*
 * settings: http and https only (redirects too, at most
 * fetch_max_redirects), a connect and a whole-download timeout, at most
 * max_artifact_bytes, a status other than 2xx refused. The CI server's
 * credentials go to the URL's own host only (libcurl does not send them
 * on to a redirect's other host). 0, or -1 with D->err.
 */
static int
release_fetch(struct deploy *d, int fd, struct sha256_ctx *h)
{
	const struct config *cfg = &d->dp->svc->cfg;
	struct release_fetch f = {.fd = fd, .h = h,
	    .max = (uint64_t)cfg->deployer.max_artifact_bytes};
	char cerr[CURL_ERROR_SIZE] = "";
	long status = 0;
	CURLcode rc;
	CURL *c;

	if ((c = curl_easy_init()) == NULL) {
		snprintf(d->err, sizeof(d->err), "download: cannot start "
		    "libcurl");
		return -1;
	}
	curl_easy_setopt(c, CURLOPT_URL, d->url);
	curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, "http,https");
	curl_easy_setopt(c, CURLOPT_REDIR_PROTOCOLS_STR, "http,https");
	curl_easy_setopt(c, CURLOPT_FOLLOWLOCATION, 1L);
	curl_easy_setopt(c, CURLOPT_MAXREDIRS,
	    (long)cfg->deployer.fetch_max_redirects);
	curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT_MS,
	    (long)cfg->deployer.fetch_connect_timeout_ms);
	curl_easy_setopt(c, CURLOPT_TIMEOUT_MS,
	    (long)cfg->deployer.fetch_timeout_ms);
	curl_easy_setopt(c, CURLOPT_MAXFILESIZE_LARGE,
	    (curl_off_t)cfg->deployer.max_artifact_bytes);
	curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, release_fetch_write);
	curl_easy_setopt(c, CURLOPT_WRITEDATA, &f);
	curl_easy_setopt(c, CURLOPT_ERRORBUFFER, cerr);
	curl_easy_setopt(c, CURLOPT_USERAGENT,
	    "devcloud-deployer/" DC_VERSION);
	if (cfg->deployer.fetch_bearer[0] != '\0') {
		curl_easy_setopt(c, CURLOPT_HTTPAUTH, CURLAUTH_BEARER);
		curl_easy_setopt(c, CURLOPT_XOAUTH2_BEARER,
		    cfg->deployer.fetch_bearer);
	} else if (cfg->deployer.fetch_user[0] != '\0') {
		curl_easy_setopt(c, CURLOPT_HTTPAUTH, CURLAUTH_BASIC);
		curl_easy_setopt(c, CURLOPT_USERPWD, cfg->deployer.fetch_user);
	}
	rc = curl_easy_perform(c);
	curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &status);
	curl_easy_cleanup(c);
	if (f.too_big || rc == CURLE_FILESIZE_EXCEEDED) {
		snprintf(d->err, sizeof(d->err), "download %.300s: larger "
		    "than deployer.max_artifact_bytes (%d)", d->url,
		    cfg->deployer.max_artifact_bytes);
		return -1;
	}
	if (f.werrno != 0) {
		snprintf(d->err, sizeof(d->err), "download %.300s: cannot "
		    "write it: %s", d->url, strerror(f.werrno));
		return -1;
	}
	if (rc != CURLE_OK) {
		snprintf(d->err, sizeof(d->err), "download %.300s: %s", d->url,
		    cerr[0] ? cerr : curl_easy_strerror(rc));
		return -1;
	}
	if (status < 200 || status > 299) {
		snprintf(d->err, sizeof(d->err), "download %.300s: HTTP %ld",
		    d->url, status);
		return -1;
	}
	d->len = (size_t)f.got;
	return 0;
}

/* Thread pool. */
static void
release_unpack_work(struct deploy *d)
{
	const struct config *cfg = &d->dp->svc->cfg;
	struct artifact_limits lim = {
		.max_bytes = (uint64_t)cfg->deployer.max_artifact_bytes,
		.max_unpacked = (uint64_t)cfg->deployer.max_unpacked_bytes,
		.max_entries = (uint64_t)cfg->deployer.max_entries,
	};
	char dir[PATH_MAX], dest[PATH_MAX];
	struct sha256_ctx h;
	uint8_t digest[SHA256_LEN];
	int fd = -1;

	d->rc = -1;
	if (release_path(dir, sizeof(dir), cfg->deployer.releases_dir, d->app,
	    0) != 0 || release_path(dest, sizeof(dest),
	    cfg->deployer.releases_dir, d->app, d->release) != 0) {
		snprintf(d->err, sizeof(d->err), "releases_dir: path too long");
		goto fail;
	}
	if (release_mkdir(cfg->deployer.releases_dir, d->err,
	    sizeof(d->err)) != 0 || release_mkdir(dir, d->err,
	    sizeof(d->err)) != 0)
		goto fail;
	if ((fd = release_tmpfile(dir, d->err, sizeof(d->err))) < 0)
		goto fail;
	sha256_init(&h);
	if (d->url[0] != '\0') {
		if (release_fetch(d, fd, &h) != 0)
			goto fail;
	} else if (release_write(fd, d->body, d->len, &h) != 0) {
		snprintf(d->err, sizeof(d->err), "cannot write the artifact "
		    "in %.300s: %s", dir, strerror(errno));
		goto fail;
	}
	sha256_final(&h, digest);
	sha256_hex(digest, d->sha256);
	free(d->body);		/* the upload's memory goes before the unpack */
	d->body = NULL;
	if (d->want_sha256[0] != '\0' &&
	    strcmp(d->want_sha256, d->sha256) != 0) {
		snprintf(d->err, sizeof(d->err), "artifact: sha256 is %s, "
		    "not %s as the upload said", d->sha256, d->want_sha256);
		goto fail;
	}
	if (artifact_unpack(fd, NULL, dest, &lim, d->err,
	    sizeof(d->err)) != 0)
		goto fail;
	d->rc = 0;
fail:
	if (fd >= 0)
		close(fd);
	free(d->body);		/* when the write failed */
	d->body = NULL;
}

/* Thread pool. */
static void
release_prune_work(struct deploy *d)
{
	const char *root = d->dp->svc->cfg.deployer.releases_dir;
	char path[PATH_MAX];
	struct stat st;

	d->rc = 0;
	for (size_t i = 0; i < d->nprune; i++) {
		/* one already gone is what was wanted */
		if (release_path(path, sizeof(path), root, d->app,
		    d->prune[i]) != 0 || (lstat(path, &st) != 0 &&
		    errno == ENOENT))
			continue;
		if (artifact_remove(path, d->err, sizeof(d->err)) != 0)
			d->rc = -1;
	}
}

/* Thread pool. */
static void
release_remove_work(struct deploy *d)
{
	char path[PATH_MAX];

	d->rc = 0;
	if (release_path(path, sizeof(path),
	    d->dp->svc->cfg.deployer.releases_dir, d->app, d->release) == 0 &&
	    artifact_remove(path, d->err, sizeof(d->err)) != 0)
		d->rc = -1;
}

/* One step: what runs on the pool, and what runs after on the loop. */
struct release_step {
	uv_work_t work;
	struct deploy *d;
	void (*fn)(struct deploy *d);
	release_done_fn done;
};

static void
release_step_work(uv_work_t *w)
{
	struct release_step *st = w->data;

	st->fn(st->d);
}

static void
release_step_after(uv_work_t *w, int status)
{
	struct release_step *st = w->data;
	struct deploy *d = st->d;
	release_done_fn done = st->done;

	free(st);
	if (status != 0) {
		d->rc = -1;
		snprintf(d->err, sizeof(d->err), "cancelled");
	}
	done(d);
}

/* Runs FN(D) on the thread pool, then DONE(D) on the loop. */
static int
release_queue(struct deploy *d, void (*fn)(struct deploy *d),
    release_done_fn done)
{
	struct release_step *st;

	if ((st = calloc(1, sizeof(*st))) == NULL)
		return -1;
	st->d = d;
	st->fn = fn;
	st->done = done;
	st->work.data = st;
	if (uv_queue_work(d->dp->svc->loop, &st->work, release_step_work,
	    release_step_after) != 0) {
		free(st);
		return -1;
	}
	return 0;
}

int
release_unpack(struct deploy *d, release_done_fn done)
{
	return release_queue(d, release_unpack_work, done);
}

int
release_prune(struct deploy *d, release_done_fn done)
{
	return release_queue(d, release_prune_work, done);
}

int
release_remove(struct deploy *d, release_done_fn done)
{
	return release_queue(d, release_remove_work, done);
}

/*
 * Thread pool: removes the temporary directories artifact_unpack leaves
 * when the process dies mid-unpack (".N.tmp-XXXXXX" in an app's
 * directory). No deploy runs yet: the sweep is queued before the loop.
 */
static void
release_sweep_work(uv_work_t *w)
{
	const char *root = w->data;
	char app[PATH_MAX], path[PATH_MAX], err[512];
	struct dirent *e, *f;
	DIR *top, *sub;

	if ((top = opendir(root)) == NULL)
		return;
	while ((e = readdir(top)) != NULL) {
		if (e->d_name[0] == '.' || snprintf(app, sizeof(app), "%s/%s",
		    root, e->d_name) >= (int)sizeof(app) ||
		    (sub = opendir(app)) == NULL)
			continue;
		while ((f = readdir(sub)) != NULL) {
			if (f->d_name[0] != '.' ||
			    strstr(f->d_name, ".tmp-") == NULL ||
			    snprintf(path, sizeof(path), "%s/%s", app,
			    f->d_name) >= (int)sizeof(path))
				continue;
			if (artifact_remove(path, err, sizeof(err)) == 0)
				log_info("removed what a crash left",
				    "path=%s", path);
			else
				log_warn("cannot remove what a crash left",
				    "path=%s err=\"%s\"", path, err);
		}
		closedir(sub);
	}
	closedir(top);
}

static void
release_sweep_after(uv_work_t *w, int status)
{
	(void)status;
	free(w);
}

int
release_sweep(struct deployer *dp)
{
	uv_work_t *w;

	if ((w = calloc(1, sizeof(*w))) == NULL)
		return -1;
	w->data = dp->svc->cfg.deployer.releases_dir;
	if (uv_queue_work(dp->svc->loop, w, release_sweep_work,
	    release_sweep_after) != 0) {
		free(w);
		return -1;
	}
	return 0;
}
