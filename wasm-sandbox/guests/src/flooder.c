/*
 * flooder: writes log lines as fast as it can.
 *
 * Writes "flood <n> <120 chars of padding>" (n from 1) to stdout. Stops after
 * env LINES lines (exit 0) if set, else runs forever.
 *
 * Tests use it for log back-pressure, log rotation/size caps, and that a
 * chatty guest cannot starve the node (or other pods) of CPU or memory.
 */
#include <stdio.h>
#include <stdlib.h>

static const char padding[] =
    "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx"
    "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx";

static char buf[64 * 1024];

int main(void) {
    setvbuf(stdout, buf, _IOFBF, sizeof buf);
    const char *v = getenv("LINES");
    long long lines = v ? atoll(v) : -1;
    for (long long n = 1; lines < 0 || n <= lines; n++)
        printf("flood %lld %s\n", n, padding);
    fflush(stdout);
    return 0;
}
