//! Shared helpers for the integration tests (`mod support;` in a test file).
//!
//! Each test binary compiles this module on its own and uses only part of it,
//! so unused items are expected here.
#![allow(dead_code)]

pub mod desk;
pub mod mailstack;
