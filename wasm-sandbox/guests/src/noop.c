/*
 * noop: a command that does nothing and exits 0.
 *
 * The benchmark uses it to time a container start (store, WASI context,
 * instantiation of the cached, pre-instantiated component, and the exit)
 * with as little guest work as possible.
 */
int main(void) { return 0; }
