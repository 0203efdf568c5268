/*
 * A build artifact checked and unpacked as a release directory. The
 * artifact is outside input (a CI server made it): a tar archive, gzip
 * compressed or not, read by libarchive and written entry by entry by
 * us, under rules that keep every byte inside the release
 * (docs/decisions.md, "Artifacts are unpacked by us").
 *
 * Refused, naming the entry and the rule: an absolute path, a ".."
 * component, a symlink whose target is absolute or leaves the tree
 * (resolved from the link's directory; ".." may only lead the target),
 * an entry whose path goes through a symlink or a file, a hard link
 * whose target is outside the tree, not yet unpacked or not a regular
 * file, or that carries data, device nodes, FIFOs, sockets, setuid and
 * setgid bits, an entry that exists already (nothing is overwritten),
 * more than max_entries entries, more than max_unpacked bytes of files
 * (counted from each file's declared size before a byte of it is
 * written, so a compression bomb stops at its first file past the
 * cap), a path deeper than ARTIFACT_DEPTH_MAX directories, a
 * truncated or corrupt archive, anything that is not a tar archive
 * (gzip is the only compression read), and an archive with no entry.
 * A libarchive warning is a refusal too.
 *
 * Modes: a file keeps its owner's permission bits and the read and
 * execute bits of group and others; write for group and others and the
 * sticky bit are dropped (a release is written once, here, and read by
 * the app). A directory is always rwx for its owner, so that the tree
 * can be written and removed whatever the archive says. Ownership and
 * times are not restored.
 */
#ifndef DC_ARTIFACT_H
#define DC_ARTIFACT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Directories a path may go through, at most: the tree is written and
 * removed holding one descriptor per level. */
#define ARTIFACT_DEPTH_MAX 128

struct artifact_limits {
	uint64_t max_bytes;	/* compressed artifact size cap */
	uint64_t max_unpacked;	/* total bytes written when unpacking */
	uint64_t max_entries;	/* entries in the archive */
	bool no_sync;		/* skip the sync before the rename: for a
				 * copy whose loss a crash may cost (files
				 * loaded into a pool member) */
};

/*
 * Unpacks the artifact open at FD into a new directory DEST (which must
 * not exist; its parent must). FD is read from offset 0 with pread(2),
 * never moved, and stays the caller's to close: the deployer hands over
 * the very file it downloaded, so nothing can swap it between download
 * and check, and a test passes a memfd. It must be a regular file.
 *
 * The tree is written into a temporary sibling directory
 * (".DEST.tmp-XXXXXX"), synced, and renamed to DEST only when every
 * entry passed, so a failure leaves nothing behind (a crash may leave
 * the temporary directory, for the caller to remove at start).
 *
 * If WANT_SHA256 (64 hex digits) is not NULL, the artifact's SHA-256
 * must match before anything is unpacked; the bytes unpacked are hashed
 * again and must match too, so a file changed in between is refused.
 *
 * Returns 0, or -1 with the reason in ERR (ERRLEN bytes, always
 * terminated), which names the entry and the rule:
 *   entry "../../etc/passwd": path leaves the release directory
 * or the artifact as a whole ("artifact: ...").
 */
int artifact_unpack(int fd, const char *want_sha256, const char *dest,
    const struct artifact_limits *lim, char *err, size_t errlen);

/*
 * Removes the directory DIR and everything in it, never following a
 * symlink: a release artifact_unpack made, or a temporary directory a
 * crash left. 0, or -1 with the reason in ERR.
 */
int artifact_remove(const char *dir, char *err, size_t errlen);

#endif
