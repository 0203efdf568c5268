/*
 * Logging. One line per event on stderr:
 *
 *   ts=2026-11-26T12:00:00.123Z level=info daemon=proxy msg="redis connected" addr=127.0.0.1:6379
 *
 * The message is a short fixed phrase (quoted for the reader); the details
 * follow as key=value pairs in FMT, so logs can be grepped and parsed.
 * Safe to call from any thread: each line is written with one write(2).
 */
#ifndef DC_LOG_H
#define DC_LOG_H

enum log_level {
	LOG_LEVEL_DEBUG,
	LOG_LEVEL_INFO,
	LOG_LEVEL_WARN,
	LOG_LEVEL_ERROR,
};

/* Sets the daemon name carried on every line (copied). */
void log_init(const char *daemon);
void log_set_level(enum log_level level);
/* Parses "debug", "info", "warn", "error"; -1 if unknown. */
int log_level_parse(const char *s);

void log_write(enum log_level level, const char *msg, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

#define log_debug(msg, ...) log_write(LOG_LEVEL_DEBUG, msg, __VA_ARGS__)
#define log_info(msg, ...) log_write(LOG_LEVEL_INFO, msg, __VA_ARGS__)
#define log_warn(msg, ...) log_write(LOG_LEVEL_WARN, msg, __VA_ARGS__)
#define log_error(msg, ...) log_write(LOG_LEVEL_ERROR, msg, __VA_ARGS__)

#endif
