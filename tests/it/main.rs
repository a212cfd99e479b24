//! The project's own integration tests, one binary (one link of the crate instead of one per
//! file); `conformance` stays apart because libtest-mimic owns its harness.

mod support;

mod api_names;
mod architecture;
mod awaiting_servers;
mod browser_login;
mod builtin;
mod capabilities;
mod ci;
mod cli;
mod diff_summary;
mod dpop;
mod dpop_nonce;
mod drift;
mod drift_watch;
mod error_text;
mod examples;
mod explain;
mod first_hour;
mod golden;
mod hostile;
mod html;
mod init;
mod leak;
mod mock;
mod names;
mod par_required;
mod properties;
mod readme;
mod refresh_only_revocation;
mod rehearsal;
mod replay;
mod reports;
mod request_paths;
mod requests;
mod sandbox;
mod schema;
mod security_expected;
mod security_recording;
mod servers;
mod sources;
mod transport;
mod validate;
mod vendor_examples;
