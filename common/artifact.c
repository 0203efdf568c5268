/*
 * The artifact checker and unpacker (artifact.h). libarchive reads the
 * archive; every entry is checked here and written here, relative to
 * directory descriptors opened with O_NOFOLLOW, files created with
 * O_EXCL: nothing is ever written through a symlink or over something
 * that exists, whatever the entries that came before. A failure removes
 * the temporary tree.
 */
#include <archive.h>
#include <archive_entry.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <locale.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "artifact.h"
#include "sha256.h"

/* Bytes read from the artifact per call. */
#define ARTIFACT_BLOCK 65536
/* Bytes of an entry's name quoted in a reason. */
#define ARTIFACT_QUOTE_MAX 200

/* The artifact's bytes, as libarchive asks for them: counted against
 * max_bytes and hashed on their way. */
struct artifact_src {
	int fd;
	uint64_t off;
	uint64_t max;
	struct sha256_ctx sha;
	char buf[ARTIFACT_BLOCK];
};

/* One unpack: the tree being written and what it has cost so far. */
struct artifact_job {
	const struct artifact_limits *lim;
	int root;		/* the temporary directory */
	uint64_t entries;
	uint64_t unpacked;	/* declared sizes of the files so far */
	const char *entry;	/* the entry at hand, for reasons */
	char *err;
	size_t errlen;
};

static int artifact_rm_at(int dfd, const char *name);

/* Appends S to BUF (LEN bytes, holding a string), escaped: printable
 * ASCII as is, other bytes as \xNN, cut at ARTIFACT_QUOTE_MAX bytes.
 * QUOTED: between double quotes, with '"' and '\' escaped too. A name
 * from outside goes to logs. */
static void
artifact_quote(char *buf, size_t len, const char *s, bool quoted)
{
	size_t n = strlen(buf), i;

	if (quoted && n + 1 < len)
		buf[n++] = '"';
	for (i = 0; s[i] != '\0' && i < ARTIFACT_QUOTE_MAX && n + 6 < len;
	    i++) {
		unsigned char c = (unsigned char)s[i];

		if (c >= 0x20 && c < 0x7f &&
		    !(quoted && (c == '"' || c == '\\')))
			buf[n++] = (char)c;
		else
			n += (size_t)snprintf(buf + n, len - n, "\\x%02x", c);
	}
	if (s[i] != '\0' && n + 5 < len) {
		memcpy(buf + n, "...", 3);
		n += 3;
	}
	if (quoted && n + 1 < len)
		buf[n++] = '"';
	buf[n] = '\0';
}

/*
 * Writes the reason into the job's ERR: 'entry "NAME": ' when an entry
 * is at hand, then FMT, whose only conversions are %Q (a string quoted
 * and escaped: a name from the archive), %s (a string escaped) and %U
 * (a uint64_t). Returns -1.
 */
static int
artifact_fail(struct artifact_job *j, const char *fmt, ...)
{
	va_list ap;
	char *b = j->err;
	size_t n, len = j->errlen;

	if (len == 0)
		return -1;
	b[0] = '\0';
	if (j->entry != NULL) {
		artifact_quote(b, len, "entry ", false);
		artifact_quote(b, len, j->entry, true);
		artifact_quote(b, len, ": ", false);
	}
	va_start(ap, fmt);
	for (const char *p = fmt; *p != '\0'; p++) {
		n = strlen(b);
		if (n + 1 >= len)
			break;
		if (p[0] != '%' || p[1] == '\0') {
			b[n] = *p;
			b[n + 1] = '\0';
			continue;
		}
		p++;
		if (*p == 'U')
			snprintf(b + n, len - n, "%llu",
			    (unsigned long long)va_arg(ap, uint64_t));
		else
			artifact_quote(b, len, va_arg(ap, const char *),
			    *p == 'Q');
	}
	va_end(ap);
	return -1;
}

/* The same, with errno's text after WHAT (no conversion in it). */
static int
artifact_fail_errno(struct artifact_job *j, const char *what)
{
	int e = errno;

	return artifact_fail(j, "%s: %s", what, strerror(e));
}

