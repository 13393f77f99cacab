/*
 * slow-start: a workload that takes a while to become ready.
 *
 * Sleeps START_DELAY_MS milliseconds (env, default 500), prints "started"
 * (flushed), then behaves like `ticker`: prints "tick <n>" every TICK_MS
 * milliseconds (default 100), stopping after TICKS ticks if set, else forever.
 *
 * Tests use it for readiness/startup timing: a pod must not be reported ready
 * (or a rollout must not progress) before "started" appears.
 */
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

static void sleep_ms(long ms) {
    struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

static long env_long(const char *name, long dflt) {
    const char *v = getenv(name);
    return v ? atol(v) : dflt;
}

int main(void) {
    sleep_ms(env_long("START_DELAY_MS", 500));
    puts("started");
    fflush(stdout);

    long tick_ms = env_long("TICK_MS", 100);
    long ticks = env_long("TICKS", -1);
    for (long n = 1; ticks < 0 || n <= ticks; n++) {
        sleep_ms(tick_ms);
        printf("tick %ld\n", n);
        fflush(stdout);
    }
    return 0;
}
