/*
 * hello: the basic "does a container run at all" guest.
 *
 * Prints "args: <argv[1..] joined by space>", then every environment variable
 * as KEY=VALUE (sorted), one per line, on stdout, and "hello stderr" on
 * stderr. If OUT_FILE is set it writes "hello from <HOSTNAME|unknown>\n" to
 * that path, reads it back and prints "wrote <path>"; on failure it prints
 * "write failed: <strerror>" on stderr and exits 1. Exits with EXIT_CODE
 * (default 0).
 *
 * Tests use it to check argument/env plumbing, stdout/stderr log capture,
 * volume mounts (OUT_FILE), and exit status reporting. Built both as a
 * wasi:cli/command component (hello.wasm) and as a preview-1 core module with
 * _start (hello.core.wasm).
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

extern char **environ;

static int cmp_str(const void *a, const void *b) {
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

static int write_out_file(const char *path) {
    const char *host = getenv("HOSTNAME");
    char expected[512];
    snprintf(expected, sizeof expected, "hello from %s\n", host ? host : "unknown");

    FILE *f = fopen(path, "w");
    if (!f || fputs(expected, f) == EOF || fclose(f) != 0) {
        fprintf(stderr, "write failed: %s\n", strerror(errno));
        return 1;
    }
    char got[512] = {0};
    f = fopen(path, "r");
    if (!f) {
        fprintf(stderr, "write failed: %s\n", strerror(errno));
        return 1;
    }
    size_t n = fread(got, 1, sizeof got - 1, f);
    fclose(f);
    if (n != strlen(expected) || memcmp(got, expected, n) != 0) {
        fprintf(stderr, "write failed: %s\n", "read back different content");
        return 1;
    }
    printf("wrote %s\n", path);
    return 0;
}

int main(int argc, char **argv) {
    fputs("args: ", stdout);
    for (int i = 1; i < argc; i++)
        printf(i == 1 ? "%s" : " %s", argv[i]);
    putchar('\n');

    size_t n = 0;
    while (environ && environ[n])
        n++;
    if (n > 0) {
        char **sorted = malloc(n * sizeof *sorted);
        if (!sorted)
            return 1;
        memcpy(sorted, environ, n * sizeof *sorted);
        qsort(sorted, n, sizeof *sorted, cmp_str);
        for (size_t i = 0; i < n; i++)
            puts(sorted[i]);
        free(sorted);
    }
    fflush(stdout);

    fputs("hello stderr\n", stderr);

    const char *out = getenv("OUT_FILE");
    if (out && write_out_file(out) != 0) {
        fflush(stdout);
        return 1;
    }

    const char *code = getenv("EXIT_CODE");
    fflush(stdout);
    return code ? atoi(code) : 0;
}
