use connector_runtime::connector;

#[connector(id = ".acme", display_name = "Acme", auth = ["bearer"])]
pub struct Acme {}

fn main() {}
