/*
 * crasher: fails in a chosen way.
 *
 * Prints "about to crash" (flushed), then by argv[1]:
 *   trap   (default) executes __builtin_trap() (wasm `unreachable`)
 *   exit   exits with code 3
 *   abort  calls abort() (in wasi-libc this is also a trap)
 *   divide integer division by a volatile zero (wasm i32.div_s traps)
 * Any other argument prints a usage line on stderr and exits 2.
 *
 * Tests use it to check that traps and non-zero exits become container exit
 * states (Exit::Trap / Exit::Code) and drive restart policy/CrashLoopBackOff.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Both operands volatile: with a constant dividend clang rewrites 1 / x as a
 * compare-and-select and the division (and its trap) disappears. */
static volatile int zero = 0;
static volatile int one = 1;

int main(int argc, char **argv) {
    const char *how = argc > 1 ? argv[1] : "trap";
    puts("about to crash");
    fflush(stdout);

    if (strcmp(how, "trap") == 0) {
        __builtin_trap();
    } else if (strcmp(how, "exit") == 0) {
        exit(3);
    } else if (strcmp(how, "abort") == 0) {
        abort();
    } else if (strcmp(how, "divide") == 0) {
        printf("%d\n", one / zero);
        return 0;
    }
    fprintf(stderr, "usage: crasher [trap|exit|abort|divide]\n");
    return 2;
}
