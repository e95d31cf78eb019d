//! The canary scan of per-user OAuth: every token, code and verifier a loopback provider and
//! EARS issued or received is absent from the TRACE logs, the errors and the `Debug` output
//! of a whole flow (connect, refresh, 401, revocation, replay, not authorized, disconnect).
//! Alone in its binary, so the global log subscriber sees every event.

mod oauth_support;

use std::sync::{Arc, Mutex};
use std::time::Duration;

use connector_runtime::oauth::StartOptions;
use connector_runtime::store::UserTokenKey;
use oauth_support::{CONNECTOR, Mode, World, authorize_as};

const HOUR: Duration = Duration::from_secs(3600);

/// A tracing writer into a shared buffer.
#[derive(Clone, Default)]
struct Captured(Arc<Mutex<Vec<u8>>>);

impl std::io::Write for Captured {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl<'a> tracing_subscriber::fmt::MakeWriter<'a> for Captured {
    type Writer = Captured;
    fn make_writer(&'a self) -> Captured {
        self.clone()
    }
}

#[tokio::test(flavor = "current_thread")]
async fn canary_no_token_or_secret_in_logs_errors_or_debug() {
    let logs = Captured::default();
    let subscriber = tracing_subscriber::fmt()
        .with_max_level(tracing::Level::TRACE)
        .with_writer(logs.clone())
        .with_ansi(false)
        .finish();
    // The global subscriber of a binary that holds this one test: a thread-local default
    // misses events when other tests' threads register the same callsites concurrently.
    tracing::subscriber::set_global_default(subscriber).expect("the only subscriber");

    let mut texts: Vec<String> = Vec::new();
    for mode in [Mode::Direct, Mode::Ears] {
        let w = World::new(mode).await;
        let connected = w.connect("alice").await;
        texts.push(format!("{connected:?}"));
        texts.push(format!("{:?}", w.flows));
        texts.push(format!("{:?}", w.runtime));
        texts.push(format!("{:?}", w.flows.connector(CONNECTOR).unwrap()));
        w.me("alice").await.unwrap();
        w.clock.advance(2 * HOUR);
        w.me("alice").await.unwrap();
        // Errors of every kind: the API echoing the token, a revoked grant, a replayed
        // state, not authorized.
        w.provider.always_401("alice");
        let e = w.me("alice").await.unwrap_err();
        texts.push(format!("{e} {e:?}"));
        w.provider.revoke_grant("alice");
        w.clock.advance(2 * HOUR);
        let e = w.me("alice").await.unwrap_err();
        assert_eq!(e.code, "token_revoked");
        texts.push(format!("{e} {e:?}"));
        let rec = w
            .store
            .get_user_token(&UserTokenKey::oauth("alice", CONNECTOR))
            .await
            .unwrap();
        texts.push(format!("{rec:?}"));
        let a = w
            .flows
            .start(CONNECTOR, "bob", StartOptions::default())
            .await
            .unwrap();
        texts.push(format!("{a:?}"));
        let params = authorize_as(&a.authorization_url, "bob", &w.redirect_uri).await;
        texts.push(format!("{params} {params:?}"));
        w.flows.callback("bob", params.clone()).await.unwrap();
        let e = w.flows.callback("bob", params).await.unwrap_err();
        texts.push(format!("{e} {e:?}"));
        let e = w.me("carol").await.unwrap_err();
        texts.push(format!("{e} {e:?}"));
        w.flows.disconnect(CONNECTOR, "bob").await.unwrap();

        let logged = String::from_utf8_lossy(&logs.0.lock().unwrap()).to_string();
        assert!(
            logged.contains("refreshing the access token"),
            "TRACE logs were captured"
        );
        let secrets = w.provider.secrets();
        assert!(
            secrets.len() > 8,
            "tokens, codes and verifiers were recorded"
        );
        for s in &secrets {
            assert!(!logged.contains(s.as_str()), "{s} leaked into the logs");
            for t in &texts {
                assert!(!t.contains(s.as_str()), "{s} leaked into:\n{t}");
            }
        }
        assert!(!logged.contains("CANARY"), "a canary leaked into the logs");
    }
}
