/*
 * Driver dispatch: picks the implementation named by the app record.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "driver.h"

static const struct driver_ops *const driver_table[] = {
	&driver_process_ops,
	&driver_docker_ops,
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

int
driver_start(struct drivers *d, const struct app *a, driver_cb cb, void *arg,
    char *err, size_t errlen)
{
	int i = driver_index(a, err, errlen);

	return i < 0 ? -1 : driver_table[i]->start(d->self[i], a, cb, arg,
	    err, errlen);
}

int
driver_stop(struct drivers *d, const struct app *a, int grace_ms,
    driver_cb cb, void *arg, char *err, size_t errlen)
{
	int i = driver_index(a, err, errlen);

	return i < 0 ? -1 : driver_table[i]->stop(d->self[i], a, grace_ms, cb,
	    arg, err, errlen);
}

int
driver_inspect(struct drivers *d, const struct app *a, driver_cb cb,
    void *arg, char *err, size_t errlen)
{
	int i = driver_index(a, err, errlen);

	return i < 0 ? -1 : driver_table[i]->inspect(d->self[i], a, cb, arg,
	    err, errlen);
}
