/*
 * Requests to the Docker Engine API (docker_api.h): libcurl over the
 * daemon's unix socket, each request within what is left of its call's
 * deadline, replies read into memory (bounded) or streamed to a file
 * descriptor (a container's archive), bodies sent from memory (JSON) or
 * from a file descriptor (a tar).
 */
#include <errno.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <json-c/json.h>

#include "docker_api.h"

#define DOCKER_CONNECT_TIMEOUT_MS 2000
/* for the last request of a call that is late */
#define DOCKER_MIN_TIMEOUT_MS 500

long
docker_now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void docker_call_fail(struct docker_call *c, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/* The call's error, cut to fit: Docker's messages may be long. */
static void
docker_call_fail(struct docker_call *c, const char *fmt, ...)
{
	va_list ap;

	if (c->errlen == 0)
		return;
	va_start(ap, fmt);
	vsnprintf(c->err, c->errlen, fmt, ap);
	va_end(ap);
}

int
docker_call_init(struct docker_call *c, const char *socket, int timeout_ms,
    char *err, size_t errlen)
{
	memset(c, 0, sizeof(*c));
	c->socket = socket;
	c->err = err;
	c->errlen = errlen;
	c->reply_fd = c->upload_fd = -1;
	c->deadline_ms = docker_now_ms() + timeout_ms;
	if ((c->curl = curl_easy_init()) == NULL) {
		docker_call_fail(c, "docker: cannot create a curl handle");
		return -1;
	}
	return 0;
}

void
docker_call_cleanup(struct docker_call *c)
{
	if (c->curl != NULL)
		curl_easy_cleanup(c->curl);
	c->curl = NULL;
	free(c->body);
	c->body = NULL;
	c->len = 0;
}

/* Into memory, up to DOCKER_BODY_MAX. */
static int
docker_keep(struct docker_call *c, const char *p, size_t len)
{
	char *data;

	if (c->len + len > DOCKER_BODY_MAX)
		return -1;
	if ((data = realloc(c->body, c->len + len + 1)) == NULL)
		return -1;
	memcpy(data + c->len, p, len);
	c->len += len;
	data[c->len] = '\0';
	c->body = data;
	return 0;
}

/* Into the reply descriptor, up to reply_max. */
static int
docker_stream(struct docker_call *c, const char *p, size_t len)
{
	ssize_t n;

	if ((int64_t)len > c->reply_max - c->streamed)
		return -1;
	while (len > 0) {
		if ((n = write(c->reply_fd, p, len)) < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return -1;
		p += n;
		len -= (size_t)n;
		c->streamed += n;
	}
	return 0;
}

static size_t
docker_write(char *p, size_t size, size_t n, void *arg)
{
	struct docker_call *c = arg;
	long status = 0;
	int rc;

	/* the headers are in: only a success is an archive to stream */
	if (c->reply_fd >= 0)
		curl_easy_getinfo(c->curl, CURLINFO_RESPONSE_CODE, &status);
	if (c->reply_fd >= 0 && status == 200)
		rc = docker_stream(c, p, size * n);
	else
		rc = docker_keep(c, p, size * n);
	return rc == 0 ? size * n : 0;	/* 0: curl fails the transfer */
}

static size_t
docker_read(char *p, size_t size, size_t n, void *arg)
{
	struct docker_call *c = arg;
	size_t want = size * n;
	ssize_t got;

	if ((int64_t)want > c->upload_len - c->upload_off)
		want = (size_t)(c->upload_len - c->upload_off);
	if (want == 0)
		return 0;
	do
		got = pread(c->upload_fd, p, want, c->upload_off);
	while (got < 0 && errno == EINTR);
	if (got <= 0)
		return CURL_READFUNC_ABORT;	/* the body is shorter */
	c->upload_off += got;
	return (size_t)got;
}

static int
docker_perform(struct docker_call *c, const char *method, const char *path,
    const char *json)
{
	struct curl_slist *hdrs = NULL;
	char url[1024];
	long left = c->deadline_ms - docker_now_ms(), oserr = 0;
	bool body = strcmp(method, "POST") == 0 || c->upload_fd >= 0;
	CURLcode rc;

	if (left < DOCKER_MIN_TIMEOUT_MS)
		left = DOCKER_MIN_TIMEOUT_MS;
	free(c->body);
	c->body = NULL;
	c->len = 0;
	c->status = 0;
	c->streamed = 0;
	if ((size_t)snprintf(url, sizeof(url), "%s%s", DOCKER_API, path) >=
	    sizeof(url)) {
		docker_call_fail(c, "docker: %s %.64s...: path too long",
		    method, path);
		return -1;
	}

	curl_easy_reset(c->curl);
	curl_easy_setopt(c->curl, CURLOPT_UNIX_SOCKET_PATH, c->socket);
	curl_easy_setopt(c->curl, CURLOPT_URL, url);
	curl_easy_setopt(c->curl, CURLOPT_CUSTOMREQUEST, method);
	curl_easy_setopt(c->curl, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(c->curl, CURLOPT_CONNECTTIMEOUT_MS,
	    (long)DOCKER_CONNECT_TIMEOUT_MS);
	curl_easy_setopt(c->curl, CURLOPT_TIMEOUT_MS, left);
	curl_easy_setopt(c->curl, CURLOPT_WRITEFUNCTION, docker_write);
	curl_easy_setopt(c->curl, CURLOPT_WRITEDATA, c);
	if (body) {
		/*
		 * Docker wants a body (maybe empty) on every POST; "Expect:"
		 * stops curl waiting for a "100 Continue" on big ones.
		 */
		struct curl_slist *h = curl_slist_append(NULL, "Expect:");
		const char *type = c->upload_fd >= 0 ?
		    "Content-Type: application/x-tar" :
		    "Content-Type: application/json";

		if (h != NULL && (hdrs = curl_slist_append(h, type)) == NULL)
			curl_slist_free_all(h);
		curl_easy_setopt(c->curl, CURLOPT_HTTPHEADER, hdrs);
	}
	if (c->upload_fd >= 0) {
		curl_easy_setopt(c->curl, CURLOPT_UPLOAD, 1L);
		curl_easy_setopt(c->curl, CURLOPT_READFUNCTION, docker_read);
		curl_easy_setopt(c->curl, CURLOPT_READDATA, c);
		curl_easy_setopt(c->curl, CURLOPT_INFILESIZE_LARGE,
		    (curl_off_t)c->upload_len);
	} else if (body) {
		curl_easy_setopt(c->curl, CURLOPT_POSTFIELDS,
		    json != NULL ? json : "");
	}
	rc = curl_easy_perform(c->curl);
	curl_slist_free_all(hdrs);
	if (rc == CURLE_OK) {
		curl_easy_getinfo(c->curl, CURLINFO_RESPONSE_CODE, &c->status);
		return 0;
	}
	if (rc == CURLE_OPERATION_TIMEDOUT) {
		docker_call_fail(c, "docker: %s %s timed out after %ld ms",
		    method, path, left);
		return -1;
	}
	if (rc == CURLE_WRITE_ERROR && c->reply_fd >= 0 &&
	    c->streamed < c->reply_max) {
		docker_call_fail(c, "docker: %s %s: cannot keep the reply: %s",
		    method, path, strerror(errno));
		return -1;
	}
	if (rc == CURLE_WRITE_ERROR && c->reply_fd >= 0) {
		docker_call_fail(c, "docker: %s %s: reply over %lld bytes",
		    method, path, (long long)c->reply_max);
		return -1;
	}
	if (rc == CURLE_WRITE_ERROR) {
		docker_call_fail(c, "docker: %s %s: reply over %d bytes or "
		    "out of memory", method, path, DOCKER_BODY_MAX);
		return -1;
	}
	if (rc == CURLE_ABORTED_BY_CALLBACK && c->upload_fd >= 0) {
		docker_call_fail(c, "docker: %s %s: cannot read the body to "
		    "send", method, path);
		return -1;
	}
	curl_easy_getinfo(c->curl, CURLINFO_OS_ERRNO, &oserr);
	if (oserr != 0)
		docker_call_fail(c, "docker: cannot reach %s: %s (%s)",
		    c->socket, curl_easy_strerror(rc), strerror((int)oserr));
	else
		docker_call_fail(c, "docker: cannot reach %s: %s", c->socket,
		    curl_easy_strerror(rc));
	return -1;
}

int
docker_request(struct docker_call *c, const char *method, const char *path,
    const char *json)
{
	return docker_perform(c, method, path, json);
}

int
docker_request_put_fd(struct docker_call *c, const char *path, int fd,
    int64_t len)
{
	int rc;

	c->upload_fd = fd;
	c->upload_len = len;
	c->upload_off = 0;
	rc = docker_perform(c, "PUT", path, NULL);
	c->upload_fd = -1;
	return rc;
}

int
docker_request_get_fd(struct docker_call *c, const char *path, int fd,
    int64_t max)
{
	int rc;

	c->reply_fd = fd;
	c->reply_max = max;
	rc = docker_perform(c, "GET", path, NULL);
	c->reply_fd = -1;
	return rc;
}

void
docker_call_error(struct docker_call *c, const char *what, const char *id)
{
	json_object *o = NULL, *m;

	if (c->body != NULL)
		o = json_tokener_parse(c->body);

	if (o != NULL && json_object_object_get_ex(o, "message", &m) &&
	    json_object_is_type(m, json_type_string))
		docker_call_fail(c, "docker: %s", json_object_get_string(m));
	else
		docker_call_fail(c, "docker: %s %s: HTTP %ld", what, id,
		    c->status);
	json_object_put(o);
}

struct json_object *
docker_env_array(const char *lines)
{
	json_object *env = json_object_new_array();
	const char *line = lines, *nl;

	for (; env != NULL && *line != '\0'; line = *nl ? nl + 1 : nl) {
		if ((nl = strchr(line, '\n')) == NULL)
			nl = line + strlen(line);
		if (nl > line)
			json_object_array_add(env, json_object_new_string_len(
			    line, (int)(nl - line)));
	}
	return env;
}
