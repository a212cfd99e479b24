//! `tokenconf run`: flags into session options, then the printer for the chosen format.

use tokenconf::error::{ConfigError, Exit};
use tokenconf::session::{Options, Session, TargetChoice};

use super::args::{Format, RunArgs};

pub async fn run(args: RunArgs) -> Result<Exit, ConfigError> {
    let target = match (args.targets, args.target, args.drift.mock_replay) {
        (Some(file), Some(name), _) => TargetChoice::File { file, name },
        (_, _, Some(dir)) => TargetChoice::Replay { dir },
        _ => TargetChoice::Mock {
            drifts: args.mock_drift.clone(),
        },
    };
    let options = Options {
        paths: args.suites.paths,
        specs: args.suites.specs,
        target,
        report_dir: Some(args.report_dir),
        filter: args.filter,
        shard: args.shard,
        jobs: args.jobs.map(usize::from),
        strict: args.strict,
        rate: args.rate,
        ca_cert: args.ca_cert,
        insecure: args.insecure,
        allow_empty: args.allow_empty,
        expected: args.expected,
        write_expected: args.write_expected,
        known_deviations: args.known_deviations,
        record: args.drift.record,
        mock_profile: args.mock_profile.unwrap_or_default(),
        verbose: args.verbose,
        junit_file_attributes: args.junit_file_attributes,
    };
    let session = Session::open(options).await?;
    let github = std::env::var("GITHUB_ACTIONS").is_ok_and(|v| v == "true");
    let format = match args.format {
        Some(Format::Json) => super::output::Format::Json,
        Some(Format::Github) => super::output::Format::Github,
        Some(Format::Human) => super::output::Format::Human,
        None if github => super::output::Format::Github,
        None => super::output::Format::Human,
    };
    if let Some(profile) = args
        .mock_profile
        .filter(|p| *p != tokenconf::mock::Profile::Full)
    {
        super::output::info(format, &format!("mock profile: {}", profile.name()));
    }
    if !args.mock_drift.is_empty() {
        super::output::info(
            format,
            &format!("mock drifts on purpose: {}", args.mock_drift.join(", ")),
        );
    }
    Ok(super::output::run(session, format).await)
}
