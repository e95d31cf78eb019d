//! Every way a per-user authorization or token use must be refused: replayed, expired,
//! foreign, cancelled and forged states, a PKCE mismatch, another user's token, scope-crossing
//! token ids, a ciphertext moved to another user's row, a missing user, and broken token
//! responses.

mod oauth_support;

use std::sync::Arc;
use std::time::Duration;

use connector_runtime::ErrorClass;
use connector_runtime::oauth::{CallbackParams, OAuthFlows, OAuthSettings, StartOptions};
use connector_runtime::store::{TokenData, UserTokenKey};
use oauth_support::{CLIENT_ID, CLIENT_SECRET, CONNECTOR, Mode, World, authorize_as};
use serde_json::json;
use wiremock::matchers::{method, path};
use wiremock::{Mock, MockServer, ResponseTemplate};

async fn started(w: &World, user: &str) -> (String, CallbackParams) {
    let a = w
        .flows
        .start(CONNECTOR, user, StartOptions::default())
        .await
        .unwrap();
    let params = authorize_as(&a.authorization_url, user, &w.redirect_uri).await;
    (a.state, params)
}

#[tokio::test]
async fn a_replayed_state_is_refused() {
    let w = World::new(Mode::Direct).await;
    let (_, params) = started(&w, "alice").await;
    w.flows.callback("alice", params.clone()).await.unwrap();
    let err = w.flows.callback("alice", params).await.unwrap_err();
    assert_eq!(err.code, "state_already_used", "{err}");
    assert_eq!(
        w.provider.code_exchanges(),
        1,
        "the replay never reached the provider"
    );
}

#[tokio::test]
async fn an_expired_state_is_refused() {
    let w = World::new(Mode::Direct).await;
    let (_, params) = started(&w, "alice").await;
    w.clock.advance(Duration::from_secs(10 * 60 + 1));
    let err = w.flows.callback("alice", params).await.unwrap_err();
    assert_eq!(err.code, "state_expired", "{err}");
    assert_eq!(w.provider.code_exchanges(), 0);
}

#[tokio::test]
async fn a_state_from_another_user_is_refused_and_stays_usable_by_its_owner() {
    let w = World::new(Mode::Direct).await;
    let (_, params) = started(&w, "alice").await;
    let err = w
        .flows
        .callback("mallory", params.clone())
        .await
        .unwrap_err();
    assert_eq!(err.code, "state_user_mismatch", "{err}");
    assert_eq!(err.class, ErrorClass::Auth);
    assert_eq!(w.provider.code_exchanges(), 0);
    assert!(
        w.store
            .get_user_token(&UserTokenKey::oauth("mallory", CONNECTOR))
            .await
            .unwrap()
            .is_none()
    );
    // The refusal changed nothing: alice can still finish.
    w.flows.callback("alice", params).await.unwrap();
    assert_eq!(w.me("alice").await.unwrap(), json!({"user": "alice"}));
}

#[tokio::test]
async fn an_unknown_or_missing_state_is_refused() {
    let w = World::new(Mode::Direct).await;
    let (_, mut params) = started(&w, "alice").await;
    let real = params.state.replace("not-a-state-we-issued".into());
    let err = w.flows.callback("alice", params.clone()).await.unwrap_err();
    assert_eq!(err.code, "state_not_found", "{err}");
    params.state = None;
    let err = w.flows.callback("alice", params.clone()).await.unwrap_err();
    assert_eq!(err.code, "invalid_callback", "{err}");
    // A callback with the state but neither code nor error.
    params.state = real;
    params.code = None;
    let err = w.flows.callback("alice", params).await.unwrap_err();
    assert_eq!(err.code, "invalid_callback", "{err}");
    assert_eq!(w.provider.code_exchanges(), 0);
}

#[tokio::test]
async fn a_pkce_mismatch_is_refused_by_the_provider() {
    // Code injection: the code was issued for the challenge of state A, but it is brought
    // back with state B, whose stored verifier belongs to another challenge.
    let w = World::new(Mode::Direct).await;
    let (_, params_a) = started(&w, "alice").await;
    let (_, params_b) = started(&w, "alice").await;
    let forged = CallbackParams {
        state: params_b.state.clone(),
        code: params_a.code.clone(),
        ..CallbackParams::default()
    };
    let err = w.flows.callback("alice", forged).await.unwrap_err();
    assert_eq!(err.code, "code_exchange_failed", "{err}");
    assert!(err.message.contains("PKCE verification failed"), "{err}");
    assert!(err.message.contains("invalid_grant"), "{err}");
    assert!(!err.message.contains("CANARY"), "{err}");
    assert!(
        w.store
            .get_user_token(&UserTokenKey::oauth("alice", CONNECTOR))
            .await
            .unwrap()
            .is_none()
    );
    // The same through EARS.
    let w = World::new(Mode::Ears).await;
    let (_, params_a) = started(&w, "alice").await;
    let (_, params_b) = started(&w, "alice").await;
    let forged = CallbackParams {
        state: params_b.state,
        code: params_a.code,
        ..CallbackParams::default()
    };
    let err = w.flows.callback("alice", forged).await.unwrap_err();
    assert_eq!(err.code, "code_exchange_failed", "{err}");
}

