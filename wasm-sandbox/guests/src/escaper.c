/*
 * escaper: tries to read host files outside its sandbox.
 *
 * Each attempt prints one line, "<attempt>: blocked (<strerror>)" or
 * "<attempt>: ESCAPED". An attempt counts as ESCAPED when the open (or
 * opendir) succeeds. Attempts, in order:
 *   relative-dotdot     open("../../../etc/passwd")
 *   absolute            open("/etc/passwd") (outside any preopen)
 *   symlink-absolute    symlink "escape-link" -> "/etc" in the working dir
 *                       (cwd "/"), then open("escape-link/passwd")
 *   symlink-dotdot      symlink "up-link" -> "../../..", then
 *                       open("up-link/etc/passwd")
 *   opendir-root-parent opendir("/..")
 * If creating a symlink fails, that attempt is blocked with the symlink's
 * error. The symlinks are removed afterwards (best effort).
 * Exits 0 if every attempt was blocked, 1 otherwise.
 *
 * Tests run it with and without a writable preopen at "/" and expect exit 0
 * and no "ESCAPED" line.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

static int escaped;

static void report(const char *attempt, int ok, int err) {
    if (ok) {
        printf("%s: ESCAPED\n", attempt);
        escaped = 1;
    } else {
        printf("%s: blocked (%s)\n", attempt, strerror(err));
    }
    fflush(stdout);
}

static void try_open(const char *attempt, const char *path) {
    int fd = open(path, O_RDONLY);
    int err = errno;
    report(attempt, fd >= 0, err);
    if (fd >= 0)
        close(fd);
}

static void try_symlink(const char *attempt, const char *target, const char *link,
                        const char *path) {
    unlink(link);
    if (symlink(target, link) != 0) {
        report(attempt, 0, errno);
        return;
    }
    try_open(attempt, path);
    unlink(link);
}

int main(void) {
    try_open("relative-dotdot", "../../../etc/passwd");
    try_open("absolute", "/etc/passwd");
    try_symlink("symlink-absolute", "/etc", "escape-link", "escape-link/passwd");
    try_symlink("symlink-dotdot", "../../..", "up-link", "up-link/etc/passwd");

    DIR *d = opendir("/..");
    int err = errno;
    report("opendir-root-parent", d != NULL, err);
    if (d)
        closedir(d);

    return escaped ? 1 : 0;
}
