//! Quantities (being written).
