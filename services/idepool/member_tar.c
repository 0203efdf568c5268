/*
 * A developer's files on their way between the store and a member, as a
 * tar held in a memfd: one path for both drivers and both directions.
 *
 *   member_tar_pack     a directory of the store (or a process member's
 *                       workspace) into a tar, checked as it is read
 *   member_tar_rebase   Docker's archive of a container's workspace made
 *                       relative to the workspace, checked the same way
 *   member_tar_replace  a tar unpacked (common/artifact.c's rules) as the
 *                       new content of a store directory, swapped in
 *                       whole or not at all
 *   member_tar_merge    a tar unpacked into an existing directory (a
 *                       process member's fresh workspace)
 *
 * The rules, on the way in and on the way out: paths stay inside the
 * workspace (no absolute path, no ".."), a symlink is relative and does
 * not leave the workspace (its leading ".." no higher than its own
 * depth), a hard link names a file inside the workspace (for a packed
 * directory: every name of a file with several is inside it), and the
 * files' bytes stay within max_bytes. Sockets, FIFOs and device nodes
 * are no one's work: they are left out, not refused. setuid, setgid and
 * sticky bits are dropped. Owners are not kept: every entry is written
 * as the caller says (the docker driver gives the files to the
 * container's user, see member_docker.c; unpacked here, they are
 * idepool's).
 *
 * These block (disk, memory): they run on libuv's thread pool only.
 */
#include <archive.h>
#include <archive_entry.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <locale.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "artifact.h"
#include "log.h"
#include "member.h"

#define TAR_BLOCK 65536
#define TAR_ENTRIES_MAX 1000000	/* entries of a workspace, at most */
#define TAR_PATH_MAX 4096

/* One inode with more than one name, met while packing. */
struct tar_link {
	dev_t dev;
	ino_t ino;
	nlink_t nlink;
	nlink_t seen;
	char *path;		/* its first name, as written in the tar */
};

struct tar_pack {
	struct archive *a;
	const char *root;	/* "" or the name of the root entry */
	long uid, gid;		/* the owner written on every entry */
	int64_t max_bytes;
	int64_t bytes;
	uint64_t entries;
	struct tar_link *links;
	size_t nlinks;
	char *err;
	size_t errlen;
	char buf[TAR_BLOCK];
};

/* A tar in a new memfd: the descriptor, or -1 with ERR. */
static int
tar_memfd(char *err, size_t errlen)
{
	int fd = memfd_create("devcloud-workspace", MFD_CLOEXEC);

	if (fd < 0)
		snprintf(err, errlen, "cannot make a memfd: %s",
		    strerror(errno));
	return fd;
}

/* A new tar writer on FD: pax where ustar cannot say it. */
static struct archive *
tar_writer(int fd, char *err, size_t errlen)
{
	struct archive *a = archive_write_new();

	if (a == NULL || archive_write_set_format_pax_restricted(a) !=
	    ARCHIVE_OK || archive_write_open_fd(a, fd) != ARCHIVE_OK) {
		snprintf(err, errlen, "cannot write a tar: %s", a != NULL &&
		    archive_error_string(a) != NULL ?
		    archive_error_string(a) : "out of memory");
		archive_write_free(a);
		return NULL;
	}
	return a;
}

/* PATH (relative to the workspace, "" for itself) as the tar names it. */
static int
tar_name(const char *root, const char *path, char *buf, size_t len)
{
	int n;

	if (*root == '\0')
		n = snprintf(buf, len, "%s", *path ? path : ".");
	else
		n = snprintf(buf, len, "%s%s%s", root, *path ? "/" : "",
		    path);
	return n < 0 || (size_t)n >= len ? -1 : 0;
}

/* Why a symlink at PATH (relative to the workspace) cannot point at
 * TARGET, or NULL: artifact.c's rule, from the workspace's root. */
