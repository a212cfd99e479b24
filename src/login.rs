//! A scripted login in headless Chromium (a target's `login:`): the authorization-code cases of
//! a server with a real login page get their code the way a user's browser does. The script is
//! plain data read with the targets file; [`Logins::authorize`] runs it for one authorize URL and
//! returns the URL the server redirected to (with `code`, `state`, …), caught in the browser
//! before anything is sent to `redirect_uri`'s host.
//!
//! Safety: every request the browser makes is paused (CDP `Fetch`) and sent on only when its
//! origin is the target's or one the script declares; a navigation anywhere else ends the login
//! before another key is typed. Chromium runs sandboxed (unless as root, where it cannot), with a
//! fresh profile folder per API profile, deleted when the run ends, a second Ctrl-C included.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use chromiumoxide::cdp::browser_protocol::fetch::{
    ContinueRequestParams, EventRequestPaused, FailRequestParams,
};
use chromiumoxide::cdp::browser_protocol::network::{ErrorReason, ResourceType};
use chromiumoxide::cdp::browser_protocol::page::NavigateParams;
use chromiumoxide::{Browser, BrowserConfig, Page};
use futures::StreamExt;
use schemars::JsonSchema;
use serde::Deserialize;

use crate::suite::yaml::Spanned;

/// A step's wait, and the whole login's, unless the script says otherwise.
const STEP_TIMEOUT: Duration = Duration::from_secs(10);
const LOGIN_TIMEOUT: Duration = Duration::from_secs(60);
/// How often a step looks for its selector (and for the redirect).
const POLL: Duration = Duration::from_millis(50);

/// `login:` of an API or profile in a targets file.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct LoginFile {
    /// Origins (`https://host[:port]`) besides the target's that the login pages use (an
    /// identity provider, its scripts and styles); the browser may load nothing else.
    #[serde(default)]
    #[schemars(with = "Vec<String>")]
    pub origins: Vec<Spanned<String>>,
    /// How long one step waits for its selector or URL, in milliseconds (default 10000).
    pub step_timeout_ms: Option<u64>,
    /// How long the whole login may take, in milliseconds (default 60000).
    pub timeout_ms: Option<u64>,
    /// The steps, in order, after the browser opens the authorize URL the case built.
    #[schemars(with = "Vec<StepFile>")]
    pub steps: Vec<Spanned<StepFile>>,
}

/// One step of a login script.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case", deny_unknown_fields)]
pub(crate) enum StepFile {
    /// Type a var's or a secret's value into the field the CSS selector names.
    Fill(FillFile),
    /// Click what the CSS selector names.
    Click(String),
    /// Wait until the selector is on the page, or the URL starts with `url`.
    Wait(WaitFile),
    /// Click the consent (approve) button when the server shows one; skipped when the server
    /// redirects without asking.
    Consent(String),
}

#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct FillFile {
    pub selector: String,
    /// The name of one of this API's vars.
    pub var: Option<String>,
    /// The name of one of this API's secrets.
    pub secret: Option<String>,
    /// Not accepted: a value written here would be a credential in the file.
    #[schemars(skip)]
    pub value: Option<serde::de::IgnoredAny>,
}

#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct WaitFile {
    pub selector: Option<String>,
    pub url: Option<String>,
}

/// A login script, its values resolved against its API or profile. Holds secrets.
#[derive(Debug, Clone, PartialEq)]
pub struct Login {
    /// Declared origins besides the target's.
    pub origins: Vec<String>,
    pub steps: Vec<LoginStep>,
    pub step_timeout: Duration,
    pub timeout: Duration,
}

#[derive(Debug, Clone, PartialEq)]
pub enum LoginStep {
    /// `value` is typed; `secret` says it came from `secrets:`.
    Fill {
        selector: String,
        value: String,
        secret: bool,
    },
    Click(String),
    WaitSelector(String),
    WaitUrl(String),
    Consent(String),
}

impl LoginStep {
    /// How a reason names this step: never the typed value.
    fn describe(&self) -> String {
        match self {
            LoginStep::Fill { selector, .. } => format!("fill `{selector}`"),
            LoginStep::Click(s) => format!("click `{s}`"),
            LoginStep::WaitSelector(s) => format!("wait for `{s}`"),
            LoginStep::WaitUrl(u) => format!("wait for the URL {u}"),
            LoginStep::Consent(s) => format!("consent `{s}`"),
        }
    }

