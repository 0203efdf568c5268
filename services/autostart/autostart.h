/*
 * devcloud-autostart: apps are stopped by default; the first request
 * starts one (the proxy's "wake" command), each request refreshes its
 * time-to-live, and when the TTL lapses the app is stopped.
 */
#ifndef DC_AUTOSTART_H
#define DC_AUTOSTART_H

/* main.c */
int main(int argc, char **argv);

#endif