#[tokio::test]
async fn cancel_is_for_the_owner_only_and_repeat_calls_are_harmless() {
    let w = World::new(Mode::Direct).await;
    let (state, params) = started(&w, "alice").await;
    let err = w.flows.cancel("mallory", &state).await.unwrap_err();
    assert_eq!(err.code, "state_user_mismatch", "{err}");
    assert!(w.flows.cancel("alice", &state).await.unwrap());
    assert!(!w.flows.cancel("alice", &state).await.unwrap());
    let err = w.flows.callback("alice", params).await.unwrap_err();
    assert_eq!(err.code, "state_not_found", "{err}");
}

#[tokio::test]
async fn another_users_token_is_never_used() {
    let w = World::new(Mode::Direct).await;
    let alice = w.connect("alice").await;
    // Bob has no token of his own: he is told to authorize; alice's token is not used.
    let err = w.me("bob").await.unwrap_err();
    assert_eq!(err.code, "not_authorized", "{err}");
    assert!(err.message.contains("`bob`"), "{err}");
    assert_eq!(w.provider.api_calls("alice"), 0);
    // Each user acts as themself.
    w.connect("bob").await;
    assert_eq!(w.me("alice").await.unwrap(), json!({"user": "alice"}));
    assert_eq!(w.me("bob").await.unwrap(), json!({"user": "bob"}));
    // The per-user store API refuses alice's token id to bob.
    let err = w
        .store
        .get_user_token_by_id("bob", &alice.token_id)
        .await
        .unwrap_err();
    assert_eq!(err.code(), "token_not_owned");
    // Bob disconnecting removes his tokens only.
    w.flows.disconnect(CONNECTOR, "bob").await.unwrap();
    assert_eq!(w.me("alice").await.unwrap(), json!({"user": "alice"}));
    assert_eq!(w.me("bob").await.unwrap_err().code, "not_authorized");
}

#[tokio::test]
async fn token_ids_cannot_cross_scopes() {
    let w = World::new(Mode::Direct).await;
    let alice = w.connect("alice").await;
    let shared = w
        .store
        .put_shared_token(CONNECTOR, TokenData::bearer("shared-token-value"))
        .await
        .unwrap();
    let err = w
        .store
        .get_user_token_by_id("alice", &shared.id)
        .await
        .unwrap_err();
    assert_eq!(err.code(), "token_scope_mismatch");
    let err = w
        .store
        .get_shared_token_by_id(&alice.token_id)
        .await
        .unwrap_err();
    assert_eq!(err.code(), "token_scope_mismatch");
    // A shared token on the connector is not a per-user token: a user without one is
    // still told to authorize.
    assert_eq!(w.me("bob").await.unwrap_err().code, "not_authorized");
}

#[tokio::test]
async fn a_ciphertext_moved_onto_another_users_row_does_not_open() {
    let w = World::new(Mode::Direct).await;
    w.connect("alice").await;
    w.connect("bob").await;
    let pool = sqlx::SqlitePool::connect(&format!(
        "sqlite://{}",
        w.dir.path().join("tokens.db").display()
    ))
    .await
    .unwrap();
    let moved = sqlx::query(
        "UPDATE tokens SET access_token = \
         (SELECT access_token FROM tokens WHERE user_id = 'alice') WHERE user_id = 'bob'",
    )
    .execute(&pool)
    .await
    .unwrap();
    assert_eq!(moved.rows_affected(), 1);
    pool.close().await;
    // Bob never acts as alice: the sealed value is bound to alice's row.
    let err = w.me("bob").await.unwrap_err();
    assert_eq!(err.code, "decrypt_failed", "{err}");
    assert_eq!(err.class, ErrorClass::System);
    assert_eq!(w.me("alice").await.unwrap(), json!({"user": "alice"}));
    assert_eq!(w.provider.api_calls("bob"), 0);
}

#[tokio::test]
async fn a_per_user_connector_refuses_a_call_without_a_user() {
    let w = World::new(Mode::Direct).await;
    w.connect("alice").await;
    let err = w.me("").await.unwrap_err();
    assert_eq!(err.code, "user_required", "{err}");
    let err = w
        .flows
        .start(CONNECTOR, "", StartOptions::default())
        .await
        .unwrap_err();
    assert_eq!(err.code, "user_required", "{err}");
}

#[tokio::test]
async fn an_unregistered_connector_cannot_start() {
    let w = World::new(Mode::Direct).await;
    let err = w
        .flows
        .start("nope", "alice", StartOptions::default())
        .await
        .unwrap_err();
    assert_eq!(err.code, "unknown_connector", "{err}");
}

