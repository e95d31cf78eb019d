//! A listing run through `Dispatcher::execute` with `all_pages` moves each page's records out of
//! the reply instead of copying them (`DeclarativeExecutor::record_pages`). These tests pin that
//! it yields exactly what the page stream (`pages`, which keeps the whole body) yields,
//! including when the cursor is read from inside the records and when `maxRecords` cuts a page.

mod policy_support;

use futures::StreamExt;
use policy_support::*;
use serde_json::{Value, json};
use wiremock::matchers::path;
use wiremock::{Mock, MockServer, ResponseTemplate};

fn listing(base: &str, pagination: &str) -> Harness {
    let rest = format!(
        "actions:\n  list:\n    description: List things.\n    scope: read\n    request:\n      method: GET\n      path: /items\n    pagination: {pagination}\n"
    );
    Harness::new(base, &rest)
}

/// Serve `pages` in order (the last repeats).
async fn serve(server: &MockServer, pages: Vec<Value>) -> Script {
    let script = Script::new(
        pages
            .into_iter()
            .map(|p| ResponseTemplate::new(200).set_body_json(p))
            .collect(),
    );
    Mock::given(path("/items"))
        .respond_with(script.clone())
        .mount(server)
        .await;
    script
}

async fn stream_records(h: &Harness) -> Vec<Value> {
    let mut pages = h.connector.pages(h.ctx(), "list", json!({}));
    let mut out = Vec::new();
    while let Some(p) = pages.next().await {
        let p = p.expect("page");
        assert!(!p.body.is_null(), "pages() keeps the whole body");
        out.extend(p.records);
    }
    out
}

#[tokio::test]
async fn a_cursor_read_from_inside_the_records_is_followed_when_records_are_moved_out() {
    bounded(async {
        let pages = vec![
            json!({"items": [{"id": "a"}, {"id": "b"}]}),
            json!({"items": [{"id": "c"}, {"id": "d"}]}),
            json!({"items": []}),
        ];
        let pagination =
            "{ style: cursor, records: $.items, cursorParam: after, cursorPath: '$.items[1].id' }";
        let server = MockServer::start().await;
        let script = serve(&server, pages.clone()).await;
        let h = listing(&server.uri(), pagination);
        let all = h.run_all("list", json!({})).await.expect("listing");
        assert_eq!(
            all,
            json!([{"id": "a"}, {"id": "b"}, {"id": "c"}, {"id": "d"}])
        );
        let cursors: Vec<Vec<(String, String)>> = script.requests().iter().map(query).collect();
        assert_eq!(
            cursors,
            vec![vec![], pairs(&[("after", "b")]), pairs(&[("after", "d")])],
            "the cursor came from the last record of each page"
        );

        let server = MockServer::start().await;
        serve(&server, pages).await;
        let h = listing(&server.uri(), pagination);
        assert_eq!(Value::Array(stream_records(&h).await), all);
    })
    .await;
}

#[tokio::test]
async fn max_records_cuts_the_moved_out_records_like_the_page_stream() {
    bounded(async {
        let pages = vec![
            json!({"data": {"rows": [1, 2, 3]}, "next": "p2"}),
            json!({"data": {"rows": [4, 5, 6]}, "next": "p3"}),
            json!({"data": {"rows": [7]}, "next": null}),
        ];
        let pagination =
            "{ style: cursor, records: $.data.rows, cursorParam: c, cursorPath: $.next, maxRecords: 5 }";
        let server = MockServer::start().await;
        let script = serve(&server, pages.clone()).await;
        let h = listing(&server.uri(), pagination);
        assert_eq!(
            h.run_all("list", json!({})).await,
            Ok(json!([1, 2, 3, 4, 5]))
        );
        assert_eq!(script.hits(), 2, "no request after the record cap");

        let server = MockServer::start().await;
        serve(&server, pages).await;
        let h = listing(&server.uri(), pagination);
        assert_eq!(stream_records(&h).await, vec![json!(1), json!(2), json!(3), json!(4), json!(5)]);
    })
    .await;
}

#[tokio::test]
async fn a_body_that_is_the_record_list_and_a_single_object_record_are_kept() {
    bounded(async {
        // No `records` path: the body is the list.
        let server = MockServer::start().await;
        serve(&server, vec![json!([{"n": 1}, {"n": 2}])]).await;
        let h = listing(
            &server.uri(),
            "{ style: page, pageParam: page, pageSize: 5 }",
        );
        assert_eq!(
            h.run_all("list", json!({})).await,
            Ok(json!([{"n": 1}, {"n": 2}]))
        );
        assert_eq!(
            stream_records(&h).await,
            vec![json!({"n": 1}), json!({"n": 2})]
        );

        // A `records` path naming one object: that object is the page's one record.
        let server = MockServer::start().await;
        serve(&server, vec![json!({"item": {"n": 9}})]).await;
        let h = listing(
            &server.uri(),
            "{ style: page, records: $.item, pageParam: page, pageSize: 5 }",
        );
        assert_eq!(h.run_all("list", json!({})).await, Ok(json!([{"n": 9}])));
        assert_eq!(stream_records(&h).await, vec![json!({"n": 9})]);
    })
    .await;
}

