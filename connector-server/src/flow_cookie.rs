//! The browser cookie that ties one OAuth flow to the browser that started it. Its SHA-256
//! is kept with the pending state in the store (metadata `browser_sha256`), not in this
//! process, so the callback may land on any server instance that shares the database; the
//! state's single use (consumed by the callback) spends the cookie with it.

use connector_runtime::oauth::BROWSER_SHA256;
use connector_runtime::store::{PendingState, Timestamp};
use sha2::{Digest, Sha256};

/// A fresh cookie value and the digest the state keeps.
pub struct FlowCookie {
    pub value: String,
    pub sha256: String,
}

impl FlowCookie {
    pub fn generate() -> FlowCookie {
        let bytes: [u8; 32] = rand::random();
        let value = hex::encode(bytes);
        let sha256 = sha256(&value);
        FlowCookie { value, sha256 }
    }
}

fn sha256(s: &str) -> String {
    hex::encode(Sha256::digest(s.as_bytes()))
}

/// The user whose flow `state` is, when `cookie` is the one bound to it and the state is
/// neither expired nor spent at `now`. A mismatch changes nothing, so a stray cookie cannot
/// cancel someone else's flow.
pub fn user_of(state: &PendingState, cookie: &str, now: Timestamp) -> Option<String> {
    let bound = state.metadata.get(BROWSER_SHA256)?.as_str()?;
    (bound == sha256(cookie) && !state.consumed && state.expires_at > now)
        .then(|| state.user_id.clone())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn pending(bound: &FlowCookie, expires_at: i64, consumed: bool) -> PendingState {
        PendingState {
            connector_id: "c".into(),
            user_id: "u_alice".into(),
            metadata: json!({ "redirect_uri": "http://x/cb", BROWSER_SHA256: bound.sha256 }),
            expires_at: Timestamp(expires_at),
            consumed,
        }
    }

    #[test]
    fn a_cookie_opens_only_its_own_unexpired_unspent_state() {
        let (a, c) = (FlowCookie::generate(), FlowCookie::generate());
        assert_ne!(a.value, c.value);
        let now = Timestamp(1_000);
        let state_a = pending(&a, 2_000, false);
        assert_eq!(user_of(&state_a, &a.value, now).as_deref(), Some("u_alice"));
        assert_eq!(
            user_of(&state_a, &c.value, now),
            None,
            "another flow's cookie"
        );
        assert_eq!(
            user_of(&state_a, &a.sha256, now),
            None,
            "the digest is no cookie"
        );
        assert_eq!(
            user_of(&pending(&a, 1_000, false), &a.value, now),
            None,
            "expired"
        );
        assert_eq!(
            user_of(&pending(&a, 2_000, true), &a.value, now),
            None,
            "spent"
        );
    }

    #[test]
    fn a_state_started_without_a_browser_opens_for_no_cookie() {
        let a = FlowCookie::generate();
        let mut p = pending(&a, 2_000, false);
        p.metadata = json!({ "redirect_uri": "http://x/cb" });
        assert_eq!(user_of(&p, &a.value, Timestamp(1_000)), None);
    }
}
