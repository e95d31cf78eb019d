//! `.teams-cards`: a YAML spec compiled with `include_spec!`, mixing a declarative action
//! (`execute`) with a `handler: code` action (`postCard`) implemented here.

use connector_runtime::{ActionContext, ActionError, include_spec};
use serde_json::{Value, json};

include_spec!("../specs/teams_cards.yaml");

/// The Rust side of `.teams-cards`: builds MessageCards.
pub struct CardHandlers;

impl teams_cards::Handlers for CardHandlers {
    async fn post_card(
        &self,
        ctx: &ActionContext,
        input: teams_cards::PostCardInput,
    ) -> Result<teams_cards::PostCardOutput, ActionError> {
        let url = ctx
            .secrets
            .get_str("url")
            .ok_or_else(|| ActionError::user("invalid_secrets", "secret `url` is missing"))?;
        let url = reqwest::Url::parse(url)
            .map_err(|e| ActionError::user("invalid_secrets", format!("secret `url`: {e}")))?;
        let reply = ctx
            .http()
            .request_url(reqwest::Method::POST, url)
            .json(&card(&input))
            .send()
            .await?;
        // Teams answers 200 with plain text (`1` on success). The rate-limit policy has already
        // turned a throttled 200 into an error; any other text is a delivery failure of the
        // channel behind it.
        let text = String::from_utf8_lossy(&reply.body).trim().to_string();
        let reply = (!text.is_empty()).then_some(text);
        if let Some(r) = &reply
            && r.contains("Microsoft Teams endpoint returned HTTP error")
        {
            return Err(ActionError::system(
                "delivery_failed",
                "Microsoft Teams accepted the request but could not deliver the card.",
            ));
        }
        Ok(teams_cards::PostCardOutput {
            posted: true,
            reply,
        })
    }
}

/// The MessageCard JSON for a card input.
pub fn card(input: &teams_cards::PostCardInput) -> Value {
    let colour = match input.severity.as_deref() {
        Some("critical") => "D13438",
        Some("warning") => "FFB900",
        _ => "0078D7",
    };
    let facts: Vec<Value> = input
        .facts
        .iter()
        .map(|f| json!({ "name": f.name, "value": f.value }))
        .collect();
    json!({
        "@type": "MessageCard",
        "@context": "https://schema.org/extensions",
        "themeColor": colour,
        "summary": input.summary.clone().unwrap_or_else(|| input.title.clone()),
        "title": input.title,
        "sections": [{ "text": input.summary, "facts": facts }],
    })
}