/// The records of `Dispatcher::raw_pages`, parsed back; `None` when it declines the listing.
async fn raw_records(h: &Harness, input: Value) -> Option<Vec<Value>> {
    let mut pages = h.dispatcher.raw_pages(&h.ctx(), "list", input).unwrap()?;
    let mut out = Vec::new();
    while let Some(p) = pages.next().await {
        for r in p.expect("page").records {
            out.push(serde_json::from_str(r.get()).expect("a record is JSON text"));
        }
    }
    Some(out)
}

/// Records kept as text give the same listing as records built into values: nested paths,
/// escapes, the record cap, a body that is the list, one object record.
#[tokio::test]
async fn raw_records_are_the_records_of_the_value_path() {
    bounded(async {
        let cases = [
            (
                vec![
                    json!({"data": {"rows": [{"s": "a\"b\\c\u{e9}\n"}, 2, [3]]}, "next": "p2"}),
                    json!({"data": {"rows": [4, null, 6]}, "next": "p3"}),
                    json!({"data": {"rows": [7]}, "next": null}),
                ],
                "{ style: cursor, records: $.data.rows, cursorParam: c, cursorPath: $.next, maxRecords: 5 }",
            ),
            (
                vec![json!([{"n": 1}, {"n": 2}])],
                "{ style: page, pageParam: page, pageSize: 5 }",
            ),
            (
                vec![json!({"item": {"n": 9}})],
                "{ style: page, records: $.item, pageParam: page, pageSize: 5 }",
            ),
        ];
        for (pages, pagination) in cases {
            let server = MockServer::start().await;
            let script = serve(&server, pages.clone()).await;
            let h = listing(&server.uri(), pagination);
            let raw = raw_records(&h, json!({})).await.expect("kept as text");
            let hits = script.hits();
            let server = MockServer::start().await;
            serve(&server, pages).await;
            let h = listing(&server.uri(), pagination);
            assert_eq!(Value::Array(raw), h.run_all("list", json!({})).await.unwrap(), "{pagination}");
            assert!(hits <= 3, "{pagination}: {hits} requests");
        }
    })
    .await;
}

/// Where the records must be values, `raw_pages` declines and the value path is used: a
/// cursor read from inside the records, a records path with an index.
#[tokio::test]
async fn raw_pages_declines_listings_that_read_inside_their_records() {
    bounded(async {
        let server = MockServer::start().await;
        serve(&server, vec![json!({"items": [{"id": "a"}]})]).await;
        for pagination in [
            "{ style: cursor, records: $.items, cursorParam: after, cursorPath: '$.items[0].id' }",
            "{ style: cursor, records: '$.pages[0].items', cursorParam: after, cursorPath: $.next }",
        ] {
            let h = listing(&server.uri(), pagination);
            assert!(raw_records(&h, json!({})).await.is_none(), "{pagination}");
        }
    })
    .await;
}

/// A secret the API echoes inside a record kept as text is redacted, written as an escape
/// too; records with neither stay byte for byte.
#[tokio::test]
async fn raw_records_holding_a_secret_are_redacted() {
    bounded(async {
        const TOKEN: &str = "canary-raw-token-81f3";
        let server = MockServer::start().await;
        let body = format!(
            r#"{{"items": [{{"id": 1,  "echo": "Bearer {TOKEN}"}}, {{"id": 2, "esc": "canary-raw-token-81\u0066\u0033"}}, {{"id": 3,   "plain": "x"}}], "next": null}}"#
        );
        Mock::given(path("/items"))
            .respond_with(ResponseTemplate::new(200).set_body_raw(body, "application/json"))
            .mount(&server)
            .await;
        let rest = "auth:\n  types: [bearer]\nactions:\n  list:\n    description: List things.\n    scope: read\n    request:\n      method: GET\n      path: /items\n    pagination: { style: cursor, records: $.items, cursorParam: c, cursorPath: $.next }\n";
        let h = Harness::with(&server.uri(), rest, json!({}), json!({"token": TOKEN}));
        let mut pages = h.dispatcher.raw_pages(&h.ctx(), "list", json!({})).unwrap().unwrap();
        let page = pages.next().await.unwrap().unwrap();
        let texts: Vec<&str> = page.records.iter().map(|r| r.get()).collect();
        // `Bearer <token>` is the header's whole value, itself a needle, as on the value path.
        assert_eq!(texts[0], r#"{"id":1,"echo":"[REDACTED]"}"#);
        assert_eq!(texts[1], r#"{"id":2,"esc":"[REDACTED]"}"#);
        assert_eq!(texts[2], r#"{"id": 3,   "plain": "x"}"#, "untouched, byte for byte");
    })
    .await;
}
