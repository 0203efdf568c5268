// links:
/*
 * The deployer's artifact checker (common/artifact.c). Every
 * artifact is built at run time, in a temporary directory, with
 * libarchive's write API (which writes whatever names, types and modes
 * it is given), with GNU tar for a real-world one, or with Python's
 * tarfile for what libarchive will not write. A bad artifact must be
 * refused with a reason naming the entry and the rule, leave no DEST
 * and no temporary directory behind, and write nothing outside; a good
 * one must come out whole: contents, modes, links.
 */
#include <archive.h>
#include <archive_entry.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>

#include "artifact.h"
#include "sha256.h"
#include "unit.h"

#define MIB (1024ULL * 1024)
#define HARDLINK 1	/* an ent's type: a hard link to LINK */

/* One entry of an artifact to build. */
struct ent {
	const char *path;
	unsigned type;		/* AE_IFREG, AE_IFDIR, AE_IFLNK, ... */
	unsigned mode;		/* permission bits; 0: 0644, dirs 0755 */
	const char *link;	/* a symlink's or hard link's target */
	const char *data;	/* a file's contents */
};

/* A temporary directory holding the artifact and OUT, the directory
 * DEST is made in, which must hold nothing else after a refusal. */
struct fix {
	char dir[256];
	char art[512];
	char out[384];
	char dest[512];
};

static const struct artifact_limits limits = {
	.max_bytes = 64 * MIB,
	.max_unpacked = 64 * MIB,
	.max_entries = 10000,
};

static int
fix_open(struct fix *f)
{
	const char *tmp = getenv("TMPDIR");

	snprintf(f->dir, sizeof(f->dir), "%s/devcloud-artifact.XXXXXX",
	    tmp != NULL && tmp[0] != '\0' ? tmp : "/tmp");
	if (mkdtemp(f->dir) == NULL)
		return -1;
	snprintf(f->art, sizeof(f->art), "%s/artifact", f->dir);
	snprintf(f->out, sizeof(f->out), "%s/releases", f->dir);
	snprintf(f->dest, sizeof(f->dest), "%s/releases/7", f->dir);
	return mkdir(f->out, 0755);
}

static void
fix_close(struct fix *f)
{
	char err[256];

	if (artifact_remove(f->dir, err, sizeof(err)) < 0)
		unit_fail(__FILE__, __LINE__, "cleanup: %s", err);
}

/* Entries in directory PATH; -1 if it cannot be read. */
static int
dir_count(const char *path)
{
	struct dirent *de;
	DIR *d = opendir(path);
	int n = 0;

	if (d == NULL)
		return -1;
	while ((de = readdir(d)) != NULL)
		if (strcmp(de->d_name, ".") != 0 &&
		    strcmp(de->d_name, "..") != 0)
			n++;
	closedir(d);
	return n;
}

/* Writes ENTS (N of them) as a pax tar at PATH, gzip-compressed at
 * LEVEL (0: not compressed). */
static int
build(const char *path, const struct ent *ents, size_t n, int level)
{
	struct archive *a = archive_write_new();
	struct archive_entry *e = archive_entry_new();
	char lv[12];
	int rc = -1;

	snprintf(lv, sizeof(lv), "%d", level);
	if (level > 0 && (archive_write_add_filter_gzip(a) != ARCHIVE_OK ||
	    archive_write_set_filter_option(a, "gzip", "compression-level",
	    lv) != ARCHIVE_OK))
		goto done;
	if (archive_write_set_format_pax_restricted(a) != ARCHIVE_OK ||
	    archive_write_open_filename(a, path) != ARCHIVE_OK)
		goto done;
	for (size_t i = 0; i < n; i++) {
		const struct ent *t = &ents[i];
		size_t len = t->data != NULL ? strlen(t->data) : 0;
		unsigned type = t->type == HARDLINK ? AE_IFREG : t->type;

		archive_entry_clear(e);
		archive_entry_set_pathname(e, t->path);
		archive_entry_set_filetype(e, type);
		archive_entry_set_perm(e, t->mode != 0 ? t->mode :
		    type == AE_IFDIR ? 0755 : 0644);
		archive_entry_set_size(e, (la_int64_t)len);
		archive_entry_set_mtime(e, 1700000000, 0);
		if (t->type == AE_IFLNK)
			archive_entry_set_symlink(e, t->link);
		if (t->type == HARDLINK) {
			archive_entry_set_hardlink(e, t->link);
			archive_entry_set_size(e, 0);
		}
		if (t->type == AE_IFCHR || t->type == AE_IFBLK)
			archive_entry_set_rdev(e, makedev(1, 3));
		if (archive_write_header(a, e) != ARCHIVE_OK) {
			fprintf(stderr, "build %s: %s\n", t->path,
			    archive_error_string(a));
			goto done;
		}
		if (len > 0 && t->type == AE_IFREG &&
		    archive_write_data(a, t->data, len) != (la_ssize_t)len)
			goto done;
	}
	rc = archive_write_close(a) == ARCHIVE_OK ? 0 : -1;
done:
	archive_entry_free(e);
	archive_write_free(a);
	return rc;
}