/* The next component of *P into NAME, skipping empty and "." ones;
 * 1, 0 at the end of the path, -1 if longer than NAME_MAX. */
static int
artifact_component(const char **p, char name[NAME_MAX + 1])
{
	for (;;) {
		const char *s = *p, *e;
		size_t n;

		while (*s == '/')
			s++;
		if (*s == '\0') {
			*p = s;
			return 0;
		}
		e = strchr(s, '/');
		n = e != NULL ? (size_t)(e - s) : strlen(s);
		*p = s + n;
		if (n == 1 && s[0] == '.')
			continue;
		if (n > NAME_MAX)
			return -1;
		memcpy(name, s, n);
		name[n] = '\0';
		return 1;
	}
}

/* Why PATH cannot name something in the tree, or NULL; *DEPTH is then
 * its count of components. */
static const char *
artifact_path_rule(const char *path, int *depth)
{
	char name[NAME_MAX + 1];
	int n = 0, r;

	if (path[0] == '\0')
		return "empty path";
	if (path[0] == '/')
		return "absolute path";
	while ((r = artifact_component(&path, name)) > 0) {
		if (strcmp(name, "..") == 0)
			return n == 0 ? "path leaves the release directory" :
			    "path has a \"..\" component";
		if (++n > ARTIFACT_DEPTH_MAX + 1)
			return "path deeper than ARTIFACT_DEPTH_MAX "
			    "directories";
	}
	if (r < 0)
		return "path has a component longer than NAME_MAX";
	*depth = n;
	return NULL;
}

/*
 * Why a symlink at depth DEPTH (its directory's count of components)
 * cannot point at TARGET, or NULL. ".." may only lead the target, and
 * no further up than the tree: the link's own directories are real
 * (nothing is written through a symlink), so the leading ".." land
 * where they say, and every name after them goes down, into a real
 * directory or through another link that obeyed the same rule.
 * "a/../b" is refused although it stays inside: after "a", which may
 * be a link, ".." means wherever "a" led.
 */
static const char *
artifact_symlink_rule(const char *target, int depth)
{
	char name[NAME_MAX + 1];
	bool descended = false;
	int r;

	if (target[0] == '\0')
		return "symlink target is empty";
	if (target[0] == '/')
		return "symlink target %Q is absolute";
	if (strlen(target) >= PATH_MAX)
		return "symlink target is longer than PATH_MAX";
	while ((r = artifact_component(&target, name)) > 0) {
		if (strcmp(name, "..") != 0)
			descended = true;
		else if (descended)
			return "symlink target %Q has \"..\" after a name";
		else if (--depth < 0)
			return "symlink target %Q leaves the release "
			    "directory";
	}
	if (r < 0)
		return "symlink target has a component longer than NAME_MAX";
	return NULL;
}

