//! `connector`: validate, inspect and export declarative connector specs.
//!
//! Exit codes: 0 success, 1 validation failure (a spec has errors), 2 usage or I/O error of
//! the CLI itself (bad arguments, unreadable directory, no spec files, refusing to overwrite).

mod catalog;
mod commands;
mod output;
mod specs;
mod telemetry;

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand, ValueEnum};
use connector_spec::AuthTypeId;

use crate::output::ColorChoice;

/// mimalloc instead of the system allocator: listings parse every reply into JSON values, a
/// small allocation per key and string, and glibc's malloc was a quarter of `connector run
/// --all-pages` (see docs/decisions/0015-mimalloc.md and docs/performance.md).
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[derive(Parser, Debug)]
#[command(
    name = "connector",
    version,
    about = "Validate, inspect, export and run declarative connector specs",
    long_about = "Validate, inspect and export declarative connector specs.\n\n\
        A connector spec is a YAML file that declares one connector: its metadata, auth types, \
        config and secrets schemas, policies and actions. See docs/spec-format.md.\n\n\
        Exit codes: 0 success, 1 a spec has errors, 2 usage or I/O error.",
    after_help = "Examples:\n  \
        connector validate specs/ --strict\n  \
        connector new my_service --auth bearer\n  \
        connector schema specs/slack_api.yaml --out slack_api.schema.json\n  \
        connector export specs/ --out dist/catalog\n  \
        connector list\n  \
        connector auth login specs/drive.yaml --config drive.json"
)]
struct Cli {
    /// When to colour output: auto (only on a terminal, and not when NO_COLOR is set), always, never
    #[arg(long, value_enum, default_value_t = ColorChoice::Auto, global = true)]
    color: ColorChoice,

