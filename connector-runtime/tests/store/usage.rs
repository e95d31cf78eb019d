//! The usage ledger ([`UsageLedger`]) on both backends: calls add up per instance, day and
//! model, reports select by range and model, two stores on one database (two processes) add to
//! the same rows, and deleting an instance deletes its usage.

use super::*;
use connector_runtime::usage::{TokenUsage, UsageEntry, UsageQuery};

fn entry(instance: &str, day: &str, model: &str, prompt: u64, completion: u64) -> UsageEntry {
    UsageEntry {
        instance: instance.into(),
        model: model.into(),
        day: day.into(),
        usage: TokenUsage {
            prompt_tokens: prompt,
            completion_tokens: completion,
            total_tokens: prompt + completion,
        },
    }
}

fn query(instance: &str, from: &str, to: &str, model: Option<&str>) -> UsageQuery {
    UsageQuery {
        instance: instance.into(),
        from: from.into(),
        to: to.into(),
        model: model.map(str::to_string),
    }
}

async fn calls_add_up_per_instance_day_and_model<B: Backend>() {
    let db = B::fresh().await;
    let store = db.open(k1()).await;
    let ledger = store.stores().usage;
    for e in [
        entry("gem", "2026-12-01", "gemini-2.5-pro", 100, 20),
        entry("gem", "2026-12-01", "gemini-2.5-pro", 50, 5),
        entry("gem", "2026-12-01", "gemini-2.5-flash", 7, 3),
        entry("gem", "2026-12-03", "gemini-2.5-pro", 1, 1),
        entry("other", "2026-12-01", "gemini-2.5-pro", 1000, 1000),
    ] {
        ledger.record(&e).await.unwrap();
    }
    let rows = ledger
        .rows(&query("gem", "2026-12-01", "2026-12-31", None))
        .await
        .unwrap();
    let got: Vec<(&str, &str, u64, u64, u64)> = rows
        .iter()
        .map(|r| {
            (
                r.day.as_str(),
                r.model.as_str(),
                r.calls,
                r.usage.prompt_tokens,
                r.usage.total_tokens,
            )
        })
        .collect();
    assert_eq!(
        got,
        [
            ("2026-12-01", "gemini-2.5-flash", 1, 7, 10),
            ("2026-12-01", "gemini-2.5-pro", 2, 150, 175),
            ("2026-12-03", "gemini-2.5-pro", 1, 1, 2),
        ]
    );
    // The range is inclusive at both ends; a model narrows it.
    let one_day = ledger
        .rows(&query("gem", "2026-12-03", "2026-12-03", None))
        .await
        .unwrap();
    assert_eq!(one_day.len(), 1);
    let flash = ledger
        .rows(&query(
            "gem",
            "2026-11-01",
            "2026-12-31",
            Some("gemini-2.5-flash"),
        ))
        .await
        .unwrap();
    assert_eq!(flash.len(), 1);
    assert_eq!(flash[0].usage.completion_tokens, 3);
    // A count past i64 is kept at the largest value the column holds.
    ledger
        .record(&entry("big", "2026-12-01", "m", u64::MAX, 0))
        .await
        .unwrap();
    let big = ledger
        .rows(&query("big", "2026-12-01", "2026-12-01", None))
        .await
        .unwrap();
    assert_eq!(big[0].usage.prompt_tokens, i64::MAX as u64);
}

async fn two_stores_on_one_database_add_to_the_same_rows<B: Backend>() {
    let db = B::fresh().await;
    let one = db.open(k1()).await.stores().usage;
    let two = db.open(k1()).await.stores().usage;
    let mut tasks = Vec::new();
    for i in 0..40u64 {
        let ledger = if i % 2 == 0 { one.clone() } else { two.clone() };
        tasks.push(tokio::spawn(async move {
            ledger
                .record(&entry("gem", "2026-12-07", "m", i, 1))
                .await
                .unwrap();
        }));
    }
    for t in tasks {
        t.await.unwrap();
    }
    let rows = one
        .rows(&query("gem", "2026-12-07", "2026-12-07", None))
        .await
        .unwrap();
    assert_eq!(rows.len(), 1);
    assert_eq!(rows[0].calls, 40);
    assert_eq!(rows[0].usage.prompt_tokens, (0..40).sum::<u64>());
    assert_eq!(rows[0].usage.completion_tokens, 40);
}

async fn deleting_an_instance_deletes_its_usage<B: Backend>() {
    let db = B::fresh().await;
    let store = db.open(k1()).await;
    store
        .create_instance(new_instance("gem", AuthTypeId::Bearer))
        .await
        .unwrap();
    let ledger = store.stores().usage;
    ledger
        .record(&entry("gem", "2026-12-07", "m", 5, 5))
        .await
        .unwrap();
    ledger
        .record(&entry("kept", "2026-12-07", "m", 5, 5))
        .await
        .unwrap();
    assert!(store.delete_instance("gem").await.unwrap());
    let all = |i: &'static str| query(i, "2026-01-01", "2026-12-31", None);
    assert!(ledger.rows(&all("gem")).await.unwrap().is_empty());
    assert_eq!(ledger.rows(&all("kept")).await.unwrap().len(), 1);
}

crate::both! {
    calls_add_up_per_instance_day_and_model => sqlite_calls_add_up_per_instance_day_and_model, postgres_calls_add_up_per_instance_day_and_model;
    two_stores_on_one_database_add_to_the_same_rows => sqlite_two_stores_on_one_database_add_to_the_same_rows, postgres_two_stores_on_one_database_add_to_the_same_rows;
    deleting_an_instance_deletes_its_usage => sqlite_deleting_an_instance_deletes_its_usage, postgres_deleting_an_instance_deletes_its_usage;
}
