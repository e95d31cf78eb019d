use connector_runtime::connector;

#[connector(id = ".acme", display_name = "Acme", description = "Acme.", license = "gold", auth = ["bearer"])]
pub struct Acme {
    #[field(max_length = -1, pattern = "([a-z]+", format = "emial")]
    pub region: String,
}

fn main() {}
