use connector_runtime::action;

#[action(scope = "read")]
fn echo() {}

fn main() {}