static const char *
tar_symlink_rule(const char *path, const char *target)
{
	int depth = 0, descended = 0;
	const char *p, *s;
	size_t n;

	for (p = path; (p = strchr(p, '/')) != NULL; p++)
		depth++;
	if (*target == '\0')
		return "symlink target is empty";
	if (*target == '/')
		return "symlink target is absolute";
	for (s = target; *s != '\0'; s += n) {
		while (*s == '/')
			s++;
		n = strcspn(s, "/");
		if (n == 0 || (n == 1 && s[0] == '.'))
			continue;
		if (n == 2 && s[0] == '.' && s[1] == '.') {
			if (descended)
				return "symlink target has \"..\" after a "
				    "name";
			if (--depth < 0)
				return "symlink target leaves the workspace";
		} else {
			descended = 1;
		}
	}
	return NULL;
}

static int
tar_fail(struct tar_pack *t, const char *path, const char *why)
{
	snprintf(t->err, t->errlen, "\"%.300s\": %s", *path ? path : ".",
	    why);
	return -1;
}

static int
tar_write_header(struct tar_pack *t, struct archive_entry *e,
    const char *path)
{
	if (++t->entries > TAR_ENTRIES_MAX)
		return tar_fail(t, path, "more than 1000000 entries");
	if (archive_write_header(t->a, e) < ARCHIVE_OK) {
		snprintf(t->err, t->errlen, "\"%.300s\": cannot write its "
		    "tar header: %s", path, archive_error_string(t->a));
		return -1;
	}
	return 0;
}

/* A new entry for PATH with ST's type and mode, as uid 0, gid 0. */
static struct archive_entry *
tar_entry(struct tar_pack *t, const char *path, const struct stat *st,
    mode_t type)
{
	struct archive_entry *e = archive_entry_new();
	char name[TAR_PATH_MAX];
	mode_t perm = st->st_mode & 0777;

	if (e == NULL)
		return NULL;
	if (tar_name(t->root, path, name, sizeof(name)) < 0) {
		archive_entry_free(e);
		return NULL;
	}
	archive_entry_set_pathname(e, name);
	archive_entry_set_filetype(e, type);
	archive_entry_set_perm(e, type == AE_IFDIR ? perm | 0700 : perm);
	archive_entry_set_uid(e, t->uid);
	archive_entry_set_gid(e, t->gid);
	archive_entry_set_mtime(e, st->st_mtim.tv_sec, st->st_mtim.tv_nsec);
	return e;
}

/* The second name of an inode met before: a hard link entry. 1 if
 * written so, 0 if this is its first name, -1 on failure. */
static int
tar_hardlink(struct tar_pack *t, const char *path, const struct stat *st)
{
	struct archive_entry *e;
	struct tar_link *l;
	char name[TAR_PATH_MAX];
	int rc;

	for (size_t i = 0; i < t->nlinks; i++) {
		l = &t->links[i];
		if (l->dev != st->st_dev || l->ino != st->st_ino)
			continue;
		l->seen++;
		if ((e = tar_entry(t, path, st, AE_IFREG)) == NULL)
			return tar_fail(t, path, "out of memory");
		tar_name(t->root, l->path, name, sizeof(name));
		archive_entry_set_hardlink(e, name);
		archive_entry_set_size(e, 0);
		rc = tar_write_header(t, e, path);
		archive_entry_free(e);
		return rc < 0 ? -1 : 1;
	}
	if ((l = realloc(t->links, (t->nlinks + 1) * sizeof(*l))) == NULL)
		return tar_fail(t, path, "out of memory");
	t->links = l;
	l += t->nlinks;
	if ((l->path = strdup(path)) == NULL)
		return tar_fail(t, path, "out of memory");
	t->nlinks++;
	l->dev = st->st_dev;
	l->ino = st->st_ino;
	l->nlink = st->st_nlink;
	l->seen = 1;
	return 0;
}