static int
unpack(struct fix *f, const char *sha, const struct artifact_limits *lim,
    char *err, size_t errlen)
{
	int fd = open(f->art, O_RDONLY | O_CLOEXEC), r;

	if (fd < 0) {
		snprintf(err, errlen, "cannot open the artifact");
		return -2;
	}
	r = artifact_unpack(fd, sha, f->dest, lim, err, errlen);
	close(fd);
	return r;
}

/* The artifact at F was refused with a reason holding ENTRY (when not
 * NULL) and RULE, and left nothing in F's out directory. */
static void
check_refused(const char *name, struct fix *f, int r, const char *err,
    const char *entry, const char *rule)
{
	if (r != -1) {
		unit_fail(__FILE__, __LINE__, "%s: not refused (%d): %s",
		    name, r, err);
		return;
	}
	if (entry != NULL && strstr(err, entry) == NULL)
		unit_fail(__FILE__, __LINE__, "%s: reason \"%s\" lacks \"%s\"",
		    name, err, entry);
	if (strstr(err, rule) == NULL)
		unit_fail(__FILE__, __LINE__, "%s: reason \"%s\" lacks \"%s\"",
		    name, err, rule);
	if (dir_count(f->out) != 0)
		unit_fail(__FILE__, __LINE__, "%s: %d left in %s", name,
		    dir_count(f->out), f->out);
}

/* The entries of a table, by kind. */
#define FILE_(path, mode, data) {path, AE_IFREG, mode, NULL, data}
#define DIR_(path, mode) {path, AE_IFDIR, mode, NULL, NULL}
#define SYM(path, target) {path, AE_IFLNK, 0, target, NULL}
#define HARD(path, target) {path, HARDLINK, 0, target, NULL}
#define NODE(path, type) {path, type, 0, NULL, NULL}

