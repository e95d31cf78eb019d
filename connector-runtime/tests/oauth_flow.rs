//! Per-user OAuth end to end against loopback servers: the authorization code flow with
//! PKCE at a mock provider and through a mock EARS, acting as the user through the runtime,
//! refresh ahead of expiry, a forced refresh after a 401, revocation and disconnect. The
//! canary scan of logs is in `oauth_canary.rs`.

mod oauth_support;

use std::sync::Arc;
use std::time::Duration;

use connector_runtime::ErrorClass;
use connector_runtime::oauth::{OAuthSettings, StartOptions};
use connector_runtime::store::{ExposeSecret, UserTokenKey};
use oauth_support::{
    CLIENT_ID, CLIENT_SECRET, CONNECTOR, ClientAuth, Layout, Mode, World, authorize_as,
};
use serde_json::json;

const HOUR: Duration = Duration::from_secs(3600);

fn query_value<'a>(q: &'a [(String, String)], k: &str) -> Option<&'a str> {
    q.iter().find(|(n, _)| n == k).map(|(_, v)| v.as_str())
}

async fn stored_refresh_token(w: &World, user: &str) -> Option<String> {
    w.store
        .get_user_token(&UserTokenKey::oauth(user, CONNECTOR))
        .await
        .unwrap()
        .and_then(|r| r.refresh_token)
        .map(|t| t.expose_secret().to_string())
}

/// The whole life of a per-user connection, shared by the direct and EARS tests.
async fn whole_flow(w: &World) {
    // Before authorizing: a typed "authorize first" error, and no request reaches the API.
    let err = w.me("alice").await.unwrap_err();
    assert_eq!(err.code, "not_authorized", "{err}");
    assert_eq!(err.class, ErrorClass::Auth);
    assert!(err.message.contains("authorize first"), "{err}");
    assert_eq!(w.provider.api_calls("alice"), 0);

    // start -> the browser at the provider -> callback.
    let connected = w.connect("alice").await;
    assert_eq!(connected.connector_id, CONNECTOR);
    assert_eq!(connected.user_id, "alice");
    assert!(connected.token_id.to_string().starts_with("per-user:"));
    assert_eq!(w.provider.code_exchanges(), 1);

    // Execute as the user: the API sees alice's token.
    assert_eq!(w.me("alice").await.unwrap(), json!({"user": "alice"}));
    assert_eq!(w.provider.total_refreshes(), 0);

    // The token expires: the next call refreshes first (rotating the refresh token).
    let rt_before = stored_refresh_token(w, "alice").await.unwrap();
    w.clock.advance(2 * HOUR);
    assert_eq!(w.me("alice").await.unwrap(), json!({"user": "alice"}));
    assert_eq!(w.provider.refreshes("alice"), 1);
    let rt_after = stored_refresh_token(w, "alice").await.unwrap();
    assert_ne!(rt_before, rt_after, "the rotated refresh token is stored");

    // Within its lifetime the token is reused: no refresh.
    assert_eq!(w.me("alice").await.unwrap(), json!({"user": "alice"}));
    assert_eq!(w.provider.refreshes("alice"), 1);

    // The API stops accepting the token (401): one forced refresh, one retry, success.
    w.provider.invalidate_access_tokens("alice");
    let api_before = w.provider.api_calls("alice");
    let refused_before = w.provider.api_401s();
    assert_eq!(w.me("alice").await.unwrap(), json!({"user": "alice"}));
    assert_eq!(w.provider.refreshes("alice"), 2);
    assert_eq!(w.provider.api_401s(), refused_before + 1);
    assert_eq!(w.provider.api_calls("alice"), api_before + 1);

    // Disconnect: the tokens are gone and the next call says to authorize first.
    assert_eq!(w.flows.disconnect(CONNECTOR, "alice").await.unwrap(), 1);
    assert!(
        w.store
            .get_user_token(&UserTokenKey::oauth("alice", CONNECTOR))
            .await
            .unwrap()
            .is_none()
    );
    let err = w.me("alice").await.unwrap_err();
    assert_eq!(err.code, "not_authorized", "{err}");
    // A repeated disconnect is harmless.
    assert_eq!(w.flows.disconnect(CONNECTOR, "alice").await.unwrap(), 0);
}

