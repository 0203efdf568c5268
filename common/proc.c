/*
 * Processes and ports as the kernel tells them (proc.h).
 */
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "proc.h"

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
