use connector_runtime::{ActionContext, connector};

#[connector(id = ".acme", display_name = "Acme", description = "Acme.", license = "gold", auth = ["bearer"])]
pub struct Acme {}

#[derive(Debug)]
pub struct MyError;

#[connector]
impl Acme {
    /// Echo.
    #[action(scope = "read")]
    async fn echo(&self, _ctx: &ActionContext, input: serde_json::Value) -> Result<serde_json::Value, MyError> {
        Ok(input)
    }
}

fn main() {}
