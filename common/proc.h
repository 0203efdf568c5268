/*
 * What a process launcher needs to know of other processes and of
 * ports, read from the kernel: whether a PID still names the process it
 * named when it was started (its start time in /proc guards against a
 * recycled PID), and a free loopback port for a process to listen on.
 * Used by the process driver (driver_process.c) and idepool's process
 * members.
 */
#ifndef DC_PROC_H
#define DC_PROC_H

/*
 * From one read of /proc/PID/stat: the state letter (field 3: 'Z' for a
 * zombie) and when the process started (field 22, in clock ticks since
 * boot). 0, or -1 if there is no such process.
 */
int proc_stat(long pid, char *state, unsigned long long *starttime);

/*
 * A TCP port of 127.0.0.1 free right now (bound to port 0 and let go):
 * the port, or -1 with errno.
 */
int proc_free_port(void);

/*
 * The environment of a process to launch: ours without the variables
 * SET names, then SET ("K=V" strings, NULL-ended), then LINES ("K=V"
 * lines with '\n' between; a line without '=' is skipped). The strings
 * are copied into *BLOCK; free both it and the array. NULL if out of
 * memory.
 */
char **proc_env(const char *const *set, const char *lines, char **block);

#endif
