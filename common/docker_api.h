/*
 * Requests to the Docker Engine API on the daemon's unix socket, for code
 * on a worker thread: libcurl blocks, so never call these on an event
 * loop's thread (driver_docker.c and idepool's member_docker.c run them
 * on libuv's thread pool). A call holds one curl handle and a deadline
 * for everything it asks; each request gets what is left of it.
 *
 * Docker's own error message ("No such container: x") becomes the
 * call's error; a daemon that is down or a missing socket becomes
 * "docker: cannot reach SOCKET: ...".
 */
#ifndef DC_DOCKER_API_H
#define DC_DOCKER_API_H

#include <stddef.h>
#include <stdint.h>

#include <curl/curl.h>

#define DOCKER_API "http://localhost/v1.41"	/* dockerd 20.10 and later */
#define DOCKER_BODY_MAX (4 << 20)	/* bounds what a JSON reply may cost */

struct docker_call {
	CURL *curl;
	const char *socket;	/* the caller's, kept while the call lives */
	long deadline_ms;	/* docker_now_ms() clock */
	char *err;		/* the caller's buffer, for every failure */
	size_t errlen;

	/* the last reply: its status and (unless streamed) its body, NUL
	 * terminated, NULL when empty; the call owns it */
	long status;
	char *body;
	size_t len;

	/* a streamed reply: bytes written to its descriptor */
	int64_t streamed;

	/* private to docker_api.c */
	int reply_fd;
	int64_t reply_max;
	int upload_fd;
	int64_t upload_len, upload_off;
};

/* A container's "Env" array from "K=V" lines ('\n' between; empty
 * lines skipped), as json-c's object; NULL if out of memory. */
struct json_object *docker_env_array(const char *lines);

/* Milliseconds of CLOCK_MONOTONIC. */
long docker_now_ms(void);

/*
 * Opens a call to the daemon at SOCKET (not copied: it must outlive the
 * call) with TIMEOUT_MS for all its requests; every failure of the call
 * is written into ERR (ERRLEN bytes). 0, or -1 with ERR.
 */
int docker_call_init(struct docker_call *c, const char *socket,
    int timeout_ms, char *err, size_t errlen);
/* Frees the handle and the last body; C may be initialised again. */
void docker_call_cleanup(struct docker_call *c);

/*
 * One request: METHOD on PATH (below /v1.41, query included), with the
 * JSON body for a POST (NULL: an empty one). 0 with c->status and
 * c->body set, whatever the status; -1 with the error if no answer came
 * (unreachable, timed out, reply over DOCKER_BODY_MAX).
 */
int docker_request(struct docker_call *c, const char *method,
    const char *path, const char *json);

/*
 * PUT PATH with LEN bytes of FD (read with pread from offset 0, the
 * descriptor never moved) as an application/x-tar body. As
 * docker_request otherwise.
 */
int docker_request_put_fd(struct docker_call *c, const char *path, int fd,
    int64_t len);

/*
 * GET PATH with a 200 reply's body written to FD (from its current
 * offset; c->streamed counts the bytes), any other reply's body into
 * c->body. More than MAX bytes fails the request ("reply over MAX
 * bytes"). As docker_request otherwise.
 */
int docker_request_get_fd(struct docker_call *c, const char *path, int fd,
    int64_t max);

/*
 * The last reply as the call's error: Docker's {"message": "..."} as
 * "docker: MESSAGE", else "docker: WHAT ID: HTTP STATUS".
 */
void docker_call_error(struct docker_call *c, const char *what,
    const char *id);

#endif
