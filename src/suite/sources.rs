//! Quoted vendor sources: `specs/<vendor>/sources/<page>.yaml` holds a page's URL, the day it was
//! read, the excerpt we keep of it (verbatim), and named passages quoted from that excerpt. A case
//! cites one as `source: <vendor>/<page>#<passage>`; a citation naming no stored passage is refused
//! where it is written.

use std::path::Path;

use serde::Deserialize;

use super::schema::Specs;
use super::yaml::{self, Spanned};
use crate::error::{ConfigError, SourceError};

/// One stored page.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Page {
    pub url: String,
    /// The day the excerpt was read, `YYYY-MM-DD`.
    pub read: String,
    /// Where the excerpt comes from when it is not the page itself (a research note's quote).
    #[serde(default)]
    pub via: Option<String>,
    /// The text we keep of the page, verbatim.
    pub excerpt: String,
    /// Passage id → the words quoted, which must occur in `excerpt`.
    pub passages: std::collections::BTreeMap<String, String>,
}

/// `vendor/page#passage` split in three, if `text` is a citation.
pub fn citation(text: &str) -> Option<(&str, &str, &str)> {
    let (path, passage) = text.split_once('#')?;
    let (vendor, page) = path.split_once('/')?;
    let word = |s: &str| {
        !s.is_empty()
            && s.bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'_')
    };
    (word(vendor) && word(page) && word(passage)).then_some((vendor, page, passage))
}

/// Reads `<specs>/<vendor>/sources/<page>.yaml`, through the capped reader (or built in).
pub fn read_page(specs: &Specs, vendor: &str, page: &str) -> Result<Page, String> {
    let name = format!("{vendor}/sources/{page}.yaml");
    let (bytes, file) = specs
        .read_kind(&name, crate::suite::input::FileKind::StoredSource)
        .map_err(|e| format!("no stored source {vendor}/{page} ({e})"))?;
    let text = String::from_utf8_lossy(&bytes);
    serde_saphyr::from_str(&text).map_err(|e| format!("{}: {e}", file.display()))
}

/// The quoted words of citation `text` (`vendor/page#passage`), or why there are none.
pub fn passage(specs: &Specs, text: &str) -> Result<String, String> {
    let (vendor, page, id) = citation(text).ok_or_else(|| format!("{text:?} is no citation"))?;
    let stored = read_page(specs, vendor, page)?;
    stored.passages.get(id).cloned().ok_or_else(|| {
        let known: Vec<&str> = stored.passages.keys().map(String::as_str).collect();
        format!(
            "source {vendor}/{page} has no passage `{id}`; it has: {}",
            known.join(", ")
        )
    })
}

/// Whether an expectation's source is an RFC clause (`RFC 6749 §5.2`, `OpenID Connect Core §5.3`).
pub fn is_clause(text: &str) -> bool {
    (text.starts_with("RFC ") || text.starts_with("OpenID ")) && text.contains('§')
}

/// One published response example (`specs/<vendor>/examples/*.yaml`), held by a test against
/// the schema and rule sets the suites apply to that answer.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct ExampleFile {
    url: Option<Spanned<String>>,
    what: String,
    #[serde(default)]
    form: std::collections::BTreeMap<String, String>,
    status: u16,
    #[serde(default)]
    headers: std::collections::BTreeMap<String, String>,
    schema: Option<String>,
    #[serde(default)]
    rules: Vec<String>,
    /// Rules about what the page does not show (headers): their findings are not held.
    #[serde(default)]
    not_shown: Vec<String>,
    body: serde_json::Value,
}

#[derive(Debug)]
pub struct Example {
    pub url: String,
    pub what: String,
    pub form: Vec<(String, String)>,
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub schema: Option<String>,
    pub rules: Vec<String>,
    pub not_shown: Vec<String>,
    pub body: serde_json::Value,
}

