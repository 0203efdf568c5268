/*
 * devcloud-bus: the event broker. Publishers dial its *in* address with
 * pub0 sockets, subscribers dial its *out* address with sub0 sockets, and
 * it forwards every frame from in to out. Either side may come, go and
 * reconnect in any order: the broker only listens.
 *
 * A frame that is not "TOPIC SP ..." is dropped and counted; the broker
 * does not parse JSON, subscribers decode and check what they receive.
 */
#include <signal.h>
#include <string.h>

#include <nng/nng.h>
#include <nng/protocol/pubsub0/pub.h>
#include <nng/protocol/pubsub0/sub.h>

#include "admin.h"
#include "bus.h"
#include "config.h"
#include "log.h"
#include "metrics.h"
#include "service.h"

static struct metric m_forwarded = METRIC_COUNTER(
    "devcloud_broker_messages_total", "Frames forwarded from in to out.");
static struct metric m_dropped_bad = METRIC_COUNTER(
    "devcloud_broker_dropped_total{reason=\"no_topic\"}",
    "Frames dropped.");
static struct metric m_dropped_send = METRIC_COUNTER(
    "devcloud_broker_dropped_total{reason=\"send_failed\"}",
    "Frames dropped.");
static struct metric m_publishers = METRIC_GAUGE(
    "devcloud_broker_publishers", "Publishers connected to the in address.");
static struct metric m_subscribers = METRIC_GAUGE(
    "devcloud_broker_subscribers",
    "Subscribers connected to the out address.");

struct broker {
	nng_socket in;		/* sub0, subscribed to everything */
	nng_socket out;		/* pub0 */
	nng_aio *aio;		/* the receive on in, always re-armed */
};

static void
broker_pipe_cb(nng_pipe p, nng_pipe_ev ev, void *arg)
{
	struct metric *gauge = arg;

	(void)p;
	metric_add(gauge, ev == NNG_PIPE_EV_ADD_POST ? 1 : -1);
}

/* A frame must start with a topic and a space to be worth forwarding. */
static int
broker_frame_ok(const char *body, size_t len)
{
	const char *sp = memchr(body, ' ', len < 256 ? len : 256);

	return sp != NULL && sp != body;
}

/*
 * The aio callback, on an nng thread: forwards the frame received and
 * asks for the next. Nothing here waits: a pub0 send never blocks. A
 * subscriber with BUS_QUEUE_MSGS frames already queued loses its oldest
 * instead, and nng does not tell us, so that loss is not counted here.
 */
static void
broker_forward(void *arg)
{
	struct broker *br = arg;
	nng_msg *msg;
	int rv;

	if ((rv = nng_aio_result(br->aio)) != 0) {
		if (rv == NNG_ECANCELED || rv == NNG_ECLOSED)
			return;		/* shutting down */
		log_warn("receive failed", "err=\"%s\"", nng_strerror(rv));
		nng_recv_aio(br->in, br->aio);
		return;
	}
	msg = nng_aio_get_msg(br->aio);
	if (!broker_frame_ok(nng_msg_body(msg), nng_msg_len(msg))) {
		metric_add(&m_dropped_bad, 1);
		log_warn("frame dropped", "why=\"no topic\" bytes=%zu",
		    nng_msg_len(msg));
		nng_msg_free(msg);
	} else if (nng_sendmsg(br->out, msg, 0) != 0) {
		metric_add(&m_dropped_send, 1);
		nng_msg_free(msg);
	} else {
		metric_add(&m_forwarded, 1);
	}
	nng_recv_aio(br->in, br->aio);
}

static int
broker_ready(char *why, size_t len, void *arg)
{
	(void)why;
	(void)len;
	(void)arg;
	return 1;	/* listening is all the broker needs */
}

