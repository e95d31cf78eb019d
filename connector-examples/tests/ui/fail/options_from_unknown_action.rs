use connector_runtime::{ActionContext, ActionError, connector};

#[connector(id = ".acme", display_name = "Acme", description = "Acme.", license = "gold", auth = ["bearer"])]
pub struct Acme {
    #[field(label = "Project", options_from = "listProjectz")]
    pub project: String,
}

#[connector]
impl Acme {
    /// List the projects.
    #[action(scope = "read")]
    async fn list_projects(&self, _ctx: &ActionContext, input: serde_json::Value) -> Result<serde_json::Value, ActionError> {
        Ok(input)
    }
}

fn main() {}
