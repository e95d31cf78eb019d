//! `include_spec!` with the code handler implemented and a custom module name.

use connector_runtime::{ActionContext, ActionError};

connector_runtime::include_spec!("../../../specs/teams_cards.yaml", module = cards);

struct Cards;

impl cards::Handlers for Cards {
    async fn post_card(
        &self,
        _ctx: &ActionContext,
        input: cards::PostCardInput,
    ) -> Result<cards::PostCardOutput, ActionError> {
        Ok(cards::PostCardOutput {
            posted: !input.title.is_empty(),
            reply: None,
        })
    }
}

fn main() {
    let _ = cards::connector(Cards).expect("connector");
    assert_eq!(cards::ID, ".teams-cards");
}