    /// Log line format on stderr: text, or json (one object per line, for log collectors)
    #[arg(long, value_enum, default_value_t = LogFormat::Text, global = true)]
    log_format: LogFormat,

    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Check spec files and report every problem with file:line:col
    #[command(
        long_about = "Check spec files and report every problem with file:line:col.\n\n\
            Directories are searched recursively for *.yaml and *.yml files. Warnings (for \
            example a string input without maxLength) do not fail the check unless --strict \
            is given. Exit code 0 when there are no errors, 1 when any file has an error.",
        after_help = "Examples:\n  \
            connector validate specs/\n  \
            connector validate specs/ --strict\n  \
            connector validate specs/slack_api.yaml --format json\n  \
            connector validate specs/ --format github   # annotations in GitHub Actions"
    )]
    Validate {
        /// Spec files or directories to check
        #[arg(required = true, value_name = "PATH")]
        paths: Vec<PathBuf>,
        /// Output format
        #[arg(long, value_enum, default_value_t = Format::Human)]
        format: Format,
        /// Treat warnings as errors
        #[arg(long)]
        strict: bool,
    },
    /// Print the JSON Schema document (with x-ui hints and uiSchema) of one connector
    #[command(
        long_about = "Print the JSON Schema document of one connector: its config, secrets, \
            auth and action schemas (JSON Schema 2020-12 with x-ui hints) and a \
            react-jsonschema-form uiSchema for each form. An invalid spec prints its \
            diagnostics to stderr and exits with 1.",
        after_help = "Examples:\n  \
            connector schema specs/slack_api.yaml\n  \
            connector schema specs/slack_api.yaml --out slack_api.schema.json"
    )]
    Schema {
        /// The spec file
        #[arg(value_name = "SPEC")]
        spec: PathBuf,
        /// Write the document to this file instead of stdout
        #[arg(long, value_name = "FILE")]
        out: Option<PathBuf>,
    },
    /// Validate specs and write the connector catalog (index, manifest, one schema per connector)
    #[command(
        long_about = "Validate every spec, then write the catalog under --out: index.json, \
            connectors/<id>.json (one schema document per connector), specs/<id>.yaml (the spec \
            sources, so that `connector serve --catalog` can load the connectors) and \
            manifest.json (the catalog version, the minimum runtime version, the connectors' \
            behaviour fingerprints, and every other file with its size and SHA-256). With \
            --sign, manifest.sig holds an Ed25519 signature over the manifest, which therefore \
            covers every file (see docs/catalog.md). If any spec has an error, nothing is \
            written and the exit code is 1. Output is byte-identical for the same specs.",
        after_help = "Examples:\n  \
            connector export specs/ --out dist/catalog\n  \
            connector export specs/ --strict --out dist/catalog\n  \
            connector keys generate-signing --out keys/\n  \
            connector export specs/ --out dist/catalog --catalog-version 2026.12.0 --sign keys/catalog-signing.key"
    )]
    Export(commands::export::ExportArgs),
    /// Check or sign an exported catalog: verify, sign
    #[command(
        subcommand,
        long_about = "Work with a catalog directory as `connector export` writes it (see \
            docs/catalog.md). `verify` checks the manifest's signature under a public key, \
            every file against the manifest, and the runtime version the catalog needs, and \
            names each mismatch; `sign` (re)signs a catalog whose files match its manifest, \
            for a mirror that signs with its own key.",
        after_help = "Examples:\n  \
            connector catalog verify dist/catalog --key keys/catalog-signing.pub\n  \
            connector catalog sign mirror/catalog --key mirror.key"
    )]
    Catalog(commands::catalog::CatalogCommand),
    /// List connectors: id, license, auth types and actions
    #[command(
        long_about = "List connectors in a table: id, minimum license, auth types (per-user \
            auth types are marked \"(per-user)\") and action names. Specs with errors are \
            reported on stderr and make the exit code 1.",
        after_help = "Examples:\n  \
            connector list\n  \
            connector list specs/ other-specs/\n  \
            connector list --format json"
    )]
    List {
        /// Spec files or directories
        #[arg(value_name = "PATH", default_value = "specs")]
        paths: Vec<PathBuf>,
        /// Output format
        #[arg(long, value_enum, default_value_t = ListFormat::Table)]
        format: ListFormat,
    },
    /// Run one action of a spec against the real API and print its output as JSON
    #[command(
        long_about = "Run one action of a spec and print its output as JSON on stdout.\n\n\
            Config and secrets are JSON files; the config may carry `authType` to pick one of \
            the spec's auth types (default: the recommended one, else the first). The input is \
            validated against the action's input schema. Paginated actions return the first \
            page unless --all-pages is given. Streaming actions print one JSON event per line \
            as it arrives. On failure the error class, HTTP status and message are printed to \
            stderr (never a secret) and the exit code is 1.\n\n\
            A per-user spec (oauth_authorization_code, ears) acts as the local user with the \
            tokens `connector auth login` stored, refreshing them when they expire.",
        after_help = "Examples:\n  \
            connector run specs/slack_api.yaml postMessage --secrets slack.secrets.json \\\n      \
            --input '{\"channels\": [\"C123\"], \"text\": \"hello\"}'\n  \
            connector run specs/jira.yaml issues --config jira.json --secrets jira.secrets.json \\\n      \
            --input @query.json --all-pages\n  \
            connector auth login specs/drive.yaml --config drive.json --secrets drive.secrets.json\n  \
            connector run specs/drive.yaml listFiles --config drive.json --secrets drive.secrets.json"
    )]
    Run {
        /// The spec file
        #[arg(value_name = "SPEC")]
        spec: PathBuf,
        /// The action to run
        #[arg(value_name = "ACTION")]
        action: String,
        #[command(flatten)]
        target: commands::instance::InstanceArgs,
        /// Action input: inline JSON or @file
        #[arg(long, value_name = "JSON|@FILE")]
        input: Option<String>,
        /// Follow pagination and print every record, page by page as they arrive
        #[arg(long)]
        all_pages: bool,
        /// json: one document (a listing is an array, one record per line); ndjson: one JSON
        /// value per line. Streaming actions print one event per line either way
        #[arg(long, value_enum, default_value_t = commands::records::OutputFormat::Json)]
        output: commands::records::OutputFormat,
    },
    /// Run a spec's connection check
    #[command(
        long_about = "Run the spec's connection test with the given config and secrets. Exit code \
            0 when the check passes, 1 with the error class, status and message when it fails.",
        after_help = "Examples:\n  \
            connector test specs/jira.yaml --config jira.json --secrets jira.secrets.json"
    )]
    Test {
        /// The spec file
        #[arg(value_name = "SPEC")]
        spec: PathBuf,
        #[command(flatten)]
        target: commands::instance::InstanceArgs,
    },
    /// Scaffold a new spec file that validates clean
    #[command(
        long_about = "Scaffold <DIR>/<NAME>.yaml: connector id .<NAME>, a base URL, one sample \
            action with a bounded input, a connection test and the yaml-language-server \
            modeline for editor completion. NAME may use a-z, 0-9, _ and -. An existing file \
            is never overwritten.",
        after_help = "Examples:\n  \
            connector new my_service\n  \
            connector new my_service --auth api_key_header\n  \
            connector new my_service --dir specs --auth oauth_authorization_code"
    )]
    New {
        /// Connector name: a-z, 0-9, _ and -, at most 63 characters
        #[arg(value_name = "NAME")]
        name: String,
        /// Directory to create the spec in
        #[arg(long, value_name = "DIR", default_value = "specs")]
        dir: PathBuf,
        /// Auth type of the new connector
        #[arg(long, value_name = "TYPE", default_value = "bearer", value_parser = parse_auth_type)]
        auth: AuthTypeId,
    },
    /// Manage keys: the token store's (generate, status, rotate) and catalog signing keys
    /// (generate-signing)
    #[command(
        subcommand,
        long_about = "Manage the keys that encrypt the token store at rest (access and refresh \
            tokens, PKCE verifiers, connector secrets; XChaCha20-Poly1305). The keyring comes \
            from CONNECTOR_KEY or the file named by CONNECTOR_KEY_FILE: `id:base64` entries, \
            the first one active. See docs/token-store.md. `generate-signing` writes an Ed25519 \
            key pair for signing catalogs (docs/catalog.md).",
        after_help = "Examples:\n  \
            connector keys generate --id k1\n  \
            connector keys status\n  \
            CONNECTOR_KEY=\"k2:NEW,k1:OLD\" connector keys rotate\n  \
            connector keys generate-signing --out keys/"
    )]
    Keys(commands::keys::KeysCommand),
    /// Start the HTTP server: connector instances, actions, per-user OAuth, API-key users
    #[command(
        long_about = "Start the HTTP server (see docs/server-api.md). Embedded defaults: data \
            directory $CONNECTOR_HOME or ./.connector (SQLite store connector.db; operator key \
            operator.key generated on first start unless CONNECTOR_KEY or CONNECTOR_KEY_FILE is \
            set), specs from ./specs, listening on 127.0.0.1:8080. With --catalog and \
            --catalog-key, the connectors come from a signed catalog instead, and the server \
            refuses to start unless it verifies (docs/catalog.md). Stops on Ctrl-C or SIGTERM \
            after in-flight requests finish.",
        after_help = "Examples:\n  \
            connector serve\n  \
            connector users add alice --admin\n  \
            connector serve --listen 0.0.0.0:8080 --public-base-url https://connectors.example.com\n  \
            connector serve --catalog /srv/catalog --catalog-key /etc/connector/catalog.pub"
    )]
    Serve(commands::serve::ServeArgs),
    /// Manage the server's users and their API keys: add, list, remove, disable, enable,
    /// rotate-key, keys
    #[command(
        subcommand,
        long_about = "Manage the server's users and their API keys (see docs/operations.md). \
            Works on the data directory's connector.db while the server runs; a change takes \
            effect on the server's next request. Only key hashes are stored: a key is printed \
            once, when it is created.",
        after_help = "Examples:\n  \
            connector users add alice --expires 90d\n  \
            connector users rotate-key alice\n  \
            connector users keys add alice --key-name ci --expires 30d\n  \
            connector users disable alice\n  \
            connector users remove alice"
    )]
    Users(commands::users::UsersCommand),
    /// Read the server's audit trail: who ran what, as whom, when, and how it ended
    #[command(
        long_about = "Read the audit trail `connector serve` keeps in its data directory: one \
            event per action run, connection test, instance change, OAuth start, connect, \
            disconnect and cancel, user and key change, and refused authentication, with who \
            did it, on whose behalf, the instance and action, when, how long it took and the \
            outcome class. Never an input value, an output or a secret. Newest first; the same \
            filters as GET /api/audit. Events are kept --audit-retention-days (serve), 90 by \
            default. See docs/operations.md.",
        after_help = "Examples:\n  \
            connector audit --since 24h\n  \
            connector audit --user alice --outcome denied\n  \
            connector audit --instance jira-prod --operation action.run --json"
    )]
    Audit(commands::audit::AuditArgs),
    /// Authorize per-user connectors for the local user: login, status, logout
    #[command(
        subcommand,
        long_about = "Per-user authorization for one user on this machine.\n\n\
            `login` runs the OAuth 2.0 authorization code flow with PKCE (or EARS) for a \
            per-user spec: it listens on http://127.0.0.1:<port>/callback, prints the URL to \
            open in a browser, and stores the tokens encrypted in the local token store. \
            `connector run` and `connector test` then act as that user and refresh the tokens \
            when they expire. `status` lists what is stored (never a token value); `logout` \
            deletes a connector's tokens.\n\n\
            The user is --user, else $USER (or $USERNAME), else `local`. Tokens are stored \
            under (user, instance id, `oauth`); the instance id is the spec's id unless \
            --instance is given. The store is --store, else $CONNECTOR_STORE, else \
            $CONNECTOR_HOME/connector.db, else $XDG_DATA_HOME/connector/connector.db, else \
            ~/.local/share/connector/connector.db; it is encrypted with the keyring in \
            CONNECTOR_KEY or CONNECTOR_KEY_FILE (`connector keys generate` makes one).",
        after_help = "Examples:\n  \
            export CONNECTOR_KEY=\"$(connector keys generate)\"\n  \
            connector auth login specs/drive.yaml --config drive.json --secrets drive.secrets.json\n  \
            connector auth status\n  \
            connector auth logout specs/drive.yaml"
    )]
    Auth(commands::auth::AuthCommand),
}

