//! `.crowdstrike-rtr`: CrowdStrike Falcon real-time response written as an annotated struct,
//! with a session lifecycle: `initSession` opens an RTR session on a host, `runCommand` runs
//! inside it (`ctx.session` carries the id), `closeSession` always closes it. The runtime's
//! dispatcher drives the lifecycle from the `session(...)` declaration, as it does for the
//! `sessions:` section of `specs/crowdstrike.yaml`.

use connector_runtime::{ActionContext, ActionError, connector};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

/// Config of the Falcon API.
#[connector(
    id = ".crowdstrike-rtr",
    display_name = "CrowdStrike real-time response",
    description = "Run real-time response commands on CrowdStrike Falcon hosts, each inside its own session.",
    license = "enterprise",
    features = ["security", "workflows"],
    auth = ["oauth_client_credentials", "bearer"],
    base_url = "{{ config.apiUrl }}"
)]
pub struct Crowdstrike {
    /// The Falcon API of your cloud, e.g. `https://api.eu-1.crowdstrike.com`.
    #[field(
        label = "Falcon API URL",
        widget = "url",
        order = 1,
        default = "https://api.crowdstrike.com"
    )]
    pub api_url: Option<String>,
}

/// Open a session on this host.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct InitSession {
    /// Host (device) id.
    #[schemars(length(min = 1, max = 64))]
    pub device_id: String,
    /// Queue commands until an offline host comes back.
    #[serde(default)]
    pub queue_offline: bool,
}

/// An open session.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct SessionOpened {
    pub session_id: String,
}

/// Read-only RTR commands.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum BaseCommand {
    Cat,
    Cd,
    Env,
    Filehash,
    Ipconfig,
    Ls,
    Netstat,
    Ps,
    Users,
}

/// A command on one host.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct RunCommand {
    /// Host (device) id; the session is opened on it.
    #[schemars(length(min = 1, max = 64))]
    pub device_id: String,
    pub base_command: BaseCommand,
    /// The whole command line, e.g. `ls C:\Windows`.
    #[schemars(length(min = 1, max = 4096))]
    pub command_string: String,
}

/// What the command printed.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct CommandOutput {
    pub stdout: String,
    pub stderr: String,
    pub complete: bool,
}

/// No input.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct NoInput {}

const SESSIONS: &str = "/real-time-response/entities/sessions/v1";

/// The open session's id, from the context the runtime set up.
fn session_id(ctx: &ActionContext) -> Result<&str, ActionError> {
    ctx.session
        .as_ref()
        .map(|s| s.id.as_str())
        .ok_or_else(|| ActionError::user("no_session", "this action runs inside an `rtr` session"))
}

/// `resources[0]` of a Falcon reply, or a typed error that says what came back instead.
fn first_resource(reply: &Value) -> Result<&Value, ActionError> {
    reply.pointer("/resources/0").ok_or_else(|| {
        let errors = reply
            .get("errors")
            .map(Value::to_string)
            .unwrap_or_else(|| "no resources".into());
        ActionError::system(
            "unexpected_reply",
            format!("Falcon returned no resource: {errors}"),
        )
    })
}

#[connector(session(
    name = "rtr",
    init = "init_session",
    id = "$.session_id",
    cleanup = "close_session",
    description = "A real-time response session on one host."
))]
impl Crowdstrike {
    /// Open a real-time response session on a host.
    #[action(scope = "write")]
    async fn init_session(
        &self,
        ctx: &ActionContext,
        input: InitSession,
    ) -> Result<SessionOpened, ActionError> {
        let body = json!({ "device_id": input.device_id, "queue_offline": input.queue_offline });
        let reply: Value = ctx.http().post(SESSIONS).json(&body).send_json().await?;
        let id = first_resource(&reply)?
            .get("session_id")
            .and_then(Value::as_str)
            .filter(|s| !s.is_empty())
            .ok_or_else(|| {
                ActionError::system("unexpected_reply", "Falcon returned no session id")
            })?;
        Ok(SessionOpened {
            session_id: id.to_string(),
        })
    }

    /// Run a read-only real-time response command (ls, ps, netstat, ...) on a host.
    #[action(scope = "write", tool, session = "rtr")]
    async fn run_command(
        &self,
        ctx: &ActionContext,
        input: RunCommand,
    ) -> Result<CommandOutput, ActionError> {
        let body = json!({
            "session_id": session_id(ctx)?,
            "base_command": input.base_command,
            "command_string": input.command_string,
            "persist": false,
        });
        let reply: Value = ctx
            .http()
            .post("/real-time-response/entities/command/v1")
            .json(&body)
            .send_json()
            .await?;
        let r = first_resource(&reply)?;
        let text = |k: &str| {
            r.get(k)
                .and_then(Value::as_str)
                .unwrap_or_default()
                .to_string()
        };
        Ok(CommandOutput {
            stdout: text("stdout"),
            stderr: text("stderr"),
            complete: r.get("complete").and_then(Value::as_bool).unwrap_or(false),
        })
    }

    /// Close the current real-time response session.
    #[action(scope = "write")]
    async fn close_session(&self, ctx: &ActionContext, _input: NoInput) -> Result<(), ActionError> {
        ctx.http()
            .delete(SESSIONS)
            .query("session_id", session_id(ctx)?)
            .send()
            .await?;
        Ok(())
    }

    /// The connection check: list one host id.
    async fn test(&self, ctx: &ActionContext) -> Result<Value, ActionError> {
        ctx.http()
            .get("/devices/queries/devices/v1")
            .query("limit", "1")
            .send_json()
            .await
    }
}
