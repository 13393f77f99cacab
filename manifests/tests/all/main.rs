//! The one integration-test binary of `manifests`: data-driven cases and property tests.

mod apply;
mod cases;
mod objects;
mod patch;
mod props;
mod selectors;
