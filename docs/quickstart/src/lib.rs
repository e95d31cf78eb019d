//! `.acme-tickets`: a connector written in Rust, with one action that calls the vendor's API.

use connector_runtime::{ActionContext, ActionError, connector};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// The config: where the API is and which tenant to act in. The token is the `bearer` auth
/// type's secret; `auth_header` adds the tenant to every request.
#[connector(
    id = ".acme-tickets",
    display_name = "Acme Tickets",
    description = "Open tickets in Acme's help desk.",
    license = "basic",
    auth = ["bearer"],
    base_url = "{{ config.apiUrl }}/v2",
    auth_header(name = "X-Acme-Tenant", value = "{{ config.tenant }}")
)]
pub struct AcmeTickets {
    /// The API's address, e.g. `https://acme.example`.
    #[field(label = "API URL", widget = "url", max_length = 2048, format = "uri")]
    pub api_url: String,
    /// The tenant tickets are opened in.
    #[field(label = "Tenant", max_length = 64, pattern = "^[a-z0-9-]+$")]
    pub tenant: String,
}

/// A ticket to open.
#[derive(Serialize, Deserialize, JsonSchema)]
pub struct NewTicket {
    /// One line that says what is wrong.
    #[schemars(length(min = 1, max = 200))]
    pub title: String,
}

/// An opened ticket.
#[derive(Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct Ticket {
    pub id: u64,
    pub title: String,
}

#[connector(strict)]
impl AcmeTickets {
    /// Open a ticket.
    #[action(scope = "write", tool)]
    async fn open_ticket(
        &self,
        ctx: &ActionContext,
        input: NewTicket,
    ) -> Result<Ticket, ActionError> {
        // Auth, the tenant header, retries, timeouts and error classes all apply.
        ctx.http().post("/tickets").json(&input).send_json().await
    }
}
