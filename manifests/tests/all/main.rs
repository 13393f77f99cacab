//! The one integration-test binary of `manifests`: data-driven cases and property tests.

mod cases;
mod objects;
