// links: services/idepool/member.c services/idepool/member_docker.c services/idepool/member_process.c services/idepool/member_tar.c
/*
 * idepool's members (services/idepool/member*.c) through their interface
 * (member.h), on a real loop, against the real thing: processes run
 * by /bin/sh (busybox httpd serving the workspace), or, when
 * DEVCLOUD_TEST_MEMBER_DRIVER=docker, containers of a real dockerd at
 * DEVCLOUD_TEST_DOCKER_SOCK made from DEVCLOUD_TEST_IMAGE (busybox
 * httpd serving /www on 8080): tests/integration/idepool_members.sh sets
 * that up and runs these same cases so. Each case works in a temporary
 * directory of its own and removes its members.
 *
 *   lifecycle      create, start, the address answers, files loaded
 *                  (nested directories, 1 MB, a symlink) and served byte
 *                  for byte, a file written inside, saved and found byte
 *                  for byte, listed, removed and gone
 *   load_refused   a workspace over max_bytes, one holding a symlink to
 *                  /etc, one holding a hard link to a file outside:
 *                  refused with a clear error, nothing copied
 *   save_refused   a workspace holding a symlink that leaves it, then a
 *                  DEST whose parent is read-only: refused, DEST as it
 *                  was
 *   owner          the files loaded belong to the member's user (in
 *                  docker, an image whose USER is "1000:1000"), who
 *                  can change them
 *   gone           removing a member that does not exist succeeds
 *   errors         docker: an unreachable daemon says "cannot reach";
 *                  process: starting a member never created is refused
 */
#include <arpa/inet.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <sys/mount.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <time.h>
#include <uv.h>

#include "../../services/idepool/member.h"
#include "addr.h"
#include "artifact.h"
#include "unit.h"

#define BIG (1 << 20)

struct fx {
	uv_loop_t loop;
	struct config cfg;
	struct members *m;
	struct pool_spec spec;
	char tmp[256];
	bool docker;
	char url_prefix[32];	/* where the workspace is served */
};

struct waiter {
	bool done;
	struct member_result r;
	int listed;
	char ids[8][MEMBER_ID_MAX];
	bool running[8];
};

static void
on_result(const struct member_result *r, void *arg)
{
	struct waiter *w = arg;

	w->r = *r;
	w->done = true;
}

static void
on_list(const char *id, const struct member_result *r, void *arg)
{
	struct waiter *w = arg;

	if (id == NULL) {
		w->r = *r;
		w->done = true;
	} else if (w->listed < 8) {
		snprintf(w->ids[w->listed], MEMBER_ID_MAX, "%s", id);
		w->running[w->listed++] = r->running;
	}
}

static void
fx_wait(struct fx *f, struct waiter *w)
{
	while (!w->done)
		uv_run(&f->loop, UV_RUN_ONCE);
}

enum op { CREATE, START, STOP, REMOVE, LOAD, SAVE };

/* One call, to its end: 0 if it succeeded; R holds the result (or the
 * refusal in R->err). */
static int
call(struct fx *f, enum op op, const char *id, const char *dir,
    int64_t max, struct member_result *r)
{
	struct waiter w = {0};
	char err[MEMBER_ERR_MAX];
	int rc = -1;

	switch (op) {
	case CREATE:
		rc = member_create(f->m, &f->spec, id, on_result, &w, err,
		    sizeof(err));
		break;
	case START:
		rc = member_start(f->m, &f->spec, id, on_result, &w, err,
		    sizeof(err));
		break;
	case STOP:
		rc = member_stop(f->m, &f->spec, id, on_result, &w, err,
		    sizeof(err));
		break;
	case REMOVE:
		rc = member_remove(f->m, &f->spec, id, on_result, &w, err,
		    sizeof(err));
		break;
	case LOAD:
		rc = member_load(f->m, &f->spec, id, dir, max, on_result, &w,
		    err, sizeof(err));
		break;
	case SAVE:
		rc = member_save(f->m, &f->spec, id, dir, max, on_result, &w,
		    err, sizeof(err));
		break;
	}
	memset(r, 0, sizeof(*r));
	if (rc < 0) {
		snprintf(r->err, sizeof(r->err), "%s", err);
		return -1;
	}
	fx_wait(f, &w);
	*r = w.r;
	if (!r->ok)
		fprintf(stderr, "# call %d on %s: %s\n", (int)op, id, r->err);
	return r->ok ? 0 : -1;
}