#[tokio::test]
async fn whole_flow_at_a_provider() {
    let w = World::new(Mode::Direct).await;
    whole_flow(&w).await;
    // Every token request authenticated the client with HTTP Basic and a form body.
    for r in w.provider.token_requests() {
        assert_eq!(r.path, "/token");
        assert!(r.has_authorization, "{r:?}");
        assert!(
            r.content_type
                .starts_with("application/x-www-form-urlencoded"),
            "{r:?}"
        );
        assert!(!r.fields.iter().any(|f| f == "client_secret"), "{r:?}");
    }
}

#[tokio::test]
async fn whole_flow_through_ears() {
    let w = World::new(Mode::Ears).await;
    whole_flow(&w).await;
    // EARS got JSON bodies at /v1/google/oauth/{token,refresh,revoke} and no client
    // credentials (the mock refuses any).
    let reqs = w.provider.token_requests();
    let paths: Vec<&str> = reqs.iter().map(|r| r.path.as_str()).collect();
    assert_eq!(
        paths,
        [
            "/v1/google/oauth/token",
            "/v1/google/oauth/refresh",
            "/v1/google/oauth/refresh",
            "/v1/google/oauth/revoke"
        ]
    );
    for r in &reqs {
        assert!(r.content_type.starts_with("application/json"), "{r:?}");
        assert!(!r.has_authorization, "{r:?}");
    }
    assert_eq!(reqs[0].fields, ["code", "pkce_verifier", "callback_uri"]);
    assert_eq!(reqs[1].fields, ["refresh_token"]);
    assert_eq!(reqs[3].fields, ["token"]);
    // The authorize request carried EARS's parameter names.
    let q = &w.provider.authorize_queries()[0];
    assert_eq!(
        query_value(q, "callback_uri"),
        Some(w.redirect_uri.as_str())
    );
    assert_eq!(query_value(q, "pkce_method"), Some("S256"));
    assert_eq!(query_value(q, "scope"), Some("drive.readonly"));
    assert!(query_value(q, "pkce_challenge").is_some_and(|c| c.len() == 43));
    assert!(query_value(q, "state").is_some_and(|s| s.len() == 43));
}

#[tokio::test]
async fn ears_revocation_at_disconnect_invalidates_the_grant() {
    let w = World::new(Mode::Ears).await;
    w.connect("alice").await;
    let token = w.provider.some_valid_access_token("alice").unwrap();
    w.flows.disconnect(CONNECTOR, "alice").await.unwrap();
    // EARS revoked the user's tokens at the provider, not only in our store.
    assert!(w.provider.some_valid_access_token("alice").is_none());
    assert!(!token.is_empty());
}

#[tokio::test]
async fn authorization_url_has_every_parameter_and_the_configured_scope_name() {
    let w = World::with_config(
        Mode::Direct,
        json!({ "scopeParameter": "user_scope", "scope": "chat:write" }),
    )
    .await;
    let a = w
        .flows
        .start(
            CONNECTOR,
            "alice",
            StartOptions {
                tenant: Some("acme".into()),
                return_url: Some("https://app.example/done".into()),
                browser_sha256: None,
            },
        )
        .await
        .unwrap();
    let url = url::Url::parse(&a.authorization_url).unwrap();
    assert_eq!(url.path(), "/authorize");
    let q: Vec<(String, String)> = url.query_pairs().into_owned().collect();
    assert_eq!(query_value(&q, "client_id"), Some(CLIENT_ID));
    assert_eq!(query_value(&q, "response_type"), Some("code"));
    assert_eq!(
        query_value(&q, "redirect_uri"),
        Some(w.redirect_uri.as_str())
    );
    assert_eq!(query_value(&q, "state"), Some(a.state.as_str()));
    assert_eq!(query_value(&q, "code_challenge_method"), Some("S256"));
    assert_eq!(query_value(&q, "user_scope"), Some("chat:write"));
    assert_eq!(query_value(&q, "scope"), None);
    let challenge = query_value(&q, "code_challenge").unwrap();
    assert_eq!(challenge.len(), 43, "base64url SHA-256");
    // The verifier is not in the URL; the state record is stored with the user's data.
    let state = a.state.clone();
    let params = authorize_as(&a.authorization_url, "alice", &w.redirect_uri).await;
    let done = w.flows.callback("alice", params).await.unwrap();
    assert_eq!(done.return_url.as_deref(), Some("https://app.example/done"));
    assert_eq!(state.len(), 43, "32 random bytes, base64url");
}

