/*
 * The life of a daemon, written once: command line (-c, -t, --version,
 * --help), config, log, libuv loop, store, bus, control socket, admin
 * port, service.up heartbeats, and a clean shutdown on SIGTERM/SIGINT
 * (service.down, everything closed, exit 0, within a second).
 *
 * A daemon fills a struct service with its name and hooks and calls
 * service_main(). Hooks run on the loop thread.
 */
#ifndef DC_SERVICE_H
#define DC_SERVICE_H

#include <stdbool.h>
#include <stdint.h>
#include <uv.h>

#include "admin.h"
#include "bus.h"
#include "config.h"
#include "store.h"

#ifndef DC_VERSION
#define DC_VERSION "0.1.0"
#endif

struct service {
	/* filled by the daemon */
	const char *name;		/* "autostart" */
	const char *summary;		/* one line for --help */
	const char *const *topics;	/* prefixes for on_event, NULL-ended */
	int (*init)(struct service *s);		/* after config; 0 or -1 */
	void (*on_store)(struct service *s, bool up);
	void (*on_event)(struct service *s, const struct msg *m);
	/*
	 * Commands other than ping: answer or drop REQ and return true, or
	 * return false for a command the daemon does not know (the
	 * skeleton logs it and answers an error).
	 */
	bool (*on_command)(struct service *s, struct bus_request *req,
	    const struct msg *m);
	void (*shutdown)(struct service *s);	/* before sockets close */
	/* HTTP routes of its own on the admin port (admin.h), or none */
	const struct admin_route *routes;
	size_t nroutes;
	void *priv;

	/* filled by service_main */
	struct config cfg;
	const struct config_daemon *conf;
	char source[MSG_NAME_MAX * 2];	/* "name/instance" */
	char instance[MSG_NAME_MAX];
	uv_loop_t *loop;
	struct store *store;
	struct bus *bus;
	int64_t started_ms;
};

/*
 * The default of every daemon's on_event switch: M is an event S does not
 * act on. Logs it at debug and counts it by type in
 * devcloud_events_ignored_total{type="..."}.
 */
void service_event_ignored(struct service *s, const struct msg *m);

/*
 * Once a stop is asked: if the process has not exited SECONDS later, it
 * logs that its shutdown is stuck and exits 1. nng 1.5.2's nng_close()
 * can block for good (fixed upstream after 1.5.2); a daemon asked to
 * stop must stop. Every daemon's SIGTERM arms it.
 */
void service_stop_deadline(unsigned seconds);

/* Runs the daemon; returns the process exit status. */
int service_main(struct service *s, int argc, char **argv);

/* ms since the epoch (wall clock) and a monotonic ms clock. */
int64_t service_now_ms(void);
int64_t service_mono_ms(void);

/*
 * The shared command line of every devcloud program. Returns 0 to go on
 * with A filled (config_path NULL: none given), or -1 with the status in
 * *EXIT_STATUS when the program should stop (help, version, errors).
 */
struct service_args {
	const char *config_path;
	bool check_only;
};
int service_parse_args(const char *prog, const char *summary, int argc,
    char **argv, struct service_args *a, int *exit_status);

/*
 * Loads the config named by A (or $DEVCLOUD_CONFIG); logs errors. With
 * -t (A->check_only) it also says the configuration is OK: the caller
 * then exits 0.
 */
int service_load_config(const char *prog, const struct service_args *a,
    struct config *cfg);

/* "hostname-pid" or the configured instance. */
void service_instance(const struct config *cfg, char *buf, size_t len);

#endif
