connector_runtime::include_spec!("../../../specs/teams_cards.yaml");

struct Cards;

impl teams_cards::Handlers for Cards {}

fn main() {
    let _ = teams_cards::connector(Cards);
}