static int
tar_file(struct tar_pack *t, int dfd, const char *name, const char *path,
    const struct stat *st)
{
	struct archive_entry *e;
	int64_t left = st->st_size;
	ssize_t n;
	int fd, rc;

	if (st->st_nlink > 1 && (rc = tar_hardlink(t, path, st)) != 0)
		return rc < 0 ? -1 : 0;
	if (st->st_size > t->max_bytes - t->bytes) {
		snprintf(t->err, t->errlen, "workspace is larger than "
		    "max_bytes (%lld bytes; at \"%.300s\")",
		    (long long)t->max_bytes, path);
		return -1;
	}
	t->bytes += st->st_size;
	if ((fd = openat(dfd, name, O_RDONLY | O_NOFOLLOW | O_CLOEXEC)) < 0)
		return tar_fail(t, path, strerror(errno));
	if ((e = tar_entry(t, path, st, AE_IFREG)) == NULL) {
		close(fd);
		return tar_fail(t, path, "out of memory");
	}
	archive_entry_set_size(e, st->st_size);
	rc = tar_write_header(t, e, path);
	archive_entry_free(e);
	/* a file that shrank meanwhile is padded by libarchive; one that
	 * grew is cut at the size its header says */
	while (rc == 0 && left > 0) {
		n = read(fd, t->buf, left < TAR_BLOCK ? (size_t)left :
		    TAR_BLOCK);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			rc = tar_fail(t, path, strerror(errno));
		if (n <= 0)
			break;
		if (archive_write_data(t->a, t->buf, (size_t)n) < n)
			rc = tar_fail(t, path, "cannot write to the tar");
		left -= n;
	}
	close(fd);
	return rc;
}

static int
tar_symlink(struct tar_pack *t, int dfd, const char *name, const char *path,
    const struct stat *st)
{
	struct archive_entry *e;
	char target[PATH_MAX];
	const char *why;
	ssize_t n;
	int rc;

	if ((n = readlinkat(dfd, name, target, sizeof(target) - 1)) < 0)
		return tar_fail(t, path, strerror(errno));
	target[n] = '\0';
	if ((why = tar_symlink_rule(path, target)) != NULL) {
		snprintf(t->err, t->errlen, "\"%.300s\": %s (\"%.300s\")",
		    path, why, target);
		return -1;
	}
	if ((e = tar_entry(t, path, st, AE_IFLNK)) == NULL)
		return tar_fail(t, path, "out of memory");
	archive_entry_set_symlink(e, target);
	rc = tar_write_header(t, e, path);
	archive_entry_free(e);
	return rc;
}

/* The directory open at DFD, named PATH ("" for the root), and all it
 * holds. Takes DFD. */