static int
broker_open(struct broker *br, const struct config *cfg)
{
	int rv;

	if ((rv = nng_sub0_open(&br->in)) != 0 ||
	    (rv = nng_pub0_open(&br->out)) != 0) {
		log_error("cannot open sockets", "err=\"%s\"", nng_strerror(rv));
		return -1;
	}
	/* Both queues hold a whole burst (see BUS_QUEUE_MSGS in bus.h). */
	if ((rv = nng_socket_set_int(br->in, NNG_OPT_RECVBUF,
	    BUS_QUEUE_MSGS)) != 0 || (rv = nng_socket_set_int(br->out,
	    NNG_OPT_SENDBUF, BUS_QUEUE_MSGS)) != 0) {
		log_error("cannot set queue length", "msgs=%d err=\"%s\"",
		    BUS_QUEUE_MSGS, nng_strerror(rv));
		return -1;
	}
	nng_socket_set(br->in, NNG_OPT_SUB_SUBSCRIBE, "", 0);
	nng_socket_set_size(br->in, NNG_OPT_RECVMAXSZ,
	    (size_t)cfg->bus.max_msg_bytes);
	nng_pipe_notify(br->in, NNG_PIPE_EV_ADD_POST, broker_pipe_cb,
	    &m_publishers);
	nng_pipe_notify(br->in, NNG_PIPE_EV_REM_POST, broker_pipe_cb,
	    &m_publishers);
	nng_pipe_notify(br->out, NNG_PIPE_EV_ADD_POST, broker_pipe_cb,
	    &m_subscribers);
	nng_pipe_notify(br->out, NNG_PIPE_EV_REM_POST, broker_pipe_cb,
	    &m_subscribers);
	if ((rv = nng_listen(br->in, cfg->bus.in, NULL, 0)) != 0) {
		log_error("cannot listen", "addr=%s err=\"%s\"", cfg->bus.in,
		    nng_strerror(rv));
		return -1;
	}
	if ((rv = nng_listen(br->out, cfg->bus.out, NULL, 0)) != 0) {
		log_error("cannot listen", "addr=%s err=\"%s\"", cfg->bus.out,
		    nng_strerror(rv));
		return -1;
	}
	return 0;
}

int
main(int argc, char **argv)
{
	struct service_args args;
	struct config cfg;
	struct broker br = {0};
	struct admin *admin;
	sigset_t sigs;
	char err[CONFIG_ERR_MAX];
	int status, sig;

	log_init("bus");
	if (service_parse_args("devcloud-bus",
	    "The devcloud event broker: forwards events from bus.in to bus.out.",
	    argc, argv, &args, &status) != 0)
		return status;
	if (service_load_config("devcloud-bus", &args, &cfg) != 0)
		return 1;
	if (args.check_only)
		return 0;
	/* Block the signals before any thread starts, then wait for them. */
	sigemptyset(&sigs);
	sigaddset(&sigs, SIGTERM);
	sigaddset(&sigs, SIGINT);
	pthread_sigmask(SIG_BLOCK, &sigs, NULL);
	signal(SIGPIPE, SIG_IGN);

	metrics_register(&m_forwarded);
	metrics_register(&m_dropped_bad);
	metrics_register(&m_dropped_send);
	metrics_register(&m_publishers);
	metrics_register(&m_subscribers);
	if (broker_open(&br, &cfg) != 0)
		return 1;
	if ((admin = admin_start(cfg.bus.admin, broker_ready, NULL, err,
	    sizeof(err))) == NULL) {
		log_error("cannot start admin port", "err=\"%s\"", err);
		return 1;
	}
	if (nng_aio_alloc(&br.aio, broker_forward, &br) != 0) {
		log_error("cannot start forwarder", "%s", "");
		return 1;
	}
	nng_recv_aio(br.in, br.aio);
	log_info("started", "version=%s in=%s out=%s admin=%s", DC_VERSION,
	    cfg.bus.in, cfg.bus.out, cfg.bus.admin);
	sigwait(&sigs, &sig);
	log_info("shutting down", "signal=%s", strsignal(sig));
	service_stop_deadline(3);
	/*
	 * Stopping the aio cancels the receive and waits for a running
	 * callback, so the sockets close with nothing of ours using them.
	 */
	nng_aio_stop(br.aio);
	nng_close(br.in);
	nng_close(br.out);
	nng_aio_free(br.aio);
	admin_stop(admin);
	log_info("stopped", "forwarded=%lld", (long long)metric_get(&m_forwarded));
	return 0;
}
