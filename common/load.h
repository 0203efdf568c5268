/*
 * An app's load as the proxies report it: the one owner of the format of
 * the load hash (key_load), written by every proxy and summed by the
 * regulator's autoscaler.
 *
 *   field   "proxy/INSTANCE" (the proxy's source)
 *   value   "AVG PEAK MS TUNNELS"
 *
 * AVG is the mean of the app's in-flight requests (open exchanges and
 * tunnels) sampled over the proxy's last flush interval, with two
 * decimals; PEAK the most sampled at once in it; MS when it was written
 * (ms since the epoch); TUNNELS the long-lived connections (WebSocket
 * and other upgrades) open when it was written, which the regulator
 * stops last. A value without TUNNELS (three fields) reads as 0. A proxy writes a figure only for an app that had
 * load in the interval, or had load in the one before (so the drop to 0
 * is written once), and sets the key to expire after LOAD_TTL_INTERVALS
 * flush intervals: a proxy that stops takes its figures with it.
 */
#ifndef DC_LOAD_H
#define DC_LOAD_H

#include <stddef.h>
#include <stdint.h>

/* The key expires this many flush intervals after a proxy's last write. */
#define LOAD_TTL_INTERVALS 5
/* A field older than this many flush intervals is stale (a proxy that
 * went quiet or away), at least LOAD_FRESH_MIN_MS for clock skew. */
#define LOAD_FRESH_INTERVALS 3
#define LOAD_FRESH_MIN_MS 1000
/* Longest value, with its NUL. */
#define LOAD_VALUE_MAX 64

struct load_figure {
	double avg;
	int64_t peak;
	int64_t ms;
	int64_t tunnels;
};

/* Writes F as a hash value into BUF; its length, or -1 if it does not fit. */
int load_format(char *buf, size_t len, const struct load_figure *f);

/* Reads a hash value S into *F; 0, or -1 if S is malformed (*F then
 * untouched). */
int load_parse(const char *s, struct load_figure *f);

/* The age past which a figure is stale, for proxies flushing every
 * FLUSH_INTERVAL_MS. */
int64_t load_fresh_ms(int flush_interval_ms);

#endif
