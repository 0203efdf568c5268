/*
 * The webhooks: routes on the regulator's admin port through which a
 * monitoring system says a host is overloaded or has recovered.
 *
 *   POST /v1/alerts/alertmanager     Alertmanager's webhook (version 4)
 *   GET|POST /v1/alerts/open-falcon  Open-Falcon's alarm callback
 *
 * A request is answered in this order, and nothing is acted on unless
 * it passes every step:
 *
 *   401  no token, or the wrong one: "Authorization: Bearer TOKEN", or
 *        for Open-Falcon (which cannot set headers) a "token" parameter;
 *        compared in constant time. With no regulator.token configured
 *        the webhooks are served only on a loopback admin address.
 *   400  the payload is not what its sender documents (webhook.c says
 *        why), or it names a host that is not registered
 *   200  "ok N": N signals handed to relief.c
 *
 * Each refusal is counted by reason in
 * devcloud_regulator_webhook_refused_total and logged with its reason.
 * The handlers run on the loop thread (admin.h).
 */
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#include "log.h"
#include "metrics.h"
#include "regulator.h"
#include "webhook.h"

static struct metric m_alerts = METRIC_COUNTER(
    "devcloud_regulator_webhook_signals_total",
    "Host signals received through the webhooks and acted on.");
static struct metric m_unauthorized = METRIC_COUNTER(
    "devcloud_regulator_webhook_refused_total{reason=\"unauthorized\"}",
    "Webhook requests refused.");
static struct metric m_bad_payload = METRIC_COUNTER(
    "devcloud_regulator_webhook_refused_total{reason=\"bad_payload\"}",
    "Webhook requests refused.");
static struct metric m_unknown_host = METRIC_COUNTER(
    "devcloud_regulator_webhook_refused_total{reason=\"unknown_host\"}",
    "Webhook requests refused.");

/* The value of parameter NAME in the urlencoded QUERY, raw (tokens are
 * not encoded), or NULL; its length in *LEN. */
static const char *
query_param(const char *query, const char *name, size_t *len)
{
	size_t n = strlen(name);

	for (const char *p = query; p != NULL && *p != '\0';) {
		const char *end = strchr(p, '&');
		size_t plen = end != NULL ? (size_t)(end - p) : strlen(p);

		if (plen > n && strncmp(p, name, n) == 0 && p[n] == '=') {
			*len = plen - n - 1;
			return p + n + 1;
		}
		p = end != NULL ? end + 1 : NULL;
	}
	return NULL;
}

/* 0 when R may act; else the answer is filled (401). */
static int
alerts_authorize(struct regulator *rg, const struct admin_req *r,
    struct admin_answer *a, bool query_token)
{
	const struct config *cfg = &rg->svc->cfg;
	const char *auth = admin_req_header(r, "Authorization");
	const char *tok = NULL;
	size_t len = 0;

	if (cfg->regulator.token[0] == '\0') {
		if (admin_addr_loopback(cfg->regulator.d.admin))
			return 0;
		snprintf(a->body, sizeof(a->body), "no regulator.token is "
		    "configured: webhooks are served on a loopback admin "
		    "address only\n");
		goto refuse;
	}
	if (auth != NULL && strncmp(auth, "Bearer ", 7) == 0) {
		tok = auth + 7;
		len = strlen(tok);
	} else if (query_token) {
		tok = query_param(r->query, "token", &len);
	}
	if (tok != NULL && admin_token_equal(tok, len, cfg->regulator.token))
		return 0;
	snprintf(a->body, sizeof(a->body), "%s\n", tok == NULL ?
	    "a token is required (Authorization: Bearer TOKEN)" :
	    "wrong token");
refuse:
	a->status = 401;
	metric_add(&m_unauthorized, 1);
	log_warn("webhook refused", "path=%s status=401", r->path);
	return -1;
}

static void
alerts_bad(const struct admin_req *r, struct admin_answer *a,
    struct metric *counter, const char *why)
{
	a->status = 400;
	snprintf(a->body, sizeof(a->body), "%s\n", why);
	metric_add(counter, 1);
	log_warn("webhook refused", "path=%s status=400 reason=\"%s\"",
	    r->path, why);
}

/*
 * Monitoring names hosts as it likes ("web-1.example.com"); devcloud's
 * host names are cut at the first dot (host_name() in driver.h). A name
 * not known whole is tried cut. True if S's host is (now) a known one.
 */
