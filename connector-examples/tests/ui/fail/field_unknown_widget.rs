use connector_runtime::connector;

#[connector(id = ".acme", display_name = "Acme", description = "Acme.", license = "gold", auth = ["bearer"])]
pub struct Acme {
    #[field(label = "Region", widget = "dropdown")]
    pub region: String,
}

fn main() {}
