connector_runtime::include_spec!("../../../specs/teams_cards.yaml", modul = teams);

fn main() {}
