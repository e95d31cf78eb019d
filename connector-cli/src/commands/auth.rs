//! `connector auth`: per-user authorization for one user on this machine (`login`, `status`,
//! `logout`), and the stored-token wiring `connector run` / `connector test` use for per-user
//! specs.
//!
//! Identity in the token store: tokens are keyed by `(user, instance id, credential type)`.
//! The user is `--user`, else `$USER` (or `$USERNAME`), else `local` ([`resolve_user`]); the
//! instance id is `--instance`, else the spec's id (`.slack_api`); the credential type is
//! `oauth`. `login` and `run` resolve both the same way, so `run` finds what `login` stored.

use std::convert::Infallible;
use std::net::Ipv4Addr;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use anyhow::Context;
use clap::{Args, Subcommand};
use connector_runtime::oauth::{
    Authorization, CallbackParams, Connected, OAuthFlows, OAuthSettings, Revocation, StartOptions,
};
use connector_runtime::store::{Database, Stores, Timestamp, TokenRecord, UserTokenKey};
use connector_runtime::{ActionError, ConnectorInstance, InstanceRuntime};
use connector_spec::{AuthMode, LoadOptions, SpecLoader};
use http_body_util::Full;
use hyper::body::Bytes;
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;
use serde_json::json;
use tokio::net::TcpListener;
use tokio::sync::{mpsc, oneshot};

use super::store_args::TokenStoreArgs;
use crate::commands::instance::{Failed, Loaded, RunArgs, action_error, load, report};
use crate::output::{ColorChoice, Stream, emit};
use crate::{ListFormat, Outcome};

/// The user id when neither `--user` nor `$USER` / `$USERNAME` gives one.
pub const LOCAL_USER: &str = "local";
/// The path the provider redirects the browser to, on the login's loopback listener.
pub const CALLBACK_PATH: &str = "/callback";
/// Longest `--timeout`: a pending authorization (its state) lives 10 minutes.
const MAX_TIMEOUT_SECS: u64 = 600;
/// How long to let the browser receive the result page once the login has finished.
const PAGE_GRACE: Duration = Duration::from_secs(5);
/// The redirect URI given to the flow manager when no authorization is started (`run`,
/// `logout`): only `start` uses it.
const UNUSED_REDIRECT: &str = "http://127.0.0.1/callback";

const USER_HELP: &str =
    "The user the tokens belong to. Default: $USER, else $USERNAME, else `local`";
const INSTANCE_HELP: &str =
    "The instance id the tokens are stored under. Default: the spec's id (e.g. `.slack_api`)";