    /// The selector this step waits for before it acts.
    fn selector(&self) -> Option<&str> {
        match self {
            LoginStep::Fill { selector, .. } => Some(selector),
            LoginStep::Click(s) | LoginStep::WaitSelector(s) | LoginStep::Consent(s) => Some(s),
            LoginStep::WaitUrl(_) => None,
        }
    }
}

impl Login {
    /// What is typed: masked in every output like a secret.
    pub fn typed_values(&self) -> impl Iterator<Item = &str> {
        self.steps.iter().filter_map(|s| match s {
            LoginStep::Fill { value, .. } => Some(value.as_str()),
            _ => None,
        })
    }
}

/// Whether `request` is the step a login answers: a GET to an authorization endpoint (it asks
/// for a `response_type` and names a `redirect_uri`).
pub fn is_authorize(request: &crate::suite::Request) -> bool {
    request.method == reqwest::Method::GET
        && request.query.iter().any(|(k, _)| k == "response_type")
        && request.query.iter().any(|(k, _)| k == "redirect_uri")
}

/// Where Chromium is: `TOKENCONF_CHROMIUM`, else `chromium`, `chromium-browser` or
/// `google-chrome` on PATH.
pub fn find_chromium() -> Option<PathBuf> {
    if let Some(p) = std::env::var_os("TOKENCONF_CHROMIUM") {
        let p = PathBuf::from(p);
        return p.is_file().then_some(p);
    }
    let path = std::env::var_os("PATH")?;
    ["chromium", "chromium-browser", "google-chrome"]
        .iter()
        .flat_map(|name| std::env::split_paths(&path).map(move |dir| dir.join(name)))
        .find(|p| p.is_file())
}

/// Why a login did not end at `redirect_uri`. Its text names the step and quotes no typed value.
#[derive(Debug, Clone)]
pub struct LoginError {
    pub message: String,
}

impl std::fmt::Display for LoginError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.message)
    }
}

/// What the browser's request filter saw during one login.
#[derive(Default)]
struct Seen {
    /// The redirect to `redirect_uri` this login waits for (origin and path).
    redirect_uri: String,
    /// The URL the server redirected to, with its query and fragment.
    redirected: Option<String>,
    /// A page load to an origin not allowed: the login stops.
    off_origin: Option<String>,
    /// Other requests refused (scripts, images) by origin, to tell a person what to declare.
    refused: Vec<String>,
}

/// One API profile's browser: its cookies are the login session, kept for the run.
struct Live {
    browser: Browser,
    page: Page,
    seen: Arc<Mutex<Seen>>,
    tasks: Vec<tokio::task::JoinHandle<()>>,
    /// The secrets typed into fields that show their text: emptied before a screenshot.
    shown_secret_fields: Vec<String>,
}

/// The run's browsers, one per API profile with a login, started when first needed.
pub struct Logins {
    chromium: Option<PathBuf>,
    /// Dropped before `scratch` (fields drop in order): the browsers go before their folders.
    live: Mutex<HashMap<String, Arc<tokio::sync::Mutex<Option<Live>>>>>,
    /// Profile folders and screenshots' default place; deleted with the run.
    scratch: tempfile::TempDir,
    /// Where screenshots of a failed login go (the reports folder), if any.
    screenshots: Option<PathBuf>,
    /// The Chromium processes started, for [`Logins::stop_now`], which cannot wait for a login
    /// in flight to release its browser.
    pids: Mutex<Vec<u32>>,
}

impl Logins {
    pub fn new(chromium: Option<PathBuf>) -> std::io::Result<Logins> {
        Ok(Logins {
            chromium,
            scratch: tempfile::Builder::new()
                .prefix("tokenconf-login-")
                .tempdir()?,
            screenshots: None,
            live: Mutex::new(HashMap::new()),
            pids: Mutex::new(Vec::new()),
        })
    }

    pub fn has_browser(&self) -> bool {
        self.chromium.is_some()
    }

    /// Screenshots of failed logins go to `dir/screenshots/`.
    pub fn screenshots_in(&mut self, dir: &Path) {
        self.screenshots = Some(dir.join("screenshots"));
    }

