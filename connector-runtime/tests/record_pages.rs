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
