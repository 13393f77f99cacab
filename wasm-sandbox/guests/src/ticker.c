/*
 * ticker: a long-running, well-behaved workload.
 *
 * Prints "tick <n>" (n from 1) every TICK_MS milliseconds (env, default 100),
 * flushing after each line. Stops (exit 0) after TICKS ticks if that env is
 * set, else runs forever.
 *
 * Tests use it for streaming log capture (lines arrive while it runs),
 * graceful stop/kill of a sleeping guest, and restart behaviour.
 */
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

static void sleep_ms(long ms) {
    struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

int main(void) {
    const char *v = getenv("TICK_MS");
    long tick_ms = v ? atol(v) : 100;
    v = getenv("TICKS");
    long ticks = v ? atol(v) : -1;

    for (long n = 1; ticks < 0 || n <= ticks; n++) {
        sleep_ms(tick_ms);
        printf("tick %ld\n", n);
        fflush(stdout);
    }
    return 0;
}
