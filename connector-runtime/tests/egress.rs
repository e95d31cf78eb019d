//! The egress policy enforced at request time (SSRF): a request URL and every redirect hop
//! are checked before any connection is made. Everything stays on loopback: the refused
//! targets are loopback names and addresses the policy does not allow.
//!
//!     cargo test -p connector-runtime --test egress

mod policy_support;

use connector_runtime::{EgressPolicy, ErrorClass, InstanceRuntime};
use policy_support::{Harness, bounded};
use serde_json::json;
use wiremock::matchers::{method, path};
use wiremock::{Mock, MockServer, ResponseTemplate};

const GET: &str = "
    actions:
      get:
        description: Read.
        scope: read
        request: { method: GET, path: /start }
";

/// The harness's instance, rebuilt with `policy`.
fn guarded(h: &mut Harness, policy: EgressPolicy) {
    h.runtime = InstanceRuntime::new_with_egress(h.runtime.instance.clone(), policy)
        .expect("the runtime builds");
}

/// `/start` redirects to `target`; `/steal` answers 200 (and must never be reached).
async fn redirecting_server(target: impl Fn(u16) -> String) -> MockServer {
    let server = MockServer::start().await;
    let port = server.address().port();
    Mock::given(method("GET"))
        .and(path("/start"))
        .respond_with(ResponseTemplate::new(302).insert_header("Location", target(port)))
        .mount(&server)
        .await;
    Mock::given(path("/steal"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({"secret": "internal"})))
        .mount(&server)
        .await;
    server
}

async fn hits(server: &MockServer, p: &str) -> usize {
    server
        .received_requests()
        .await
        .expect("recording")
        .iter()
        .filter(|r| r.url.path() == p)
        .count()
}

#[tokio::test]
async fn a_redirect_to_a_host_off_the_allowed_list_is_refused_and_never_followed() {
    bounded(async {
        let server = redirecting_server(|port| format!("http://localhost:{port}/steal")).await;
        let base = format!("http://127.0.0.1:{}", server.address().port());

        // Without a policy the redirect is followed: the setup can tell.
        let open = Harness::new(&base, GET);
        assert_eq!(
            open.run("get", json!({})).await,
            Ok(json!({"secret": "internal"}))
        );
        assert_eq!(hits(&server, "/steal").await, 1);

        let mut h = Harness::new(&base, GET);
        guarded(
            &mut h,
            EgressPolicy {
                allowed_hosts: vec!["127.0.0.1".into()],
                allow_loopback: true,
            },
        );
        let e = h.run("get", json!({})).await.unwrap_err();
        assert_eq!(e.code, "egress_refused", "{e:?}");
        assert_eq!(e.class, ErrorClass::User);
        assert!(e.message.contains("`localhost`"), "{}", e.message);
        assert!(e.message.contains("allowed-hosts"), "{}", e.message);
        assert!(!e.message.contains("/steal"), "no path in the message");
        assert_eq!(
            hits(&server, "/steal").await,
            1,
            "the guarded call never got there"
        );
        assert_eq!(hits(&server, "/start").await, 2, "refusals are not retried");
    })
    .await;
}

#[tokio::test]
async fn a_redirect_to_a_refused_address_is_refused() {
    bounded(async {
        // Loopback is allowed; the metadata address (in its IPv4-mapped IPv6 form) is not,
        // and the hop is refused before any connection is made.
        let server =
            redirecting_server(|_| "http://[::ffff:169.254.169.254]/latest/meta-data".into()).await;
        let base = format!("http://127.0.0.1:{}", server.address().port());
        let mut h = Harness::new(&base, GET);
        guarded(
            &mut h,
            EgressPolicy {
                allowed_hosts: vec!["*".into()],
                allow_loopback: true,
            },
        );
        let e = h.run("get", json!({})).await.unwrap_err();
        assert_eq!(e.code, "egress_refused", "{e:?}");
        assert!(e.message.contains("metadata"), "{}", e.message);
    })
    .await;
}

#[tokio::test]
async fn a_request_to_a_refused_address_is_never_sent() {
    bounded(async {
        let server = MockServer::start().await;
        Mock::given(path("/start"))
            .respond_with(ResponseTemplate::new(200).set_body_json(json!({})))
            .mount(&server)
            .await;
        // An IP literal never reaches a resolver: the URL itself is checked.
        let base = format!("http://127.0.0.1:{}", server.address().port());
        let mut h = Harness::new(&base, GET);
        guarded(&mut h, EgressPolicy::default());
        let e = h.run("get", json!({})).await.unwrap_err();
        assert_eq!(e.code, "egress_refused", "{e:?}");
        assert!(e.message.contains("loopback"), "{}", e.message);

        // Nor under the name `localhost`.
        let base = format!("http://localhost:{}", server.address().port());
        let mut h = Harness::new(&base, GET);
        guarded(&mut h, EgressPolicy::default());
        let e = h.run("get", json!({})).await.unwrap_err();
        assert_eq!(e.code, "egress_refused", "{e:?}");
        assert!(server.received_requests().await.unwrap().is_empty());
    })
    .await;
}
