// links:
/*
 * libFuzzer target for the artifact unpacker (services/deployer/
 * artifact.c), which reads archives a CI server made. Each input is an
 * artifact in a memfd, unpacked into a fresh directory under $TMPDIR
 * (or /tmp), whose tree is removed after every input.
 *
 * A refusal leaves a terminated, non-empty reason and nothing at all in
 * the directory: no DEST, no temporary tree. A release that was made is
 * the only thing in the directory, and walking it without following
 * links finds only directories, regular files and symlinks; no setuid,
 * setgid or group/other write bit on a file or directory; no more
 * files' bytes than max_unpacked nor more files and links than
 * max_entries (directories may be made for a path); and every symlink
 * relative, resolving (when it resolves) inside the release.
 *
 *   make fuzz && build/fuzz/fuzz_artifact -max_total_time=60 \
 *       tests/fuzz/corpus/artifact
 *
 * (tests/fuzz/artifact_corpus.py writes that corpus.)
 */
#include <dirent.h>
#include <fcntl.h>
#include <limits.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "artifact.h"
#include "fuzz.h"

static const struct artifact_limits lim = {
	.max_bytes = 1 << 20,
	.max_unpacked = 1 << 20,
	.max_entries = 64,
};

static char dir[PATH_MAX / 2];		/* the fuzzer's own */
static char dest[PATH_MAX / 2 + 8];	/* the release, dir/r */
static char real[PATH_MAX];		/* realpath of dest */
static int mfd = -1;			/* the artifact */

/* What walk() found. */
static unsigned long long files_bytes;
static unsigned long non_dirs;

static void
cleanup(void)
{
	char err[256];

	artifact_remove(dir, err, sizeof(err));
}

int
LLVMFuzzerInitialize(int *argc, char ***argv)
{
	(void)argc;
	(void)argv;
	snprintf(dir, sizeof(dir), "%s/dc-fuzz-artifact.XXXXXX",
	    getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp");
	if (mkdtemp(dir) == NULL || (mfd = memfd_create("artifact",
	    MFD_CLOEXEC)) < 0) {
		perror("fuzz_artifact: setup");
		exit(1);
	}
	snprintf(dest, sizeof(dest), "%s/r", dir);
	atexit(cleanup);
	return 0;
}

/* Entries in directory PATH, besides "." and "..". */
static int
count(const char *path)
{
	struct dirent **names;
	int n = scandir(path, &names, NULL, NULL);

	FUZZ_ASSERT(n >= 2);
	for (int i = 0; i < n; i++)
		free(names[i]);
	free(names);
	return n - 2;
}

/* Checks the tree below PATH (a directory of the release). */
static void
walk(const char *path)
{
	DIR *d = opendir(path);
	struct dirent *de;

	FUZZ_ASSERT(d != NULL);
	while ((de = readdir(d)) != NULL) {
		char p[PATH_MAX], target[PATH_MAX], *r;
		struct stat st;
		ssize_t n;

		if (strcmp(de->d_name, ".") == 0 ||
		    strcmp(de->d_name, "..") == 0)
			continue;
		FUZZ_ASSERT(snprintf(p, sizeof(p), "%s/%s", path,
		    de->d_name) < (int)sizeof(p));
		FUZZ_ASSERT(lstat(p, &st) == 0);
		if (!S_ISDIR(st.st_mode))
			non_dirs++;
		if (S_ISDIR(st.st_mode)) {
			FUZZ_ASSERT((st.st_mode & 07722) == 0700);
			walk(p);
		} else if (S_ISREG(st.st_mode)) {
			FUZZ_ASSERT((st.st_mode & 07022) == 0);
			/* hard links share the bytes written once */
			files_bytes += (unsigned long long)st.st_size /
			    st.st_nlink;
		} else {
			FUZZ_ASSERT(S_ISLNK(st.st_mode));
			n = readlink(p, target, sizeof(target) - 1);
			FUZZ_ASSERT(n > 0 && target[0] != '/');
			if ((r = realpath(p, NULL)) != NULL) {
				FUZZ_ASSERT(strncmp(r, real, strlen(real)) == 0);
				FUZZ_ASSERT(r[strlen(real)] == '\0' ||
				    r[strlen(real)] == '/');
				free(r);
			}
		}
	}
	closedir(d);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char err[512];
	int rc;

	FUZZ_ASSERT(ftruncate(mfd, 0) == 0);
	FUZZ_ASSERT(size == 0 ||
	    pwrite(mfd, data, size, 0) == (ssize_t)size);
	memset(err, 'x', sizeof(err));
	rc = artifact_unpack(mfd, NULL, dest, &lim, err, sizeof(err));
	if (rc != 0) {
		FUZZ_ASSERT(rc == -1 && err[0] != '\0');
		FUZZ_ASSERT(memchr(err, '\0', sizeof(err)) != NULL);
		FUZZ_ASSERT(count(dir) == 0);
		return 0;
	}
	FUZZ_ASSERT(count(dir) == 1);
	FUZZ_ASSERT(realpath(dest, real) != NULL);
	files_bytes = 0;
	non_dirs = 0;
	walk(dest);
	FUZZ_ASSERT(files_bytes <= lim.max_unpacked);
	FUZZ_ASSERT(non_dirs <= lim.max_entries);
	FUZZ_ASSERT(artifact_remove(dest, err, sizeof(err)) == 0);
	return 0;
}