#[derive(Subcommand, Debug)]
pub enum AuthCommand {
    /// Authorize a per-user spec for the local user: print the URL, wait for the redirect
    #[command(
        long_about = "Run the OAuth 2.0 authorization code flow with PKCE (S256) for a per-user \
            spec (auth type oauth_authorization_code or ears) and store the tokens for the \
            local user.\n\n\
            The command listens on http://127.0.0.1:<port>/callback (the redirect URI; --port \
            picks the port, default: any free port), prints the authorization URL on stdout, \
            and waits for the provider to redirect the browser back. Open the URL in a browser \
            on this machine and approve. The code is exchanged with the PKCE verifier and the \
            tokens are stored encrypted in the token store; no token is ever printed.\n\n\
            The provider must accept the loopback redirect URI: most accept any port on \
            127.0.0.1 for native apps (RFC 8252); if yours needs the exact URI registered, \
            register http://127.0.0.1:<port>/callback and pass that --port.\n\n\
            The config file holds the auth settings (authorizationUrl, tokenUrl, clientId, \
            scope, ... or provider and earsBaseUrl for EARS), the secrets file the \
            clientSecret. Exit code 0 when the tokens are stored, 1 when the authorization \
            fails (refused, timed out, a code the provider does not accept), 2 on a usage \
            error (no spec, no encryption key).",
        after_help = "Examples:\n  \
            export CONNECTOR_KEY=\"$(connector keys generate)\"\n  \
            connector auth login specs/drive.yaml --config drive.json --secrets drive.secrets.json\n  \
            connector auth login specs/drive.yaml --config drive.json --secrets drive.secrets.json --port 8765\n  \
            connector auth login specs/drive.yaml --config drive.json --user ops --timeout 120"
    )]
    Login(LoginArgs),
    /// List the local user's stored tokens: connector, credential type, expiry, revoked
    #[command(
        long_about = "List what the token store holds for the local user: instance id, \
            credential type, state (valid, expired, revoked), access-token expiry and whether a \
            refresh token is held. Token values are never shown. An expired token with a \
            refresh token is refreshed by the next `connector run`; a revoked one needs a new \
            `connector auth login`. With a spec (or --instance), only that connector is listed.",
        after_help = "Examples:\n  \
            connector auth status\n  \
            connector auth status specs/drive.yaml\n  \
            connector auth status --format json --store ./connector.db"
    )]
    Status {
        /// Only this spec's tokens
        #[arg(value_name = "SPEC")]
        spec: Option<PathBuf>,
        #[arg(long, value_name = "ID", default_value = "", help = USER_HELP)]
        user: String,
        #[command(flatten)]
        store: TokenStoreArgs,
        #[arg(long, value_name = "ID", help = INSTANCE_HELP)]
        instance: Option<String>,
        /// Output format
        #[arg(long, value_enum, default_value_t = ListFormat::Table)]
        format: ListFormat,
    },
    /// Delete the local user's tokens for a connector
    #[command(
        long_about = "Delete every token the local user holds for the spec's connector \
            instance. With --config (EARS), the token is also revoked at the provider first; \
            when the provider does not confirm the revocation, the tokens are still deleted \
            here, a warning names the revocation endpoint that failed, and the exit code is 1. \
            Logging out when nothing is stored is not an error. Afterwards `connector run` on \
            the spec says to run `connector auth login` first.",
        after_help = "Examples:\n  \
            connector auth logout specs/drive.yaml\n  \
            connector auth logout specs/drive.yaml --config drive.json   # also revoke (EARS)"
    )]
    Logout {
        /// The spec file
        #[arg(value_name = "SPEC")]
        spec: PathBuf,
        /// Config JSON file; with it the token is revoked at the provider where possible
        #[arg(long, value_name = "FILE")]
        config: Option<PathBuf>,
        /// Secrets JSON file
        #[arg(long, value_name = "FILE")]
        secrets: Option<PathBuf>,
        #[arg(long, value_name = "ID", default_value = "", help = USER_HELP)]
        user: String,
        #[command(flatten)]
        store: TokenStoreArgs,
        #[arg(long, value_name = "ID", help = INSTANCE_HELP)]
        instance: Option<String>,
    },
}

/// `connector auth login` options.
#[derive(Args, Debug)]
pub struct LoginArgs {
    /// The spec file (auth type oauth_authorization_code or ears)
    #[arg(value_name = "SPEC")]
    spec: PathBuf,
    /// Config JSON file: the auth settings (may include `authType`)
    #[arg(long, value_name = "FILE")]
    config: Option<PathBuf>,
    /// Secrets JSON file (`clientSecret`)
    #[arg(long, value_name = "FILE")]
    secrets: Option<PathBuf>,
    #[arg(long, value_name = "ID", default_value = "", help = USER_HELP)]
    user: String,
    #[command(flatten)]
    store: TokenStoreArgs,
    #[arg(long, value_name = "ID", help = INSTANCE_HELP)]
    instance: Option<String>,
    /// Port of the 127.0.0.1 callback listener (0: any free port)
    #[arg(long, value_name = "PORT", default_value_t = 0)]
    port: u16,
    /// Seconds to wait for the provider's redirect (at most 600, the life of the request)
    #[arg(long, value_name = "SECONDS", default_value_t = 300,
          value_parser = clap::value_parser!(u64).range(1..=MAX_TIMEOUT_SECS))]
    timeout: u64,
}