/* Artifacts that are lists of entries, each refused. */
static const struct {
	const char *name;
	struct ent ents[4];
	const char *entry, *rule;
} bad[] = {
	{"dot-dot", {FILE_("../../etc/passwd", 0, "root::0:0\n")},
	    "entry \"../../etc/passwd\"", "path leaves the release directory"},
	{"dot-dot inside", {FILE_("a/../b", 0, "x")},
	    "entry \"a/../b\"", "path has a \"..\" component"},
	{"absolute path", {FILE_("/etc/x", 0, "x")},
	    "entry \"/etc/x\"", "absolute path"},
	/* refused at the link: the file after it is never reached */
	{"symlink out, then a file through it",
	    {SYM("link", "/tmp"),
	    FILE_("link/devcloud-artifact-evil", 0, "x")},
	    "entry \"link\"", "symlink target \"/tmp\" is absolute"},
	{"symlink climbing out", {SYM("a", "../../x")},
	    "entry \"a\"", "symlink target \"../../x\" leaves the release"},
	{"symlink climbing out from a directory",
	    {SYM("d/e/s", "../../..")},
	    "entry \"d/e/s\"", "leaves the release directory"},
	{"symlink with .. after a name",
	    {DIR_("d/", 0), SYM("s", "d/../..")},
	    "entry \"s\"", "has \"..\" after a name"},
	{"file through a symlink inside",
	    {DIR_("d/", 0), SYM("s", "d"), FILE_("s/evil", 0, "x")},
	    "entry \"s/evil\"", "path goes through symlink \"s\""},
	{"directory over a symlink",
	    {SYM("s", "."), DIR_("s/", 0)},
	    "entry \"s/\"", "a symlink of that name exists"},
	{"file through a file",
	    {FILE_("f", 0, "x"), FILE_("f/x", 0, "x")},
	    "entry \"f/x\"", "path goes through file \"f\""},
	{"hard link to /etc/passwd", {HARD("h", "/etc/passwd")},
	    "entry \"h\"", "hard link target \"/etc/passwd\": absolute path"},
	{"hard link climbing out", {HARD("h", "../x")},
	    "entry \"h\"", "path leaves the release directory"},
	{"hard link before its target",
	    {HARD("h", "later"), FILE_("later", 0, "x")},
	    "entry \"h\"", "hard link target \"later\" is not unpacked"},
	{"hard link to a symlink",
	    {SYM("d/s", "../x"), HARD("h", "d/s")},
	    "entry \"h\"", "is not a regular file"},
	{"character device", {NODE("dev/null", AE_IFCHR)},
	    "entry \"dev/null\"", "device node"},
	{"block device", {NODE("dev/sda", AE_IFBLK)},
	    "entry \"dev/sda\"", "device node"},
	{"FIFO", {NODE("fifo", AE_IFIFO)}, "entry \"fifo\"", "FIFO"},
	{"setuid file", {FILE_("bin/su", 04755, "x")},
	    "entry \"bin/su\"", "setuid or setgid bit"},
	{"setgid directory", {DIR_("shared/", 02775)},
	    "entry \"shared/\"", "setuid or setgid bit"},
	{"same file twice",
	    {FILE_("a", 0, "1"), FILE_("a", 0, "2")},
	    "entry \"a\"", "the path exists already"},
	{"the release itself as a file", {FILE_(".", 0, "x")},
	    "entry \".\"", "names the release directory itself"},
	{"control bytes in a name", {FILE_("x/\n/../y", 0, "x")},
	    "entry \"x/\\x0a/../y\"", "path has a \"..\" component"},
};

static void
test_bad_entries(void)
{
	char err[512];
	struct fix f;

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		size_t n = 0;

		while (n < 4 && bad[i].ents[n].path != NULL)
			n++;
		REQUIRE(fix_open(&f) == 0);
		if (build(f.art, bad[i].ents, n, 6) < 0) {
			unit_fail(__FILE__, __LINE__, "%s: cannot build",
			    bad[i].name);
		} else {
			int r = unpack(&f, NULL, &limits, err, sizeof(err));

			check_refused(bad[i].name, &f, r, err, bad[i].entry,
			    bad[i].rule);
		}
		fix_close(&f);
	}
	CHECK(access("/tmp/devcloud-artifact-evil", F_OK) < 0);
}

/* A path deeper than ARTIFACT_DEPTH_MAX directories. */
static void
test_too_deep(void)
{
	char path[2 * (ARTIFACT_DEPTH_MAX + 2) + 2] = "", err[512];
	struct ent e = FILE_(path, 0, "x");
	struct fix f;

	for (int i = 0; i < ARTIFACT_DEPTH_MAX + 1; i++)
		memcpy(path + 2 * i, "d/", 2);
	memcpy(path + 2 * (ARTIFACT_DEPTH_MAX + 1), "f", 2);
	REQUIRE(fix_open(&f) == 0);
	REQUIRE(build(f.art, &e, 1, 6) == 0);
	check_refused("too deep", &f, unpack(&f, NULL, &limits, err,
	    sizeof(err)), err, "entry \"d/d/d/", "path deeper than");
	/* one level less is fine */
	path[0] = 'e';
	memmove(path + 1, path + 2, strlen(path + 2) + 1);
	REQUIRE(build(f.art, &e, 1, 6) == 0);
	CHECK(unpack(&f, NULL, &limits, err, sizeof(err)) == 0);
	fix_close(&f);
}