static int
tar_dir(struct tar_pack *t, int dfd, const char *path, const struct stat *st,
    int depth)
{
	struct archive_entry *e;
	char sub[TAR_PATH_MAX];
	struct dirent *de;
	struct stat cst;
	DIR *d;
	int rc, cfd;

	if (depth > ARTIFACT_DEPTH_MAX) {
		close(dfd);
		return tar_fail(t, path, "deeper than ARTIFACT_DEPTH_MAX");
	}
	if ((e = tar_entry(t, path, st, AE_IFDIR)) == NULL) {
		close(dfd);
		return tar_fail(t, path, "out of memory or path too long");
	}
	rc = tar_write_header(t, e, path);
	archive_entry_free(e);
	if (rc < 0 || (d = fdopendir(dfd)) == NULL) {
		if (rc == 0)
			tar_fail(t, path, strerror(errno));
		close(dfd);
		return -1;
	}
	while (rc == 0 && (errno = 0, de = readdir(d)) != NULL) {
		if (strcmp(de->d_name, ".") == 0 ||
		    strcmp(de->d_name, "..") == 0)
			continue;
		if (snprintf(sub, sizeof(sub), "%s%s%s", path, *path ? "/" :
		    "", de->d_name) >= (int)sizeof(sub)) {
			rc = tar_fail(t, path, "a path in it is too long");
			break;
		}
		if (fstatat(dirfd(d), de->d_name, &cst,
		    AT_SYMLINK_NOFOLLOW) < 0) {
			rc = tar_fail(t, sub, strerror(errno));
			break;
		}
		if (S_ISREG(cst.st_mode)) {
			rc = tar_file(t, dirfd(d), de->d_name, sub, &cst);
		} else if (S_ISLNK(cst.st_mode)) {
			rc = tar_symlink(t, dirfd(d), de->d_name, sub, &cst);
		} else if (S_ISDIR(cst.st_mode)) {
			cfd = openat(dirfd(d), de->d_name, O_RDONLY |
			    O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
			rc = cfd < 0 ? tar_fail(t, sub, strerror(errno)) :
			    tar_dir(t, cfd, sub, &cst, depth + 1);
		}
		/* sockets, FIFOs, devices: left out */
	}
	if (rc == 0 && errno != 0)
		rc = tar_fail(t, path, strerror(errno));
	closedir(d);
	return rc;
}

/* A C.UTF-8 locale for this thread while libarchive converts names (as
 * artifact.c does): NULL where the system has none. */
static locale_t
tar_utf8(locale_t *old)
{
	locale_t l = newlocale(LC_ALL_MASK, "C.UTF-8", (locale_t)0);

	*old = l != (locale_t)0 ? uselocale(l) : (locale_t)0;
	return l;
}

static void
tar_utf8_end(locale_t l, locale_t old)
{
	if (l == (locale_t)0)
		return;
	uselocale(old);
	freelocale(l);
}

/*
 * Packs the directory SRC into a tar in a new memfd: the root entry is
 * named ROOT ("" for ".") and every path is under it, every entry owned
 * by UID and GID. A SRC that does
 * not exist is an empty workspace (a developer's first visit). Refused
 * by the rules above, naming the path: then nothing is returned. The
 * memfd's descriptor (the caller closes it) and *BYTES the files'
 * bytes, or -1 with ERR.
 */
int
member_tar_pack(const char *src, const char *root, long uid, long gid,
    int64_t max_bytes, int64_t *bytes, char *err, size_t errlen)
{
	struct tar_pack *t;
	struct stat st = {.st_mode = S_IFDIR | 0755};
	locale_t l, old;
	int fd = -1, dfd, rc = -1;

	if ((t = calloc(1, sizeof(*t))) == NULL) {
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	t->root = root;
	t->uid = uid;
	t->gid = gid;
	t->max_bytes = max_bytes;
	t->err = err;
	t->errlen = errlen;
	l = tar_utf8(&old);
	dfd = open(src, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (dfd < 0 && errno != ENOENT) {
		snprintf(err, errlen, "%s: %s", src, errno == ELOOP ||
		    errno == ENOTDIR ? "not a directory" : strerror(errno));
		goto done;
	}
	if (dfd >= 0 && fstat(dfd, &st) < 0) {
		snprintf(err, errlen, "%s: %s", src, strerror(errno));
		close(dfd);
		goto done;
	}
	if ((fd = tar_memfd(err, errlen)) < 0 ||
	    (t->a = tar_writer(fd, err, errlen)) == NULL) {
		if (dfd >= 0)
			close(dfd);
		goto done;
	}
	if (dfd >= 0) {
		if (tar_dir(t, dfd, "", &st, 0) < 0)
			goto done;
	} else {
		struct archive_entry *e = tar_entry(t, "", &st, AE_IFDIR);

		if (e == NULL || tar_write_header(t, e, "") < 0) {
			archive_entry_free(e);
			goto done;
		}
		archive_entry_free(e);
	}
	for (size_t i = 0; i < t->nlinks; i++)
		if (t->links[i].seen < t->links[i].nlink) {
			tar_fail(t, t->links[i].path, "a hard link to a file "
			    "outside the workspace");
			goto done;
		}
	if (archive_write_close(t->a) != ARCHIVE_OK) {
		snprintf(err, errlen, "cannot write the tar: %s",
		    archive_error_string(t->a));
		goto done;
	}
	*bytes = t->bytes;
	rc = 0;
done:
	archive_write_free(t->a);
	tar_utf8_end(l, old);
	for (size_t i = 0; i < t->nlinks; i++)
		free(t->links[i].path);
	free(t->links);
	free(t);
	if (rc < 0 && fd >= 0) {
		close(fd);
		fd = -1;
	}
	return fd;
}

/*
 * PATH from Docker's archive of the workspace, whose entries are ROOT
 * (the workspace's base name) and ROOT/..., into OUT relative to the
 * workspace ("." for ROOT itself). -1 if it is outside.
 */
static int
tar_rebase_path(const char *root, const char *path, char *out, size_t len)
{
	size_t n = strlen(root);

	while (path[0] == '.' && path[1] == '/')
		path += 2;
	if (strncmp(path, root, n) != 0 || (path[n] != '\0' &&
	    path[n] != '/'))
		return -1;
	path += n;
	while (*path == '/')
		path++;
	return snprintf(out, len, "%s", *path ? path : ".") < (int)len ?
	    0 : -1;
}

/* Copies the entry E (with its data) read from IN to T's writer, renamed
 * to NAME, with a hard link's target HARDLINK (or NULL). */
static int
tar_copy(struct archive *in, struct tar_pack *t, struct archive_entry *e,
    const char *name, const char *hardlink)
{
	struct archive_entry *o = archive_entry_new();
	mode_t type = archive_entry_filetype(e);
	int64_t size = archive_entry_size(e);
	la_ssize_t n;
	int rc = -1;

	if (o == NULL)
		return tar_fail(t, name, "out of memory");
	archive_entry_set_pathname(o, name);
	archive_entry_set_uid(o, 0);
	archive_entry_set_gid(o, 0);
	archive_entry_set_mtime(o, archive_entry_mtime(e),
	    archive_entry_mtime_nsec(e));
	archive_entry_set_perm(o, archive_entry_perm(e) & 0777);
	if (hardlink != NULL) {
		archive_entry_set_filetype(o, AE_IFREG);
		archive_entry_set_hardlink(o, hardlink);
		archive_entry_set_size(o, 0);
		size = 0;
	} else {
		archive_entry_set_filetype(o, type);
		if (type == AE_IFLNK)
			archive_entry_set_symlink(o, archive_entry_symlink(e));
		archive_entry_set_size(o, type == AE_IFREG ? size : 0);
	}
	if (hardlink == NULL && type == AE_IFREG) {
		if (size < 0 || size > t->max_bytes - t->bytes) {
			snprintf(t->err, t->errlen, "workspace is larger than "
			    "max_bytes (%lld bytes; at \"%.300s\")",
			    (long long)t->max_bytes, name);
			goto done;
		}
		t->bytes += size;
	}
	if (tar_write_header(t, o, name) < 0)
		goto done;
	while (hardlink == NULL && type == AE_IFREG &&
	    (n = archive_read_data(in, t->buf, sizeof(t->buf))) != 0) {
		if (n < 0) {
			snprintf(t->err, t->errlen, "\"%.300s\": corrupt "
			    "archive: %s", name, archive_error_string(in));
			goto done;
		}
		if (archive_write_data(t->a, t->buf, (size_t)n) < n) {
			tar_fail(t, name, "cannot write to the tar");
			goto done;
		}
	}
	rc = 0;
done:
	archive_entry_free(o);
	return rc;
}

/*
 * Reads the tar at FD (from offset 0): Docker's archive of a workspace
 * whose base name is ROOT. Writes a new memfd with its entries relative
 * to the workspace, refused by the rules above (an entry outside ROOT,
 * a hard link out of it, a symlink leaving it, more than max_bytes).
 * The memfd's descriptor (the caller closes it) and *BYTES, or -1 with
 * ERR.
 */
int
member_tar_rebase(int fd, const char *root, int64_t max_bytes,
    int64_t *bytes, char *err, size_t errlen)
{
	struct tar_pack *t;
	struct archive *in = NULL;
	struct archive_entry *e;
	char name[TAR_PATH_MAX], link[TAR_PATH_MAX];
	const char *p, *why;
	locale_t l, old;
	int out = -1, r, rc = -1;
	mode_t type;

	if ((t = calloc(1, sizeof(*t))) == NULL) {
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	t->root = "";
	t->max_bytes = max_bytes;
	t->err = err;
	t->errlen = errlen;
	l = tar_utf8(&old);
	if (lseek(fd, 0, SEEK_SET) < 0 || (in = archive_read_new()) == NULL ||
	    archive_read_support_format_tar(in) != ARCHIVE_OK ||
	    archive_read_open_fd(in, fd, TAR_BLOCK) != ARCHIVE_OK) {
		snprintf(err, errlen, "not a tar archive: %s", in != NULL &&
		    archive_error_string(in) ? archive_error_string(in) :
		    strerror(errno));
		goto done;
	}
	if ((out = tar_memfd(err, errlen)) < 0 ||
	    (t->a = tar_writer(out, err, errlen)) == NULL)
		goto done;
	while ((r = archive_read_next_header(in, &e)) == ARCHIVE_OK) {
		p = archive_entry_pathname(e);
		type = archive_entry_filetype(e);
		if (p == NULL || tar_rebase_path(root, p, name,
		    sizeof(name)) < 0) {
			tar_fail(t, p != NULL ? p : "?", "outside the "
			    "workspace");
			goto done;
		}
		if (t->entries == 0 && (strcmp(name, ".") != 0 ||
		    type != AE_IFDIR)) {
			snprintf(err, errlen, "the workspace is not a "
			    "directory (first entry \"%.300s\")", p);
			goto done;
		}
		if ((p = archive_entry_hardlink(e)) != NULL) {
			if (tar_rebase_path(root, p, link, sizeof(link)) < 0 ||
			    strcmp(link, ".") == 0) {
				snprintf(err, errlen, "\"%.300s\": a hard "
				    "link to \"%.300s\", outside the "
				    "workspace", name, p);
				goto done;
			}
			if (tar_copy(in, t, e, name, link) < 0)
				goto done;
			continue;
		}
		if (type == AE_IFLNK && (why = tar_symlink_rule(
		    strcmp(name, ".") ? name : "",
		    archive_entry_symlink(e) ? archive_entry_symlink(e) :
		    "")) != NULL) {
			snprintf(err, errlen, "\"%.300s\": %s (\"%.300s\")",
			    name, why, archive_entry_symlink(e) ?
			    archive_entry_symlink(e) : "");
			goto done;
		}
		if (type != AE_IFREG && type != AE_IFDIR && type != AE_IFLNK)
			continue;	/* left out, as when packing */
		if (tar_copy(in, t, e, name, NULL) < 0)
			goto done;
	}
	if (r != ARCHIVE_EOF) {
		snprintf(err, errlen, "corrupt archive after %llu entries: %s",
		    (unsigned long long)t->entries,
		    archive_error_string(in) ? archive_error_string(in) : "?");
		goto done;
	}
	if (t->entries == 0) {
		snprintf(err, errlen, "the archive of the workspace is "
		    "empty");
		goto done;
	}
	if (archive_write_close(t->a) != ARCHIVE_OK) {
		snprintf(err, errlen, "cannot write the tar: %s",
		    archive_error_string(t->a));
		goto done;
	}
	*bytes = t->bytes;
	rc = 0;
done:
	archive_read_free(in);
	archive_write_free(t->a);
	tar_utf8_end(l, old);
	free(t);
	if (rc < 0 && out >= 0) {
		close(out);
		out = -1;
	}
	return out;
}

/* A name beside DIR's last component that does not exist yet:
 * "PARENT/.BASE.TAG-XXXXXX". 0, or -1 with ERR. */
static int
tar_sibling(const char *dir, const char *tag, char out[PATH_MAX], char *err,
    size_t errlen)
{
	const char *slash = strrchr(dir, '/');
	const char *base = slash != NULL ? slash + 1 : dir;
	int dlen = (int)(base - dir), n;

	if (*base == '\0' || strcmp(base, ".") == 0 ||
	    strcmp(base, "..") == 0) {
		snprintf(err, errlen, "%s: not a directory name", dir);
		return -1;
	}
	n = snprintf(out, PATH_MAX, "%.*s.%s.%s-XXXXXX", dlen, dir, base,
	    tag);
	if (n < 0 || n >= PATH_MAX) {
		snprintf(err, errlen, "%s: path too long", dir);
		return -1;
	}
	/* a unique name, made and left free for artifact_unpack to take */
	if (mkdtemp(out) == NULL) {
		snprintf(err, errlen, "%s: cannot make a directory beside "
		    "it: %s", dir, strerror(errno));
		return -1;
	}
	rmdir(out);
	return 0;
}

/* SYNC: the files must be on disk before they are named (a save into
 * the store); a load into a member, which a crash destroys anyway, need
 * not wait for the disk. */
static int
tar_unpack(int fd, const char *dest, int64_t max_bytes, bool sync, char *err,
    size_t errlen)
{
	struct artifact_limits lim = {
		/* the tar is ours, in memory: its files' bytes are what
		 * counts */
		.max_bytes = UINT64_MAX,
		.max_unpacked = (uint64_t)max_bytes,
		.max_entries = TAR_ENTRIES_MAX,
		.no_sync = !sync,
	};

	return artifact_unpack(fd, NULL, dest, &lim, err, errlen);
}

/*
 * Unpacks the tar at FD (paths relative to the workspace) by
 * artifact_unpack's rules as DEST's new content: into a new sibling of
 * DEST, which is then exchanged with DEST in one rename, and DEST's old
 * content removed. DEST is created if it does not exist; on failure it
 * is as it was. 0, or -1 with ERR.
 */
int
member_tar_replace(int fd, const char *dest, int64_t max_bytes, char *err,
    size_t errlen)
{
	char tmp[PATH_MAX], why[256];
	struct stat st;
	bool exists;

	if (tar_sibling(dest, "new", tmp, err, errlen) < 0)
		return -1;
	if (tar_unpack(fd, tmp, max_bytes, true, err, errlen) < 0)
		return -1;
	if ((exists = lstat(dest, &st) == 0) && !S_ISDIR(st.st_mode)) {
		snprintf(err, errlen, "%s: not a directory", dest);
		goto fail;
	}
	if (!exists && errno != ENOENT) {
		snprintf(err, errlen, "%s: %s", dest, strerror(errno));
		goto fail;
	}
	/* DEST keeps its mode (a developer's files are theirs alone when
	 * the store says so); a new one is the owner's only */
	if (chmod(tmp, exists ? st.st_mode & 0777 : 0700) < 0) {
		snprintf(err, errlen, "%s: %s", tmp, strerror(errno));
		goto fail;
	}
	if (renameat2(AT_FDCWD, tmp, AT_FDCWD, dest, exists ?
	    RENAME_EXCHANGE : RENAME_NOREPLACE) < 0) {
		snprintf(err, errlen, "%s: cannot swap the new files in: %s",
		    dest, strerror(errno));
		goto fail;
	}
	/* TMP holds the old files now (or nothing if DEST was new) */
	if (lstat(tmp, &st) == 0 && artifact_remove(tmp, why,
	    sizeof(why)) < 0)
		log_warn("old workspace files left", "dir=%s err=\"%s\"",
		    tmp, why);
	return 0;
fail:
	artifact_remove(tmp, why, sizeof(why));
	return -1;
}

/*
 * Unpacks the tar at FD (paths relative to the workspace) by
 * artifact_unpack's rules into the existing directory DIR: into a new
 * sibling first, then each of its entries moved into DIR, none over
 * something DIR holds already (checked before the first move). 0, or -1
 * with ERR.
 */
int
member_tar_merge(int fd, const char *dir, int64_t max_bytes, char *err,
    size_t errlen)
{
	char tmp[PATH_MAX], why[256];
	struct dirent *de;
	struct stat st;
	DIR *d = NULL;
	int sfd = -1, dfd = -1, pass, rc = -1;

	if (tar_sibling(dir, "load", tmp, err, errlen) < 0)
		return -1;
	if (tar_unpack(fd, tmp, max_bytes, false, err, errlen) < 0)
		return -1;
	if ((dfd = open(dir, O_RDONLY | O_DIRECTORY | O_NOFOLLOW |
	    O_CLOEXEC)) < 0 || (sfd = open(tmp, O_RDONLY | O_DIRECTORY |
	    O_NOFOLLOW | O_CLOEXEC)) < 0 || (d = fdopendir(sfd)) == NULL) {
		snprintf(err, errlen, "%s: %s", dfd < 0 ? dir : tmp,
		    strerror(errno));
		goto done;
	}
	sfd = -1;
	/* pass 0 checks every name, pass 1 moves them */
	for (pass = 0; pass < 2; pass++) {
		rewinddir(d);
		while ((de = readdir(d)) != NULL) {
			if (strcmp(de->d_name, ".") == 0 ||
			    strcmp(de->d_name, "..") == 0)
				continue;
			if (pass == 0 && fstatat(dfd, de->d_name, &st,
			    AT_SYMLINK_NOFOLLOW) == 0) {
				snprintf(err, errlen, "\"%.300s\" exists "
				    "already in %s", de->d_name, dir);
				goto done;
			}
			if (pass == 1 && renameat2(dirfd(d), de->d_name, dfd,
			    de->d_name, RENAME_NOREPLACE) < 0) {
				snprintf(err, errlen, "\"%.300s\": cannot "
				    "move it into %s: %s", de->d_name, dir,
				    strerror(errno));
				goto done;
			}
		}
	}
	rc = 0;
done:
	if (d != NULL)
		closedir(d);
	if (sfd >= 0)
		close(sfd);
	if (dfd >= 0)
		close(dfd);
	artifact_remove(tmp, why, sizeof(why));
	return rc;
}

void
member_copy_load(struct member_job *j, const char *dir, const char *what)
{
	char why[MEMBER_ERR_MAX];
	int64_t bytes;
	int fd;

	if ((fd = member_tar_pack(j->path, "", 0, 0, j->max_bytes, &bytes, why,
	    sizeof(why))) < 0) {
		member_fail(j, "load into %s refused: %s", what, why);
		return;
	}
	if (member_tar_merge(fd, dir, j->max_bytes, why, sizeof(why)) < 0) {
		member_fail(j, "load into %s failed: %s", what, why);
		close(fd);
		return;
	}
	close(fd);
	j->res.bytes = bytes;
	j->res.ok = true;
}

void
member_copy_save(struct member_job *j, const char *dir, const char *what)
{
	char why[MEMBER_ERR_MAX];
	int64_t bytes;
	int fd;

	if ((fd = member_tar_pack(dir, "", 0, 0, j->max_bytes, &bytes, why,
	    sizeof(why))) < 0) {
		member_fail(j, "save of %s refused: %s", what, why);
		return;
	}
	if (member_tar_replace(fd, j->path, j->max_bytes, why,
	    sizeof(why)) < 0) {
		member_fail(j, "save of %s into %s failed: %s", what, j->path,
		    why);
		close(fd);
		return;
	}
	close(fd);
	j->res.bytes = bytes;
	j->res.ok = true;
}