static bool
alerts_host(struct regulator *rg, struct webhook_signal *s)
{
	char *dot;

	if (relief_host_known(rg, s->host))
		return true;
	if ((dot = strchr(s->host, '.')) == NULL || dot == s->host)
		return false;
	*dot = '\0';
	if (relief_host_known(rg, s->host))
		return true;
	*dot = '.';
	return false;
}

/* Checks every host of SIGS first, then signals each: all or nothing. */
static void
alerts_act(struct regulator *rg, const struct admin_req *r,
    struct admin_answer *a, const char *origin,
    struct webhook_signal *sigs, int n)
{
	char why[256];
	int sent = 0;

	for (int i = 0; i < n; i++)
		if (!alerts_host(rg, &sigs[i])) {
			snprintf(why, sizeof(why), "unknown host \"%s\" (no "
			    "devcloud instance has run there)", sigs[i].host);
			alerts_bad(r, a, &m_unknown_host, why);
			return;
		}
	for (int i = 0; i < n; i++) {
		bool masked = false;

		/* a host some alert of the payload fires for stays overloaded
		 * whatever its other alerts say */
		for (int j = 0; j < n && !sigs[i].firing && !masked; j++)
			masked = sigs[j].firing &&
			    strcmp(sigs[j].host, sigs[i].host) == 0;
		if (masked) {
			sent++;
			continue;
		}
		log_info("webhook signal", "origin=%s host=%s metric=\"%s\" "
		    "value=%.1f firing=%d", origin, sigs[i].host,
		    sigs[i].metric, sigs[i].value, sigs[i].firing);
		sent += relief_signal(rg, sigs[i].host, origin,
		    sigs[i].metric[0] ? sigs[i].metric : origin,
		    sigs[i].value, sigs[i].firing) == 0;
	}
	metric_add(&m_alerts, sent);
	if (sent < n) {
		a->status = 503;
		snprintf(a->body, sizeof(a->body), "redis unavailable: %d of "
		    "%d signals recorded\n", sent, n);
		return;
	}
	a->status = 200;
	snprintf(a->body, sizeof(a->body), "ok %d\n", n);
}

static void
alerts_alertmanager(const struct admin_req *r, struct admin_answer *a,
    void *arg)
{
	struct regulator *rg = arg;
	struct webhook_signal sigs[WEBHOOK_MAX_SIGNALS];
	char err[300];
	int n;

	if (alerts_authorize(rg, r, a, false) != 0)
		return;
	if (webhook_alertmanager(r->body, r->len,
	    rg->svc->cfg.regulator.host_label, sigs, WEBHOOK_MAX_SIGNALS, &n,
	    err, sizeof(err)) != 0) {
		alerts_bad(r, a, &m_bad_payload, err);
		return;
	}
	alerts_act(rg, r, a, "alertmanager", sigs, n);
}

static void
alerts_openfalcon(const struct admin_req *r, struct admin_answer *a,
    void *arg)
{
	struct regulator *rg = arg;
	struct webhook_signal sig;
	const char *params = r->query;
	size_t len = strlen(r->query);
	char err[300];

	if (alerts_authorize(rg, r, a, true) != 0)
		return;
	/* a form body carries the fields when there is one */
	if (r->len > 0) {
		params = r->body;
		len = r->len;
	}
	if (webhook_openfalcon(params, len, &sig, err, sizeof(err)) != 0) {
		alerts_bad(r, a, &m_bad_payload, err);
		return;
	}
	alerts_act(rg, r, a, "open-falcon", &sig, 1);
}

/* The routes, filled with the regulator at start. */
static struct admin_route routes[] = {
	{"POST", "/v1/alerts/alertmanager", WEBHOOK_BODY_MAX * 4,
	    alerts_alertmanager, NULL, false},
	{"POST", "/v1/alerts/open-falcon", WEBHOOK_BODY_MAX * 4,
	    alerts_openfalcon, NULL, false},
	{"GET", "/v1/alerts/open-falcon", 0, alerts_openfalcon, NULL, false},
};

void
alerts_routes(struct regulator *rg, struct service *s)
{
	metrics_register(&m_alerts);
	metrics_register(&m_unauthorized);
	metrics_register(&m_bad_payload);
	metrics_register(&m_unknown_host);
	for (size_t i = 0; i < sizeof(routes) / sizeof(routes[0]); i++)
		routes[i].arg = rg;
	s->routes = routes;
	s->nroutes = sizeof(routes) / sizeof(routes[0]);
}