static void
test_checksum(void)
{
	static const struct ent tree[] = {FILE_("index.html", 0, "hi")};
	uint8_t d[SHA256_LEN];
	char err[512], hex[SHA256_HEX_LEN];
	struct fix f;
	int r;

	REQUIRE(fix_open(&f) == 0);
	REQUIRE(build(f.art, tree, 1, 6) == 0);
	sha256("something else", 14, d);
	sha256_hex(d, hex);
	r = unpack(&f, hex, &limits, err, sizeof(err));
	check_refused("wrong sha256", &f, r, err, "artifact: sha256 is ",
	    hex);
	CHECK_CONTAINS(err, "expected");
	r = unpack(&f, "abc", &limits, err, sizeof(err));
	check_refused("malformed sha256", &f, r, err, NULL,
	    "sha256 \"abc\" is not 64 hex digits");
	fix_close(&f);
}

/* The bytes this process has written so far, from /proc/self/io:
 * -1 if the kernel does not count them. */
static long long
bytes_written(void)
{
	FILE *io = fopen("/proc/self/io", "r");
	char line[128];
	long long n = -1;

	if (io == NULL)
		return -1;
	while (fgets(line, sizeof(line), io) != NULL)
		if (sscanf(line, "wchar: %lld", &n) == 1)
			break;
	fclose(io);
	return n;
}

/*
 * 1 GiB of zeros, gzip-compressed to about 1 MiB, as one file, then as
 * 1024 files of 1 MiB, against a 64 MiB cap. The one file is refused
 * from its header, before a byte is written; of the many, the 65th is
 * refused, and no more than the cap was ever written (the process's
 * write count says so, which would show a tree that grew past the cap
 * and was removed afterwards).
 */
static void
test_bomb(void)
{
	static char zeros[MIB];
	struct archive_entry *e;
	struct archive *a;
	char err[512], name[32];
	long long before, after;
	struct fix f;
	struct stat st;
	int r;

	REQUIRE(fix_open(&f) == 0);
	for (int many = 0; many <= 1; many++) {
		a = archive_write_new();
		e = archive_entry_new();
		REQUIRE(archive_write_add_filter_gzip(a) == ARCHIVE_OK);
		/* the many files' artifact need not be small: build it fast */
		if (many)
			archive_write_set_filter_option(a, "gzip",
			    "compression-level", "1");
		archive_write_set_format_pax_restricted(a);
		REQUIRE(archive_write_open_filename(a, f.art) == ARCHIVE_OK);
		for (int i = 0; i < (many ? 1024 : 1); i++) {
			snprintf(name, sizeof(name), many ? "zeros/%04d" :
			    "zeros", i);
			archive_entry_clear(e);
			archive_entry_set_pathname(e, name);
			archive_entry_set_filetype(e, AE_IFREG);
			archive_entry_set_perm(e, 0644);
			archive_entry_set_size(e, many ? MIB : 1024 * MIB);
			archive_write_header(a, e);
			for (int k = 0; k < (many ? 1 : 1024); k++)
				archive_write_data(a, zeros, sizeof(zeros));
		}
		archive_write_close(a);
		archive_write_free(a);
		archive_entry_free(e);
		REQUIRE(stat(f.art, &st) == 0);
		if (!many)
			CHECK(st.st_size < 2 * (long long)MIB);

		before = bytes_written();
		r = unpack(&f, NULL, &limits, err, sizeof(err));
		after = bytes_written();
		check_refused(many ? "many files" : "one file", &f, r, err,
		    many ? "entry \"zeros/0064\"" : "entry \"zeros\"",
		    "unpacked size would pass max_unpacked (67108864 bytes)");
		if (before < 0 || after < 0)
			continue;
		/* a few lines of test output besides */
		if (after - before > (long long)(many ? 64 * MIB : 0) + 4096)
			unit_fail(__FILE__, __LINE__, "wrote %lld bytes",
			    after - before);
	}
	fix_close(&f);
	if (bytes_written() < 0)
		SKIP("/proc/self/io has no write count here: the bound on "
		    "what was written is unchecked");
}

static void
test_too_many(void)
{
	struct ent ents[11];
	char names[11][8], err[512];
	struct artifact_limits lim = limits;
	struct fix f;

	for (int i = 0; i < 11; i++) {
		snprintf(names[i], sizeof(names[i]), "f%d", i);
		ents[i] = (struct ent)FILE_(names[i], 0, "x");
	}
	lim.max_entries = 10;
	REQUIRE(fix_open(&f) == 0);
	REQUIRE(build(f.art, ents, 11, 6) == 0);
	check_refused("too many entries", &f, unpack(&f, NULL, &lim, err,
	    sizeof(err)), err, "entry \"f10\"",
	    "more than max_entries (10) entries");
	/* ten is fine */
	REQUIRE(build(f.art, ents, 10, 6) == 0);
	CHECK(unpack(&f, NULL, &lim, err, sizeof(err)) == 0);
	fix_close(&f);
}

