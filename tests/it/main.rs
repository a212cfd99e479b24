//! The project's own integration tests, one binary (one link of the crate instead of one per
//! file); `conformance` stays apart because libtest-mimic owns its harness.

mod support;

mod architecture;
mod builtin;
mod capabilities;
mod ci;
mod cli;
mod drift;
mod drift_watch;
mod examples;
mod golden;
mod hostile;
mod html;
mod init;
mod leak;
mod mock;
mod properties;
mod reports;
mod sandbox;
mod schema;
mod servers;
mod transport;