/// Output format of `validate`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Format {
    /// Rendered diagnostics with source snippets
    Human,
    /// One JSON document
    Json,
    /// GitHub Actions workflow commands (::error file=..,line=..,col=..::)
    Github,
}

/// Output format of `list`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ListFormat {
    /// Aligned columns
    Table,
    /// A JSON array
    Json,
}

fn parse_auth_type(s: &str) -> Result<AuthTypeId, String> {
    AuthTypeId::parse(s).ok_or_else(|| {
        let known: Vec<&str> = AuthTypeId::ALL.iter().map(|t| t.as_str()).collect();
        format!(
            "unknown auth type `{s}`; expected one of: {}",
            known.join(", ")
        )
    })
}

/// How a command ended, when it did not fail with a CLI error.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// Exit code 0.
    Success,
    /// Exit code 1: a spec has errors.
    Invalid,
}

/// Which tokio runtime an async command runs on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Flavor {
    /// Worker threads on every core: the server, and commands that serve a callback while
    /// they wait.
    MultiThread,
    /// Everything on the main thread: one action at a time (`run`, `test`), where starting
    /// and handing work to worker threads costs more than it brings.
    CurrentThread,
}

/// Run an async command on a runtime made for it.
fn block_on<F: std::future::Future<Output = anyhow::Result<Outcome>>>(
    flavor: Flavor,
    f: F,
) -> anyhow::Result<Outcome> {
    let mut builder = match flavor {
        Flavor::MultiThread => tokio::runtime::Builder::new_multi_thread(),
        Flavor::CurrentThread => tokio::runtime::Builder::new_current_thread(),
    };
    let rt = builder
        .enable_all()
        .build()
        .map_err(|e| anyhow::anyhow!("cannot start the async runtime: {e}"))?;
    rt.block_on(f)
}