    /// Runs `login` (of the API profile `key`) for `url` and returns the URL the server redirected
    /// to, never loaded. `allowed`: the target's origins, to which the script's are added.
    pub async fn authorize(
        &self,
        key: &str,
        login: &Login,
        url: &str,
        allowed: &[String],
        shot_name: &str,
    ) -> Result<String, LoginError> {
        let Some(chromium) = &self.chromium else {
            return Err(LoginError {
                message: "the login script needs Chromium, which was not found (install `chromium` or set TOKENCONF_CHROMIUM)".into(),
            });
        };
        let redirect_uri = redirect_uri_of(url).ok_or_else(|| LoginError {
            message: "the authorize request names no redirect_uri to catch".into(),
        })?;
        let slot = {
            let mut live = self.live.lock().unwrap_or_else(|e| e.into_inner());
            live.entry(key.to_string()).or_default().clone()
        };
        // One login at a time per profile: they share its page and session cookie.
        let mut slot = slot.lock().await;
        if slot.is_none() {
            let mut origins: Vec<String> = allowed.to_vec();
            origins.extend(login.origins.iter().cloned());
            let dir = self.scratch.path().join(profile_dir_name(key));
            *slot = Some(start(chromium, &dir, origins, &self.pids).await?);
        }
        let Some(live) = slot.as_mut() else {
            return Err(LoginError {
                message: "Chromium did not start".into(),
            });
        };
        {
            let mut seen = live.seen.lock().unwrap_or_else(|e| e.into_inner());
            *seen = Seen {
                redirect_uri,
                ..Seen::default()
            };
        }
        let ran = tokio::time::timeout(login.timeout, run_steps(live, login, url)).await;
        let failure = match ran {
            Ok(Ok(redirected)) => return Ok(redirected),
            Ok(Err(e)) => e,
            Err(_) => format!(
                "the whole login took longer than {} s",
                login.timeout.as_secs()
            ),
        };
        let refused = {
            let seen = live.seen.lock().unwrap_or_else(|e| e.into_inner());
            seen.refused.clone()
        };
        let mut message = format!("login {failure}");
        if !refused.is_empty() {
            message.push_str(&format!(
                "; requests to origins the script does not declare were refused: {}",
                refused.join(", ")
            ));
        }
        let dir = self
            .screenshots
            .clone()
            .unwrap_or_else(|| self.scratch.path().join("screenshots"));
        match screenshot(live, &dir, shot_name).await {
            Some(path) => message.push_str(&format!("; screenshot: {}", path.display())),
            None => message.push_str("; no screenshot could be taken"),
        }
        Err(LoginError { message })
    }

    /// Closes every browser and deletes its profile folder (the binary exits without running
    /// destructors, so this is where they go); the scratch folder too unless it holds screenshots.
    pub async fn close(&self) {
        let slots: Vec<_> = {
            let mut live = self.live.lock().unwrap_or_else(|e| e.into_inner());
            live.drain().collect()
        };
        for (key, slot) in slots {
            if let Some(mut live) = slot.lock().await.take() {
                let _ = tokio::time::timeout(Duration::from_secs(5), live.browser.close()).await;
                let _ = tokio::time::timeout(Duration::from_secs(5), live.browser.wait()).await;
                for t in live.tasks {
                    t.abort();
                }
            }
            let _ = std::fs::remove_dir_all(self.scratch.path().join(profile_dir_name(&key)));
        }
        let _ = std::fs::remove_dir(self.scratch.path());
    }
}

impl Logins {
    /// On a second Ctrl-C, before the process exits without destructors: kills every Chromium
    /// (a login in flight holds its browser, so there is no waiting for a clean close) and
    /// deletes the profile folders, whose cookies are real login sessions. Bounded: about 1 s.
    pub fn stop_now(&self) {
        let pids = std::mem::take(&mut *self.pids.lock().unwrap_or_else(|e| e.into_inner()));
        for pid in pids {
            kill(pid);
        }
        let keys: Vec<String> = {
            let live = self.live.lock().unwrap_or_else(|e| e.into_inner());
            live.keys().cloned().collect()
        };
        for key in keys {
            let dir = self.scratch.path().join(profile_dir_name(&key));
            // A dying Chromium may still write a file or two: a few tries.
            for _ in 0..10 {
                if std::fs::remove_dir_all(&dir).is_ok() || !dir.exists() {
                    break;
                }
                std::thread::sleep(Duration::from_millis(100));
            }
        }
        let _ = std::fs::remove_dir(self.scratch.path());
    }
}

