///`.webhook` (Webhook), compiled from `specs/webhook.yaml` by `include_spec!`: Send a request to a web service of your choice with the method, headers, authentication and body you configure.
#[allow(dead_code)]
pub mod webhook {
    /// The spec file as written in `include_spec!`; diagnostics name it.
    pub const FILE: &str = "specs/webhook.yaml";
    /// The spec file's text. `include_str!` makes cargo rebuild when the file changes.
    pub const SOURCE: &str = ::core::include_str!("$WORKSPACE/specs/webhook.yaml");
    /// The connector id.
    pub const ID: &str = ".webhook";
    /// The connector's model, loaded from [`SOURCE`] by the same loader that validated it
    /// at build time (once; later calls share it).
    pub fn spec() -> ::core::result::Result<
        ::std::sync::Arc<::connector_runtime::__private::connector_spec::ConnectorSpec>,
        ::connector_runtime::ActionError,
    > {
        static SPEC: ::std::sync::OnceLock<
            ::core::result::Result<
                ::std::sync::Arc<
                    ::connector_runtime::__private::connector_spec::ConnectorSpec,
                >,
                ::connector_runtime::ActionError,
            >,
        > = ::std::sync::OnceLock::new();
        SPEC.get_or_init(|| ::connector_runtime::__private::load_embedded(FILE, SOURCE))
            .clone()
    }
    /// The `connector schema` document of this spec, byte for byte.
    pub fn schema_json() -> ::core::result::Result<
        ::std::string::String,
        ::connector_runtime::ActionError,
    > {
        ::core::result::Result::Ok(
            ::connector_runtime::__private::schema_json(&*spec()?),
        )
    }
    ///The config of `.webhook` (its `config` schema), read in a handler with `ctx.config_as::<Config>()`.
    #[derive(
        ::core::fmt::Debug,
        ::core::clone::Clone,
        ::core::cmp::PartialEq,
        ::connector_runtime::__private::serde::Serialize,
        ::connector_runtime::__private::serde::Deserialize
    )]
    #[serde(crate = "::connector_runtime::__private::serde")]
    pub struct Config {
        ///The URL the request is sent to.
        #[serde(rename = "url")]
        pub url: ::std::string::String,
        ///HTTP method of the request.
        #[serde(
            rename = "method",
            default,
            skip_serializing_if = "::core::option::Option::is_none"
        )]
        pub method: ::core::option::Option<::std::string::String>,
        ///Extra, non-secret headers sent with every request. Put credentials in the auth section instead.
        #[serde(
            rename = "headers",
            default,
            skip_serializing_if = "::core::option::Option::is_none"
        )]
        pub headers: ::core::option::Option<
            ::connector_runtime::__private::serde_json::Map<
                ::std::string::String,
                ::connector_runtime::__private::serde_json::Value,
            >,
        >,
        ///Kept so that saved `.webhook` connectors from the previous format still load. The selected auth type decides how requests authenticate; `none` is the same as `hasAuth: false`.
        #[serde(
            rename = "hasAuth",
            default,
            skip_serializing_if = "::core::option::Option::is_none"
        )]
        pub has_auth: ::core::option::Option<bool>,
    }
    ///Input of `execute`: Send the body to the configured URL with the configured method and headers.
    #[derive(
        ::core::fmt::Debug,
        ::core::clone::Clone,
        ::core::cmp::PartialEq,
        ::connector_runtime::__private::serde::Serialize,
        ::connector_runtime::__private::serde::Deserialize
    )]
    #[serde(crate = "::connector_runtime::__private::serde")]
    #[serde(deny_unknown_fields)]
    pub struct ExecuteInput {
        ///Request body, sent as-is (usually JSON).
        #[serde(
            rename = "body",
            default,
            skip_serializing_if = "::core::option::Option::is_none"
        )]
        pub body: ::core::option::Option<::std::string::String>,
    }
    ///Output of `execute`.
    #[derive(
        ::core::fmt::Debug,
        ::core::clone::Clone,
        ::core::cmp::PartialEq,
        ::connector_runtime::__private::serde::Serialize,
        ::connector_runtime::__private::serde::Deserialize
    )]
    #[serde(crate = "::connector_runtime::__private::serde")]
    #[serde(deny_unknown_fields)]
    pub struct ExecuteOutput {
        ///HTTP status of the response.
        #[serde(rename = "status")]
        pub status: i64,
        ///The response body, parsed as JSON when it is JSON, else the text.
        #[serde(
            rename = "body",
            default,
            skip_serializing_if = "::core::option::Option::is_none"
        )]
        pub body: ::core::option::Option<
            ::connector_runtime::__private::serde_json::Value,
        >,
    }
    impl ::connector_runtime::__private::ActionInput for ExecuteInput {
        const ACTION: &'static str = "execute";
        type Output = ExecuteOutput;
    }
    /// The Rust code the spec asks for: one method per `handler: code` action (snake_case
    /// of the action name), plus `test` and `hook` when the spec declares them in code.
    #[diagnostic::on_unimplemented(
        message = "`{Self}` does not implement the code handlers of `.webhook`",
        note = "implement `webhook::Handlers`: one method per `handler: code` action (execute)"
    )]
    pub trait Handlers: ::core::marker::Send + ::core::marker::Sync + 'static {
        ///`execute` (`handler: code`): Send the body to the configured URL with the configured method and headers.
        fn execute(
            &self,
            ctx: &::connector_runtime::ActionContext,
            input: ExecuteInput,
        ) -> impl ::core::future::Future<
            Output = ::core::result::Result<
                ExecuteOutput,
                ::connector_runtime::ActionError,
            >,
        > + ::core::marker::Send;
    }
    /// The connector: the declarative executor runs the spec's requests, `handlers`
    /// the `handler: code` actions.
    pub fn connector<H: Handlers>(
        handlers: H,
    ) -> ::core::result::Result<
        ::connector_runtime::DeclarativeConnector,
        ::connector_runtime::ActionError,
    > {
        let handlers = ::std::sync::Arc::new(handlers);
        let c = ::connector_runtime::DeclarativeConnector::new(spec()?);
        let c = c
            .with_handler(
                "execute",
                ::std::sync::Arc::new(
                    __ExecuteHandler(::std::sync::Arc::clone(&handlers)),
                ),
            );
        ::core::result::Result::Ok(c)
    }
    struct __ExecuteHandler<H>(::std::sync::Arc<H>);
    #[::connector_runtime::__private::async_trait]
    impl<H: Handlers> ::connector_runtime::ActionHandler for __ExecuteHandler<H> {
        async fn call(
            &self,
            ctx: &::connector_runtime::ActionContext,
            input: ::connector_runtime::__private::serde_json::Value,
        ) -> ::core::result::Result<
            ::connector_runtime::__private::serde_json::Value,
            ::connector_runtime::ActionError,
        > {
            let input: ExecuteInput = ::connector_runtime::__private::decode_input(
                "execute",
                input,
            )?;
            let output = self.0.execute(ctx, input).await?;
            ::connector_runtime::__private::encode_output("execute", &output)
        }
    }
}