pub async fn run(cmd: AuthCommand, color: ColorChoice) -> anyhow::Result<Outcome> {
    let result = match cmd {
        AuthCommand::Login(a) => login(a, color).await,
        AuthCommand::Status {
            spec,
            user,
            store,
            instance,
            format,
        } => status(spec.as_deref(), &user, store, instance, format, color).await,
        AuthCommand::Logout {
            spec,
            config,
            secrets,
            user,
            store,
            instance,
        } => {
            logout(
                &spec,
                config.as_deref(),
                secrets.as_deref(),
                &user,
                store,
                instance,
                color,
            )
            .await
        }
    };
    match result {
        Err(e) => match e.downcast_ref::<Failed>() {
            Some(Failed(ae)) => {
                report(ae);
                Ok(Outcome::Invalid)
            }
            None => Err(e),
        },
        ok => ok,
    }
}

// ---- identity and store, shared with `connector run` ----

fn valid_user(u: &str) -> bool {
    !u.is_empty() && u.len() <= 512 && !u.chars().any(char::is_control)
}

/// The local user: `$USER`, else `$USERNAME`, else [`LOCAL_USER`].
pub fn local_user() -> String {
    ["USER", "USERNAME"]
        .iter()
        .filter_map(|v| std::env::var(v).ok())
        .find(|u| valid_user(u))
        .unwrap_or_else(|| LOCAL_USER.to_string())
}

/// `--user` when given, else the local user.
pub fn resolve_user(given: &str) -> anyhow::Result<String> {
    if given.is_empty() {
        return Ok(local_user());
    }
    if !valid_user(given) {
        anyhow::bail!("--user must be 1 to 512 characters without control characters");
    }
    Ok(given.to_string())
}

async fn open_store(db: &Database) -> anyhow::Result<Stores> {
    Ok(TokenStoreArgs::open(db).await?.stores)
}

/// Give a per-user instance the tokens stored for `user` under `instance_id`, refreshed
/// through the flow manager when they expire. With no store file yet, the user has not
/// authorized anything: a `not_authorized` failure.
pub async fn with_stored_tokens(
    runtime: InstanceRuntime,
    instance: &ConnectorInstance,
    instance_id: &str,
    user: &str,
    store: Option<&Path>,
) -> anyhow::Result<InstanceRuntime> {
    let db = TokenStoreArgs {
        store: store.map(Path::to_path_buf),
        database_url: None,
    }
    .database()?;
    if !db.exists() {
        return Err(action_error(ActionError::auth(
            "not_authorized",
            format!(
                "user `{user}` has not authorized `{instance_id}`: authorize first (there is \
                 no token store at {db} yet)"
            ),
        )));
    }
    let store = open_store(&db).await?;
    let flows = flows(&store, UNUSED_REDIRECT)?;
    flows
        .register(instance_id, instance)
        .map_err(action_error)?;
    let provider = flows.user_auth(instance_id).map_err(action_error)?;
    Ok(runtime.with_user_auth(provider))
}

/// What to run to authorize: `connector auth login` with the options this run used.
pub fn login_hint(args: &RunArgs<'_>, user: &str) -> String {
    let mut cmd = format!("connector auth login {}", args.spec.display());
    if let Some(c) = args.config {
        cmd.push_str(&format!(" --config {}", c.display()));
    }
    if let Some(s) = args.secrets {
        cmd.push_str(&format!(" --secrets {}", s.display()));
    }
    if !args.user.is_empty() {
        cmd.push_str(&format!(" --user {}", args.user));
    }
    if let Some(s) = args.store {
        cmd.push_str(&format!(" --store {}", s.display()));
    }
    if let Some(i) = args.instance {
        cmd.push_str(&format!(" --instance {i}"));
    }
    format!("hint: run `{cmd}` first to authorize user `{user}`")
}