/// Reads an examples file; an example without its URL is an error naming file:line:column.
pub fn read_examples(text: &str, file: &Path) -> Result<Vec<Example>, ConfigError> {
    let raw: Option<Vec<Spanned<ExampleFile>>> = yaml::parse(text, file)?;
    let mut errors: Vec<SourceError> = Vec::new();
    let mut out = Vec::new();
    for item in raw.unwrap_or_default() {
        let e = item.value;
        let url = match e.url {
            Some(u) if u.value.starts_with("https://") => u.value,
            Some(u) => {
                errors.push(yaml::error_at(
                    file,
                    text,
                    u.referenced,
                    "an example's url must be the https page that shows it",
                ));
                continue;
            }
            None => {
                errors.push(yaml::error_at(
                    file,
                    text,
                    item.referenced,
                    "an example needs the url of the page that shows it",
                ));
                continue;
            }
        };
        out.push(Example {
            url,
            what: e.what,
            form: e.form.into_iter().collect(),
            status: e.status,
            headers: e.headers.into_iter().collect(),
            schema: e.schema,
            rules: e.rules,
            not_shown: e.not_shown,
            body: e.body,
        });
    }
    if !errors.is_empty() {
        return Err(errors.into());
    }
    Ok(out)
}

/// Whether `source` text backs an expectation: a stored passage, an RFC clause, or a standard's
/// own page. A vendor page cited as such (a URL, a note) backs nothing we can show.
pub fn backs(source: &str) -> bool {
    citation(source).is_some()
        || is_clause(source)
        || [
            "https://www.rfc-editor.org/",
            "https://datatracker.ietf.org/",
            "https://openid.net/",
        ]
        .iter()
        .any(|p| source.starts_with(p))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every stored page under specs/: a URL, the day it was read, and each passage verbatim in
    /// its excerpt, so a citation always shows words we hold.
    #[test]
    fn every_stored_passage_is_in_its_excerpt() {
        let specs = Path::new(env!("CARGO_MANIFEST_DIR")).join("specs");
        let mut pages = 0;
        for vendor in ["talkdesk", "salesforce", "miaw"] {
            let dir = specs.join(vendor).join("sources");
            for entry in std::fs::read_dir(&dir).unwrap() {
                let path = entry.unwrap().path();
                let name = path.file_stem().unwrap().to_str().unwrap().to_string();
                let page = read_page(&Specs::Dir(specs.clone()), vendor, &name)
                    .unwrap_or_else(|e| panic!("{e}"));
                assert!(page.url.starts_with("https://"), "{}", path.display());
                assert!(
                    chrono::NaiveDate::parse_from_str(&page.read, "%Y-%m-%d").is_ok(),
                    "{}: read {:?}",
                    path.display(),
                    page.read
                );
                assert!(!page.passages.is_empty(), "{}", path.display());
                for (id, words) in &page.passages {
                    assert!(
                        page.excerpt.contains(words.as_str()),
                        "{vendor}/{name}#{id} is not in its stored excerpt: {words:?}"
                    );
                    assert_eq!(
                        passage(&Specs::Dir(specs.clone()), &format!("{vendor}/{name}#{id}"))
                            .as_deref(),
                        Ok(words.as_str())
                    );
                }
                pages += 1;
            }
        }
        assert!(pages >= 8, "{pages} pages");
        let e = passage(
            &Specs::Dir(specs.clone()),
            "talkdesk/scopes#no-such-passage",
        )
        .unwrap_err();
        assert!(e.contains("new-scope-401"), "{e}");
        assert!(passage(&Specs::Dir(specs.clone()), "talkdesk/no-such-page#x").is_err());
    }

    #[test]
    fn an_example_without_its_url_names_file_line_and_column() {
        let text = "- what: x\n  status: 200\n  body: {}\n- url: http://a.test\n  what: y\n  status: 200\n  body: {}\n";
        let e = read_examples(text, Path::new("ex.yaml"))
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("ex.yaml:1:3") && e.contains("needs the url"),
            "{e}"
        );
        assert!(e.contains("ex.yaml:4:8") && e.contains("https page"), "{e}");
    }

    #[test]
    fn a_citation_is_vendor_page_and_passage() {
        assert_eq!(
            citation("talkdesk/scopes#new-scope-401"),
            Some(("talkdesk", "scopes", "new-scope-401"))
        );
        for not in [
            "https://docs.talkdesk.com/docs/scopes#x",
            "RFC 6749 §5.2",
            "talkdesk/scopes",
            "assumed",
        ] {
            assert_eq!(citation(not), None, "{not}");
        }
        assert!(is_clause("RFC 7523 §3"));
        assert!(!is_clause("https://www.rfc-editor.org/rfc/rfc6749"));
    }
}
