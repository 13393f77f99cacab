/*
 * memory-bomb: grows linear memory until the host says no.
 *
 * Allocates chunks of 1 MiB (env CHUNK_KB overrides the chunk size in KiB),
 * writes to every 4 KiB of each chunk, and links every chunk into a list
 * whose head is a volatile global so the compiler cannot drop them. After
 * each chunk it prints "allocated <n> MiB" (total so far, rounded down). When
 * malloc returns NULL it prints "malloc failed at <n> MiB" and exits 3.
 * (With no host limit this happens near the 4 GiB wasm32 ceiling.)
 *
 * Tests use it for memory limits: with a StoreLimits/ResourceLimiter cap the
 * guest sees memory.grow fail (exit 3), or traps if the limiter is set to
 * trap. Built as a component and as a preview-1 core module.
 */
#include <stdio.h>
#include <stdlib.h>

struct chunk {
    struct chunk *next;
};

static struct chunk *volatile head;

int main(void) {
    const char *v = getenv("CHUNK_KB");
    unsigned long chunk_kb = v ? strtoul(v, NULL, 10) : 1024;
    if (chunk_kb == 0)
        chunk_kb = 1024;
    size_t chunk = chunk_kb * 1024;
    if (chunk < sizeof(struct chunk))
        chunk = sizeof(struct chunk);

    unsigned long long total = 0;
    for (;;) {
        volatile char *p = malloc(chunk);
        if (!p) {
            printf("malloc failed at %llu MiB\n", total >> 20);
            fflush(stdout);
            return 3;
        }
        for (size_t off = 0; off < chunk; off += 4096)
            p[off] = (char)off | 1;
        p[chunk - 1] = 1;
        struct chunk *c = (struct chunk *)p;
        c->next = head;
        head = c;
        total += chunk;
        printf("allocated %llu MiB\n", total >> 20);
        fflush(stdout);
    }
}
