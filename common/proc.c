/*
 * Processes and ports as the kernel tells them (proc.h).
 */
#include <netinet/in.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "proc.h"

extern char **environ;

int
proc_stat(long pid, char *state, unsigned long long *starttime)
{
	char path[64], buf[1024], *p;
	int field = 2;
	FILE *f;

	snprintf(path, sizeof(path), "/proc/%ld/stat", pid);
	if ((f = fopen(path, "r")) == NULL)
		return -1;
	p = fgets(buf, sizeof(buf), f) != NULL ? strrchr(buf, ')') : NULL;
	fclose(f);
	if (p == NULL || p[1] != ' ')
		return -1;
	*state = p[2];
	/* ")" ends field 2 (the name, which may hold spaces); each space
	 * starts the next field */
	for (p++; *p != '\0' && field < 22; p++)
		if (*p == ' ')
			field++;
	*starttime = strtoull(p, NULL, 10);
	return 0;
}

int
proc_free_port(void)
{
	struct sockaddr_in sin = {.sin_family = AF_INET};
	socklen_t len = sizeof(sin);
	int fd, port = -1;

	sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if ((fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0)) < 0)
		return -1;
	if (bind(fd, (struct sockaddr *)&sin, sizeof(sin)) == 0 &&
	    getsockname(fd, (struct sockaddr *)&sin, &len) == 0)
		port = ntohs(sin.sin_port);
	close(fd);
	return port;
}

/* Does the environment entry E set the variable that KV sets? */
static int
proc_env_same(const char *e, const char *kv)
{
	size_t n = strcspn(kv, "=");

	return strncmp(e, kv, n) == 0 && e[n] == '=';
}

char **
proc_env(const char *const *set, const char *lines, char **block)
{
	size_t n = 0, extra = 1, size = strlen(lines) + 1, k;
	char **env, *buf, *p;

	for (char **e = environ; *e != NULL; e++)
		n++;
	for (k = 0; set[k] != NULL; k++)
		size += strlen(set[k]) + 1;
	extra += k;
	for (const char *c = lines; *c != '\0'; c++)
		extra += *c == '\n';
	if ((env = calloc(n + extra + 1, sizeof(*env))) == NULL)
		return NULL;
	if ((buf = malloc(size)) == NULL) {
		free(env);
		return NULL;
	}
	n = 0;
	for (char **e = environ; *e != NULL; e++) {
		bool ours = false;

		for (k = 0; set[k] != NULL && !ours; k++)
			ours = proc_env_same(*e, set[k]);
		if (!ours)
			env[n++] = *e;
	}
	p = buf;
	for (k = 0; set[k] != NULL; k++) {
		size_t len = strlen(set[k]) + 1;

		memcpy(p, set[k], len);
		env[n++] = p;
		p += len;
	}
	memcpy(p, lines, strlen(lines) + 1);
	for (char *s = p; s != NULL && *s != '\0';) {
		char *nl = strchr(s, '\n');

		if (nl != NULL)
			*nl = '\0';
		if (strchr(s, '=') != NULL)
			env[n++] = s;
		s = nl != NULL ? nl + 1 : NULL;
	}
	*block = buf;
	return env;
}
