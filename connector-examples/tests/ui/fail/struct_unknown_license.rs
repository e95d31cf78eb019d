use connector_runtime::connector;

#[connector(id = ".acme", display_name = "Acme", description = "Acme.", license = "platnum", auth = ["bearer"])]
pub struct Acme {}

fn main() {}
