//! The spec, config and secrets a command runs against: reading them, building the instance,
//! and reporting an action's failure.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::{Context, bail};
use connector_runtime::{ActionError, ConnectorInstance, Registry};
use connector_spec::{LoadOptions, SpecLoader};
use serde_json::Value;

use crate::output::{ColorChoice, Stream, emit};

/// The options `run` and `test` share: the instance's config and secrets, and who calls.
#[derive(clap::Args, Debug)]
pub struct InstanceArgs {
    /// Config JSON file (may include `authType`)
    #[arg(long, value_name = "FILE")]
    pub config: Option<PathBuf>,
    /// Secrets JSON file
    #[arg(long, value_name = "FILE")]
    pub secrets: Option<PathBuf>,
    /// The calling user's id. Per-user specs default to the local user (see `connector auth`)
    #[arg(long, value_name = "ID", default_value = "")]
    pub user: String,
    /// Token store of per-user specs (default as for `connector auth`)
    #[arg(long, value_name = "PATH")]
    pub store: Option<PathBuf>,
    /// Instance id the per-user tokens are stored under (default: the spec's id)
    #[arg(long, value_name = "ID")]
    pub instance: Option<String>,
}

impl InstanceArgs {
    /// These options applied to the spec file `spec`.
    pub fn for_spec<'a>(&'a self, spec: &'a Path) -> RunArgs<'a> {
        RunArgs {
            spec,
            config: self.config.as_deref(),
            secrets: self.secrets.as_deref(),
            user: &self.user,
            store: self.store.as_deref(),
            instance: self.instance.as_deref(),
        }
    }
}

/// What to run.
pub struct RunArgs<'a> {
    pub spec: &'a Path,
    pub config: Option<&'a Path>,
    pub secrets: Option<&'a Path>,
    /// The calling user; empty means the local user on a per-user spec (and no user on a
    /// shared one).
    pub user: &'a str,
    /// The token store (per-user specs); `None` is the default location.
    pub store: Option<&'a Path>,
    /// The instance id the tokens are stored under; `None` is the spec's id.
    pub instance: Option<&'a str>,
}

pub(crate) fn read_json(path: Option<&Path>, what: &str) -> anyhow::Result<Value> {
    let Some(path) = path else {
        return Ok(Value::Object(Default::default()));
    };
    let text = std::fs::read_to_string(path)
        .with_context(|| format!("cannot read the {what} file {}", path.display()))?;
    // Never echo the file: a secrets file that does not parse must not be printed.
    serde_json::from_str(&text).map_err(|e| {
        anyhow::anyhow!(
            "the {what} file {} is not valid JSON (line {}, column {})",
            path.display(),
            e.line(),
            e.column()
        )
    })
}

/// `--input` is inline JSON or `@file`.
pub fn parse_input(input: Option<&str>) -> anyhow::Result<Value> {
    let Some(input) = input else {
        return Ok(Value::Object(Default::default()));
    };
    let (text, origin) = match input.strip_prefix('@') {
        Some(path) => (
            std::fs::read_to_string(path)
                .with_context(|| format!("cannot read the input file {path}"))?,
            PathBuf::from(path).display().to_string(),
        ),
        None => (input.to_string(), "--input".to_string()),
    };
    serde_json::from_str(&text).map_err(|e| anyhow::anyhow!("{origin} is not valid JSON: {e}"))
}

/// A loaded spec and its instance, before any runtime is built.
pub(crate) struct Loaded {
    pub dispatcher: Arc<connector_runtime::Dispatcher>,
    pub instance: ConnectorInstance,
}

/// Load and validate the spec, read the config and secrets, and build the instance.
/// `Ok(None)`: the spec has errors (printed).
pub(crate) fn load(
    spec: &Path,
    config: Option<&Path>,
    secrets: Option<&Path>,
    color: ColorChoice,
) -> anyhow::Result<Option<Loaded>> {
    if !spec.is_file() {
        bail!("{}: no such file", spec.display());
    }
    let loaded = SpecLoader::new(LoadOptions::default()).load_file(spec);
    if loaded.has_errors() {
        emit(
            Stream::Stderr,
            &loaded.render(color.enabled(Stream::Stderr)),
        );
        return Ok(None);
    }
    let spec = loaded.spec.expect("no errors means a spec");
    let config = read_json(config, "config")?;
    let secrets = read_json(secrets, "secrets")?;
    let mut registry = Registry::with_builtins();
    let dispatcher = registry
        .register_spec(spec)
        .map_err(|e| anyhow::anyhow!("{e}"))?;
    let instance = ConnectorInstance::new(Arc::clone(dispatcher.spec()), config, secrets)
        .map_err(action_error)?;
    Ok(Some(Loaded {
        dispatcher,
        instance,
    }))
}

/// A runtime error becomes an "action failed" outcome, printed with its class and status.
pub(crate) fn action_error(e: ActionError) -> anyhow::Error {
    anyhow::Error::new(Failed(e))
}

#[derive(Debug)]
pub(crate) struct Failed(pub ActionError);

impl std::fmt::Display for Failed {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}", self.0)
    }
}

impl std::error::Error for Failed {}

pub(crate) fn report(e: &ActionError) {
    let status = e.status.map(|s| format!(" (HTTP {s})")).unwrap_or_default();
    emit(
        Stream::Stderr,
        &format!(
            "error: {}{status} [{}]: {}\n",
            e.class.as_str(),
            e.code,
            e.message
        ),
    );
}
