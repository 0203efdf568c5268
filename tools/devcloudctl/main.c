/*
 * devcloudctl: command dispatch and options.
 */
#include <getopt.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "keys.h"
#include "log.h"
#include "msg.h"
#include "service.h"
#include "ctl.h"

static const char usage[] =
    "usage: devcloudctl [-c FILE] [-w MS] [-n COUNT] COMMAND [ARGS]\n"
    "\n"
    "Commands:\n"
    "  ping SERVICE              ask a daemon (proxy, autostart, regulator,\n"
    "                            idepool, deployer) who it is\n"
    "  status                    every daemon seen on the bus, with the age\n"
    "                            of its last heartbeat\n"
    "  events [PREFIX]           print bus events as JSON lines (\"app.\"\n"
    "                            for app events only)\n"
    "  app create NAME --domain D [OPTIONS]  register an app (stopped until\n"
    "                            visited); app --help for the options\n"
    "  app update NAME [OPTIONS] | app rm|show|wake|stop NAME | app list\n"
    "  app scale NAME N          ask autostart for N instances of NAME\n"
    "                            (held within its --min and --max)\n"
    "  route add DOMAIN HOST:PORT  route DOMAIN (or *.DOMAIN) to an upstream\n"
    "  route add *.DOMAIN pool:NAME  each domain under it to its IDE lease\n"
    "  route rm DOMAIN           remove a route\n"
    "  route list                list the routes\n"
    "  pool create NAME --image IMG --cport PORT [OPTIONS]  an IDE pool\n"
    "                            (pool --help for the options)\n"
    "  pool update NAME [OPTIONS] | pool rm NAME [--force] | pool list\n"
    "  pool show|pause|resume NAME | pool release DOMAIN\n"
    "  hosts                     hosts, overloaded or not, and what the\n"
    "                            regulator last did on each\n"
    "  deploy APP FILE.tar.gz [--check /PATH] [--wake] [--watch-ms MS]\n"
    "                            upload a build to the deployer and wait\n"
    "                            (-w, default 60 s) for its outcome\n"
    "  deploy APP --url URL [--sha256 HEX] [...]\n"
    "                            the same, downloaded by the deployer\n"
    "  deploy APP --image IMAGE:TAG [...]\n"
    "                            a docker app's new release is an image\n"
    "  rollback APP [RELEASE]    switch APP back to RELEASE (default: the\n"
    "                            one before the current one) and wait\n"
    "  releases APP              the app's releases, the current one\n"
    "                            marked *\n"
    "  publish FRAME             send FRAME (\"TOPIC JSON\") verbatim on the\n"
    "                            bus, unchecked: for integrators and tests\n"
    "\n"
    "Options:\n"
    "  -c FILE    configuration (default: $DEVCLOUD_CONFIG, else defaults)\n"
    "  -w MS      how long to wait for answers (default: 2000; events:\n"
    "             forever)\n"
    "  -n COUNT   events: exit after COUNT events\n"
    "  --version, --help\n";

static void
ctl_verror(const char *fmt, va_list ap)
{
	fprintf(stderr, "devcloudctl: ");
	vfprintf(stderr, fmt, ap);
	fprintf(stderr, "\n");
}

int
ctl_error(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	ctl_verror(fmt, ap);
	va_end(ap);
	return 1;
}

int
ctl_usage_error(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	ctl_verror(fmt, ap);
	va_end(ap);
	fprintf(stderr, "(devcloudctl --help for usage)\n");
	return 2;
}

static const struct {
	const char *name;
	int (*fn)(struct ctl *c, int argc, char **argv);
} commands[] = {
	{"ping", ctl_ping},
	{"status", ctl_status},
	{"events", ctl_events},
	{"route", ctl_route},
	{"app", ctl_app},
	{"hosts", ctl_hosts},
	{"pool", ctl_pool},
	{"deploy", ctl_deploy},
	{"releases", ctl_releases},
	{"rollback", ctl_rollback},
	{"publish", ctl_publish_raw},
};

int
main(int argc, char **argv)
{
	static const struct option longopts[] = {
		{"help", no_argument, NULL, 'h'},
		{"version", no_argument, NULL, 'V'},
		{NULL, 0, NULL, 0},
	};
	struct service_args args = {0};
	struct ctl c = {.wait_ms = -1};
	char host[64] = "host";
	char *end;
	int ch;

	log_init("devcloudctl");
	/* '+': options stop at the command, which has its own arguments. */
	while ((ch = getopt_long(argc, argv, "+c:w:n:hV", longopts,
	    NULL)) != -1) {
		switch (ch) {
		case 'c':
			args.config_path = optarg;
			break;
		case 'w':
			c.wait_ms = (int)strtol(optarg, &end, 10);
			if (*end != '\0' || c.wait_ms < 0)
				return ctl_usage_error("-w wants milliseconds,"
				    " got \"%s\"", optarg);
			break;
		case 'n':
			c.count = strtol(optarg, &end, 10);
			if (*end != '\0' || c.count <= 0)
				return ctl_usage_error("-n wants a positive "
				    "count, got \"%s\"", optarg);
			break;
		case 'h':
			fputs(usage, stdout);
			return 0;
		case 'V':
			printf("devcloudctl %s\n", DC_VERSION);
			return 0;
		default:
			fputs(usage, stderr);
			return 2;
		}
	}
	if (optind >= argc)
		return ctl_usage_error("no command given");
	if (service_load_config("devcloudctl", &args, &c.cfg) != 0)
		return 1;
	gethostname(host, sizeof(host) - 1);
	snprintf(c.source, sizeof(c.source), "devcloudctl/%.40s-%ld", host,
	    (long)getpid());
	for (size_t i = 0; i < sizeof(commands) / sizeof(commands[0]); i++)
		if (strcmp(argv[optind], commands[i].name) == 0)
			return commands[i].fn(&c, argc - optind - 1,
			    argv + optind + 1);
	return ctl_usage_error("unknown command \"%s\"", argv[optind]);
}
