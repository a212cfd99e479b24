//! tokenconf: declarative conformance tests for OAuth-style token endpoints.
//!
//! Data flows one way: suite files → loaded model ([`suite`]) → requests ([`http`]) →
//! responses → checks ([`check`], [`rules`]) → outcomes ([`outcome`]) → reports ([`report`]).

pub mod basic;
pub mod capability;
pub mod cassette;
pub mod check;
pub mod discovery;
pub mod dpop;
pub mod error;
pub mod expected;
pub mod finding;
pub mod http;
pub mod login;
pub mod mock;
pub mod origin;
pub mod outcome;
pub mod record;
pub mod redact;
pub mod report;
pub mod rules;
pub mod run;
pub mod schema_doc;
pub mod session;
pub mod sign;
pub mod suite;
pub mod target;
