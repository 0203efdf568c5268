/*
 * Driver dispatch: picks the implementation named by the app record.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <unistd.h>

#include "driver.h"
#include "keys.h"

static const struct driver_ops *const driver_table[] = {
	&driver_process_ops,
	&driver_docker_ops,
	&driver_swarm_ops,
	&driver_kubernetes_ops,
};

#define NDRIVERS (sizeof(driver_table) / sizeof(driver_table[0]))

struct drivers {
	void *self[NDRIVERS];
};

bool
driver_known(const char *name)
{
	for (size_t i = 0; i < NDRIVERS; i++)
		if (strcmp(driver_table[i]->name, name) == 0)
			return true;
	return false;
}

struct drivers *
drivers_open(uv_loop_t *loop, const struct config *cfg, driver_exit_cb on_exit,
    void *arg)
{
	struct drivers *d = calloc(1, sizeof(*d));

	if (d == NULL)
		return NULL;
	for (size_t i = 0; i < NDRIVERS; i++) {
		if ((d->self[i] = driver_table[i]->open(loop, cfg, on_exit,
		    arg)) == NULL) {
			drivers_close(d);
			return NULL;
		}
	}
	return d;
}

void
drivers_close(struct drivers *d)
{
	if (d == NULL)
		return;
	for (size_t i = 0; i < NDRIVERS; i++)
		if (d->self[i] != NULL)
			driver_table[i]->close(d->self[i]);
	free(d);
}

static int
driver_index(const struct app *a, char *err, size_t errlen)
{
	for (size_t i = 0; i < NDRIVERS; i++)
		if (strcmp(driver_table[i]->name, a->driver) == 0)
			return (int)i;
	snprintf(err, errlen, "app %s: unknown driver \"%s\"", a->name,
	    a->driver);
	return -1;
}

/* The driver for A, if INST is an instance name; -1 with ERR. */
static int
driver_for(const struct app *a, const char *inst, char *err, size_t errlen)
{
	if (!keys_name_valid(inst)) {
		snprintf(err, errlen, "app %s: bad instance id \"%s\"",
		    a->name, inst);
		return -1;
	}
	return driver_index(a, err, errlen);
}

int
driver_start(struct drivers *d, const struct app *a, const char *inst,
    driver_cb cb, void *arg, char *err, size_t errlen)
{
	int i = driver_for(a, inst, err, errlen);

	return i < 0 ? -1 : driver_table[i]->start(d->self[i], a, inst, cb,
	    arg, err, errlen);
}

int
driver_stop(struct drivers *d, const struct app *a, const char *inst,
    int grace_ms, driver_cb cb, void *arg, char *err, size_t errlen)
{
	int i = driver_for(a, inst, err, errlen);

	return i < 0 ? -1 : driver_table[i]->stop(d->self[i], a, inst,
	    grace_ms, cb, arg, err, errlen);
}

int
driver_inspect(struct drivers *d, const struct app *a, const char *inst,
    driver_cb cb, void *arg, char *err, size_t errlen)
{
	int i = driver_for(a, inst, err, errlen);

	return i < 0 ? -1 : driver_table[i]->inspect(d->self[i], a, inst, cb,
	    arg, err, errlen);
}

const char *
host_name(const char *configured, char *buf, size_t len)
{
	char h[256] = "";
	size_t n = 0;

	if (configured != NULL && configured[0] != '\0')
		snprintf(h, sizeof(h), "%s", configured);
	else if (gethostname(h, sizeof(h) - 1) != 0)
		h[0] = '\0';
	/* a key-safe name: up to the first character that is not one */
	while (h[n] != '\0' && n < 63 && (h[n] == '-' || h[n] == '_' ||
	    (h[n] >= '0' && h[n] <= '9') || (h[n] >= 'a' && h[n] <= 'z') ||
	    (h[n] >= 'A' && h[n] <= 'Z')))
		n++;
	h[n] = '\0';
	snprintf(buf, len, "%s", keys_name_valid(h) ? h : "localhost");
	return buf;
}
