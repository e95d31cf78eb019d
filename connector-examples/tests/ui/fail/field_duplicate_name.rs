use connector_runtime::connector;

#[connector(id = ".acme", display_name = "Acme", description = "Acme.", license = "gold", auth = ["bearer"])]
pub struct Acme {
    pub api_url: String,
    #[field(rename = "apiUrl")]
    pub other_url: String,
}

fn main() {}
