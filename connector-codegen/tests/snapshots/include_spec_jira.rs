///`.jira` (Jira), compiled from `specs/jira.yaml` by `include_spec!`: Create and update Jira issues and read issue types, fields and issues of a Jira Cloud project.
#[allow(dead_code)]
pub mod jira_spec {
    /// The spec file as written in `include_spec!`; diagnostics name it.
    pub const FILE: &str = "specs/jira.yaml";
    /// The spec file's text. `include_str!` makes cargo rebuild when the file changes.
    pub const SOURCE: &str = ::core::include_str!("$WORKSPACE/specs/jira.yaml");
    /// The connector id.
    pub const ID: &str = ".jira";
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
    ///The config of `.jira` (its `config` schema), read in a handler with `ctx.config_as::<Config>()`.
    #[derive(
        ::core::fmt::Debug,
        ::core::clone::Clone,
        ::core::cmp::PartialEq,
        ::connector_runtime::__private::serde::Serialize,
        ::connector_runtime::__private::serde::Deserialize
    )]
    #[serde(crate = "::connector_runtime::__private::serde")]
    pub struct Config {
        ///Your Jira site, e.g. https://example.atlassian.net.
        #[serde(rename = "apiUrl")]
        pub api_url: ::std::string::String,
        ///Key of the project issues are created in, e.g. SEC.
        #[serde(rename = "projectKey")]
        pub project_key: ::std::string::String,
    }
    ///Input of `getFields`: List every system and custom field of the Jira site.
    #[derive(
        ::core::fmt::Debug,
        ::core::clone::Clone,
        ::core::cmp::PartialEq,
        ::connector_runtime::__private::serde::Serialize,
        ::connector_runtime::__private::serde::Deserialize
    )]
    #[serde(crate = "::connector_runtime::__private::serde")]
    pub struct GetFieldsInput {}
    ///Output of `getFields`.
    pub type GetFieldsOutput = ::connector_runtime::__private::serde_json::Value;
    ///Input of `getIncident`: Read the main fields of one issue by ID or key.
    #[derive(
        ::core::fmt::Debug,
        ::core::clone::Clone,
        ::core::cmp::PartialEq,
        ::connector_runtime::__private::serde::Serialize,
        ::connector_runtime::__private::serde::Deserialize
    )]
    #[serde(crate = "::connector_runtime::__private::serde")]
    #[serde(deny_unknown_fields)]
    pub struct GetIncidentInput {
        ///Issue ID (10001) or key (SEC-12).
        #[serde(rename = "externalId")]
        pub external_id: ::std::string::String,
    }
    ///Output of `getIncident`.
    #[derive(
        ::core::fmt::Debug,
        ::core::clone::Clone,
        ::core::cmp::PartialEq,
        ::connector_runtime::__private::serde::Serialize,
        ::connector_runtime::__private::serde::Deserialize
    )]
    #[serde(crate = "::connector_runtime::__private::serde")]
    pub struct GetIncidentOutput {
        #[serde(
            rename = "id",
            default,
            skip_serializing_if = "::core::option::Option::is_none"
        )]
        pub id: ::core::option::Option<::std::string::String>,
        #[serde(
            rename = "key",
            default,
            skip_serializing_if = "::core::option::Option::is_none"
        )]
        pub key: ::core::option::Option<::std::string::String>,
        #[serde(
            rename = "summary",
            default,
            skip_serializing_if = "::core::option::Option::is_none"
        )]
        pub summary: ::core::option::Option<::std::string::String>,
        #[serde(
            rename = "description",
            default,
            skip_serializing_if = "::core::option::Option::is_none"
        )]
        pub description: ::core::option::Option<
            ::connector_runtime::__private::serde_json::Value,
        >,
        #[serde(
            rename = "status",
            default,
            skip_serializing_if = "::core::option::Option::is_none"
        )]
        pub status: ::core::option::Option<::std::string::String>,
        #[serde(
            rename = "created",
            default,
            skip_serializing_if = "::core::option::Option::is_none"
        )]
        pub created: ::core::option::Option<::std::string::String>,
        #[serde(
            rename = "updated",
            default,
            skip_serializing_if = "::core::option::Option::is_none"
        )]
        pub updated: ::core::option::Option<::std::string::String>,
    }
    ///A nested object.
    #[derive(
        ::core::fmt::Debug,
        ::core::clone::Clone,
        ::core::cmp::PartialEq,
        ::connector_runtime::__private::serde::Serialize,
        ::connector_runtime::__private::serde::Deserialize
    )]
    #[serde(crate = "::connector_runtime::__private::serde")]
    #[serde(deny_unknown_fields)]
    pub struct PushToServiceInputIncident {
        #[serde(rename = "summary")]
        pub summary: ::std::string::String,
        #[serde(
            rename = "description",
            default,
            skip_serializing_if = "::core::option::Option::is_none"
        )]
        pub description: ::core::option::Option<
            ::connector_runtime::__private::serde_json::Value,
        >,
        ///ID or key of the issue to update; null creates a new issue.
        #[serde(
            rename = "externalId",
            default,
            skip_serializing_if = "::core::option::Option::is_none"
        )]
        pub external_id: ::core::option::Option<
            ::connector_runtime::__private::serde_json::Value,
        >,
        ///Issue type ID; defaults to the project's first issue type.
        #[serde(
            rename = "issueType",
            default,
            skip_serializing_if = "::core::option::Option::is_none"
        )]
        pub issue_type: ::core::option::Option<
            ::connector_runtime::__private::serde_json::Value,
        >,
        ///Priority name, e.g. High.
        #[serde(
            rename = "priority",
            default,
            skip_serializing_if = "::core::option::Option::is_none"
        )]
        pub priority: ::core::option::Option<
            ::connector_runtime::__private::serde_json::Value,
        >,
        ///Labels; Jira labels cannot contain spaces.
        #[serde(
            rename = "labels",
            default,
            skip_serializing_if = "::core::option::Option::is_none"
        )]
        pub labels: ::core::option::Option<
            ::connector_runtime::__private::serde_json::Value,
        >,
        ///Key of the parent issue, for sub-tasks.
        #[serde(
            rename = "parent",
            default,
            skip_serializing_if = "::core::option::Option::is_none"
        )]
        pub parent: ::core::option::Option<
            ::connector_runtime::__private::serde_json::Value,
        >,
        ///Further fields by field ID, sent as-is in the issue's `fields`.
        #[serde(
            rename = "otherFields",
            default,
            skip_serializing_if = "::core::option::Option::is_none"
        )]
        pub other_fields: ::core::option::Option<
            ::connector_runtime::__private::serde_json::Value,
        >,
    }
    ///Input of `pushToService`: Create an issue, or update it when `incident.externalId` is set, then add the comments.
    #[derive(
        ::core::fmt::Debug,
        ::core::clone::Clone,
        ::core::cmp::PartialEq,
        ::connector_runtime::__private::serde::Serialize,
        ::connector_runtime::__private::serde::Deserialize
    )]
    #[serde(crate = "::connector_runtime::__private::serde")]
    #[serde(deny_unknown_fields)]
    pub struct PushToServiceInput {
        #[serde(rename = "incident")]
        pub incident: PushToServiceInputIncident,
        #[serde(
            rename = "comments",
            default,
            skip_serializing_if = "::core::option::Option::is_none"
        )]
        pub comments: ::core::option::Option<
            ::connector_runtime::__private::serde_json::Value,
        >,
    }
    ///A nested object.
    #[derive(
        ::core::fmt::Debug,
        ::core::clone::Clone,
        ::core::cmp::PartialEq,
        ::connector_runtime::__private::serde::Serialize,
        ::connector_runtime::__private::serde::Deserialize
    )]
    #[serde(crate = "::connector_runtime::__private::serde")]
    pub struct PushToServiceOutputCommentsItem {
        #[serde(
            rename = "commentId",
            default,
            skip_serializing_if = "::core::option::Option::is_none"
        )]
        pub comment_id: ::core::option::Option<::std::string::String>,
        #[serde(
            rename = "pushedDate",
            default,
            skip_serializing_if = "::core::option::Option::is_none"
        )]
        pub pushed_date: ::core::option::Option<::std::string::String>,
    }
    ///Output of `pushToService`.
    #[derive(
        ::core::fmt::Debug,
        ::core::clone::Clone,
        ::core::cmp::PartialEq,
        ::connector_runtime::__private::serde::Serialize,
        ::connector_runtime::__private::serde::Deserialize
    )]
    #[serde(crate = "::connector_runtime::__private::serde")]
    pub struct PushToServiceOutput {
        #[serde(
            rename = "id",
            default,
            skip_serializing_if = "::core::option::Option::is_none"
        )]
        pub id: ::core::option::Option<::std::string::String>,
        ///The issue key.
        #[serde(
            rename = "title",
            default,
            skip_serializing_if = "::core::option::Option::is_none"
        )]
        pub title: ::core::option::Option<::std::string::String>,
        #[serde(
            rename = "url",
            default,
            skip_serializing_if = "::core::option::Option::is_none"
        )]
        pub url: ::core::option::Option<::std::string::String>,
        #[serde(
            rename = "pushedDate",
            default,
            skip_serializing_if = "::core::option::Option::is_none"
        )]
        pub pushed_date: ::core::option::Option<::std::string::String>,
        #[serde(
            rename = "comments",
            default,
            skip_serializing_if = "::core::option::Option::is_none"
        )]
        pub comments: ::core::option::Option<
            ::std::vec::Vec<PushToServiceOutputCommentsItem>,
        >,
    }
    ///Input of `createIssue`: Create an issue in the configured project.
    #[derive(
        ::core::fmt::Debug,
        ::core::clone::Clone,
        ::core::cmp::PartialEq,
        ::connector_runtime::__private::serde::Serialize,
        ::connector_runtime::__private::serde::Deserialize
    )]
    #[serde(crate = "::connector_runtime::__private::serde")]
    #[serde(deny_unknown_fields)]
    pub struct CreateIssueInput {
        #[serde(rename = "summary")]
        pub summary: ::std::string::String,
        #[serde(
            rename = "description",
            default,
            skip_serializing_if = "::core::option::Option::is_none"
        )]
        pub description: ::core::option::Option<::std::string::String>,
        ///Issue type ID (see issueTypes).
        #[serde(rename = "issueType")]
        pub issue_type: ::std::string::String,
        ///Labels; Jira labels cannot contain spaces.
        #[serde(
            rename = "labels",
            default,
            skip_serializing_if = "::core::option::Option::is_none"
        )]
        pub labels: ::core::option::Option<::std::vec::Vec<::std::string::String>>,
    }
    ///Output of `createIssue`.
    #[derive(
        ::core::fmt::Debug,
        ::core::clone::Clone,
        ::core::cmp::PartialEq,
        ::connector_runtime::__private::serde::Serialize,
        ::connector_runtime::__private::serde::Deserialize
    )]
    #[serde(crate = "::connector_runtime::__private::serde")]
    pub struct CreateIssueOutput {
        #[serde(
            rename = "id",
            default,
            skip_serializing_if = "::core::option::Option::is_none"
        )]
        pub id: ::core::option::Option<::std::string::String>,
        #[serde(
            rename = "key",
            default,
            skip_serializing_if = "::core::option::Option::is_none"
        )]
        pub key: ::core::option::Option<::std::string::String>,
        #[serde(
            rename = "url",
            default,
            skip_serializing_if = "::core::option::Option::is_none"
        )]
        pub url: ::core::option::Option<::std::string::String>,
    }
    ///Input of `issueTypes`: List the issue types that can be created in the configured project.
    #[derive(
        ::core::fmt::Debug,
        ::core::clone::Clone,
        ::core::cmp::PartialEq,
        ::connector_runtime::__private::serde::Serialize,
        ::connector_runtime::__private::serde::Deserialize
    )]
    #[serde(crate = "::connector_runtime::__private::serde")]
    pub struct IssueTypesInput {}
    ///Output of `issueTypes`.
    pub type IssueTypesOutput = ::connector_runtime::__private::serde_json::Value;
    ///Input of `fieldsByIssueType`: List the fields (with allowed values and whether they are required) for creating an issue of one type.
    #[derive(
        ::core::fmt::Debug,
        ::core::clone::Clone,
        ::core::cmp::PartialEq,
        ::connector_runtime::__private::serde::Serialize,
        ::connector_runtime::__private::serde::Deserialize
    )]
    #[serde(crate = "::connector_runtime::__private::serde")]
    #[serde(deny_unknown_fields)]
    pub struct FieldsByIssueTypeInput {
        ///Issue type ID.
        #[serde(rename = "id")]
        pub id: ::std::string::String,
    }
    ///Output of `fieldsByIssueType`.
    pub type FieldsByIssueTypeOutput = ::connector_runtime::__private::serde_json::Value;
    ///Input of `issues`: Find issues of the configured project whose summary matches the given text.
    #[derive(
        ::core::fmt::Debug,
        ::core::clone::Clone,
        ::core::cmp::PartialEq,
        ::connector_runtime::__private::serde::Serialize,
        ::connector_runtime::__private::serde::Deserialize
    )]
    #[serde(crate = "::connector_runtime::__private::serde")]
    #[serde(deny_unknown_fields)]
    pub struct IssuesInput {
        ///Text to search for in issue summaries.
        #[serde(rename = "title")]
        pub title: ::std::string::String,
    }
    ///Output of `issues`.
    pub type IssuesOutput = ::connector_runtime::__private::serde_json::Value;
    ///Input of `issue`: Read one issue's ID, key and summary.
    #[derive(
        ::core::fmt::Debug,
        ::core::clone::Clone,
        ::core::cmp::PartialEq,
        ::connector_runtime::__private::serde::Serialize,
        ::connector_runtime::__private::serde::Deserialize
    )]
    #[serde(crate = "::connector_runtime::__private::serde")]
    #[serde(deny_unknown_fields)]
    pub struct IssueInput {
        ///Issue ID (10001) or key (SEC-12).
        #[serde(rename = "id")]
        pub id: ::std::string::String,
    }
    ///Output of `issue`.
    #[derive(
        ::core::fmt::Debug,
        ::core::clone::Clone,
        ::core::cmp::PartialEq,
        ::connector_runtime::__private::serde::Serialize,
        ::connector_runtime::__private::serde::Deserialize
    )]
    #[serde(crate = "::connector_runtime::__private::serde")]
    pub struct IssueOutput {
        #[serde(
            rename = "id",
            default,
            skip_serializing_if = "::core::option::Option::is_none"
        )]
        pub id: ::core::option::Option<::std::string::String>,
        #[serde(
            rename = "key",
            default,
            skip_serializing_if = "::core::option::Option::is_none"
        )]
        pub key: ::core::option::Option<::std::string::String>,
        #[serde(
            rename = "title",
            default,
            skip_serializing_if = "::core::option::Option::is_none"
        )]
        pub title: ::core::option::Option<::std::string::String>,
    }
    impl ::connector_runtime::__private::ActionInput for GetFieldsInput {
        const ACTION: &'static str = "getFields";
        type Output = GetFieldsOutput;
    }
    impl ::connector_runtime::__private::ActionInput for GetIncidentInput {
        const ACTION: &'static str = "getIncident";
        type Output = GetIncidentOutput;
    }
    impl ::connector_runtime::__private::ActionInput for PushToServiceInput {
        const ACTION: &'static str = "pushToService";
        type Output = PushToServiceOutput;
    }
    impl ::connector_runtime::__private::ActionInput for CreateIssueInput {
        const ACTION: &'static str = "createIssue";
        type Output = CreateIssueOutput;
    }
    impl ::connector_runtime::__private::ActionInput for IssueTypesInput {
        const ACTION: &'static str = "issueTypes";
        type Output = IssueTypesOutput;
    }
    impl ::connector_runtime::__private::ActionInput for FieldsByIssueTypeInput {
        const ACTION: &'static str = "fieldsByIssueType";
        type Output = FieldsByIssueTypeOutput;
    }
    impl ::connector_runtime::__private::ActionInput for IssuesInput {
        const ACTION: &'static str = "issues";
        type Output = IssuesOutput;
    }
    impl ::connector_runtime::__private::ActionInput for IssueInput {
        const ACTION: &'static str = "issue";
        type Output = IssueOutput;
    }
    /// The Rust code the spec asks for: one method per `handler: code` action (snake_case
    /// of the action name), plus `test` and `hook` when the spec declares them in code.
    #[diagnostic::on_unimplemented(
        message = "`{Self}` does not implement the code handlers of `.jira`",
        note = "implement `jira_spec::Handlers`: one method per `handler: code` action (pushToService)"
    )]
    pub trait Handlers: ::core::marker::Send + ::core::marker::Sync + 'static {
        ///`pushToService` (`handler: code`): Create an issue, or update it when `incident.externalId` is set, then add the comments.
        fn push_to_service(
            &self,
            ctx: &::connector_runtime::ActionContext,
            input: PushToServiceInput,
        ) -> impl ::core::future::Future<
            Output = ::core::result::Result<
                PushToServiceOutput,
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
                "pushToService",
                ::std::sync::Arc::new(
                    __PushToServiceHandler(::std::sync::Arc::clone(&handlers)),
                ),
            );
        ::core::result::Result::Ok(c)
    }
    struct __PushToServiceHandler<H>(::std::sync::Arc<H>);
    #[::connector_runtime::__private::async_trait]
    impl<H: Handlers> ::connector_runtime::ActionHandler for __PushToServiceHandler<H> {
        async fn call(
            &self,
            ctx: &::connector_runtime::ActionContext,
            input: ::connector_runtime::__private::serde_json::Value,
        ) -> ::core::result::Result<
            ::connector_runtime::__private::serde_json::Value,
            ::connector_runtime::ActionError,
        > {
            let input: PushToServiceInput = ::connector_runtime::__private::decode_input(
                "pushToService",
                input,
            )?;
            let output = self.0.push_to_service(ctx, input).await?;
            ::connector_runtime::__private::encode_output("pushToService", &output)
        }
    }
}