/// `--log-format`.
#[derive(clap::ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
enum LogFormat {
    /// Human-readable lines (coloured only as `--color` says)
    Text,
    /// One JSON object per line
    Json,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    // Logs go to stderr; `--color` decides escapes as for any other stderr output, so a log
    // written to a file or a pipe is plain text under `auto`.
    let (serving, otlp_flag) = match &cli.command {
        Command::Serve(args) => (true, args.otlp_endpoint.clone()),
        _ => (false, None),
    };
    let reporting = telemetry::Reporting {
        filter: log_filter(&cli.command),
        ansi: cli.color.enabled(output::Stream::Stderr),
        json: cli.log_format == LogFormat::Json,
        otlp_flag,
        serving,
    };
    // Lives until the command has finished; dropping it exports the traces still buffered.
    let _telemetry = match telemetry::init(reporting) {
        Ok(t) => t,
        Err(e) => return exit_code(Err(e)),
    };
    exit_code(dispatch(cli.command, cli.color))
}

/// Logs go to stderr, off unless RUST_LOG asks for them (the server logs at info by
/// default); the runtime never logs secrets.
fn log_filter(command: &Command) -> tracing_subscriber::EnvFilter {
    match (command, std::env::var_os("RUST_LOG")) {
        (Command::Serve(_), None) => tracing_subscriber::EnvFilter::new("info"),
        _ => tracing_subscriber::EnvFilter::from_default_env(),
    }
}