static bool
fx_open(struct fx *f, const char *pool)
{
	const char *drv = getenv("DEVCLOUD_TEST_MEMBER_DRIVER");
	const char *sock = getenv("DEVCLOUD_TEST_DOCKER_SOCK");
	const char *image = getenv("DEVCLOUD_TEST_IMAGE");

	memset(f, 0, sizeof(*f));
	f->docker = drv != NULL && strcmp(drv, "docker") == 0;
	snprintf(f->tmp, sizeof(f->tmp), "%s/test-member.XXXXXX",
	    getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp");
	if (mkdtemp(f->tmp) == NULL || uv_loop_init(&f->loop) != 0)
		return false;
	snprintf(f->cfg.idepool.docker_socket,
	    sizeof(f->cfg.idepool.docker_socket), "%s",
	    sock ? sock : "/var/run/docker.sock");
	snprintf(f->cfg.idepool.members_dir,
	    sizeof(f->cfg.idepool.members_dir), "%s/members", f->tmp);
	/* the pool's name carries the test's pid: concurrent runs on one
	 * dockerd never see each other's containers */
	snprintf(f->spec.name, sizeof(f->spec.name), "t%d-%s", (int)getpid(),
	    pool);
	snprintf(f->spec.driver, sizeof(f->spec.driver), "%s",
	    f->docker ? "docker" : "process");
	snprintf(f->spec.image, sizeof(f->spec.image), "%s",
	    image ? image : "devcloud-test/busybox:1");
	snprintf(f->spec.command, sizeof(f->spec.command),
	    "exec busybox httpd -f -p 127.0.0.1:$PORT -h "
	    "\"$DEVCLOUD_WORKSPACE\"");
	f->spec.cport = 8080;
	snprintf(f->spec.ready, sizeof(f->spec.ready), "http:/");
	snprintf(f->spec.workspace, sizeof(f->spec.workspace), "%s",
	    f->docker ? "/www/ws" : "ws");
	snprintf(f->spec.env, sizeof(f->spec.env), "MSG=from-the-pool\n");
	snprintf(f->url_prefix, sizeof(f->url_prefix), "%s",
	    f->docker ? "/ws" : "");
	return (f->m = members_open(&f->loop, &f->cfg)) != NULL;
}

static int list_members(struct fx *f, struct waiter *w);

/* Whatever a failed case left of its pool goes too. */
static void
fx_close(struct fx *f)
{
	struct member_result r;
	struct waiter w;
	char err[256];

	if (strcmp(f->spec.driver, "docker") == 0 ||
	    strcmp(f->spec.driver, "process") == 0) {
		if (list_members(f, &w) == 0)
			for (int i = 0; i < w.listed; i++)
				call(f, REMOVE, w.ids[i], NULL, 0, &r);
	}
	members_close(f->m);
	uv_run(&f->loop, UV_RUN_DEFAULT);
	uv_loop_close(&f->loop);
	artifact_remove(f->tmp, err, sizeof(err));
}

/* --- files --- */

static bool
write_file(const char *path, const char *data, size_t len)
{
	FILE *fp = fopen(path, "wb");
	bool ok;

	if (fp == NULL)
		return false;
	ok = fwrite(data, 1, len, fp) == len;
	return fclose(fp) == 0 && ok;
}

/* The file at PATH into a new buffer (*LEN bytes); NULL if unreadable. */
static char *
read_file(const char *path, size_t *len)
{
	FILE *fp = fopen(path, "rb");
	char *buf = NULL;
	long n;

	if (fp == NULL)
		return NULL;
	if (fseek(fp, 0, SEEK_END) == 0 && (n = ftell(fp)) >= 0 &&
	    fseek(fp, 0, SEEK_SET) == 0 && (buf = malloc((size_t)n + 1)) &&
	    fread(buf, 1, (size_t)n, fp) == (size_t)n) {
		*len = (size_t)n;
	} else {
		free(buf);
		buf = NULL;
	}
	fclose(fp);
	return buf;
}

static char *
big_data(void)
{
	char *b = malloc(BIG);

	for (size_t i = 0; b != NULL && i < BIG; i++)
		b[i] = (char)((i * 7919 + i / 4096) & 0xff);
	return b;
}

/* The developer's files: nested directories, 1 MB, a relative symlink
 * that stays inside. */
static bool
make_tree(const char *dir)
{
	char p[512], *big = big_data();
	bool ok = big != NULL;

	snprintf(p, sizeof(p), "%s", dir);
	ok = ok && mkdir(p, 0755) == 0;
	snprintf(p, sizeof(p), "%s/a", dir);
	ok = ok && mkdir(p, 0755) == 0;
	snprintf(p, sizeof(p), "%s/a/b", dir);
	ok = ok && mkdir(p, 0755) == 0;
	snprintf(p, sizeof(p), "%s/a/b/deep.txt", dir);
	ok = ok && write_file(p, "deep inside\n", 12);
	snprintf(p, sizeof(p), "%s/big.bin", dir);
	ok = ok && write_file(p, big, BIG);
	snprintf(p, sizeof(p), "%s/hello.txt", dir);
	ok = ok && write_file(p, "hello, developer\n", 17);
	snprintf(p, sizeof(p), "%s/a/link", dir);
	ok = ok && symlink("b/deep.txt", p) == 0;
	free(big);
	return ok;
}

/* DIR/REL holds exactly LEN bytes DATA. */
static bool
file_is(const char *dir, const char *rel, const char *data, size_t len)
{
	char p[512], *got;
	size_t n = 0;
	bool same;

	snprintf(p, sizeof(p), "%s/%s", dir, rel);
	if ((got = read_file(p, &n)) == NULL)
		return false;
	same = n == len && memcmp(got, data, len) == 0;
	free(got);
	return same;
}

/* Entries in DIR besides "." and "..": -1 if it cannot be read. */
static int
count_entries(const char *dir)
{
	DIR *d = opendir(dir);
	struct dirent *de;
	int n = 0;

	if (d == NULL)
		return -1;
	while ((de = readdir(d)) != NULL)
		n += strcmp(de->d_name, ".") != 0 &&
		    strcmp(de->d_name, "..") != 0;
	closedir(d);
	return n;
}

/* --- HTTP --- */

/* GET PATH from ADDR: the status (0 if no answer) and the body (BODY,
 * *LEN; the caller frees). */
static int
http_get(const char *addr, const char *path, char **body, size_t *len)
{
	struct sockaddr_in sin = {.sin_family = AF_INET};
	struct timeval tv = {5, 0};
	char host[64], req[512], *buf = NULL, *p;
	size_t have = 0, cap = 0;
	int port, fd, status = 0;
	ssize_t n;

	*body = NULL;
	*len = 0;
	if (addr_parse(addr, 0, host, sizeof(host), &port, NULL) < 0 ||
	    inet_pton(AF_INET, host, &sin.sin_addr) != 1)
		return 0;
	sin.sin_port = htons((uint16_t)port);
	if ((fd = socket(AF_INET, SOCK_STREAM, 0)) < 0)
		return 0;
	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
	snprintf(req, sizeof(req), "GET %s HTTP/1.0\r\nHost: t\r\n\r\n",
	    path);
	if (connect(fd, (struct sockaddr *)&sin, sizeof(sin)) < 0 ||
	    write(fd, req, strlen(req)) != (ssize_t)strlen(req)) {
		close(fd);
		return 0;
	}
	for (;;) {
		if (have + 65536 > cap) {
			cap = cap * 2 + 65536;
			if ((p = realloc(buf, cap + 1)) == NULL)
				break;
			buf = p;
		}
		if ((n = read(fd, buf + have, cap - have)) <= 0)
			break;
		have += (size_t)n;
	}
	close(fd);
	if (buf == NULL)
		return 0;
	buf[have] = '\0';
	if (sscanf(buf, "HTTP/1.%*d %d", &status) == 1 &&
	    (p = strstr(buf, "\r\n\r\n")) != NULL) {
		*len = have - (size_t)(p + 4 - buf);
		if ((*body = malloc(*len + 1)) != NULL)
			memcpy(*body, p + 4, *len);
	} else {
		status = 0;
	}
	free(buf);
	return status;
}

/* The member at ADDR answers HTTP (any status) within 20 s: a bound
 * for a slow machine, not a figure under test. */
static bool
http_answers(const char *addr)
{
	struct timespec ts = {0, 50 * 1000000L};
	char *body;
	size_t len;

	for (int i = 0; i < 400; i++) {
		int st = http_get(addr, "/", &body, &len);

		free(body);
		if (st != 0)
			return true;
		nanosleep(&ts, NULL);
	}
	return false;
}

/* The member serves the workspace's REL with exactly DATA. */
static bool
served_is(struct fx *f, const char *addr, const char *rel, const char *data,
    size_t len)
{
	char path[300], *body;
	size_t n;
	int st;
	bool same;

	snprintf(path, sizeof(path), "%s/%s", f->url_prefix, rel);
	st = http_get(addr, path, &body, &n);
	same = st == 200 && n == len && memcmp(body, data, len) == 0;
	if (!same)
		fprintf(stderr, "# GET %s from %s: status %d, %zu bytes\n",
		    path, addr, st, n);
	free(body);
	return same;
}

static int
served_status(struct fx *f, const char *addr, const char *rel)
{
	char path[300], *body;
	size_t n;
	int st;

	snprintf(path, sizeof(path), "%s/%s", f->url_prefix, rel);
	st = http_get(addr, path, &body, &n);
	free(body);
	return st;
}

/* --- inside a member --- */

/* The member's name where the driver keeps it. */
static void
member_where(struct fx *f, const char *id, char *buf, size_t len)
{
	if (f->docker)
		snprintf(buf, len, "devcloud-pool-%s-%s", f->spec.name, id);
	else
		snprintf(buf, len, "%s/%s/%s/%s", f->cfg.idepool.members_dir,
		    f->spec.name, id, f->spec.workspace);
}

/* Runs the shell line SH inside the member (docker exec) or in its
 * workspace (process), as the developer would. */
static bool
inside(struct fx *f, const char *id, const char *sh)
{
	char where[1200], cmd[2600];

	member_where(f, id, where, sizeof(where));
	if (f->docker)
		snprintf(cmd, sizeof(cmd), "docker exec %s sh -c "
		    "'cd %s && %s'", where, f->spec.workspace, sh);
	else
		snprintf(cmd, sizeof(cmd), "cd '%s' && %s", where, sh);
	return system(cmd) == 0;
}

/* The member's container, or its directory, exists. */
static bool
member_exists(struct fx *f, const char *id)
{
	char where[1200], cmd[1400];
	struct stat st;

	member_where(f, id, where, sizeof(where));
	if (!f->docker) {
		snprintf(cmd, sizeof(cmd), "%s/%s/%s",
		    f->cfg.idepool.members_dir, f->spec.name, id);
		return stat(cmd, &st) == 0;
	}
	snprintf(cmd, sizeof(cmd), "test -n \"$(docker ps -aq --filter "
	    "name=^%s$)\"", where);
	return system(cmd) == 0;
}

static int
list_members(struct fx *f, struct waiter *w)
{
	char err[MEMBER_ERR_MAX];

	memset(w, 0, sizeof(*w));
	if (members_list(f->m, &f->spec, on_list, w, err, sizeof(err)) < 0)
		return -1;
	fx_wait(f, w);
	return w->r.ok ? 0 : -1;
}

/* --- the cases --- */

static void
test_lifecycle(void)
{
	struct fx f;
	struct member_result r;
	struct waiter w;
	char src[300], dest[300], addr[MSG_ADDR_MAX], *big = big_data();
	char target[64], path[400];
	struct stat st;
	ssize_t n;

	REQUIRE(big != NULL);
	if (!fx_open(&f, "life")) {
		free(big);
		REQUIRE(!"members open");
	}
	snprintf(src, sizeof(src), "%s/store-a", f.tmp);
	snprintf(dest, sizeof(dest), "%s/store-a", f.tmp);
	CHECK(make_tree(src));

	CHECK(call(&f, CREATE, "m1", NULL, 0, &r) == 0);
	CHECK(member_exists(&f, "m1"));
	CHECK(list_members(&f, &w) == 0);
	CHECK_INTEQ(w.listed, 1);
	CHECK_STREQ(w.ids[0], "m1");
	CHECK(!w.running[0]);

	CHECK(call(&f, START, "m1", NULL, 0, &r) == 0);
	CHECK(r.running);
	snprintf(addr, sizeof(addr), "%s", r.addr);
	fprintf(stderr, "# member m1 at %s (%s)\n", addr, r.container);
	CHECK(addr[0] != '\0');
	CHECK(http_answers(addr));
	CHECK(list_members(&f, &w) == 0);
	CHECK(w.listed == 1 && w.running[0]);

	/* the developer's files in, served byte for byte */
	CHECK(call(&f, LOAD, "m1", src, 10 << 20, &r) == 0);
	CHECK_INTEQ(r.bytes, BIG + 12 + 17);
	CHECK(served_is(&f, addr, "big.bin", big, BIG));
	CHECK(served_is(&f, addr, "a/b/deep.txt", "deep inside\n", 12));
	CHECK(served_is(&f, addr, "hello.txt", "hello, developer\n", 17));
	CHECK(inside(&f, "m1", "test -L a/link && grep -q deep a/link"));

	/* the developer works: a new file, a changed one, one removed */
	CHECK(inside(&f, "m1", "mkdir -p new/dir && echo written inside "
	    "> new/dir/note.txt && echo changed > hello.txt && rm "
	    "a/b/deep.txt"));
	CHECK(chmod(dest, 0700) == 0);
	CHECK(call(&f, SAVE, "m1", dest, 10 << 20, &r) == 0);
	CHECK(file_is(dest, "new/dir/note.txt", "written inside\n", 15));
	CHECK(file_is(dest, "hello.txt", "changed\n", 8));
	CHECK(stat(dest, &st) == 0 && (st.st_mode & 0777) == 0700);
	CHECK(file_is(dest, "big.bin", big, BIG));
	CHECK(access(dest, F_OK) == 0);
	snprintf(path, sizeof(path), "%s/a/b/deep.txt", dest);
	CHECK(access(path, F_OK) != 0);	/* removed inside, gone here */
	snprintf(path, sizeof(path), "%s/a/link", dest);
	n = readlink(path, target, sizeof(target) - 1);
	CHECK(n == 10 && memcmp(target, "b/deep.txt", 10) == 0);
	/* nothing left beside DEST */
	/* store-a, and the process driver's members */
	CHECK_INTEQ(count_entries(f.tmp), f.docker ? 1 : 2);

	/* a stopped member saves too; then it goes */
	CHECK(call(&f, STOP, "m1", NULL, 0, &r) == 0);
	CHECK(list_members(&f, &w) == 0);
	CHECK(w.listed == 1 && !w.running[0]);
	CHECK(call(&f, SAVE, "m1", dest, 10 << 20, &r) == 0);
	CHECK(file_is(dest, "new/dir/note.txt", "written inside\n", 15));
	CHECK(call(&f, REMOVE, "m1", NULL, 0, &r) == 0);
	CHECK(!member_exists(&f, "m1"));
	free(big);
	/* its process went with it (a container's address is just gone) */
	if (!f.docker) {
		size_t len;

		CHECK(http_get(addr, "/", &big, &len) == 0);
		free(big);
	}
	CHECK(list_members(&f, &w) == 0);
	CHECK_INTEQ(w.listed, 0);
	fx_close(&f);
}

static void
test_load_refused(void)
{
	struct fx f;
	struct member_result r;
	char src[300], p[400], addr[MSG_ADDR_MAX], ws[1200];

	REQUIRE(fx_open(&f, "load"));
	snprintf(src, sizeof(src), "%s/store-b", f.tmp);
	CHECK(make_tree(src));
	CHECK(call(&f, CREATE, "m2", NULL, 0, &r) == 0);
	CHECK(call(&f, START, "m2", NULL, 0, &r) == 0);
	snprintf(addr, sizeof(addr), "%s", r.addr);
	CHECK(http_answers(addr));
	member_where(&f, "m2", ws, sizeof(ws));

	/* over max_bytes: refused, naming the limit; nothing copied */
	CHECK(call(&f, LOAD, "m2", src, 1000, &r) < 0);
	CHECK_CONTAINS(r.err, "max_bytes");
	fprintf(stderr, "# %s\n", r.err);
	CHECK(served_status(&f, addr, "hello.txt") == 404);
	CHECK(f.docker || count_entries(ws) == 0);

	/* a symlink to /etc */
	snprintf(p, sizeof(p), "%s/a/etc", src);
	CHECK(symlink("/etc", p) == 0);
	CHECK(call(&f, LOAD, "m2", src, 10 << 20, &r) < 0);
	CHECK_CONTAINS(r.err, "a/etc");
	CHECK_CONTAINS(r.err, "absolute");
	fprintf(stderr, "# %s\n", r.err);
	CHECK(served_status(&f, addr, "hello.txt") == 404);
	CHECK(f.docker || count_entries(ws) == 0);
	unlink(p);

	/* a relative one that climbs out */
	CHECK(symlink("../../..", p) == 0);
	CHECK(call(&f, LOAD, "m2", src, 10 << 20, &r) < 0);
	CHECK_CONTAINS(r.err, "leaves the workspace");
	unlink(p);

	/* a hard link to a file outside the store directory */
	snprintf(p, sizeof(p), "%s/outside", f.tmp);
	CHECK(write_file(p, "secret\n", 7));
	snprintf(ws, sizeof(ws), "%s/a/hard", src);
	CHECK(link(p, ws) == 0);
	CHECK(call(&f, LOAD, "m2", src, 10 << 20, &r) < 0);
	CHECK_CONTAINS(r.err, "hard link");
	CHECK(served_status(&f, addr, "hello.txt") == 404);
	unlink(ws);

	/* and once clean, it goes in */
	CHECK(call(&f, LOAD, "m2", src, 10 << 20, &r) == 0);
	CHECK(served_is(&f, addr, "hello.txt", "hello, developer\n", 17));
	CHECK(call(&f, REMOVE, "m2", NULL, 0, &r) == 0);
	fx_close(&f);
}

static void
test_save_refused(void)
{
	struct fx f;
	struct member_result r;
	char dest[300], ro[300], kept[400], addr[MSG_ADDR_MAX];
	bool mounted = false;
	int why = 0;

	REQUIRE(fx_open(&f, "save"));
	snprintf(dest, sizeof(dest), "%s/store-c", f.tmp);
	CHECK(mkdir(dest, 0755) == 0);
	snprintf(ro, sizeof(ro), "%s/store-c/kept.txt", f.tmp);
	CHECK(write_file(ro, "the developer's earlier work\n", 29));
	CHECK(call(&f, CREATE, "m3", NULL, 0, &r) == 0);
	CHECK(call(&f, START, "m3", NULL, 0, &r) == 0);
	snprintf(addr, sizeof(addr), "%s", r.addr);
	CHECK(http_answers(addr));
	/* a developer's first visit: nothing in the store yet, and the
	 * workspace is made (the image has none) */
	snprintf(kept, sizeof(kept), "%s/store-none", f.tmp);
	CHECK(call(&f, LOAD, "m3", kept, 10 << 20, &r) == 0);
	CHECK_INTEQ(r.bytes, 0);
	CHECK(inside(&f, "m3", "echo new > new.txt"));

	/* a symlink leaving the workspace: Docker's archive then holds a
	 * link to "../.." */
	CHECK(inside(&f, "m3", "ln -s ../.. up"));
	CHECK(call(&f, SAVE, "m3", dest, 10 << 20, &r) < 0);
	CHECK_CONTAINS(r.err, "up");
	CHECK_CONTAINS(r.err, "leaves the workspace");
	fprintf(stderr, "# %s\n", r.err);
	CHECK_INTEQ(count_entries(dest), 1);
	CHECK(file_is(dest, "kept.txt", "the developer's earlier work\n", 29));
	/* no leftover beside it */
	CHECK_INTEQ(count_entries(f.tmp), f.docker ? 1 : 2);
	CHECK(inside(&f, "m3", "rm up"));

	/* over max_bytes on the way out */
	CHECK(call(&f, SAVE, "m3", dest, 2, &r) < 0);
	CHECK_CONTAINS(r.err, "max_bytes");
	CHECK(file_is(dest, "kept.txt", "the developer's earlier work\n", 29));

	/* DEST's parent read-only: a tmpfs remounted so (root's chmod
	 * would not stop root) */
	snprintf(ro, sizeof(ro), "%s/ro", f.tmp);
	CHECK(mkdir(ro, 0755) == 0);
	if (mount("tmpfs", ro, "tmpfs", 0, "size=4m") < 0)
		why = errno;
	else {
		mounted = true;
		snprintf(dest, sizeof(dest), "%s/ro/store-d", f.tmp);
		CHECK(mkdir(dest, 0755) == 0);
		snprintf(kept, sizeof(kept), "%s/kept.txt", dest);
		CHECK(write_file(kept, "kept\n", 5));
		CHECK(mount("tmpfs", ro, "tmpfs", MS_REMOUNT | MS_RDONLY,
		    "size=4m") == 0);
		CHECK(call(&f, SAVE, "m3", dest, 10 << 20, &r) < 0);
		CHECK_CONTAINS(r.err, "Read-only file system");
		fprintf(stderr, "# %s\n", r.err);
		CHECK(file_is(dest, "kept.txt", "kept\n", 5));
		CHECK_INTEQ(count_entries(dest), 1);
		CHECK(umount2(ro, MNT_DETACH) == 0);
	}
	CHECK(call(&f, REMOVE, "m3", NULL, 0, &r) == 0);
	fx_close(&f);
	if (!mounted)
		SKIP("cannot mount a read-only tmpfs here (%s): the "
		    "read-only DEST part did not run", strerror(why));
}

/* Who owns what was loaded: the container's user (an image whose USER
 * is "1000:1000", with no passwd entry for it), or idepool's for a
 * process member; either way the member can write its workspace. */
static void
test_owner(void)
{
	const char *image = getenv("DEVCLOUD_TEST_IMAGE_USER");
	struct fx f;
	struct member_result r;
	char src[300], dest[300], want[64], check[400], addr[MSG_ADDR_MAX];

	REQUIRE(fx_open(&f, "owner"));
	if (f.docker && image == NULL) {
		fx_close(&f);
		REQUIRE(!"DEVCLOUD_TEST_IMAGE_USER names an image");
	}
	if (f.docker)
		snprintf(f.spec.image, sizeof(f.spec.image), "%s", image);
	snprintf(want, sizeof(want), "%s", f.docker ? "1000:1000" : "");
	if (!f.docker)
		snprintf(want, sizeof(want), "%d:%d", (int)geteuid(),
		    (int)getegid());
	snprintf(src, sizeof(src), "%s/store-e", f.tmp);
	snprintf(dest, sizeof(dest), "%s/store-e", f.tmp);
	CHECK(make_tree(src));
	CHECK(call(&f, CREATE, "m6", NULL, 0, &r) == 0);
	CHECK(call(&f, START, "m6", NULL, 0, &r) == 0);
	snprintf(addr, sizeof(addr), "%s", r.addr);
	CHECK(http_answers(addr));
	CHECK(call(&f, LOAD, "m6", src, 10 << 20, &r) == 0);
	snprintf(check, sizeof(check), "test \"$(busybox stat -c %%u:%%g . "
	    "a/b/deep.txt big.bin | busybox sort -u)\" = %s", want);
	CHECK(inside(&f, "m6", check));
	CHECK(inside(&f, "m6", "echo mine > a/b/mine.txt && rm big.bin"));
	CHECK(call(&f, SAVE, "m6", dest, 10 << 20, &r) == 0);
	CHECK(file_is(dest, "a/b/mine.txt", "mine\n", 5));
	snprintf(check, sizeof(check), "%s/big.bin", dest);
	CHECK(access(check, F_OK) != 0);
	CHECK(call(&f, REMOVE, "m6", NULL, 0, &r) == 0);
	fx_close(&f);
}

static void
test_gone(void)
{
	struct fx f;
	struct member_result r;

	REQUIRE(fx_open(&f, "gone"));
	CHECK(call(&f, REMOVE, "never", NULL, 0, &r) == 0);
	CHECK(call(&f, CREATE, "m4", NULL, 0, &r) == 0);
	CHECK(call(&f, REMOVE, "m4", NULL, 0, &r) == 0);
	CHECK(call(&f, REMOVE, "m4", NULL, 0, &r) == 0);
	CHECK(!member_exists(&f, "m4"));
	fx_close(&f);
}

static void
test_errors(void)
{
	struct fx f;
	struct member_result r;

	REQUIRE(fx_open(&f, "err"));
	if (f.docker) {
		members_close(f.m);
		snprintf(f.cfg.idepool.docker_socket,
		    sizeof(f.cfg.idepool.docker_socket), "%s/no.sock", f.tmp);
		REQUIRE((f.m = members_open(&f.loop, &f.cfg)) != NULL);
		CHECK(call(&f, CREATE, "m5", NULL, 0, &r) < 0);
		CHECK_CONTAINS(r.err, "cannot reach");
		CHECK_CONTAINS(r.err, "no.sock");
		fprintf(stderr, "# %s\n", r.err);
		CHECK(call(&f, REMOVE, "m5", NULL, 0, &r) < 0);
		CHECK_CONTAINS(r.err, "cannot reach");
	} else {
		CHECK(call(&f, START, "m5", NULL, 0, &r) < 0);
		CHECK_CONTAINS(r.err, "not created");
		CHECK(call(&f, CREATE, "m5", NULL, 0, &r) == 0);
		CHECK(call(&f, CREATE, "m5", NULL, 0, &r) < 0);
		CHECK_CONTAINS(r.err, "exists already");
		CHECK(call(&f, REMOVE, "m5", NULL, 0, &r) == 0);
	}
	/* refused at once, whatever the driver */
	snprintf(f.spec.workspace, sizeof(f.spec.workspace), "%s",
	    f.docker ? "/www/../etc" : "ws/../../x");
	CHECK(call(&f, CREATE, "m5", NULL, 0, &r) < 0);
	CHECK_CONTAINS(r.err, "has a \"..\"");
	if (f.docker) {
		snprintf(f.spec.workspace, sizeof(f.spec.workspace), "ws");
		CHECK(call(&f, LOAD, "m5", f.tmp, 100, &r) < 0);
		CHECK_CONTAINS(r.err, "not an absolute path");
		snprintf(f.spec.workspace, sizeof(f.spec.workspace), "//");
		CHECK(call(&f, SAVE, "m5", f.tmp, 100, &r) < 0);
		CHECK_CONTAINS(r.err, "cannot be \"/\"");
	}
	snprintf(f.spec.workspace, sizeof(f.spec.workspace), "/www/ws");
	CHECK(call(&f, SAVE, "m5", f.tmp, 0, &r) < 0);
	CHECK_CONTAINS(r.err, "max_bytes > 0");
	snprintf(f.spec.name, sizeof(f.spec.name), "../x");
	CHECK(call(&f, CREATE, "m5", NULL, 0, &r) < 0);
	CHECK_CONTAINS(r.err, "not valid");
	snprintf(f.spec.name, sizeof(f.spec.name), "ok");
	CHECK(call(&f, CREATE, "a/b", NULL, 0, &r) < 0);
	CHECK_CONTAINS(r.err, "not valid");
	snprintf(f.spec.driver, sizeof(f.spec.driver), "kvm");
	CHECK(call(&f, CREATE, "m5", NULL, 0, &r) < 0);
	CHECK_CONTAINS(r.err, "unknown driver");
	fx_close(&f);
}

UNIT_TESTS = {
	{"lifecycle", test_lifecycle},
	{"load_refused", test_load_refused},
	{"save_refused", test_save_refused},
	{"owner", test_owner},
	{"gone", test_gone},
	{"errors", test_errors},
	{NULL, NULL},
};
