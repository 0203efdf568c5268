/*
 * A test app: a minimal HTTP/1.x responder on $PORT (or argv[1])
 * that starts in about a millisecond, so that a wake's overhead is not
 * hidden in the app's own start time. Used by tests and bench/wake.sh;
 * not part of devcloud.
 */
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

int
main(int argc, char **argv)
{
	static const char resp[] = "HTTP/1.1 200 OK\r\nContent-Length: 6\r\nConnection: close\r\n"
	    "Content-Type: text/plain\r\n\r\nready\n";
	const char *ps = argc > 1 ? argv[1] : getenv("PORT");
	struct sockaddr_in sin = {.sin_family = AF_INET};
	char buf[4096];
	int one = 1, fd, c;

	if (ps == NULL)
		return 2;
	sin.sin_port = htons((unsigned short)atoi(ps));
	sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	fd = socket(AF_INET, SOCK_STREAM, 0);
	setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (bind(fd, (struct sockaddr *)&sin, sizeof(sin)) != 0 ||
	    listen(fd, 1024) != 0) {
		perror("bind");
		return 1;
	}
	/* One request per connection, answered at once: enough here. */
	while ((c = accept(fd, NULL, NULL)) >= 0) {
		if (read(c, buf, sizeof(buf)) > 0 &&
		    write(c, resp, sizeof(resp) - 1) < 0)
			perror("write");
		close(c);
	}
	return 0;
}
