connector_runtime::include_spec!("../specs/does_not_exist.yaml");

fn main() {}
