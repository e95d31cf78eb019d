use connector_runtime::connector;

#[connector(id = ".acme", display_name = "Acme", description = "Acme.", license = "gold", auth = ["bearer", "oauth_client_credential"])]
pub struct Acme {}

fn main() {}
