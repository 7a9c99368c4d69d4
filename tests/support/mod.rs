//! Shared helpers for the integration tests.
#![allow(dead_code)]
pub mod expected;
pub mod flowgen;
