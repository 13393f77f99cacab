//! End-to-end tests of Shoal: real `shoal` processes on loopback, driven through their
//! command line and HTTP API. The tests live in `tests/e2e/`; this library holds the harness.
