//! `.server-log-rs`: a pure-code connector. It writes a message to the runtime's log and, when
//! a collector URL is configured, forwards the line to it.

use connector_runtime::compiled::Secret;
use connector_runtime::{ActionContext, ActionError, HttpRequest, connector};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// The connector's configuration; `#[field]` hints shape the generated form.
#[connector(
    id = ".server-log-rs",
    display_name = "Server log (Rust)",
    description = "Write a message to the server log, optionally forwarding it to a log collector.",
    license = "basic",
    features = ["alerting", "workflows"],
    auth = ["none"]
)]
#[derive(Default)]
pub struct ServerLog {
    /// Text put in front of every message.
    #[field(label = "Prefix", placeholder = "[alerts]", order = 1)]
    pub prefix: Option<String>,
    /// Where lines are also sent, as `{"line": ...}` JSON.
    #[field(
        label = "Collector URL",
        widget = "url",
        order = 2,
        section = "Forwarding"
    )]
    pub collector_url: Option<String>,
    /// Bearer token for the collector.
    #[field(
        secret,
        label = "Collector token",
        help = "Sent as `Authorization: Bearer`."
    )]
    pub collector_token: Option<Secret>,
}

/// Severity of a log line.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum Level {
    Debug,
    Info,
    Warn,
    Error,
}

/// What to log.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct LogInput {
    /// The message.
    #[schemars(length(min = 1, max = 10000))]
    pub message: String,
    /// Severity; `info` when omitted.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub level: Option<Level>,
}

/// What was logged.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct LogOutput {
    /// The line as written.
    pub line: String,
    /// Whether the collector accepted the line.
    pub forwarded: bool,
}

impl ServerLog {
    /// A request to the collector, with its token when one is configured.
    fn collector<'c>(
        &self,
        ctx: &'c ActionContext,
        method: reqwest::Method,
        url: &str,
    ) -> Result<HttpRequest<'c>, ActionError> {
        let url = reqwest::Url::parse(url).map_err(|e| {
            ActionError::user("invalid_config", format!("invalid collector URL: {e}"))
        })?;
        let req = ctx.http().request_url(method, url);
        Ok(match &self.collector_token {
            Some(token) => req.bearer(token),
            None => req,
        })
    }
}

#[connector]
impl ServerLog {
    /// Write a message to the server log.
    #[action(scope = "write", tool)]
    async fn execute(
        &self,
        ctx: &ActionContext,
        input: LogInput,
    ) -> Result<LogOutput, ActionError> {
        let level = input.level.unwrap_or(Level::Info);
        let text = ctx.instance.redactor().redact(&input.message);
        let line = match &self.prefix {
            Some(p) => format!("{p} {text}"),
            None => text,
        };
        match level {
            Level::Debug => tracing::debug!(target: "server_log", "{line}"),
            Level::Info => tracing::info!(target: "server_log", "{line}"),
            Level::Warn => tracing::warn!(target: "server_log", "{line}"),
            Level::Error => tracing::error!(target: "server_log", "{line}"),
        }
        let forwarded = match &self.collector_url {
            Some(url) => {
                let body = serde_json::json!({ "line": line, "level": level });
                self.collector(ctx, reqwest::Method::POST, url)?
                    .json(&body)
                    .send()
                    .await?;
                true
            }
            None => false,
        };
        Ok(LogOutput { line, forwarded })
    }

    /// The connection check: the collector answers, or there is none to check.
    async fn test(&self, ctx: &ActionContext) -> Result<serde_json::Value, ActionError> {
        match &self.collector_url {
            Some(url) => {
                self.collector(ctx, reqwest::Method::GET, url)?
                    .send()
                    .await?;
                Ok(serde_json::json!({ "collector": "reachable" }))
            }
            None => Ok(serde_json::json!({ "collector": "none configured" })),
        }
    }
}