fn flows(stores: &Stores, redirect_uri: &str) -> anyhow::Result<Arc<OAuthFlows>> {
    let settings = OAuthSettings::new(redirect_uri).map_err(action_error)?;
    OAuthFlows::new(
        Arc::clone(&stores.tokens),
        Arc::clone(&stores.states),
        settings,
    )
    .map_err(action_error)
}

/// The spec's id, for commands that need no config. `Ok(None)`: the spec has errors (printed).
fn spec_id(spec: &Path, color: ColorChoice) -> anyhow::Result<Option<String>> {
    if !spec.is_file() {
        anyhow::bail!("{}: no such file", spec.display());
    }
    let loaded = SpecLoader::new(LoadOptions::default()).load_file(spec);
    if loaded.has_errors() {
        emit(
            Stream::Stderr,
            &loaded.render(color.enabled(Stream::Stderr)),
        );
        return Ok(None);
    }
    Ok(loaded.spec.map(|s| s.id))
}

// ---- login ----

/// A callback that carried the pending login's state, and where to send the result page.
struct Pending {
    params: CallbackParams,
    page: oneshot::Sender<(u16, String)>,
}

async fn login(a: LoginArgs, color: ColorChoice) -> anyhow::Result<Outcome> {
    let Some(Loaded { instance, .. }) =
        load(&a.spec, a.config.as_deref(), a.secrets.as_deref(), color)?
    else {
        return Ok(Outcome::Invalid);
    };
    require_per_user(&instance)?;
    let user = resolve_user(&a.user)?;
    let instance_id = a.instance.clone().unwrap_or(instance.spec.id.clone());
    let db = a.store.database()?;
    let store = open_store(&db).await?;

    let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, a.port))
        .await
        .with_context(|| format!("cannot listen on 127.0.0.1:{}", a.port))?;
    let port = listener.local_addr()?.port();
    let redirect_uri = format!("http://127.0.0.1:{port}{CALLBACK_PATH}");
    let flows = flows(&store, &redirect_uri)?;
    flows
        .register(&instance_id, &instance)
        .map_err(action_error)?;
    let started = flows
        .start(&instance_id, &user, StartOptions::default())
        .await
        .map_err(action_error)?;

    let (tx, rx) = mpsc::channel::<Pending>(1);
    let (finished_tx, finished_rx) = oneshot::channel::<()>();
    let server = tokio::spawn(serve(
        listener,
        started.state.clone(),
        tx,
        Arc::new(Mutex::new(Some(finished_tx))),
    ));
    print_login_instructions(&instance_id, &user, &started, &redirect_uri, a.timeout);
    let result = await_callback(&flows, &instance_id, &user, rx, finished_rx, a.timeout).await;
    server.abort();
    let connected = match result {
        Ok(c) => c,
        Err(e) => {
            // The pending authorization is useless now; a late redirect must find nothing.
            let _ = flows.cancel(&user, &started.state).await;
            return Err(action_error(e));
        }
    };
    report_authorized(&store, &db, &a.spec, &instance_id, &user, &connected).await;
    Ok(Outcome::Success)
}

/// `connector auth login` only serves the per-user auth types; a shared one is refused.
fn require_per_user(instance: &ConnectorInstance) -> anyhow::Result<()> {
    if instance.auth_mode() != AuthMode::PerUser {
        return Err(action_error(ActionError::user(
            "not_per_user",
            format!(
                "`{}` uses auth type `{}`, which is shared: give its credentials to `connector \
                 run` with --secrets. `connector auth login` is for the per-user auth types \
                 oauth_authorization_code and ears",
                instance.spec.id, instance.auth_type
            ),
        )));
    }
    Ok(())
}

/// The URL to open (stdout) and what the login waits for (stderr).
fn print_login_instructions(
    instance_id: &str,
    user: &str,
    started: &Authorization,
    redirect_uri: &str,
    timeout: u64,
) {
    emit(
        Stream::Stdout,
        &format!(
            "Open this URL in a browser to authorize `{instance_id}` as user `{user}`:\n\n    \
             {}\n\n",
            started.authorization_url
        ),
    );
    emit(
        Stream::Stderr,
        &format!(
            "waiting up to {timeout} s for the provider to redirect to {redirect_uri} (Ctrl-C to \
             cancel)\n"
        ),
    );
}

