//! Where a request may go: the origins (scheme, host, port) of the target's APIs and its
//! allow-list. Paths are joined to a base URL by parsing, so no path or variable can move a
//! request (and the secrets it carries) to another host. A leaf: imports nothing of ours.

use reqwest::Url;

/// `https://host[:port]` of `url`, as origins compare (default ports dropped, host lower case).
pub fn of(url: &str) -> Result<String, String> {
    let shown = without_userinfo(url);
    let parsed = Url::parse(url).map_err(|e| format!("{shown:?} is not a URL: {e}"))?;
    match parsed.origin() {
        origin @ url::Origin::Tuple(..) => Ok(origin.ascii_serialization()),
        url::Origin::Opaque(_) => Err(format!("{shown:?} has no origin (use http:// or https://)")),
    }
}

/// `url` as an error or `validate` shows it: a user name or password in it (from an
/// environment variable, say) as `***`. Text, not a parse, so a URL that does not parse (a
/// bad port) loses its credentials too.
pub fn without_userinfo(url: &str) -> String {
    // Without a scheme (`admin:pw@host`), what comes first is the authority all the same.
    let authority_start = url.find("://").map_or(0, |at| at + 3);
    let rest = &url[authority_start..];
    // The authority ends at the path, query or fragment (`\` too, as browsers read it).
    let authority_len = rest.find(['/', '?', '#', '\\']).unwrap_or(rest.len());
    match rest[..authority_len].rfind('@') {
        Some(at) => format!(
            "{}***{}",
            &url[..authority_start],
            &url[authority_start + at..]
        ),
        None => url.to_string(),
    }
}

/// `base` followed by `path` (which starts with `/`, or a query), refused when the result is on
/// another origin or carries credentials in it: `@evil.example/x` or a var ending in
/// `.evil.example` must not change the host.
pub fn join(base: &str, path: &str) -> Result<Url, String> {
    // A run joins the same few paths to the same base thousands of times: the last join of
    // each thread is kept (parsing the joined URL was ~3% of a run's CPU).
    thread_local! {
        static LAST: std::cell::RefCell<Option<(String, String, Url)>> = const { std::cell::RefCell::new(None) };
    }
    let hit = LAST.with(|last| match &*last.borrow() {
        Some((b, p, url)) if b == base && p == path => Some(url.clone()),
        _ => None,
    });
    if let Some(url) = hit {
        return Ok(url);
    }
    let url = join_uncached(base, path)?;
    LAST.with(|last| *last.borrow_mut() = Some((base.to_string(), path.to_string(), url.clone())));
    Ok(url)
}

fn join_uncached(base: &str, path: &str) -> Result<Url, String> {
    // The rendered path is never quoted: it may hold a secret, in a form (`{:?}`-escaped,
    // percent-encoded) no mask would find. The step's `path:` names the place.
    let base_url = parse_base(base)
        .map_err(|e| format!("base URL {:?} is not a URL: {e}", without_userinfo(base)))?;
    let joined = format!("{}{}", base.trim_end_matches('/'), path);
    let url = Url::parse(&joined)
        .map_err(|e| format!("the step's `path:`, joined to its base URL, is not a URL: {e}"))?;
    let moved = url.origin() != base_url.origin()
        || url.username() != base_url.username()
        || url.password() != base_url.password();
    if moved || !(path.is_empty() || path.starts_with('/') || path.starts_with('?')) {
        let to = if url.origin() == base_url.origin() {
            "put a user name or password in the URL".to_string()
        } else {
            format!(
                "send this request to {} instead of {}",
                url.origin().ascii_serialization(),
                base_url.origin().ascii_serialization()
            )
        };
        return Err(format!(
            "refused before sending: the step's `path:` would {to}"
        ));
    }
    Ok(url)
}

/// `base` parsed, from a one-entry cache per thread: a run joins thousands of paths to the
/// same few base URLs.
fn parse_base(base: &str) -> Result<Url, url::ParseError> {
    thread_local! {
        static LAST: std::cell::RefCell<Option<(String, Url)>> = const { std::cell::RefCell::new(None) };
    }
    LAST.with(|last| {
        let mut last = last.borrow_mut();
        if let Some((text, url)) = last.as_ref() {
            if text == base {
                return Ok(url.clone());
            }
        }
        let url = Url::parse(base)?;
        *last = Some((base.to_string(), url.clone()));
        Ok(url)
    })
}

/// Whether `url` is plain `http://` to a host that is not loopback.
pub fn is_cleartext_off_loopback(url: &Url) -> bool {
    url.scheme() == "http" && !is_loopback(url)
}

