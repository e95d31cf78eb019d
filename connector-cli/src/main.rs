//! `connector`: validate, inspect and export declarative connector specs.
//!
//! Exit codes: 0 success, 1 validation failure (a spec has errors), 2 usage or I/O error of
//! the CLI itself (bad arguments, unreadable directory, no spec files, refusing to overwrite).

mod commands;
mod output;
mod specs;

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand, ValueEnum};
use connector_spec::AuthTypeId;

use crate::output::ColorChoice;

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
        connector list"
)]
struct Cli {
    /// When to colour output: auto (only on a terminal, and not when NO_COLOR is set), always, never
    #[arg(long, value_enum, default_value_t = ColorChoice::Auto, global = true)]
    color: ColorChoice,

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
            manifest.json (ids and behaviour fingerprints) and connectors/<id>.json (one schema \
            document per connector). If any spec has an error, nothing is written and the exit \
            code is 1. Output is byte-identical for the same specs.",
        after_help = "Examples:\n  \
            connector export specs/ --out dist/catalog\n  \
            connector export specs/ --strict --out dist/catalog"
    )]
    Export {
        /// Spec files or directories
        #[arg(required = true, value_name = "PATH")]
        paths: Vec<PathBuf>,
        /// Directory to write the catalog into (created if missing)
        #[arg(long, value_name = "DIR")]
        out: PathBuf,
        /// Treat warnings as errors
        #[arg(long)]
        strict: bool,
    },
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
            stderr (never a secret) and the exit code is 1.",
        after_help = "Examples:\n  \
            connector run specs/slack_api.yaml postMessage --secrets slack.secrets.json \\\n      \
            --input '{\"channels\": [\"C123\"], \"text\": \"hello\"}'\n  \
            connector run specs/jira.yaml issues --config jira.json --secrets jira.secrets.json \\\n      \
            --input @query.json --all-pages"
    )]
    Run {
        /// The spec file
        #[arg(value_name = "SPEC")]
        spec: PathBuf,
        /// The action to run
        #[arg(value_name = "ACTION")]
        action: String,
        /// Config JSON file (may include `authType`)
        #[arg(long, value_name = "FILE")]
        config: Option<PathBuf>,
        /// Secrets JSON file
        #[arg(long, value_name = "FILE")]
        secrets: Option<PathBuf>,
        /// Action input: inline JSON or @file
        #[arg(long, value_name = "JSON|@FILE")]
        input: Option<String>,
        /// Follow pagination and print every record as one array
        #[arg(long)]
        all_pages: bool,
        /// The calling user's id (empty for shared credentials)
        #[arg(long, value_name = "ID", default_value = "")]
        user: String,
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
        /// Config JSON file (may include `authType`)
        #[arg(long, value_name = "FILE")]
        config: Option<PathBuf>,
        /// Secrets JSON file
        #[arg(long, value_name = "FILE")]
        secrets: Option<PathBuf>,
        /// The calling user's id (empty for shared credentials)
        #[arg(long, value_name = "ID", default_value = "")]
        user: String,
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

/// Run an async command on a runtime made for it (only `run` and `test` need one).
fn block_on<F: std::future::Future<Output = anyhow::Result<Outcome>>>(
    f: F,
) -> anyhow::Result<Outcome> {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .map_err(|e| anyhow::anyhow!("cannot start the async runtime: {e}"))?;
    rt.block_on(f)
}

fn main() -> ExitCode {
    // Logs go to stderr, off unless RUST_LOG asks for them; the runtime never logs secrets.
    let _ = tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::from_default_env())
        .with_writer(std::io::stderr)
        .try_init();
    let cli = Cli::parse();
    let color = cli.color;
    let result = match cli.command {
        Command::Validate {
            paths,
            format,
            strict,
        } => commands::validate::run(&paths, format, strict, color),
        Command::Schema { spec, out } => commands::schema::run(&spec, out.as_deref(), color),
        Command::Export { paths, out, strict } => {
            commands::export::run(&paths, &out, strict, color)
        }
        Command::List { paths, format } => commands::list::run(&paths, format, color),
        Command::New { name, dir, auth } => commands::new::run(&name, &dir, auth),
        Command::Run {
            spec,
            action,
            config,
            secrets,
            input,
            all_pages,
            user,
        } => block_on(commands::run::run(
            commands::run::RunArgs {
                spec: &spec,
                config: config.as_deref(),
                secrets: secrets.as_deref(),
                user: &user,
            },
            &action,
            input.as_deref(),
            all_pages,
            color,
        )),
        Command::Test {
            spec,
            config,
            secrets,
            user,
        } => block_on(commands::run::test(
            commands::run::RunArgs {
                spec: &spec,
                config: config.as_deref(),
                secrets: secrets.as_deref(),
                user: &user,
            },
            color,
        )),
    };
    match result {
        Ok(Outcome::Success) => ExitCode::SUCCESS,
        Ok(Outcome::Invalid) => ExitCode::from(1),
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::from(2)
        }
    }
}