/* Writes LEN bytes from DATA (NULL: pseudo-random ones) into PATH. */
static int
write_bytes(const char *path, const void *data, size_t len)
{
	FILE *fp = fopen(path, "wb");
	uint32_t x = 2463534242u;
	int ok;

	if (fp == NULL)
		return -1;
	for (size_t i = 0; data == NULL && i < len; i++) {
		x ^= x << 13;
		x ^= x >> 17;
		x ^= x << 5;
		fputc((int)(x & 0xff), fp);
	}
	if (data != NULL)
		fwrite(data, 1, len, fp);
	ok = !ferror(fp);
	return fclose(fp) == 0 && ok ? 0 : -1;
}

/* Writes LEN bytes of DATA gzip-compressed, with no archive around. */
static int
build_raw(const char *path, const char *data, size_t len)
{
	struct archive *a = archive_write_new();
	struct archive_entry *e = archive_entry_new();
	int rc = -1;

	archive_entry_set_filetype(e, AE_IFREG);
	if (archive_write_add_filter_gzip(a) == ARCHIVE_OK &&
	    archive_write_set_format_raw(a) == ARCHIVE_OK &&
	    archive_write_open_filename(a, path) == ARCHIVE_OK &&
	    archive_write_header(a, e) == ARCHIVE_OK &&
	    archive_write_data(a, data, len) == (la_ssize_t)len)
		rc = archive_write_close(a) == ARCHIVE_OK ? 0 : -1;
	archive_entry_free(e);
	archive_write_free(a);
	return rc;
}

/* Artifacts that are not whole tar archives. */
static void
test_not_archives(void)
{
	static char text[300000];
	static const char zeros[1024];
	struct ent big = FILE_("big.txt", 0, text);
	char err[512];
	struct fix f;
	struct stat st;

	/* text that compresses, but not into nothing */
	for (size_t i = 0; i + 1 < sizeof(text); i++)
		text[i] = (char)('a' + (i * i / 7 + i / 3) % 26);
	REQUIRE(fix_open(&f) == 0);
	REQUIRE(build(f.art, &big, 1, 6) == 0);
	REQUIRE(stat(f.art, &st) == 0);
	REQUIRE(truncate(f.art, st.st_size / 2) == 0);
	check_refused("truncated gzip", &f, unpack(&f, NULL, &limits, err,
	    sizeof(err)), err, "entry \"big.txt\"", "corrupt archive");

	REQUIRE(build(f.art, &big, 1, 0) == 0);
	REQUIRE(truncate(f.art, 512 + 1000) == 0);
	check_refused("truncated tar", &f, unpack(&f, NULL, &limits, err,
	    sizeof(err)), err, "entry \"big.txt\"", "Truncated tar archive");

	REQUIRE(write_bytes(f.art, NULL, 4096) == 0);
	check_refused("random bytes", &f, unpack(&f, NULL, &limits, err,
	    sizeof(err)), err, "artifact: ", "not a tar archive");

	REQUIRE(write_bytes(f.art, "", 0) == 0);
	check_refused("empty file", &f, unpack(&f, NULL, &limits, err,
	    sizeof(err)), err, "artifact: ", "not a tar archive");

	/* a tar archive's end and nothing before it */
	REQUIRE(write_bytes(f.art, zeros, sizeof(zeros)) == 0);
	check_refused("no entries", &f, unpack(&f, NULL, &limits, err,
	    sizeof(err)), err, "artifact: ", "no entries");

	/* a gzip stream of text, no tar inside ("raw" is not read) */
	REQUIRE(build_raw(f.art, text, 1000) == 0);
	check_refused("gzip of text", &f, unpack(&f, NULL, &limits, err,
	    sizeof(err)), err, "artifact: ", "not a tar archive");
	fix_close(&f);
}