/// Whether `url`'s host is this machine (`localhost` or a loopback address).
pub fn is_loopback(url: &Url) -> bool {
    match url.host() {
        Some(url::Host::Domain(d)) => d.eq_ignore_ascii_case("localhost"),
        Some(url::Host::Ipv4(ip)) => ip.is_loopback(),
        Some(url::Host::Ipv6(ip)) => ip.is_loopback(),
        None => false,
    }
}

/// Refuses `url` unless its origin is in `allowed` (an empty list allows everything: a caller
/// without a target).
pub fn check(url: &Url, allowed: &[String]) -> Result<(), String> {
    // An http(s) URL without credentials is written as its origin up to its path: allowed
    // without building the origin's text (1% of a run's CPU).
    if matches!(url.scheme(), "http" | "https")
        && url.username().is_empty()
        && url.password().is_none()
        && allowed
            .iter()
            .any(|a| *a == url[..url::Position::BeforePath])
    {
        return Ok(());
    }
    let origin = url.origin().ascii_serialization();
    if allowed.is_empty() || allowed.contains(&origin) {
        return Ok(());
    }
    Err(format!(
        "refused before sending: {origin} is not an origin of the target ({}); list it under \
         `allow_origins:` in the targets file to send requests, and so secrets, there",
        allowed.join(", ")
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_path_cannot_move_the_request_to_another_host() {
        let base = "http://127.0.0.1:4000";
        assert_eq!(
            join(base, "/oauth/token").unwrap().as_str(),
            "http://127.0.0.1:4000/oauth/token"
        );
        assert_eq!(
            join("https://acme.example/base/", "/x?y=1")
                .unwrap()
                .as_str(),
            "https://acme.example/base/x?y=1"
        );
        for path in [
            "@127.0.0.1:4665/oauth/token",
            ":4665/oauth/token",
            ".evil.example/oauth/token",
            "evil/x",
        ] {
            let err = join(base, path).unwrap_err();
            let refused = err.contains("refused before sending") || err.contains("is not a URL");
            assert!(refused, "{path}: {err}");
        }
        let err = join("https://acme.talkdeskid.com", ".evil.example/oauth").unwrap_err();
        assert!(err.contains("acme.talkdeskid.com.evil.example"), "{err}");
    }

    #[test]
    fn a_url_in_an_error_loses_its_credentials_even_when_it_does_not_parse() {
        for (url, shown) in [
            (
                "https://admin:Pw-1@h.example/p@x",
                "https://***@h.example/p@x",
            ),
            (
                "https://admin:Pw-1@h.example:99999",
                "https://***@h.example:99999",
            ),
            ("htps://admin:Pw-1@h.example", "htps://***@h.example"),
            ("admin:Pw-1@h.example/x", "***@h.example/x"),
            ("https://h.example/a@b", "https://h.example/a@b"),
        ] {
            assert_eq!(without_userinfo(url), shown);
        }
        let err = of("https://admin:Pw-1@h.example:99999").unwrap_err();
        assert!(!err.contains("Pw-1"), "{err}");
    }

    #[test]
    fn only_allowed_origins_pass() {
        let allowed = vec![of("https://acme.example/x").unwrap()];
        assert_eq!(allowed[0], "https://acme.example");
        let ok = Url::parse("https://ACME.example:443/token").unwrap();
        assert!(check(&ok, &allowed).is_ok());
        let other_port = Url::parse("https://acme.example:8443/token").unwrap();
        assert!(check(&other_port, &allowed).is_err());
        let other_scheme = Url::parse("http://acme.example/token").unwrap();
        assert!(check(&other_scheme, &allowed).is_err());
        assert!(of("mailto:x@y").is_err());
        // Written up to its path or not, a URL passes exactly when its origin is allowed.
        for url in [
            "https://acme.example/token?x=1",
            "https://user:pw@acme.example/token",
            "HTTP://[::1]:8080/x",
            "http://b\u{fc}cher.example:80/x",
            "https://acme.example.:443/",
            "http://127.0.0.1:18555/oauth/token",
        ] {
            let url = Url::parse(url).unwrap();
            let origin = url.origin().ascii_serialization();
            assert!(check(&url, std::slice::from_ref(&origin)).is_ok(), "{url}");
            let near = vec![format!("{origin}/"), format!("{origin}:1")];
            assert!(check(&url, &near).is_err(), "{url}");
        }
    }

    #[test]
    fn cleartext_is_flagged_only_off_loopback() {
        for (url, flagged) in [
            ("http://acme.example", true),
            ("http://10.0.0.1:80/x", true),
            ("https://acme.example", false),
            ("http://127.0.0.1:8080", false),
            ("http://localhost/x", false),
            ("http://[::1]:9", false),
        ] {
            assert_eq!(
                is_cleartext_off_loopback(&Url::parse(url).unwrap()),
                flagged,
                "{url}"
            );
        }
    }
}