#[cfg(unix)]
fn kill(pid: u32) {
    let pid = i32::try_from(pid)
        .ok()
        .and_then(rustix::process::Pid::from_raw);
    if let Some(pid) = pid {
        let _ = rustix::process::kill_process(pid, rustix::process::Signal::KILL);
    }
}

#[cfg(not(unix))]
fn kill(_pid: u32) {}

/// Chromium's sandbox stays on, since the logins load real identity providers' pages; only
/// as root, where Chromium refuses to start sandboxed, does it run without.
fn sandboxed() -> bool {
    #[cfg(unix)]
    return !rustix::process::geteuid().is_root();
    #[cfg(not(unix))]
    return true;
}

/// A folder name for an API profile key.
fn profile_dir_name(key: &str) -> String {
    key.chars()
        .map(|c| if c.is_ascii_alphanumeric() { c } else { '_' })
        .collect()
}

/// `redirect_uri` of an authorize URL, without its query: what the redirect is matched by.
fn redirect_uri_of(url: &str) -> Option<String> {
    let url = url::Url::parse(url).ok()?;
    let value = url
        .query_pairs()
        .find(|(k, _)| k == "redirect_uri")
        .map(|(_, v)| v.into_owned())?;
    let mut r = url::Url::parse(&value).ok()?;
    r.set_query(None);
    r.set_fragment(None);
    Some(r.to_string())
}

/// Whether a request to `url` is the redirect to `redirect_uri`.
fn is_redirect(url: &str, redirect_uri: &str) -> bool {
    let Ok(mut u) = url::Url::parse(url) else {
        return false;
    };
    u.set_query(None);
    u.set_fragment(None);
    u.as_str() == redirect_uri
}

async fn start(
    chromium: &Path,
    dir: &Path,
    allowed: Vec<String>,
    pids: &Mutex<Vec<u32>>,
) -> Result<Live, LoginError> {
    let failed = |why: String| LoginError {
        message: format!("Chromium did not start: {why}"),
    };
    let mut config = BrowserConfig::builder()
        .chrome_executable(chromium)
        .user_data_dir(dir);
    if !sandboxed() {
        config = config.no_sandbox();
    }
    let config = config
        .enable_request_intercept()
        .launch_timeout(Duration::from_secs(20))
        .request_timeout(Duration::from_secs(10))
        .arg("disable-gpu")
        .build()
        .map_err(failed)?;
    let (mut browser, mut handler) = Browser::launch(config)
        .await
        .map_err(|e| failed(e.to_string()))?;
    if let Some(pid) = browser.get_mut_child().and_then(|c| c.as_mut_inner().id()) {
        pids.lock().unwrap_or_else(|e| e.into_inner()).push(pid);
    }
    let mut tasks = vec![tokio::spawn(async move {
        while let Some(event) = handler.next().await {
            if event.is_err() {
                break;
            }
        }
    })];
    let page = browser
        .new_page("about:blank")
        .await
        .map_err(|e| failed(e.to_string()))?;
    let mut paused = page
        .event_listener::<EventRequestPaused>()
        .await
        .map_err(|e| failed(e.to_string()))?;
    let seen = Arc::new(Mutex::new(Seen::default()));
    let filter_page = page.clone();
    let filter_seen = seen.clone();
    // Every request waits here until it is let through: nothing reaches an origin not allowed.
    tasks.push(tokio::spawn(async move {
        while let Some(event) = paused.next().await {
            let fragment = event.request.url_fragment.clone().unwrap_or_default();
            let url = format!("{}{fragment}", event.request.url);
            let verdict = {
                let mut seen = filter_seen.lock().unwrap_or_else(|e| e.into_inner());
                if !seen.redirect_uri.is_empty() && is_redirect(&url, &seen.redirect_uri) {
                    seen.redirected.get_or_insert(url);
                    false
                } else {
                    match crate::origin::of(&url) {
                        Ok(o) if allowed.contains(&o) => true,
                        // data: and blob: URLs stay inside the browser.
                        _ if url.starts_with("data:") || url.starts_with("blob:") => true,
                        origin => {
                            let origin = origin.unwrap_or_else(|_| "an unparsable URL".into());
                            if event.resource_type == ResourceType::Document {
                                seen.off_origin.get_or_insert(origin.clone());
                            }
                            if !seen.refused.contains(&origin) {
                                seen.refused.push(origin);
                            }
                            false
                        }
                    }
                }
            };
            let id = event.request_id.clone();
            let _ = if verdict {
                filter_page
                    .execute(ContinueRequestParams::new(id))
                    .await
                    .map(|_| ())
            } else {
                filter_page
                    .execute(FailRequestParams::new(id, ErrorReason::BlockedByClient))
                    .await
                    .map(|_| ())
            };
        }
    }));
    Ok(Live {
        browser,
        page,
        seen,
        tasks,
        shown_secret_fields: Vec::new(),
    })
}