#[tokio::test]
async fn a_scope_parameter_named_like_a_reserved_parameter_is_refused() {
    for reserved in [
        "state",
        "client_id",
        "redirect_uri",
        "code_challenge",
        "response_type",
        "code_challenge_method",
    ] {
        let dir = tempfile::tempdir().unwrap();
        let store = oauth_support::store(&dir).await;
        let flows = connector_runtime::oauth::OAuthFlows::new(
            store.tokens,
            store.states,
            OAuthSettings::new("http://127.0.0.1:9/cb").unwrap(),
        )
        .unwrap();
        let spec = Arc::new(oauth_support::spec());
        let instance = connector_runtime::ConnectorInstance::new(
            spec,
            json!({
                "authType": "oauth_authorization_code",
                "base": "http://127.0.0.1:9",
                "authorizationUrl": "http://127.0.0.1:9/authorize",
                "tokenUrl": "http://127.0.0.1:9/token",
                "clientId": CLIENT_ID,
                "scope": "x",
                "scopeParameter": reserved,
            }),
            json!({ "clientSecret": CLIENT_SECRET }),
        )
        .unwrap();
        let err = flows.register("c", &instance).unwrap_err();
        assert_eq!(err.code, "reserved_parameter", "{reserved}: {err}");
        assert!(err.message.contains(reserved), "{err}");
    }
}

#[tokio::test]
async fn client_secret_post_sends_the_client_in_the_body() {
    let w = World::with_config(
        Mode::Direct,
        json!({ "clientAuthentication": "client_secret_post" }),
    )
    .await;
    w.provider.set_client_auth(ClientAuth::Post);
    w.connect("alice").await;
    w.clock.advance(2 * HOUR);
    assert_eq!(w.me("alice").await.unwrap(), json!({"user": "alice"}));
    assert_eq!(w.provider.refreshes("alice"), 1);
    for r in w.provider.token_requests() {
        assert!(!r.has_authorization, "{r:?}");
        assert!(r.fields.iter().any(|f| f == "client_secret"), "{r:?}");
        assert!(r.fields.iter().any(|f| f == "client_id"), "{r:?}");
    }
}

#[tokio::test]
async fn slack_style_token_paths_pick_the_user_token() {
    let w = World::with_config(
        Mode::Direct,
        json!({
            "accessTokenPath": "$.authed_user.access_token",
            "refreshTokenPath": "$.authed_user.refresh_token",
        }),
    )
    .await;
    w.provider.set_layout(Layout::Slack);
    w.connect("alice").await;
    // The bot token at the top level is not accepted by the API: success proves the user
    // token was stored.
    assert_eq!(w.me("alice").await.unwrap(), json!({"user": "alice"}));
    w.clock.advance(2 * HOUR);
    assert_eq!(w.me("alice").await.unwrap(), json!({"user": "alice"}));
    assert_eq!(w.provider.refreshes("alice"), 1);
}

#[tokio::test]
async fn a_refresh_without_a_new_refresh_token_keeps_the_old_one() {
    let w = World::new(Mode::Direct).await;
    w.provider.set_rotate_refresh(false);
    w.connect("alice").await;
    let rt = stored_refresh_token(&w, "alice").await.unwrap();
    for round in 1..=3 {
        w.clock.advance(2 * HOUR);
        assert_eq!(w.me("alice").await.unwrap(), json!({"user": "alice"}));
        assert_eq!(w.provider.refreshes("alice"), round);
        assert_eq!(stored_refresh_token(&w, "alice").await.unwrap(), rt);
    }
}

#[tokio::test]
async fn invalid_grant_marks_the_token_revoked_and_asks_to_authorize_again() {
    let w = World::new(Mode::Direct).await;
    w.connect("alice").await;
    w.provider.revoke_grant("alice");
    w.clock.advance(2 * HOUR);
    let err = w.me("alice").await.unwrap_err();
    assert_eq!(err.code, "token_revoked", "{err}");
    assert_eq!(err.class, ErrorClass::Auth);
    assert!(err.message.contains("authorize again"), "{err}");
    assert!(err.message.contains("invalid_grant"), "{err}");
    let rec = w
        .store
        .get_user_token(&UserTokenKey::oauth("alice", CONNECTOR))
        .await
        .unwrap()
        .unwrap();
    assert!(rec.revoked);
    // Revoked is sticky: the provider is not asked again.
    let err = w.me("alice").await.unwrap_err();
    assert_eq!(err.code, "token_revoked");
    assert_eq!(w.provider.refreshes("alice"), 1);
    // Authorizing again clears it.
    w.connect("alice").await;
    assert_eq!(w.me("alice").await.unwrap(), json!({"user": "alice"}));
}

