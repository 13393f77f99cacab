/*
 * spinner: a pure CPU hog that never calls into WASI while it spins.
 *
 * Runs a 64-bit LCG over a volatile global. With env ITERATIONS=N it does N
 * iterations, prints "done <checksum>" (the final LCG state, decimal) and
 * exits 0. Without ITERATIONS it prints "spinning" once and spins forever.
 *
 * Tests use it for fuel limits (OutOfFuel), epoch interruption / preemption
 * (other guests keep running on the same executor), and killing a guest that
 * never yields through a host call. Built as a component (spinner.wasm) and
 * as a preview-1 core module (spinner.core.wasm).
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

static volatile uint64_t state = 1;

static inline void step(void) {
    state = state * 6364136223846793005ULL + 1442695040888963407ULL;
}

int main(void) {
    const char *v = getenv("ITERATIONS");
    if (!v) {
        puts("spinning");
        fflush(stdout);
        for (;;)
            step();
    }
    unsigned long long n = strtoull(v, NULL, 10);
    for (unsigned long long i = 0; i < n; i++)
        step();
    printf("done %llu\n", (unsigned long long)state);
    return 0;
}