/// What a step's wait ended with.
enum Waited {
    Redirected(String),
    /// The selector of step `n` is on the page (this step's, or a later consent's).
    Found(usize),
    UrlReached,
}

/// Opens `url` and runs the steps; the redirect, whenever it comes, ends the login.
async fn run_steps(live: &mut Live, login: &Login, url: &str) -> Result<String, String> {
    // The navigation is cut short when it reaches redirect_uri: its own answer does not matter.
    let _ = tokio::time::timeout(
        login.step_timeout,
        live.page.execute(NavigateParams::new(url)),
    )
    .await;
    let mut i = 0;
    while i < login.steps.len() {
        let step = &login.steps[i];
        let n = i + 1;
        let said = step.describe();
        let waited = wait(live, login, i)
            .await
            .map_err(|why| format!("step {n} ({said}): {why}"))?;
        match waited {
            Waited::Redirected(to) => return Ok(to),
            Waited::UrlReached => {}
            Waited::Found(j) => {
                i = j;
                let step = &login.steps[j];
                let n = j + 1;
                let said = step.describe();
                act(live, step)
                    .await
                    .map_err(|why| format!("step {n} ({said}): {why}"))?;
            }
        }
        i += 1;
    }
    // Every step done: the last one should have led to redirect_uri.
    let deadline = Instant::now() + login.step_timeout;
    loop {
        if let Some(to) = redirected(live)? {
            return Ok(to);
        }
        if Instant::now() >= deadline {
            let at = current_url(&live.page).await;
            return Err(format!(
                "after the last step the page did not redirect to redirect_uri within {} s (it is at {at})",
                login.step_timeout.as_secs()
            ));
        }
        tokio::time::sleep(POLL).await;
    }
}

/// The redirect, if it came; an error if the page went off the allowed origins.
fn redirected(live: &Live) -> Result<Option<String>, String> {
    let seen = live.seen.lock().unwrap_or_else(|e| e.into_inner());
    if let Some(to) = &seen.redirected {
        return Ok(Some(to.clone()));
    }
    if let Some(origin) = &seen.off_origin {
        return Err(format!(
            "the page went to {origin}, which is neither the target's nor declared in the login script's `origins:`; nothing more was typed"
        ));
    }
    Ok(None)
}

/// Waits for step `i`'s selector or URL, the redirect, or a later consent step's selector (a
/// session cookie skips the login pages).
async fn wait(live: &Live, login: &Login, i: usize) -> Result<Waited, String> {
    let deadline = Instant::now() + login.step_timeout;
    let consents: Vec<usize> = (i + 1..login.steps.len())
        .filter(|&j| matches!(login.steps[j], LoginStep::Consent(_)))
        .collect();
    loop {
        if let Some(to) = redirected(live)? {
            return Ok(Waited::Redirected(to));
        }
        match &login.steps[i] {
            LoginStep::WaitUrl(prefix) => {
                if current_url(&live.page).await.starts_with(prefix.as_str()) {
                    return Ok(Waited::UrlReached);
                }
            }
            step => {
                if let Some(s) = step.selector() {
                    if present(&live.page, s).await {
                        return Ok(Waited::Found(i));
                    }
                }
            }
        }
        for &j in &consents {
            if let Some(s) = login.steps[j].selector() {
                if present(&live.page, s).await {
                    return Ok(Waited::Found(j));
                }
            }
        }
        if Instant::now() >= deadline {
            let at = current_url(&live.page).await;
            let what = match &login.steps[i] {
                LoginStep::WaitUrl(u) => format!("the URL did not reach {u}"),
                step => format!("`{}` did not appear", step.selector().unwrap_or_default()),
            };
            return Err(format!(
                "{what} within {} s (the page is at {at}: a changed page, a CAPTCHA or an MFA prompt?)",
                login.step_timeout.as_secs()
            ));
        }
        tokio::time::sleep(POLL).await;
    }
}

