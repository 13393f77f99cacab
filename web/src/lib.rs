//! The browser dashboard: static assets embedded in the binary and served by the control
//! plane. It depends on no other Shoal crate.
//!
//! The crate is the home of that work; its first capability lands with the dashboard issue.