/// Wait for the provider's redirect (finishing the flow with it and answering the browser),
/// the timeout, or Ctrl-C, whichever comes first.
async fn await_callback(
    flows: &OAuthFlows,
    instance_id: &str,
    user: &str,
    mut rx: mpsc::Receiver<Pending>,
    finished_rx: oneshot::Receiver<()>,
    timeout_secs: u64,
) -> Result<Connected, ActionError> {
    let timeout = tokio::time::sleep(Duration::from_secs(timeout_secs));
    tokio::select! {
        pending = rx.recv() => match pending {
            Some(p) => finish_callback(flows, instance_id, user, p, finished_rx).await,
            None => Err(ActionError::system("callback_listener_failed", "the callback listener stopped")),
        },
        _ = timeout => Err(ActionError::auth(
            "login_timeout",
            format!(
                "no redirect from the provider within {timeout_secs} s: run `connector auth login` again \
                 and finish the authorization in the browser sooner (--timeout)"
            ),
        )),
        _ = tokio::signal::ctrl_c() => Err(ActionError::user("login_cancelled", "the login was cancelled")),
    }
}

/// Finish the flow with the callback's parameters and send the browser its result page.
async fn finish_callback(
    flows: &OAuthFlows,
    instance_id: &str,
    user: &str,
    p: Pending,
    finished_rx: oneshot::Receiver<()>,
) -> Result<Connected, ActionError> {
    let r = flows.callback(user, p.params).await;
    let page = match &r {
        Ok(_) => (
            200,
            page(
                "Authorized",
                &format!(
                    "`{instance_id}` is authorized for user `{user}`. You can close this \
                     window and return to the terminal."
                ),
            ),
        ),
        Err(e) => (
            400,
            page(
                "Authorization failed",
                &format!("{} [{}]: {}", e.class.as_str(), e.code, e.message),
            ),
        ),
    };
    let _ = p.page.send(page);
    // Let the browser receive the page before the process exits.
    let _ = tokio::time::timeout(PAGE_GRACE, finished_rx).await;
    r
}

/// Say what was stored, where, and that `connector run` now acts as the user.
async fn report_authorized(
    store: &Stores,
    db: &Database,
    spec: &Path,
    instance_id: &str,
    user: &str,
    connected: &Connected,
) {
    let record = store
        .tokens
        .get_user_token(&UserTokenKey::oauth(user, instance_id))
        .await
        .ok()
        .flatten();
    let details = record.as_ref().map(describe_token).unwrap_or_default();
    emit(
        Stream::Stdout,
        &format!(
            "authorized: user `{user}` on `{instance_id}` (token {}{details}), stored in {}\n\
             `connector run {}` now acts as `{user}`\n",
            connected.token_id,
            db,
            spec.display(),
        ),
    );
}

fn describe_token(r: &TokenRecord) -> String {
    let expiry = match r.expires_at {
        Some(t) => format!(", access token expires {}", format_time(t)),
        None => String::new(),
    };
    let refresh = if r.refresh_token.is_some() {
        ", refreshable"
    } else {
        ", no refresh token"
    };
    format!("{expiry}{refresh}")
}

