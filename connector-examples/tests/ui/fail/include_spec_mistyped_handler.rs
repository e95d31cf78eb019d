use connector_runtime::{ActionContext, ActionError};

connector_runtime::include_spec!("../../../specs/teams_cards.yaml");

struct Cards;

impl teams_cards::Handlers for Cards {
    async fn post_card(
        &self,
        _ctx: &ActionContext,
        input: teams_cards::ExecuteInput,
    ) -> Result<teams_cards::PostCardOutput, ActionError> {
        let _ = input;
        Ok(teams_cards::PostCardOutput { posted: true, reply: None })
    }
}

fn main() {}