/* Refusals about the artifact as a whole and DEST. */
static void
test_artifact_limits(void)
{
	static const struct ent one[] = {FILE_("a", 0, "x")};
	struct artifact_limits lim = limits;
	char err[512], inside[PATH_MAX + 16];
	int fds[2];
	struct fix f;

	REQUIRE(fix_open(&f) == 0);
	REQUIRE(build(f.art, one, 1, 6) == 0);
	lim.max_bytes = 10;
	check_refused("too large", &f, unpack(&f, NULL, &lim, err,
	    sizeof(err)), err, "artifact: ",
	    "larger than max_bytes (10 bytes)");

	/* DEST exists: refused and left alone */
	REQUIRE(mkdir(f.dest, 0755) == 0);
	snprintf(inside, sizeof(inside), "%s/keep", f.dest);
	REQUIRE(write_bytes(inside, "k", 1) == 0);
	CHECK(unpack(&f, NULL, &limits, err, sizeof(err)) == -1);
	CHECK_CONTAINS(err, "exists already");
	CHECK(access(inside, F_OK) == 0);
	CHECK_INTEQ(dir_count(f.out), 1);
	CHECK_INTEQ(dir_count(f.dest), 1);

	/* not a regular file */
	REQUIRE(pipe(fds) == 0);
	snprintf(inside, sizeof(inside), "%s/8", f.out);
	CHECK(artifact_unpack(fds[0], NULL, inside, &limits, err,
	    sizeof(err)) == -1);
	CHECK_CONTAINS(err, "artifact: not a regular file");
	close(fds[0]);
	close(fds[1]);

	/* a DEST with no name of its own */
	snprintf(inside, sizeof(inside), "%s/", f.out);
	REQUIRE(access(f.art, F_OK) == 0);
	{
		int fd = open(f.art, O_RDONLY);

		CHECK(artifact_unpack(fd, NULL, inside, &limits, err,
		    sizeof(err)) == -1);
		CHECK_CONTAINS(err, "not a directory to create");
		close(fd);
	}
	fix_close(&f);
}

/* A good tree: directories, implicit ones, modes, symlinks inside, a
 * hard link; built with SHA or not, compressed or not. */
static const struct ent good[] = {
	DIR_("./", 0),
	DIR_("app/", 0750),
	FILE_("app/bin/run", 0755, "#!/bin/sh\necho hi\n"),
	FILE_("app/lib/data.txt", 0644, "data\n"),
	FILE_("app/deep/er/still/file", 0600, "deep\n"),
	FILE_("app/ro", 0444, "ro\n"),
	FILE_("app/wide", 0777, "wide\n"),
	DIR_("app/sticky/", 01777),
	FILE_("app/empty", 0644, ""),
	SYM("app/current", "bin/run"),
	SYM("app/lib/up", "../bin"),
	SYM("app/lib/self", "./."),
	SYM("top", "app/lib/up/run"),
	HARD("app/bin/run2", "app/bin/run"),
	DIR_("app/lib/", 0755),
};

static void
check_mode(const char *dest, const char *path, unsigned mode)
{
	char full[PATH_MAX + 64];
	struct stat st;

	snprintf(full, sizeof(full), "%s/%s", dest, path);
	if (lstat(full, &st) < 0)
		unit_fail(__FILE__, __LINE__, "%s: %s", path, strerror(errno));
	else if ((st.st_mode & 07777) != mode)
		unit_fail(__FILE__, __LINE__, "%s: mode %o, want %o", path,
		    (unsigned)(st.st_mode & 07777), mode);
}

static void
check_file(const char *dest, const char *path, const char *want)
{
	char full[PATH_MAX + 64], buf[256] = "";
	FILE *fp;
	size_t n;

	snprintf(full, sizeof(full), "%s/%s", dest, path);
	if ((fp = fopen(full, "rb")) == NULL) {
		unit_fail(__FILE__, __LINE__, "%s: %s", path, strerror(errno));
		return;
	}
	n = fread(buf, 1, sizeof(buf) - 1, fp);
	buf[n] = '\0';
	fclose(fp);
	CHECK_STREQ(buf, want);
}

static void
check_link(const char *dest, const char *path, const char *want)
{
	char full[PATH_MAX + 64], buf[PATH_MAX];
	ssize_t n;

	snprintf(full, sizeof(full), "%s/%s", dest, path);
	n = readlink(full, buf, sizeof(buf) - 1);
	if (n < 0) {
		unit_fail(__FILE__, __LINE__, "%s: %s", path, strerror(errno));
		return;
	}
	buf[n] = '\0';
	CHECK_STREQ(buf, want);
}

