use connector_runtime::connector;

#[connector(id = ".acme", display_name = "Acme", description = "Acme.", license = "gold", auth = ["bearer"])]
pub struct Acme {
    pub method: Option<String>,
    #[field(label = "Body", when(field = "methd", equals = "post"))]
    pub body: Option<String>,
}

fn main() {}