#[tokio::test]
async fn other_refresh_failures_are_refresh_failed() {
    let w = World::new(Mode::Direct).await;
    w.connect("alice").await;
    // The provider now wants the client in the body: the refresh is refused as
    // invalid_client, which is not a revocation.
    w.provider.set_client_auth(ClientAuth::Post);
    w.clock.advance(2 * HOUR);
    let err = w.me("alice").await.unwrap_err();
    assert_eq!(err.code, "refresh_failed", "{err}");
    assert_eq!(err.class, ErrorClass::Auth);
    assert!(err.message.contains("invalid_client"), "{err}");
    assert_eq!(err.status, Some(401));
    let rec = w
        .store
        .get_user_token(&UserTokenKey::oauth("alice", CONNECTOR))
        .await
        .unwrap()
        .unwrap();
    assert!(!rec.revoked, "only invalid_grant revokes");
}

#[tokio::test]
async fn a_401_forces_one_refresh_and_one_retry_never_more() {
    let w = World::new(Mode::Direct).await;
    w.connect("alice").await;
    w.provider.always_401("alice");
    let err = w.me("alice").await.unwrap_err();
    assert_eq!(err.status, Some(401), "{err}");
    assert_eq!(err.class, ErrorClass::Auth);
    assert_eq!(w.provider.refreshes("alice"), 1, "one forced refresh");
    assert_eq!(w.provider.api_calls("alice"), 2, "the call and one retry");
    // The API echoed the token into its error body: it is scrubbed.
    assert!(err.message.contains("[REDACTED]"), "{err}");
    assert!(!err.message.contains("CANARY"), "{err}");
}

#[tokio::test]
async fn refresh_happens_ahead_of_expiry_by_the_margin() {
    // Tokens live 3600 s; the default margin is 60 s.
    let w = World::new(Mode::Direct).await;
    w.connect("alice").await;
    w.clock.advance(Duration::from_secs(3600 - 120));
    w.me("alice").await.unwrap();
    assert_eq!(w.provider.refreshes("alice"), 0, "outside the margin");
    w.clock.advance(Duration::from_secs(90));
    w.me("alice").await.unwrap();
    assert_eq!(
        w.provider.refreshes("alice"),
        1,
        "30 s before expiry is inside the 60 s margin"
    );
}

#[tokio::test]
async fn a_short_lived_token_is_not_refreshed_on_every_call() {
    // A 60 s token with the default 60 s margin: the margin is capped at half the lifetime.
    let w = World::new(Mode::Direct).await;
    w.provider.set_expires_in(60);
    w.connect("alice").await;
    w.me("alice").await.unwrap();
    w.me("alice").await.unwrap();
    assert_eq!(w.provider.refreshes("alice"), 0);
    w.clock.advance(Duration::from_secs(31));
    w.me("alice").await.unwrap();
    assert_eq!(w.provider.refreshes("alice"), 1, "inside the last half");
}

#[tokio::test]
async fn a_provider_error_on_the_callback_is_a_clear_message_and_spends_the_state() {
    let w = World::new(Mode::Direct).await;
    let a = w
        .flows
        .start(CONNECTOR, "denier", StartOptions::default())
        .await
        .unwrap();
    let params = authorize_as(&a.authorization_url, "denier", &w.redirect_uri).await;
    assert_eq!(params.error.as_deref(), Some("access_denied"));
    let err = w
        .flows
        .callback("denier", params.clone())
        .await
        .unwrap_err();
    assert_eq!(err.code, "authorization_denied", "{err}");
    assert!(err.message.contains("declined"), "{err}");
    assert!(err.message.contains("The user said no"), "{err}");
    let again = w.flows.callback("denier", params).await.unwrap_err();
    assert_eq!(again.code, "state_already_used", "{again}");
    assert_eq!(w.provider.code_exchanges(), 0);
}