/// The page's URL without its query (which may hold codes or tokens).
async fn current_url(page: &Page) -> String {
    let url = page.url().await.ok().flatten().unwrap_or_default();
    match url::Url::parse(&url) {
        Ok(mut u) => {
            u.set_query(None);
            u.set_fragment(None);
            u.to_string()
        }
        Err(_) => "an unknown address".into(),
    }
}

async fn present(page: &Page, selector: &str) -> bool {
    let script = format!(
        "document.querySelector({}) !== null",
        serde_json::Value::from(selector)
    );
    match page.evaluate(script).await {
        Ok(r) => r.into_value::<bool>().unwrap_or(false),
        Err(_) => false,
    }
}

async fn act(live: &mut Live, step: &LoginStep) -> Result<(), String> {
    // A page load to a forbidden origin may have started since the wait: type nothing then.
    redirected(live)?;
    let find = |s: &str| {
        let s = s.to_string();
        let page = live.page.clone();
        async move {
            page.find_element(s.as_str())
                .await
                .map_err(|_| format!("`{s}` is gone from the page"))
        }
    };
    match step {
        LoginStep::Fill {
            selector,
            value,
            secret,
        } => {
            let field = find(selector).await?;
            let kind = field
                .attribute("type")
                .await
                .ok()
                .flatten()
                .unwrap_or_default();
            if *secret && kind != "password" && !live.shown_secret_fields.contains(selector) {
                live.shown_secret_fields.push(selector.clone());
            }
            field
                .call_js_fn("function() { this.value = ''; }", false)
                .await
                .map_err(|_| "the field cannot be cleared".to_string())?;
            field
                .focus()
                .await
                .map_err(|_| "the field cannot take the focus".to_string())?;
            field
                .type_str(value)
                .await
                .map_err(|_| "typing into the field failed".to_string())?;
        }
        LoginStep::Click(s) | LoginStep::Consent(s) => {
            find(s)
                .await?
                .click()
                .await
                .map_err(|_| format!("`{s}` cannot be clicked"))?;
        }
        LoginStep::WaitSelector(_) | LoginStep::WaitUrl(_) => {}
    }
    Ok(())
}

/// A PNG of the page as the login left it, fields that showed a secret emptied first; its path.
async fn screenshot(live: &Live, dir: &Path, name: &str) -> Option<PathBuf> {
    for selector in &live.shown_secret_fields {
        let script = format!(
            "document.querySelectorAll({}).forEach(e => {{ e.value = ''; }})",
            serde_json::Value::from(selector.as_str())
        );
        // A field that cannot be emptied must not be photographed.
        if live.page.evaluate(script).await.is_err() {
            return None;
        }
    }
    let png = tokio::time::timeout(
        Duration::from_secs(5),
        live.page
            .screenshot(chromiumoxide::page::ScreenshotParams::builder().build()),
    )
    .await
    .ok()?
    .ok()?;
    std::fs::create_dir_all(dir).ok()?;
    let file: String = name
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' {
                c
            } else {
                '_'
            }
        })
        .take(120)
        .collect();
    let path = dir.join(format!("{file}.png"));
    std::fs::write(&path, png).ok()?;
    Some(path)
}