/// Accept connections on the callback listener until the login ends (the task is aborted).
async fn serve(
    listener: TcpListener,
    state: String,
    tx: mpsc::Sender<Pending>,
    finished: Arc<Mutex<Option<oneshot::Sender<()>>>>,
) {
    loop {
        let Ok((sock, _)) = listener.accept().await else {
            // Out of file descriptors or similar: do not spin.
            tokio::time::sleep(Duration::from_millis(50)).await;
            continue;
        };
        let (state, tx, finished) = (state.clone(), tx.clone(), Arc::clone(&finished));
        tokio::spawn(async move {
            let carried = Arc::new(AtomicBool::new(false));
            let svc = {
                let carried = Arc::clone(&carried);
                service_fn(move |req| {
                    let (state, tx, carried) = (state.clone(), tx.clone(), Arc::clone(&carried));
                    async move {
                        let (status, body) = handle(req, &state, &tx, &carried).await;
                        Ok::<_, Infallible>(
                            hyper::Response::builder()
                                .status(status)
                                .header("content-type", "text/html; charset=utf-8")
                                .header("cache-control", "no-store")
                                .header("referrer-policy", "no-referrer")
                                .body(Full::new(Bytes::from(body)))
                                .unwrap_or_default(),
                        )
                    }
                })
            };
            // One request per connection: the connection closes once the page is written.
            let _ = hyper::server::conn::http1::Builder::new()
                .keep_alive(false)
                .serve_connection(TokioIo::new(sock), svc)
                .await;
            if carried.load(Ordering::SeqCst)
                && let Some(done) = finished.lock().expect("not poisoned").take()
            {
                let _ = done.send(());
            }
        });
    }
}

async fn handle(
    req: hyper::Request<hyper::body::Incoming>,
    state: &str,
    tx: &mpsc::Sender<Pending>,
    carried: &AtomicBool,
) -> (u16, String) {
    if req.uri().path() != CALLBACK_PATH {
        return (
            404,
            page("Not found", "This listener only serves the OAuth callback."),
        );
    }
    let params = CallbackParams::from_query(req.uri().query().unwrap_or_default());
    if params.state.as_deref() != Some(state) {
        // Not this login's redirect (a stale tab, or a forged request): ignored.
        tracing::debug!("callback with another state ignored");
        return (
            400,
            page(
                "Unknown request",
                "This callback does not belong to the pending login; it was ignored.",
            ),
        );
    }
    let (page_tx, page_rx) = oneshot::channel();
    let pending = Pending {
        params,
        page: page_tx,
    };
    if tx.try_send(pending).is_err() {
        return (
            409,
            page(
                "Already handled",
                "This login has already received its callback.",
            ),
        );
    }
    carried.store(true, Ordering::SeqCst);
    page_rx.await.unwrap_or_else(|_| {
        (
            500,
            page("Login ended", "The login ended before finishing."),
        )
    })
}

fn html_escape(s: &str) -> String {
    s.chars()
        .map(|c| match c {
            '<' => "&lt;".to_string(),
            '>' => "&gt;".to_string(),
            '&' => "&amp;".to_string(),
            '"' => "&quot;".to_string(),
            '\'' => "&#39;".to_string(),
            c => c.to_string(),
        })
        .collect()
}

fn page(title: &str, message: &str) -> String {
    format!(
        "<!doctype html><html><head><meta charset=\"utf-8\"><title>{t}</title></head>\
         <body><h1>{t}</h1><p>{m}</p></body></html>\n",
        t = html_escape(title),
        m = html_escape(message)
    )
}

// ---- status ----

async fn status(
    spec: Option<&Path>,
    user: &str,
    store: TokenStoreArgs,
    instance: Option<String>,
    format: ListFormat,
    color: ColorChoice,
) -> anyhow::Result<Outcome> {
    let user = resolve_user(user)?;
    let filter = match (instance, spec) {
        (Some(i), _) => Some(i),
        (None, Some(spec)) => match spec_id(spec, color)? {
            Some(id) => Some(id),
            None => return Ok(Outcome::Invalid),
        },
        (None, None) => None,
    };
    let db = store.database()?;
    let tokens = stored_tokens(&db, &user).await?;
    let tokens: Vec<&TokenRecord> = tokens
        .iter()
        .filter(|t| filter.as_deref().is_none_or(|f| t.connector_id == f))
        .collect();
    let now = Timestamp::now();
    let out = match format {
        ListFormat::Json => status_json(&user, &tokens, now),
        ListFormat::Table => status_table(&user, &db, filter.as_deref(), &tokens, now),
    };
    emit(Stream::Stdout, &out);
    Ok(Outcome::Success)
}

