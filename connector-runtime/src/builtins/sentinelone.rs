//! `.sentinelone` `downloadAgentFile`: the upload an agent made after `fetchAgentFiles` is a
//! binary zip, which a declarative action cannot return; the handler returns it base64-encoded
//! with its file name and content type.

use async_trait::async_trait;
use base64::Engine as _;
use serde_json::{Value, json};

use super::util::seg;
use crate::connector::ActionHandler;
use crate::context::ActionContext;
use crate::error::ActionError;

/// The handler of `.sentinelone` `downloadAgentFile`.
pub struct SentinelOneDownloadAgentFile;

/// A path parameter of the input, which the input schema requires.
fn required<'v>(input: &'v Value, key: &str) -> Result<&'v str, ActionError> {
    input
        .get(key)
        .and_then(Value::as_str)
        .filter(|s| !s.is_empty())
        .ok_or_else(|| ActionError::user("invalid_input", format!("`{key}` is required")))
}

/// The `filename` of a `Content-Disposition` header (`attachment; filename="a.zip"`).
fn file_name(disposition: &str) -> Option<String> {
    disposition.split(';').find_map(|part| {
        let (k, v) = part.trim().split_once('=')?;
        k.trim()
            .eq_ignore_ascii_case("filename")
            .then(|| v.trim().trim_matches('"').to_string())
            .filter(|n| !n.is_empty())
    })
}

fn header_text(reply: &crate::HttpReply<'_>, name: &str) -> Option<String> {
    reply
        .headers
        .get(name)
        .and_then(|v| v.to_str().ok())
        .map(str::to_string)
}

#[async_trait]
impl ActionHandler for SentinelOneDownloadAgentFile {
    async fn call(&self, ctx: &ActionContext, input: Value) -> Result<Value, ActionError> {
        let agent = required(&input, "agentId")?;
        let activity = required(&input, "activityId")?;
        let path = format!("/agents/{}/uploads/{}", seg(agent), seg(activity));
        let reply = ctx.http().get(&path).send().await?;
        let name = header_text(&reply, "content-disposition").and_then(|d| file_name(&d));
        Ok(json!({
            "fileName": name,
            "contentType": header_text(&reply, "content-type"),
            "size": reply.body.len(),
            "contentBase64": base64::engine::general_purpose::STANDARD.encode(&reply.body),
        }))
    }
}

#[cfg(test)]
mod tests {
    use super::file_name;

    #[test]
    fn reads_the_file_name_of_a_content_disposition() {
        assert_eq!(
            file_name(r#"attachment; filename="fetch-files.zip""#).as_deref(),
            Some("fetch-files.zip")
        );
        assert_eq!(
            file_name("attachment; FILENAME=a.zip").as_deref(),
            Some("a.zip")
        );
        assert_eq!(file_name("attachment"), None);
        assert_eq!(file_name(r#"attachment; filename="""#), None);
    }
}
