use super::Finding;
use crate::suite::StatusPattern;

pub fn check(expected: &[StatusPattern], actual: u16) -> Option<Finding> {
    if expected.is_empty() || expected.iter().any(|p| p.matches(actual)) {
        return None;
    }
    let wanted = expected
        .iter()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join(" or ");
    Some(
        Finding::must("status", format!("status {actual}, expected {wanted}"))
            .expected(wanted)
            .actual(actual.to_string()),
    )
}