/// The user's tokens in the store at `db`; none when there is no store file yet.
async fn stored_tokens(db: &Database, user: &str) -> anyhow::Result<Vec<TokenRecord>> {
    if !db.exists() {
        return Ok(Vec::new());
    }
    let store = open_store(db).await?;
    store
        .tokens
        .list_user_tokens(user)
        .await
        .map_err(|e| action_error(e.into()))
}

/// `status --format json`: one object per token.
fn status_json(user: &str, tokens: &[&TokenRecord], now: Timestamp) -> String {
    let rows: Vec<_> = tokens
        .iter()
        .map(|t| {
            json!({
                "user": user,
                "instance": t.connector_id,
                "credentialType": t.credential_type,
                "tokenId": t.id.to_string(),
                "state": token_state(t, now),
                "expiresAt": t.expires_at.map(format_time),
                "refreshable": t.refresh_token.is_some(),
                "revoked": t.revoked,
                "scope": t.scope,
                "updatedAt": format_time(t.updated_at),
            })
        })
        .collect();
    let text = serde_json::to_string_pretty(&rows).unwrap_or_else(|_| "[]".into());
    format!("{text}\n")
}

/// `status --format table`: a heading line, then the tokens' table or a hint to log in.
fn status_table(
    user: &str,
    db: &Database,
    filter: Option<&str>,
    tokens: &[&TokenRecord],
    now: Timestamp,
) -> String {
    let mut out = format!("user `{user}`, token store {db}\n");
    if tokens.is_empty() {
        out.push_str(&match filter {
            Some(f) => format!(
                "no tokens stored for `{f}`: run `connector auth login <spec>` to \
                 authorize\n"
            ),
            None => {
                "no tokens stored: run `connector auth login <spec>` to authorize\n".to_string()
            }
        });
    } else {
        let rows: Vec<[String; 6]> = tokens.iter().map(|t| token_row(t, now)).collect();
        out.push_str(&table(
            &[
                "INSTANCE",
                "CREDENTIAL",
                "STATE",
                "EXPIRES",
                "REFRESH",
                "UPDATED",
            ],
            &rows,
        ));
    }
    out
}

/// One token's cells in the status table.
fn token_row(t: &TokenRecord, now: Timestamp) -> [String; 6] {
    [
        t.connector_id.clone(),
        t.credential_type.clone(),
        token_state(t, now).to_string(),
        t.expires_at
            .map(format_time)
            .unwrap_or_else(|| "-".to_string()),
        if t.refresh_token.is_some() {
            "yes"
        } else {
            "no"
        }
        .to_string(),
        format_time(t.updated_at),
    ]
}

/// Left-aligned columns two spaces apart, the last one unpadded.
fn table<const N: usize>(header: &[&str; N], rows: &[[String; N]]) -> String {
    let mut widths: Vec<usize> = header.iter().map(|h| h.len()).collect();
    for r in rows {
        for (w, c) in widths.iter_mut().zip(r) {
            *w = (*w).max(c.chars().count());
        }
    }
    let line = |cells: Vec<&str>| {
        let mut l = String::new();
        for (i, (c, w)) in cells.iter().zip(&widths).enumerate() {
            if i + 1 == cells.len() {
                l.push_str(c);
            } else {
                l.push_str(&format!("{c:<w$}  "));
            }
        }
        l.push('\n');
        l
    };
    let mut out = line(header.to_vec());
    for r in rows {
        out.push_str(&line(r.iter().map(String::as_str).collect()));
    }
    out
}

/// `revoked` (authorize again), `expired` (the next run refreshes it, if it can) or `valid`.
fn token_state(t: &TokenRecord, now: Timestamp) -> &'static str {
    if t.revoked {
        "revoked"
    } else if t.expires_at.is_some_and(|e| e <= now) {
        "expired"
    } else {
        "valid"
    }
}

