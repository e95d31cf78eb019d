//! Dispatch overhead of a `#[connector]`-generated connector against a hand-written `match`
//! over the same handlers, without network: name lookup, reading the config struct, typed input
//! decoding, the handler, output encoding. Also the full `Dispatcher` path (schema validation
//! of input and output) for scale.
//!
//! `cargo bench -p connector-examples --bench dispatch`

use std::hint::black_box;
use std::sync::Arc;

use async_trait::async_trait;
use connector_runtime::{
    ActionContext, ActionError, CancellationToken, Connector, ConnectorInstance, Dispatcher,
    ExecuteOptions, InstanceRuntime, connector,
};
use criterion::{Criterion, criterion_group, criterion_main};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

#[connector(
    id = ".bench",
    display_name = "Bench",
    description = "Dispatch benchmark.",
    license = "basic",
    auth = ["none"]
)]
pub struct Bench {
    #[field(label = "Prefix")]
    pub prefix: Option<String>,
}

#[derive(Deserialize, Serialize, JsonSchema)]
pub struct Add {
    pub a: i64,
    pub b: i64,
}

#[derive(Deserialize, Serialize, JsonSchema)]
pub struct Sum {
    pub sum: i64,
}

#[derive(Deserialize, Serialize, JsonSchema)]
pub struct Text {
    #[schemars(length(max = 100))]
    pub text: String,
}

#[derive(Deserialize, Serialize, JsonSchema)]
pub struct Count {
    pub items: Vec<i64>,
}

#[connector]
impl Bench {
    /// Add two numbers.
    #[action(scope = "read")]
    async fn add(&self, _ctx: &ActionContext, input: Add) -> Result<Sum, ActionError> {
        Ok(add(input))
    }

    /// Prefix a text.
    #[action(scope = "read")]
    async fn echo(&self, _ctx: &ActionContext, input: Text) -> Result<Text, ActionError> {
        Ok(echo(self.prefix.as_deref(), input))
    }

    /// Count items.
    #[action(scope = "read")]
    async fn count(&self, _ctx: &ActionContext, input: Count) -> Result<Sum, ActionError> {
        Ok(count(input))
    }
}

fn add(input: Add) -> Sum {
    Sum {
        sum: input.a + input.b,
    }
}

fn echo(prefix: Option<&str>, input: Text) -> Text {
    Text {
        text: match prefix {
            Some(p) => format!("{p}{}", input.text),
            None => input.text,
        },
    }
}

fn count(input: Count) -> Sum {
    Sum {
        sum: input.items.len() as i64,
    }
}

/// The same handlers behind a hand-written `match`.
struct HandWritten {
    spec: Arc<connector_runtime::__private::connector_spec::ConnectorSpec>,
}

fn bad(e: serde_json::Error) -> ActionError {
    ActionError::user("invalid_input", e.to_string())
}

#[async_trait]
impl Connector for HandWritten {
    fn spec(&self) -> &Arc<connector_runtime::__private::connector_spec::ConnectorSpec> {
        &self.spec
    }

    async fn execute(
        &self,
        ctx: &ActionContext,
        action: &str,
        input: Value,
        _opts: ExecuteOptions,
    ) -> Result<Value, ActionError> {
        let prefix = ctx.config.get("prefix").and_then(Value::as_str);
        let out = match action {
            "add" => serde_json::to_value(add(serde_json::from_value(input).map_err(bad)?)),
            "echo" => {
                serde_json::to_value(echo(prefix, serde_json::from_value(input).map_err(bad)?))
            }
            "count" => serde_json::to_value(count(serde_json::from_value(input).map_err(bad)?)),
            _ => return Err(ActionError::user("unknown_action", action.to_string())),
        };
        out.map_err(|e| ActionError::system("invalid_output", e.to_string()))
    }

    async fn test(&self, _ctx: &ActionContext) -> Result<Value, ActionError> {
        Ok(Value::Null)
    }
}

fn bench(c: &mut Criterion) {
    let rt = tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap();
    let generated = BenchConnector::new().expect("spec");
    let spec = Arc::clone(generated.spec());
    let hand = HandWritten {
        spec: Arc::clone(&spec),
    };
    let instance = ConnectorInstance::new(Arc::clone(&spec), json!({"prefix": "> "}), json!({}))
        .expect("instance");
    let runtime = InstanceRuntime::new(instance).expect("runtime");
    let ctx = runtime.context("", CancellationToken::new());
    let calls = [
        ("add", json!({"a": 2, "b": 3})),
        ("echo", json!({"text": "hello"})),
        ("count", json!({"items": [1, 2, 3, 4, 5, 6, 7, 8]})),
    ];
    // Both give the same answers.
    for (action, input) in &calls {
        let a = rt
            .block_on(generated.execute(&ctx, action, input.clone(), ExecuteOptions::default()))
            .unwrap();
        let b = rt
            .block_on(hand.execute(&ctx, action, input.clone(), ExecuteOptions::default()))
            .unwrap();
        assert_eq!(a, b, "{action}");
    }
    let mut g = c.benchmark_group("dispatch");
    g.bench_function("generated", |b| {
        b.iter(|| {
            for (action, input) in &calls {
                black_box(
                    rt.block_on(generated.execute(
                        &ctx,
                        action,
                        input.clone(),
                        ExecuteOptions::default(),
                    ))
                    .unwrap(),
                );
            }
        })
    });
    g.bench_function("hand_written", |b| {
        b.iter(|| {
            for (action, input) in &calls {
                black_box(
                    rt.block_on(hand.execute(
                        &ctx,
                        action,
                        input.clone(),
                        ExecuteOptions::default(),
                    ))
                    .unwrap(),
                );
            }
        })
    });
    let dispatcher = Dispatcher::new(Arc::new(generated.clone())).expect("dispatcher");
    g.bench_function("generated_via_dispatcher", |b| {
        b.iter(|| {
            for (action, input) in &calls {
                black_box(
                    rt.block_on(dispatcher.execute(
                        &ctx,
                        action,
                        input.clone(),
                        ExecuteOptions::default(),
                    ))
                    .unwrap(),
                );
            }
        })
    });
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