/* NAME in DFD as a directory, not a symlink to one. */
static int
artifact_open_dir(int dfd, const char *name)
{
	return openat(dfd, name,
	    O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
}

/* Says why NAME in DFD could not be opened as a directory. */
static int
artifact_not_dir(struct artifact_job *j, int dfd, const char *name)
{
	struct stat st;
	int e = errno;

	if (fstatat(dfd, name, &st, AT_SYMLINK_NOFOLLOW) == 0) {
		if (S_ISLNK(st.st_mode))
			return artifact_fail(j,
			    "path goes through symlink %Q", name);
		if (!S_ISDIR(st.st_mode))
			return artifact_fail(j, "path goes through file %Q",
			    name);
	}
	if (e == ENOENT)
		return artifact_fail(j, "%Q does not exist", name);
	errno = e;
	return artifact_fail_errno(j, "cannot open a directory of the path");
}

/*
 * Opens the directory that holds PATH's last component (checked by
 * artifact_path_rule), never through a symlink, creating the missing
 * ones when CREATE; that last component goes into NAME ("" when PATH
 * names the tree itself). The directory's descriptor (the caller
 * closes it), or -1 with the reason written.
 */
static int
artifact_parent(struct artifact_job *j, const char *path, bool create,
    char name[NAME_MAX + 1])
{
	char next[NAME_MAX + 1];
	int dfd, fd;

	dfd = openat(j->root, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (dfd < 0)
		return artifact_fail_errno(j, "cannot open the release");
	name[0] = '\0';
	if (artifact_component(&path, name) <= 0)
		return dfd;
	while (artifact_component(&path, next) > 0) {
		fd = artifact_open_dir(dfd, name);
		if (fd < 0 && errno == ENOENT && create) {
			if (mkdirat(dfd, name, 0700) < 0) {
				artifact_fail_errno(j,
				    "cannot make a directory");
				goto fail;
			}
			fd = artifact_open_dir(dfd, name);
			if (fd >= 0 && fchmod(fd, 0755) < 0) {
				close(fd);
				fd = -1;
			}
		}
		if (fd < 0) {
			artifact_not_dir(j, dfd, name);
			goto fail;
		}
		close(dfd);
		dfd = fd;
		memcpy(name, next, sizeof(next));
	}
	return dfd;
fail:
	close(dfd);
	return -1;
}

/* Says what is already at NAME in DFD. */
static int
artifact_exists(struct artifact_job *j, int dfd, const char *name)
{
	struct stat st;

	if (fstatat(dfd, name, &st, AT_SYMLINK_NOFOLLOW) == 0 &&
	    S_ISLNK(st.st_mode))
		return artifact_fail(j, "a symlink of that name exists");
	return artifact_fail(j, "the path exists already");
}

static int
artifact_write(struct artifact_job *j, int fd, const char *p, size_t len,
    int64_t off)
{
	while (len > 0) {
		ssize_t n = pwrite(fd, p, len, off);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return artifact_fail_errno(j, "write failed");
		p += n;
		len -= (size_t)n;
		off += n;
	}
	return 0;
}

static int
artifact_file(struct archive *a, struct artifact_job *j,
    struct archive_entry *e, int dfd, const char *name)
{
	int64_t size = archive_entry_size(e), off, end = 0;
	const void *buf;
	size_t len;
	int fd, r;

	if (!archive_entry_size_is_set(e) || size < 0)
		return artifact_fail(j, "file without a size");
	if ((uint64_t)size > j->lim->max_unpacked - j->unpacked)
		return artifact_fail(j,
		    "unpacked size would pass max_unpacked (%U bytes)",
		    j->lim->max_unpacked);
	j->unpacked += (uint64_t)size;
	fd = openat(dfd, name,
	    O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
	if (fd < 0)
		return errno == EEXIST ? artifact_exists(j, dfd, name) :
		    artifact_fail_errno(j, "cannot create the file");
	while ((r = archive_read_data_block(a, &buf, &len, &off)) ==
	    ARCHIVE_OK) {
		/* the declared size was counted: no byte past it */
		if (off < 0 || off > size || len > (uint64_t)(size - off)) {
			artifact_fail(j, "data past the file's size");
			goto fail;
		}
		if (artifact_write(j, fd, buf, len, off) < 0)
			goto fail;
		if (off + (int64_t)len > end)
			end = off + (int64_t)len;
	}
	if (r != ARCHIVE_EOF) {
		artifact_fail(j, "corrupt archive: %s",
		    archive_error_string(a) ? archive_error_string(a) : "?");
		goto fail;
	}
	/* a sparse file's last hole */
	if (end < size && ftruncate(fd, size) < 0) {
		artifact_fail_errno(j, "cannot size the file");
		goto fail;
	}
	if (fchmod(fd, archive_entry_perm(e) & 0755) < 0) {
		artifact_fail_errno(j, "cannot set the file's mode");
		goto fail;
	}
	if (close(fd) < 0)
		return artifact_fail_errno(j, "write failed");
	return 0;
fail:
	close(fd);
	return -1;
}

static int
artifact_dir(struct artifact_job *j, struct archive_entry *e, int dfd,
    const char *name)
{
	struct stat st;
	int fd;

	if (name[0] == '\0')
		return 0;	/* the tree itself, whose mode is ours */
	if (mkdirat(dfd, name, 0700) < 0) {
		if (errno != EEXIST)
			return artifact_fail_errno(j,
			    "cannot make a directory");
		/* a directory made for an earlier entry's path is fine */
		if (fstatat(dfd, name, &st, AT_SYMLINK_NOFOLLOW) < 0 ||
		    !S_ISDIR(st.st_mode))
			return artifact_exists(j, dfd, name);
	}
	fd = artifact_open_dir(dfd, name);
	if (fd < 0)
		return artifact_fail_errno(j, "cannot open the directory");
	if (fchmod(fd, 0700 | (archive_entry_perm(e) & 055)) < 0) {
		close(fd);
		return artifact_fail_errno(j,
		    "cannot set the directory's mode");
	}
	close(fd);
	return 0;
}

static int
artifact_symlink(struct artifact_job *j, struct archive_entry *e, int dfd,
    const char *name, int depth)
{
	const char *target = archive_entry_symlink(e), *why;

	if (target == NULL)
		return artifact_fail(j, "symlink without a target");
	if ((why = artifact_symlink_rule(target, depth - 1)) != NULL)
		return artifact_fail(j, why, target);
	if (symlinkat(target, dfd, name) < 0)
		return errno == EEXIST ? artifact_exists(j, dfd, name) :
		    artifact_fail_errno(j, "cannot make the symlink");
	return 0;
}

/* A hard link to a regular file unpacked earlier: to a symlink it would
 * be a second symlink, checked for another directory. */
static int
artifact_hardlink(struct artifact_job *j, struct archive_entry *e, int dfd,
    const char *name)
{
	const char *target = archive_entry_hardlink(e), *why;
	char tname[NAME_MAX + 1];
	struct stat st;
	int tfd, depth, r;

	if ((why = artifact_path_rule(target, &depth)) != NULL)
		return artifact_fail(j, "hard link target %Q: %s", target,
		    why);
	if (archive_entry_size(e) > 0)
		return artifact_fail(j, "hard link with data");
	if ((tfd = artifact_parent(j, target, false, tname)) < 0 ||
	    fstatat(tfd, tname, &st, AT_SYMLINK_NOFOLLOW) < 0) {
		if (tfd >= 0)
			close(tfd);
		return artifact_fail(j,
		    "hard link target %Q is not unpacked (yet)", target);
	}
	if (!S_ISREG(st.st_mode)) {
		close(tfd);
		return artifact_fail(j,
		    "hard link target %Q is not a regular file", target);
	}
	r = linkat(tfd, tname, dfd, name, 0);
	close(tfd);
	if (r < 0)
		return errno == EEXIST ? artifact_exists(j, dfd, name) :
		    artifact_fail_errno(j, "cannot make the hard link");
	return 0;
}

/* Checks the entry at hand and writes it into the tree. */
static int
artifact_entry(struct archive *a, struct artifact_job *j,
    struct archive_entry *e)
{
	const char *path = archive_entry_pathname(e), *why;
	mode_t type = archive_entry_filetype(e);
	char name[NAME_MAX + 1];
	int depth, dfd, r;

	j->entry = path;
	if (path == NULL) {
		j->entry = "?";
		return artifact_fail(j, "name unreadable");
	}
	if (++j->entries > j->lim->max_entries)
		return artifact_fail(j, "more than max_entries (%U) entries",
		    j->lim->max_entries);
	if ((why = artifact_path_rule(path, &depth)) != NULL)
		return artifact_fail(j, why);
	if (archive_entry_hardlink(e) == NULL) {
		switch (type) {
		case AE_IFREG:
		case AE_IFDIR:
		case AE_IFLNK:
			break;
		case AE_IFCHR:
		case AE_IFBLK:
			return artifact_fail(j, "device node");
		case AE_IFIFO:
			return artifact_fail(j, "FIFO");
		case AE_IFSOCK:
			return artifact_fail(j, "socket");
		default:
			return artifact_fail(j, "unknown file type");
		}
	}
	if (archive_entry_perm(e) & (S_ISUID | S_ISGID))
		return artifact_fail(j, "setuid or setgid bit");
	if ((dfd = artifact_parent(j, path, true, name)) < 0)
		return -1;
	if (name[0] == '\0' &&
	    (type != AE_IFDIR || archive_entry_hardlink(e) != NULL)) {
		close(dfd);
		return artifact_fail(j, "names the release directory itself");
	}
	if (archive_entry_hardlink(e) != NULL)
		r = artifact_hardlink(j, e, dfd, name);
	else if (type == AE_IFREG)
		r = artifact_file(a, j, e, dfd, name);
	else if (type == AE_IFDIR)
		r = artifact_dir(j, e, dfd, name);
	else
		r = artifact_symlink(j, e, dfd, name, depth);
	close(dfd);
	return r;
}

/* Reads the artifact's next block into S's buffer and hashes it: its
 * length, 0 at the end, or -1 with errno (EFBIG past max_bytes). */
static ssize_t
artifact_pread(struct artifact_src *s)
{
	ssize_t n;

	do
		n = pread(s->fd, s->buf, sizeof(s->buf), (off_t)s->off);
	while (n < 0 && errno == EINTR);
	if (n < 0)
		return -1;
	if ((uint64_t)n > s->max - s->off) {
		errno = EFBIG;
		return -1;
	}
	s->off += (uint64_t)n;
	sha256_update(&s->sha, s->buf, (size_t)n);
	return n;
}

/* Hashes the artifact from S's offset to its end; the digest into D. */
static int
artifact_hash_rest(struct artifact_src *s, uint8_t d[SHA256_LEN])
{
	ssize_t n;

	while ((n = artifact_pread(s)) > 0)
		;
	if (n < 0)
		return -1;
	sha256_final(&s->sha, d);
	return 0;
}

/* libarchive's read callback. */
static la_ssize_t
artifact_read(struct archive *a, void *data, const void **buf)
{
	struct artifact_src *s = data;
	ssize_t n = artifact_pread(s);

	if (n < 0) {
		archive_set_error(a, errno, "%s", errno == EFBIG ?
		    "artifact larger than max_bytes" : strerror(errno));
		return -1;
	}
	*buf = s->buf;
	return n;
}

/* The temporary sibling of DEST, ".NAME.tmp-XXXXXX", into TMP and
 * DEST's directory into DIR; -1 if DEST ends without a name. */
static int
artifact_temp_path(const char *dest, char tmp[PATH_MAX], char dir[PATH_MAX])
{
	const char *slash = strrchr(dest, '/');
	const char *base = slash != NULL ? slash + 1 : dest;
	int dlen = (int)(base - dest), n;

	if (base[0] == '\0' || strcmp(base, ".") == 0 ||
	    strcmp(base, "..") == 0)
		return -1;
	n = snprintf(tmp, PATH_MAX, "%.*s.%s.tmp-XXXXXX", dlen, dest, base);
	if (n < 0 || n >= PATH_MAX)
		return -1;
	snprintf(dir, PATH_MAX, "%.*s", dlen > 0 ? dlen : 1,
	    dlen > 0 ? dest : ".");
	return 0;
}

static locale_t artifact_utf8;

static void
artifact_utf8_make(void)
{
	artifact_utf8 = newlocale(LC_ALL_MASK, "C.UTF-8", (locale_t)0);
}

/* The C.UTF-8 locale, made once (and never freed); (locale_t)0 where
 * the system has none. */
static locale_t
artifact_utf8_locale(void)
{
	static pthread_once_t once = PTHREAD_ONCE_INIT;

	pthread_once(&once, artifact_utf8_make);
	return artifact_utf8;
}

/* Reads every entry of the archive A into the job's tree. */
static int
artifact_entries(struct archive *a, struct artifact_job *j)
{
	struct archive_entry *e;
	const char *why;
	int r;

	while ((r = archive_read_next_header(a, &e)) == ARCHIVE_OK)
		if (artifact_entry(a, j, e) < 0)
			return -1;
	if (r == ARCHIVE_EOF)
		return j->entries > 0 ? 0 : artifact_fail(j,
		    "artifact: no entries");
	why = archive_error_string(a) != NULL ? archive_error_string(a) :
	    "unreadable";
	j->entry = NULL;
	if (r == ARCHIVE_WARN && archive_entry_pathname(e) != NULL) {
		j->entry = archive_entry_pathname(e);
		return artifact_fail(j, "corrupt archive: %s", why);
	}
	if (j->entries == 0)
		return artifact_fail(j, "artifact: not a tar archive (%s)",
		    why);
	return artifact_fail(j, "artifact: corrupt after %U entries: %s",
	    j->entries, why);
}

int
artifact_unpack(int fd, const char *want_sha256, const char *dest,
    const struct artifact_limits *lim, char *err, size_t errlen)
{
	struct artifact_job j = {.lim = lim, .root = -1, .err = err,
	    .errlen = errlen};
	uint8_t want[SHA256_LEN], got[SHA256_LEN];
	char tmp[PATH_MAX], dir[PATH_MAX], hex[SHA256_HEX_LEN];
	struct artifact_src *src = NULL;
	struct archive *a = NULL;
	locale_t utf8, old = (locale_t)0;
	bool made = false;
	struct stat st;
	int dfd, rc = -1;

	if (want_sha256 != NULL && sha256_parse_hex(want_sha256, want) < 0)
		return artifact_fail(&j, "sha256 %Q is not 64 hex digits",
		    want_sha256);
	if (artifact_temp_path(dest, tmp, dir) < 0)
		return artifact_fail(&j, "%Q: not a directory to create",
		    dest);
	if (lstat(dest, &st) == 0)
		return artifact_fail(&j, "%Q: exists already", dest);
	if (errno != ENOENT)
		return artifact_fail(&j, "%Q: %s", dest, strerror(errno));
	if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode))
		return artifact_fail(&j, "artifact: not a regular file");
	if ((uint64_t)st.st_size > lim->max_bytes)
		return artifact_fail(&j, "artifact: larger than max_bytes "
		    "(%U bytes)", lim->max_bytes);
	if ((src = malloc(sizeof(*src))) == NULL)
		return artifact_fail_errno(&j, "artifact");
	src->fd = fd;
	src->max = lim->max_bytes;
	if (want_sha256 != NULL) {
		src->off = 0;
		sha256_init(&src->sha);
		if (artifact_hash_rest(src, got) < 0) {
			artifact_fail_errno(&j, "artifact: cannot read");
			goto fail;
		}
		if (memcmp(got, want, sizeof(got)) != 0) {
			sha256_hex(got, hex);
			artifact_fail(&j, "artifact: sha256 is %s, expected "
			    "%s", hex, want_sha256);
			goto fail;
		}
	}
	src->off = 0;
	sha256_init(&src->sha);
	utf8 = artifact_utf8_locale();

	if (mkdtemp(tmp) == NULL) {
		artifact_fail_errno(&j, "cannot make a temporary directory");
		goto fail;
	}
	made = true;
	j.root = artifact_open_dir(AT_FDCWD, tmp);
	if (j.root < 0) {
		artifact_fail_errno(&j, "cannot open the temporary directory");
		goto fail;
	}
	/* pax headers name files in UTF-8, which libarchive converts to
	 * the locale's charset: in the C locale of a daemon, every name
	 * beyond ASCII would fail (a warning, so a refusal). In C.UTF-8 the
	 * names stay the bytes they are. This thread only, for this call. */
	if (utf8 != (locale_t)0)
		old = uselocale(utf8);
	/* tar, plain or gzip: no other format (not "raw", which takes
	 * anything) and no filter that runs an outside program */
	if ((a = archive_read_new()) == NULL ||
	    archive_read_support_filter_gzip(a) != ARCHIVE_OK ||
	    archive_read_support_format_tar(a) != ARCHIVE_OK) {
		artifact_fail(&j, "libarchive cannot read tar.gz here");
		goto fail;
	}
	if (archive_read_open(a, src, NULL, artifact_read, NULL) !=
	    ARCHIVE_OK) {
		artifact_fail(&j, "artifact: not a tar archive (%s)",
		    archive_error_string(a) != NULL ?
		    archive_error_string(a) : "unreadable");
		goto fail;
	}
	if (artifact_entries(a, &j) < 0)
		goto fail;
	j.entry = NULL;
	if (want_sha256 != NULL) {
		if (artifact_hash_rest(src, got) < 0) {
			artifact_fail_errno(&j, "artifact: cannot read");
			goto fail;
		}
		if (memcmp(got, want, sizeof(got)) != 0) {
			artifact_fail(&j, "artifact: changed while unpacked "
			    "(sha256 no longer matches)");
			goto fail;
		}
	}
	/* the files' bytes on disk before the name that says they are */
	if (fchmod(j.root, 0755) < 0 || (!lim->no_sync && syncfs(j.root) < 0)) {
		artifact_fail_errno(&j, "cannot sync the release");
		goto fail;
	}
	if (renameat2(AT_FDCWD, tmp, AT_FDCWD, dest, RENAME_NOREPLACE) < 0) {
		artifact_fail(&j, "%Q: %s", dest, errno == EEXIST ?
		    "exists already" : strerror(errno));
		goto fail;
	}
	made = false;
	if (!lim->no_sync &&
	    (dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC)) >= 0) {
		fsync(dfd);
		close(dfd);
	}
	rc = 0;
fail:
	archive_read_free(a);
	if (old != (locale_t)0)
		uselocale(old);
	if (j.root >= 0)
		close(j.root);
	if (made)
		artifact_rm_at(AT_FDCWD, tmp);
	free(src);
	return rc;
}