static void
check_good_tree(const char *dest)
{
	char a[PATH_MAX + 64], b[PATH_MAX + 64];
	struct stat sa, sb;

	check_mode(dest, ".", 0755);
	check_mode(dest, "app", 0750);
	check_mode(dest, "app/bin", 0755);
	check_mode(dest, "app/bin/run", 0755);
	check_mode(dest, "app/lib/data.txt", 0644);
	check_mode(dest, "app/deep/er/still", 0755);
	check_mode(dest, "app/deep/er/still/file", 0600);
	check_mode(dest, "app/ro", 0444);
	check_mode(dest, "app/wide", 0755);
	check_mode(dest, "app/sticky", 0755);
	check_file(dest, "app/bin/run", "#!/bin/sh\necho hi\n");
	check_file(dest, "app/deep/er/still/file", "deep\n");
	check_file(dest, "app/empty", "");
	check_link(dest, "app/current", "bin/run");
	check_link(dest, "app/lib/up", "../bin");
	check_link(dest, "top", "app/lib/up/run");
	/* the links lead where they say, inside */
	check_file(dest, "app/current", "#!/bin/sh\necho hi\n");
	check_file(dest, "top", "#!/bin/sh\necho hi\n");
	check_file(dest, "app/lib/self/data.txt", "data\n");
	snprintf(a, sizeof(a), "%s/app/bin/run", dest);
	snprintf(b, sizeof(b), "%s/app/bin/run2", dest);
	CHECK(stat(a, &sa) == 0 && stat(b, &sb) == 0 &&
	    sa.st_ino == sb.st_ino && sa.st_nlink == 2);
}

static void
test_good(void)
{
	size_t n = sizeof(good) / sizeof(good[0]);
	char err[512], hex[SHA256_HEX_LEN];
	uint8_t d[SHA256_LEN];
	struct sha256_ctx c;
	char buf[4096];
	struct fix f;
	FILE *fp;
	size_t len;

	for (int level = 0; level <= 6; level += 6) {
		REQUIRE(fix_open(&f) == 0);
		REQUIRE(build(f.art, good, n, level) == 0);
		if (unpack(&f, NULL, &limits, err, sizeof(err)) != 0)
			unit_fail(__FILE__, __LINE__, "refused: %s", err);
		else
			check_good_tree(f.dest);
		CHECK_INTEQ(dir_count(f.out), 1);

		/* again with its sha256, in capitals */
		REQUIRE((fp = fopen(f.art, "rb")) != NULL);
		sha256_init(&c);
		while ((len = fread(buf, 1, sizeof(buf), fp)) > 0)
			sha256_update(&c, buf, len);
		fclose(fp);
		sha256_final(&c, d);
		sha256_hex(d, hex);
		for (char *p = hex; *p != '\0'; p++)
			if (*p >= 'a' && *p <= 'f')
				*p = (char)(*p - 'a' + 'A');
		snprintf(f.dest, sizeof(f.dest), "%s/8", f.out);
		if (unpack(&f, hex, &limits, err, sizeof(err)) != 0)
			unit_fail(__FILE__, __LINE__, "refused: %s", err);
		else
			check_good_tree(f.dest);
		CHECK_INTEQ(dir_count(f.out), 2);
		fix_close(&f);
	}
}

/* What GNU tar makes of a tree: "./" entries, its own headers, a
 * sparse file (data at 1 MiB, a hole to 3 MiB). */
