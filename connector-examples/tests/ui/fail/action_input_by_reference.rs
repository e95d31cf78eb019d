use connector_runtime::{ActionContext, ActionError, connector};

#[connector(id = ".acme", display_name = "Acme", description = "Acme.", license = "gold", auth = ["bearer"])]
pub struct Acme {}

#[connector]
impl Acme {
    /// Echo.
    #[action(scope = "read")]
    async fn echo(&self, _ctx: &ActionContext, input: &serde_json::Value) -> Result<serde_json::Value, ActionError> {
        Ok(input.clone())
    }
}

fn main() {}