/* Removes NAME in DFD, a directory with all it holds or anything else,
 * never through a symlink. A level holds a descriptor: a tree deeper
 * than the process may open fails (EMFILE), ours never are. */
static int
artifact_rm_at(int dfd, const char *name)
{
	struct dirent *de;
	DIR *d;
	int fd;
	bool removed;

	fd = artifact_open_dir(dfd, name);
	if (fd < 0)
		return errno == ENOTDIR || errno == ELOOP ?
		    unlinkat(dfd, name, 0) : -1;
	if ((d = fdopendir(fd)) == NULL) {
		close(fd);
		return -1;
	}
	for (;;) {
		removed = false;
		while ((de = readdir(d)) != NULL) {
			if (strcmp(de->d_name, ".") == 0 ||
			    strcmp(de->d_name, "..") == 0)
				continue;
			if (artifact_rm_at(dirfd(d), de->d_name) < 0)
				goto fail;
			removed = true;
		}
		if (unlinkat(dfd, name, AT_REMOVEDIR) == 0)
			break;
		/* removing may hide entries from readdir: pass again */
		if (errno != ENOTEMPTY || !removed)
			goto fail;
		rewinddir(d);
	}
	closedir(d);
	return 0;
fail:
	closedir(d);
	return -1;
}

int
artifact_remove(const char *dir, char *err, size_t errlen)
{
	struct stat st;

	if (lstat(dir, &st) < 0) {
		snprintf(err, errlen, "%s: %s", dir, strerror(errno));
		return -1;
	}
	if (!S_ISDIR(st.st_mode)) {
		snprintf(err, errlen, "%s: not a directory", dir);
		return -1;
	}
	if (artifact_rm_at(AT_FDCWD, dir) < 0) {
		snprintf(err, errlen, "%s: cannot remove: %s", dir,
		    strerror(errno));
		return -1;
	}
	return 0;
}
