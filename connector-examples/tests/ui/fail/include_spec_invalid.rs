connector_runtime::include_spec!("../specs/invalid.yaml");

fn main() {}