/// Builds a [`Login`] from its file form against an API's (or profile's) vars and secrets; each
/// error is a message and the step (or field) it is about.
pub(crate) fn resolve(
    file: &LoginFile,
    vars: &std::collections::BTreeMap<String, String>,
    secrets: &std::collections::BTreeMap<String, String>,
    whole: crate::suite::yaml::Location,
    mut error: impl FnMut(crate::suite::yaml::Location, String),
) -> Login {
    let mut login = Login {
        origins: Vec::new(),
        steps: Vec::new(),
        step_timeout: file
            .step_timeout_ms
            .map_or(STEP_TIMEOUT, Duration::from_millis),
        timeout: file.timeout_ms.map_or(LOGIN_TIMEOUT, Duration::from_millis),
    };
    for o in &file.origins {
        match crate::origin::of(&o.value) {
            Ok(origin) => login.origins.push(origin),
            Err(why) => error(o.referenced, format!("login origins: {why}")),
        }
    }
    if file.steps.is_empty() {
        error(whole, "a login script needs at least one step".into());
    }
    for s in &file.steps {
        let at = s.referenced;
        let step = match &s.value {
            StepFile::Fill(f) => {
                if f.value.is_some() {
                    error(at, "fill: a value written in the file would be a credential in it; fill from `var:` or `secret:`".into());
                    continue;
                }
                match (&f.var, &f.secret) {
                    (Some(name), None) => match vars.get(name) {
                        Some(v) => LoginStep::Fill {
                            selector: f.selector.clone(),
                            value: v.clone(),
                            secret: false,
                        },
                        None => {
                            error(at, format!("fill: `{name}` is not one of this API's vars"));
                            continue;
                        }
                    },
                    (None, Some(name)) => match secrets.get(name) {
                        Some(v) => LoginStep::Fill {
                            selector: f.selector.clone(),
                            value: v.clone(),
                            secret: true,
                        },
                        // Never quoted: a secret written here literally would be shown.
                        None => {
                            error(at, "fill: `secret:` names none of this API's secrets (a secret is declared under `secrets:` as \"${ENV_VAR}\", and named here)".into());
                            continue;
                        }
                    },
                    _ => {
                        error(at, "fill: give exactly one of `var:` and `secret:`".into());
                        continue;
                    }
                }
            }
            StepFile::Click(sel) => LoginStep::Click(sel.clone()),
            StepFile::Consent(sel) => LoginStep::Consent(sel.clone()),
            StepFile::Wait(w) => match (&w.selector, &w.url) {
                (Some(sel), None) => LoginStep::WaitSelector(sel.clone()),
                (None, Some(u)) => LoginStep::WaitUrl(u.clone()),
                _ => {
                    error(
                        at,
                        "wait: give exactly one of `selector:` and `url:`".into(),
                    );
                    continue;
                }
            },
        };
        login.steps.push(step);
    }
    login
}

/// The origins a script's steps name (`wait: { url }`), with where: each must be allowed.
pub(crate) fn named_origins(
    file: &LoginFile,
) -> Vec<(Result<String, String>, crate::suite::yaml::Location)> {
    file.steps
        .iter()
        .filter_map(|s| match &s.value {
            StepFile::Wait(WaitFile { url: Some(u), .. }) => {
                Some((crate::origin::of(u), s.referenced))
            }
            _ => None,
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_redirect_is_matched_by_origin_and_path_only() {
        let r = redirect_uri_of(
            "http://127.0.0.1:1/o/authorize/?response_type=code&redirect_uri=https%3A%2F%2Fclient.example%2Fcb&state=s",
        )
        .unwrap();
        assert_eq!(r, "https://client.example/cb");
        assert!(is_redirect("https://client.example/cb?code=x&state=s", &r));
        assert!(is_redirect("https://client.example/cb#code=x", &r));
        assert!(!is_redirect("https://client.example/cb2?code=x", &r));
        assert!(!is_redirect("https://evil.example/cb?code=x", &r));
    }

    /// The second Ctrl-C's path: a browser busy in a login (its slot locked) is killed and its
    /// profile folder deleted, in well under the time a clean close could take.
    #[cfg(unix)]
    #[test]
    fn stop_now_kills_the_browsers_and_deletes_their_profiles_without_waiting() {
        let logins = Logins::new(None).unwrap();
        let key = "oauth2 profile x";
        let profile = logins.scratch.path().join(profile_dir_name(key));
        std::fs::create_dir_all(profile.join("Default")).unwrap();
        std::fs::write(profile.join("Default/Cookies"), "session").unwrap();
        let slot: Arc<tokio::sync::Mutex<Option<Live>>> = Arc::default();
        let _busy = slot.try_lock().unwrap();
        logins
            .live
            .lock()
            .unwrap()
            .insert(key.to_string(), slot.clone());
        // Stands in for Chromium: it would outlive the run if not killed.
        let mut browser = std::process::Command::new("sleep")
            .arg("30")
            .spawn()
            .unwrap();
        logins.pids.lock().unwrap().push(browser.id());
        let scratch = logins.scratch.path().to_path_buf();
        let started = std::time::Instant::now();
        logins.stop_now();
        let took = started.elapsed();
        let mut status = None;
        for _ in 0..50 {
            status = browser.try_wait().unwrap();
            if status.is_some() {
                break;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        if status.is_none() {
            let _ = browser.kill();
        }
        assert!(status.is_some_and(|s| !s.success()), "the browser runs on");
        assert!(took < Duration::from_secs(2), "{took:?}");
        assert!(!profile.exists(), "the profile folder is left");
        assert!(!scratch.exists(), "the scratch folder is left");
    }
}
