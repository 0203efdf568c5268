/*
 * Logging: levels, the daemon's name, key=value fields, stderr.
 */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

#include "log.h"

static char log_daemon[32] = "devcloud";
static enum log_level log_min = LOG_LEVEL_INFO;

static const char *const log_names[] = {"debug", "info", "warn", "error"};

void
log_init(const char *daemon)
{
	snprintf(log_daemon, sizeof(log_daemon), "%s", daemon);
}

void
log_set_level(enum log_level level)
{
	log_min = level;
}

int
log_level_parse(const char *s)
{
	for (size_t i = 0; i < sizeof(log_names) / sizeof(log_names[0]); i++)
		if (strcmp(s, log_names[i]) == 0)
			return (int)i;
	return -1;
}

void
log_write(enum log_level level, const char *msg, const char *fmt, ...)
{
	char line[2048];
	struct timeval tv;
	struct tm tm;
	va_list ap;
	size_t n;
	int r;

	if (level < log_min)
		return;
	gettimeofday(&tv, NULL);
	gmtime_r(&tv.tv_sec, &tm);
	r = snprintf(line, sizeof(line),
	    "ts=%04d-%02d-%02dT%02d:%02d:%02d.%03dZ level=%s daemon=%s "
	    "msg=\"%s\"",
	    tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour,
	    tm.tm_min, tm.tm_sec, (int)(tv.tv_usec / 1000), log_names[level],
	    log_daemon, msg);
	n = r < 0 ? 0 : (size_t)r;
	if (fmt != NULL && fmt[0] != '\0' && n + 1 < sizeof(line)) {
		line[n++] = ' ';
		va_start(ap, fmt);
		r = vsnprintf(line + n, sizeof(line) - n, fmt, ap);
		va_end(ap);
		n += r < 0 ? 0 : (size_t)r;
	}
	if (n > sizeof(line) - 2)
		n = sizeof(line) - 2;	/* truncated, still one line */
	line[n++] = '\n';
	(void)!write(STDERR_FILENO, line, n);
}
