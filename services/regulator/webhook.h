/*
 * The regulator's webhook payloads: what Prometheus Alertmanager and
 * Open-Falcon's alarm module send when an alert fires or clears, read
 * into one "host H is overloaded / recovered" signal per alert. Pure
 * functions over bytes (no I/O, no libuv), so the unit test and the fuzz
 * target link webhook.c alone; receiving the requests, checking tokens
 * and acting on the signals are the callers' business.
 *
 * Every payload comes from the network and is checked for its exact
 * shape before anything is copied out: a payload that is not what the
 * sender documents is refused whole, with a reason, and the outputs are
 * left alone.
 */
#ifndef DC_WEBHOOK_H
#define DC_WEBHOOK_H

#include <stdbool.h>
#include <stddef.h>

#define WEBHOOK_MAX_SIGNALS 64	/* alerts per payload; more is refused */
#define WEBHOOK_BODY_MAX (256 * 1024) /* larger bodies refused */
#define WEBHOOK_LABEL_DEFAULT "instance"

struct webhook_signal {
	char host[64];		/* a name as keys_name_valid() takes it */
	char metric[128];	/* alertname / Open-Falcon metric; "" if none:
				 * printable ASCII (0x20-0x7e) only */
	double value;		/* the metric's value if the payload carries
				 * a finite one, else 0 */
	bool has_value;
	bool firing;		/* true: overloaded (firing / PROBLEM);
				 * false: recovered (resolved / OK) */
};

/*
 * Alertmanager's webhook body (webhook_config, payload "version": "4"),
 * BODY of LEN bytes, not NUL-terminated. One signal per element of
 * "alerts", in order; each alert's own "status" says firing or not (a
 * group's status is "firing" while any of its alerts fires).
 *
 * LABEL names the alert label holding the host (NULL or "":
 * WEBHOOK_LABEL_DEFAULT). Its value is "HOST", "HOST:PORT" or
 * "[IPV6]:PORT" (addr.h's rule); the port is dropped, and an IPv6
 * address, which is not a host name, is refused.
 *
 * The metric is the label "alertname" ("" without one). The value is the
 * annotation "value" if it reads as a finite number, else the label
 * "value" if it does, else none: rules usually carry {{ $value }} in an
 * annotation, which may be humanized text ("1.2k"), NaN or absent, and
 * an alert is not refused for that.
 *
 * Writes the signals into OUT (room for MAX) and their count into *N;
 * returns 0, or -1 with a one-line reason in ERR saying what was wrong
 * and where ("alerts[2].labels: no \"instance\" label"). More alerts
 * than MAX or WEBHOOK_MAX_SIGNALS, or none, is refused. OUT and *N are
 * written only on success.
 */
int webhook_alertmanager(const char *body, size_t len, const char *label,
    struct webhook_signal *out, int max, int *n, char *err, size_t errlen);

/*
 * Open-Falcon's alarm callback: PARAMS of LEN bytes (not NUL-terminated)
 * is the urlencoded parameter string (the alarm module sends a GET with
 * them as the query string; a form body is read the same way). One
 * signal: the host is "endpoint", the metric "metric", firing is
 * "status" PROBLEM (OK: recovered), the value "left_value".
 *
 * endpoint, metric and status are required; step, priority, time,
 * tpl_id, exp_id, stra_id, left_value and tags are checked when present
 * (older alarm modules send no left_value). A known parameter given
 * twice is refused; any other parameter ("token", the callback URL's
 * own) is ignored but must be well encoded. left_value NaN or +-Inf, as
 * Go writes them, gives no value. Same return conventions as
 * webhook_alertmanager; OUT is written only on success.
 */
int webhook_openfalcon(const char *params, size_t len,
    struct webhook_signal *out, char *err, size_t errlen);

#endif