/// `YYYY-MM-DD HH:MM:SS UTC`.
pub(crate) fn format_time(t: Timestamp) -> String {
    let secs = t.as_millis().div_euclid(1000);
    let (days, rem) = (secs.div_euclid(86_400), secs.rem_euclid(86_400));
    // Civil date from days since 1970-01-01 (H. Hinnant's algorithm).
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!(
        "{year:04}-{month:02}-{day:02} {:02}:{:02}:{:02} UTC",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60
    )
}

// ---- logout ----

async fn logout(
    spec: &Path,
    config: Option<&Path>,
    secrets: Option<&Path>,
    user: &str,
    store: TokenStoreArgs,
    instance: Option<String>,
    color: ColorChoice,
) -> anyhow::Result<Outcome> {
    let user = resolve_user(user)?;
    // With a config, the connector is registered so the flow manager can revoke the token at
    // the provider (EARS) before deleting it.
    let loaded = if config.is_some() {
        match load(spec, config, secrets, color)? {
            Some(l) => Some(l.instance),
            None => return Ok(Outcome::Invalid),
        }
    } else {
        None
    };
    let instance_id = match (instance, &loaded) {
        (Some(i), _) => i,
        (None, Some(inst)) => inst.spec.id.clone(),
        (None, None) => match spec_id(spec, color)? {
            Some(id) => id,
            None => return Ok(Outcome::Invalid),
        },
    };
    let db = store.database()?;
    let (deleted, revocation) = if db.exists() {
        let store = open_store(&db).await?;
        let flows = flows(&store, UNUSED_REDIRECT)?;
        if let Some(inst) = &loaded {
            flows.register(&instance_id, inst).map_err(action_error)?;
        }
        let done = flows
            .disconnect_reporting(&instance_id, &user)
            .await
            .map_err(action_error)?;
        (done.deleted, done.revocation)
    } else {
        (0, Revocation::NotAttempted)
    };
    // Deleted locally either way; a provider that still honours the token must be said.
    match &revocation {
        Revocation::Failed(why) => emit(
            Stream::Stderr,
            &format!(
                "warning: {why}; the token was deleted here but may still be valid at the \
                 provider: revoke it there (in the account's security settings)\n"
            ),
        ),
        Revocation::Revoked => emit(Stream::Stderr, "revoked the token at the provider\n"),
        Revocation::NotAttempted => {}
    }
    if deleted == 0 {
        emit(
            Stream::Stdout,
            &format!("nothing to delete: user `{user}` has no tokens for `{instance_id}`\n"),
        );
    } else {
        emit(
            Stream::Stdout,
            &format!(
                "logged out: deleted {deleted} token{} of user `{user}` for `{instance_id}`\n",
                if deleted == 1 { "" } else { "s" }
            ),
        );
    }
    if matches!(revocation, Revocation::Failed(_)) {
        return Ok(Outcome::Invalid);
    }
    Ok(Outcome::Success)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_utc_times() {
        assert_eq!(format_time(Timestamp(0)), "1970-01-01 00:00:00 UTC");
        // 2024-02-29 12:34:56 UTC (a leap day).
        assert_eq!(
            format_time(Timestamp(1_709_210_096_000)),
            "2024-02-29 12:34:56 UTC"
        );
        assert_eq!(format_time(Timestamp(-1_000)), "1969-12-31 23:59:59 UTC");
    }

    #[test]
    fn escapes_html() {
        assert_eq!(
            page("<t>", "a & \"b\""),
            "<!doctype html><html><head><meta charset=\"utf-8\"><title>&lt;t&gt;</title></head>\
             <body><h1>&lt;t&gt;</h1><p>a &amp; &quot;b&quot;</p></body></html>\n"
        );
    }

    #[test]
    fn an_explicit_user_wins_and_bad_ones_are_refused() {
        assert_eq!(resolve_user("alice").unwrap(), "alice");
        assert!(resolve_user("a\nb").is_err());
        assert!(!resolve_user("").unwrap().is_empty());
    }
}