static void
test_gnu_tar(void)
{
	char cmd[2048], src[300], p[600], err[512], buf[5];
	struct fix f;
	struct stat st;
	int fd;

	REQUIRE(fix_open(&f) == 0);
	snprintf(src, sizeof(src), "%s/src", f.dir);
	snprintf(p, sizeof(p), "%s/bin", src);
	REQUIRE(mkdir(src, 0755) == 0 && mkdir(p, 0755) == 0);
	snprintf(p, sizeof(p), "%s/bin/start", src);
	REQUIRE(write_bytes(p, "#!/bin/sh\n", 10) == 0 && chmod(p, 0755) == 0);
	snprintf(p, sizeof(p), "%s/start", src);
	REQUIRE(symlink("bin/start", p) == 0);
	snprintf(p, sizeof(p), "%s/sparse", src);
	REQUIRE((fd = open(p, O_WRONLY | O_CREAT, 0644)) >= 0);
	CHECK(pwrite(fd, "data", 4, MIB) == 4 && ftruncate(fd, 3 * MIB) == 0);
	close(fd);
	snprintf(cmd, sizeof(cmd), "tar -C '%s' --sparse -czf '%s' . 2>&1",
	    src, f.art);
	REQUIRE(system(cmd) == 0);
	if (unpack(&f, NULL, &limits, err, sizeof(err)) != 0) {
		unit_fail(__FILE__, __LINE__, "refused: %s", err);
	} else {
		check_mode(f.dest, "bin/start", 0755);
		check_file(f.dest, "start", "#!/bin/sh\n");
		snprintf(p, sizeof(p), "%s/sparse", f.dest);
		CHECK(stat(p, &st) == 0 && st.st_size == (off_t)(3 * MIB));
		REQUIRE((fd = open(p, O_RDONLY)) >= 0);
		CHECK(pread(fd, buf, 5, MIB - 1) == 5 &&
		    memcmp(buf, "\0data", 5) == 0);
		close(fd);
	}
	fix_close(&f);
}

/* Builds the artifact at F with Python's tarfile: SCRIPT runs with T,
 * a tarfile open for writing, and io imported. */
static int
py_build(struct fix *f, const char *script)
{
	char py[300], cmd[1024];
	FILE *fp;

	snprintf(py, sizeof(py), "%s/build.py", f->dir);
	if ((fp = fopen(py, "w")) == NULL)
		return -1;
	fprintf(fp, "import io, sys, tarfile\n"
	    "with tarfile.open(sys.argv[1], 'w:gz', "
	    "format=tarfile.PAX_FORMAT) as T:\n"
	    "    def add(name, data=b'', **kw):\n"
	    "        i = tarfile.TarInfo(name)\n"
	    "        i.size = len(data)\n"
	    "        for k, v in kw.items(): setattr(i, k, v)\n"
	    "        T.addfile(i, io.BytesIO(data))\n"
	    "%s\n", script);
	if (fclose(fp) != 0)
		return -1;
	snprintf(cmd, sizeof(cmd), "python3 '%s' '%s' 2>&1", py, f->art);
	return system(cmd) == 0 ? unlink(py) : -1;
}

/* Artifacts libarchive's writer will not make, from Python's tarfile. */
static void
test_python(void)
{
	char err[512];
	struct fix f;

	REQUIRE(fix_open(&f) == 0);
	/* names beyond ASCII, in UTF-8 in pax headers, as Python, Go and
	 * bsdtar write them: kept as they are, whatever our locale */
	REQUIRE(py_build(&f,
	    "    add('caf\\u00e9/men\\u00fc.txt', b'x')") == 0);
	if (unpack(&f, NULL, &limits, err, sizeof(err)) != 0)
		unit_fail(__FILE__, __LINE__, "refused: %s", err);
	else
		check_file(f.dest, "caf\xc3\xa9/men\xc3\xbc.txt", "x");
	REQUIRE(artifact_remove(f.dest, err, sizeof(err)) == 0);

	/* pax lets a hard link carry data (the file's new contents) */
	REQUIRE(py_build(&f, "    add('t', b'ab')\n"
	    "    add('h', b'xyz', type=tarfile.LNKTYPE, linkname='t',\n"
	    "        pax_headers={'comment': 'pax'})") == 0);
	check_refused("hard link with data", &f, unpack(&f, NULL, &limits,
	    err, sizeof(err)), err, "entry \"h\"", "hard link with data");
	fix_close(&f);
}

UNIT_TESTS = {
	{"bad entries refused", test_bad_entries},
	{"too deep", test_too_deep},
	{"checksum", test_checksum},
	{"compression bomb stops early", test_bomb},
	{"too many entries", test_too_many},
	{"not whole archives", test_not_archives},
	{"artifact and dest refused", test_artifact_limits},
	{"good tree", test_good},
	{"GNU tar's archive", test_gnu_tar},
	{"Python's archives", test_python},
	{NULL, NULL},
};
