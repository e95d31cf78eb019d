//! The built-in connectors' code handlers: the bundled specs whose `handler: code` actions
//! (and connection tests) are written in Rust (`.server-log`, `.webhook`, `.jira`,
//! `.thehive`, `.index`, `.email`, `.sentinelone`, `.resilient`, `.swimlane`,
//! `.cases-webhook`, and ServiceNow ITSM and SIR).
//!
//! Nothing here is wired in by default: a registry gets them from
//! [`Registry::install_builtins`] (or [`Registry::with_builtins`]), so the generic runtime
//! knows no vendor. This module names no registry: the registry reads [`all`].
//!
//! [`Registry::install_builtins`]: crate::Registry::install_builtins
//! [`Registry::with_builtins`]: crate::Registry::with_builtins

mod cases_webhook;
#[cfg(feature = "smtp")]
mod email;
mod es_index;
mod jira;
mod resilient;
mod sentinelone;
mod server_log;
mod servicenow;
mod swimlane;
mod thehive;
mod time;
mod util;
mod webhook;

use std::sync::Arc;

use crate::connector::ActionHandler;

pub use cases_webhook::CasesWebhookPushToService;
#[cfg(feature = "smtp")]
pub use email::{EmailConnectionTest, EmailExecute};
pub use es_index::EsIndexExecute;
pub use jira::JiraPushToService;
pub use resilient::ResilientPushToService;
pub use sentinelone::SentinelOneDownloadAgentFile;
pub use server_log::ServerLog;
pub use servicenow::{
    INCIDENT, SECURITY_INCIDENT, ServiceNowCloseIncident, ServiceNowPushToService, Table,
};
pub use swimlane::SwimlanePushToService;
pub use thehive::TheHivePushToService;
pub use webhook::WebhookExecute;

/// The action name a [`Builtin`] uses for a spec's `test: { handler: code }` connection
/// test. No action can have it: action names do not start with `$`.
pub const CONNECTION_TEST: &str = "$test";

/// One built-in code handler: the connector type and action (or [`CONNECTION_TEST`]) it
/// implements.
pub struct Builtin {
    /// The id of the bundled spec (`.jira`).
    pub connector: &'static str,
    /// The `handler: code` action (`pushToService`), or [`CONNECTION_TEST`].
    pub action: &'static str,
    pub handler: Arc<dyn ActionHandler>,
}

/// Every built-in code handler.
// Long: a table, one entry per handler.
pub fn all() -> Vec<Builtin> {
    vec![
        Builtin {
            connector: ".server-log",
            action: "execute",
            handler: Arc::new(ServerLog),
        },
        Builtin {
            connector: ".webhook",
            action: "execute",
            handler: Arc::new(WebhookExecute),
        },
        Builtin {
            connector: ".jira",
            action: "pushToService",
            handler: Arc::new(JiraPushToService),
        },
        Builtin {
            connector: ".index",
            action: "execute",
            handler: Arc::new(EsIndexExecute),
        },
        #[cfg(feature = "smtp")]
        Builtin {
            connector: ".email",
            action: "execute",
            handler: Arc::new(EmailExecute),
        },
        #[cfg(feature = "smtp")]
        Builtin {
            connector: ".email",
            action: CONNECTION_TEST,
            handler: Arc::new(EmailConnectionTest),
        },
        Builtin {
            connector: ".sentinelone",
            action: "downloadAgentFile",
            handler: Arc::new(SentinelOneDownloadAgentFile),
        },
        Builtin {
            connector: ".thehive",
            action: "pushToService",
            handler: Arc::new(TheHivePushToService),
        },
        Builtin {
            connector: ".resilient",
            action: "pushToService",
            handler: Arc::new(ResilientPushToService),
        },
        Builtin {
            connector: ".servicenow",
            action: "pushToService",
            handler: Arc::new(ServiceNowPushToService(&INCIDENT)),
        },
        Builtin {
            connector: ".servicenow",
            action: "closeIncident",
            handler: Arc::new(ServiceNowCloseIncident(&INCIDENT)),
        },
        Builtin {
            connector: ".servicenow-sir",
            action: "pushToService",
            handler: Arc::new(ServiceNowPushToService(&SECURITY_INCIDENT)),
        },
        Builtin {
            connector: ".servicenow-sir",
            action: "closeIncident",
            handler: Arc::new(ServiceNowCloseIncident(&SECURITY_INCIDENT)),
        },
        Builtin {
            connector: ".swimlane",
            action: "pushToService",
            handler: Arc::new(SwimlanePushToService),
        },
        Builtin {
            connector: ".cases-webhook",
            action: "pushToService",
            handler: Arc::new(CasesWebhookPushToService),
        },
    ]
}
