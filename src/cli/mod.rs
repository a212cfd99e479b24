//! What the binary prints: run progress in each format, and the smaller commands.

pub mod args;
pub mod commands;
pub mod drift;
pub mod init;
pub mod output;
pub mod run;

use std::io::Write;
use std::process::ExitCode;

use tokenconf::error::ConfigError;

/// Prints a usage or configuration error (never a secret: messages name variables, not values)
/// and returns its exit code.
pub fn fail(e: &ConfigError) -> ExitCode {
    output::flush();
    let text = printable(&e.chain());
    let text = text.trim_end();
    // Errors rendered with a source snippet already carry their own `error:` header.
    let prefix = if text.starts_with("error") {
        ""
    } else {
        "error: "
    };
    let _ = writeln!(std::io::stderr().lock(), "{prefix}{text}");
    e.exit().into()
}

/// Text from files, servers and recordings made safe for a terminal: each line through the
/// one escaper, so an ESC, OSC or CR in a server's answer or a recorded name starts nothing,
/// while a snippet keeps its lines.
pub fn printable(text: &str) -> String {
    text.split('\n')
        .map(|line| tokenconf::report::escape_control(line))
        .collect::<Vec<_>>()
        .join("\n")
}