/// A flow whose token endpoint is a wiremock server answering `body` with `status`.
async fn exchange_against(body: ResponseTemplate) -> connector_runtime::ActionError {
    let token_server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/token"))
        .respond_with(body)
        .mount(&token_server)
        .await;
    let provider = oauth_support::MockProvider::start().await;
    let dir = tempfile::tempdir().unwrap();
    let store = oauth_support::store(&dir).await;
    let redirect_uri = "http://127.0.0.1:9/cb";
    let flows = OAuthFlows::new(
        store.tokens,
        store.states,
        OAuthSettings::new(redirect_uri).unwrap(),
    )
    .unwrap();
    let instance = connector_runtime::ConnectorInstance::new(
        Arc::new(oauth_support::spec()),
        json!({
            "authType": "oauth_authorization_code",
            "base": provider.url(""),
            "authorizationUrl": provider.url("/authorize"),
            "tokenUrl": format!("{}/token", token_server.uri()),
            "clientId": CLIENT_ID,
        }),
        json!({ "clientSecret": CLIENT_SECRET }),
    )
    .unwrap();
    flows.register(CONNECTOR, &instance).unwrap();
    let a = flows
        .start(CONNECTOR, "alice", StartOptions::default())
        .await
        .unwrap();
    let params = authorize_as(&a.authorization_url, "alice", redirect_uri).await;
    flows.callback("alice", params).await.unwrap_err()
}

#[tokio::test]
async fn malformed_token_responses_are_typed_errors() {
    let err = exchange_against(ResponseTemplate::new(200).set_body_string("<html>hi")).await;
    assert_eq!(err.code, "invalid_token_response", "{err}");
    let err =
        exchange_against(ResponseTemplate::new(200).set_body_json(json!({"token": "x"}))).await;
    assert_eq!(err.code, "invalid_token_response", "{err}");
    assert!(err.message.contains("access_token"), "{err}");
    let err = exchange_against(
        ResponseTemplate::new(200).set_body_json(json!({"access_token": "a", "expires_in": []})),
    )
    .await;
    assert_eq!(err.code, "invalid_token_response", "{err}");
    let err = exchange_against(ResponseTemplate::new(502).set_body_string("bad gateway")).await;
    assert_eq!(err.code, "token_request_failed", "{err}");
    assert_eq!(err.class, ErrorClass::Transient);
    let err = exchange_against(
        ResponseTemplate::new(400)
            .set_body_json(json!({"error": "invalid_grant", "error_description": "code expired"})),
    )
    .await;
    assert_eq!(err.code, "code_exchange_failed", "{err}");
    assert!(err.message.contains("code expired"), "{err}");
    // A provider echoing the client secret in its description is scrubbed.
    let err = exchange_against(ResponseTemplate::new(400).set_body_json(
            json!({"error": "invalid_client", "error_description": format!("secret {CLIENT_SECRET} is wrong")}),
        ),
    )
    .await;
    assert!(!err.message.contains(CLIENT_SECRET), "{err}");
    assert!(err.message.contains("[REDACTED]"), "{err}");
}

#[tokio::test]
async fn a_token_endpoint_the_egress_policy_refuses_gets_no_request() {
    // The provider is on 127.0.0.1; named `localhost`, the token URL resolves there, and a
    // policy without loopback drops that address when the token client connects.
    let w = World::new(Mode::Direct).await;
    let settings = OAuthSettings::new(w.redirect_uri.clone())
        .unwrap()
        .with_egress(connector_runtime::EgressPolicy::default());
    let flows = OAuthFlows::new(Arc::clone(&w.store), Arc::clone(&w.states), settings).unwrap();
    let port = w.provider.addr.port();
    let instance = connector_runtime::ConnectorInstance::new(
        Arc::new(oauth_support::spec()),
        json!({
            "authType": "oauth_authorization_code",
            "base": w.provider.url(""),
            "authorizationUrl": w.provider.url("/authorize"),
            "tokenUrl": format!("http://localhost:{port}/token"),
            "clientId": CLIENT_ID,
        }),
        json!({ "clientSecret": CLIENT_SECRET }),
    )
    .unwrap();
    flows.register("guarded", &instance).unwrap();
    let a = flows
        .start("guarded", "alice", StartOptions::default())
        .await
        .unwrap();
    let params = authorize_as(&a.authorization_url, "alice", &w.redirect_uri).await;
    let err = flows.callback("alice", params).await.unwrap_err();
    assert_eq!(err.code, "egress_refused", "{err}");
    assert_eq!(err.class, ErrorClass::User);
    assert!(err.message.contains("loopback"), "{err}");
    assert_eq!(w.provider.code_exchanges(), 0, "no token request was sent");
}