/// Run the subcommand (the async ones on the runtime flavour they need).
fn dispatch(command: Command, color: ColorChoice) -> anyhow::Result<Outcome> {
    match command {
        Command::Validate {
            paths,
            format,
            strict,
        } => commands::validate::run(&paths, format, strict, color),
        Command::Schema { spec, out } => commands::schema::run(&spec, out.as_deref(), color),
        Command::Export(args) => commands::export::run(&args, color),
        Command::Catalog(cmd) => commands::catalog::run(cmd),
        Command::List { paths, format } => commands::list::run(&paths, format, color),
        Command::New { name, dir, auth } => commands::new::run(&name, &dir, auth),
        Command::Keys(cmd) => block_on(Flavor::MultiThread, commands::keys::run(cmd)),
        Command::Serve(args) => block_on(Flavor::MultiThread, commands::serve::serve(args)),
        Command::Users(cmd) => block_on(Flavor::MultiThread, commands::users::users(cmd)),
        Command::Audit(args) => block_on(Flavor::MultiThread, commands::audit::audit(args)),
        Command::Auth(cmd) => block_on(Flavor::MultiThread, commands::auth::run(cmd, color)),
        Command::Run {
            spec,
            action,
            target,
            input,
            all_pages,
            output,
        } => block_on(
            Flavor::CurrentThread,
            commands::run::run(
                target.for_spec(&spec),
                &action,
                input.as_deref(),
                commands::run::RunOutput {
                    all_pages,
                    format: output,
                },
                color,
            ),
        ),
        Command::Test { spec, target } => block_on(
            Flavor::CurrentThread,
            commands::run::test(target.for_spec(&spec), color),
        ),
    }
}

/// 0 on success, 1 when the input is invalid, 2 (with the error on stderr) on failure.
fn exit_code(result: anyhow::Result<Outcome>) -> ExitCode {
    match result {
        Ok(Outcome::Success) => ExitCode::SUCCESS,
        Ok(Outcome::Invalid) => ExitCode::from(1),
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::from(2)
        }
    }
}
