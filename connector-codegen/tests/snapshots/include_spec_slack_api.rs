///`.slack_api` (Slack API), compiled from `specs/slack_api.yaml` by `include_spec!`: Post messages and Block Kit layouts to Slack channels and list the channels a bot token can see.
#[allow(dead_code)]
pub mod slack_api {
    /// The spec file as written in `include_spec!`; diagnostics name it.
    pub const FILE: &str = "specs/slack_api.yaml";
    /// The spec file's text. `include_str!` makes cargo rebuild when the file changes.
    pub const SOURCE: &str = ::core::include_str!("$WORKSPACE/specs/slack_api.yaml");
    /// The connector id.
    pub const ID: &str = ".slack_api";
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
    pub struct ConfigAllowedChannelsItem {
        ///Channel ID, e.g. C0123456789.
        #[serde(rename = "id")]
        pub id: ::std::string::String,
        ///Channel name without the leading `#`.
        #[serde(rename = "name")]
        pub name: ::std::string::String,
    }
    ///The config of `.slack_api` (its `config` schema), read in a handler with `ctx.config_as::<Config>()`.
    #[derive(
        ::core::fmt::Debug,
        ::core::clone::Clone,
        ::core::cmp::PartialEq,
        ::connector_runtime::__private::serde::Serialize,
        ::connector_runtime::__private::serde::Deserialize
    )]
    #[serde(crate = "::connector_runtime::__private::serde")]
    pub struct Config {
        ///Channels actions may post to. Leave empty to allow every channel the bot is a member of.
        #[serde(
            rename = "allowedChannels",
            default,
            skip_serializing_if = "::core::option::Option::is_none"
        )]
        pub allowed_channels: ::core::option::Option<
            ::std::vec::Vec<ConfigAllowedChannelsItem>,
        >,
    }
    ///Input of `getAllowedChannels`: List the public and private channels the bot can see (conversations.list).
    #[derive(
        ::core::fmt::Debug,
        ::core::clone::Clone,
        ::core::cmp::PartialEq,
        ::connector_runtime::__private::serde::Serialize,
        ::connector_runtime::__private::serde::Deserialize
    )]
    #[serde(crate = "::connector_runtime::__private::serde")]
    #[serde(deny_unknown_fields)]
    pub struct GetAllowedChannelsInput {
        ///Comma-separated conversation types (public_channel, private_channel, mpim, im).
        #[serde(
            rename = "types",
            default,
            skip_serializing_if = "::core::option::Option::is_none"
        )]
        pub types: ::core::option::Option<::std::string::String>,
        ///Leave archived channels out.
        #[serde(
            rename = "excludeArchived",
            default,
            skip_serializing_if = "::core::option::Option::is_none"
        )]
        pub exclude_archived: ::core::option::Option<bool>,
    }
    ///Output of `getAllowedChannels`.
    pub type GetAllowedChannelsOutput = ::connector_runtime::__private::serde_json::Value;
    ///Input of `validChannelId`: Check that a channel ID exists and is visible to the bot (conversations.info).
    #[derive(
        ::core::fmt::Debug,
        ::core::clone::Clone,
        ::core::cmp::PartialEq,
        ::connector_runtime::__private::serde::Serialize,
        ::connector_runtime::__private::serde::Deserialize
    )]
    #[serde(crate = "::connector_runtime::__private::serde")]
    #[serde(deny_unknown_fields)]
    pub struct ValidChannelIdInput {
        ///Channel ID, e.g. C0123456789.
        #[serde(rename = "channelId")]
        pub channel_id: ::std::string::String,
    }
    ///Output of `validChannelId`.
    #[derive(
        ::core::fmt::Debug,
        ::core::clone::Clone,
        ::core::cmp::PartialEq,
        ::connector_runtime::__private::serde::Serialize,
        ::connector_runtime::__private::serde::Deserialize
    )]
    #[serde(crate = "::connector_runtime::__private::serde")]
    pub struct ValidChannelIdOutput {
        #[serde(
            rename = "id",
            default,
            skip_serializing_if = "::core::option::Option::is_none"
        )]
        pub id: ::core::option::Option<::std::string::String>,
        #[serde(
            rename = "name",
            default,
            skip_serializing_if = "::core::option::Option::is_none"
        )]
        pub name: ::core::option::Option<::std::string::String>,
        #[serde(
            rename = "is_private",
            default,
            skip_serializing_if = "::core::option::Option::is_none"
        )]
        pub is_private: ::core::option::Option<bool>,
        #[serde(
            rename = "is_archived",
            default,
            skip_serializing_if = "::core::option::Option::is_none"
        )]
        pub is_archived: ::core::option::Option<bool>,
        #[serde(
            rename = "is_member",
            default,
            skip_serializing_if = "::core::option::Option::is_none"
        )]
        pub is_member: ::core::option::Option<bool>,
    }
    ///Input of `postMessage`: Post a text message to a channel (chat.postMessage).
    #[derive(
        ::core::fmt::Debug,
        ::core::clone::Clone,
        ::core::cmp::PartialEq,
        ::connector_runtime::__private::serde::Serialize,
        ::connector_runtime::__private::serde::Deserialize
    )]
    #[serde(crate = "::connector_runtime::__private::serde")]
    #[serde(deny_unknown_fields)]
    pub struct PostMessageInput {
        ///The channel to post to (ID or name), as a one-element list.
        #[serde(rename = "channels")]
        pub channels: ::std::vec::Vec<::std::string::String>,
        ///Message text; Slack mrkdwn formatting is supported.
        #[serde(rename = "text")]
        pub text: ::std::string::String,
    }
    ///Output of `postMessage`.
    #[derive(
        ::core::fmt::Debug,
        ::core::clone::Clone,
        ::core::cmp::PartialEq,
        ::connector_runtime::__private::serde::Serialize,
        ::connector_runtime::__private::serde::Deserialize
    )]
    #[serde(crate = "::connector_runtime::__private::serde")]
    pub struct PostMessageOutput {
        ///ID of the channel the message was posted to.
        #[serde(
            rename = "channel",
            default,
            skip_serializing_if = "::core::option::Option::is_none"
        )]
        pub channel: ::core::option::Option<::std::string::String>,
        ///Timestamp ID of the new message.
        #[serde(
            rename = "ts",
            default,
            skip_serializing_if = "::core::option::Option::is_none"
        )]
        pub ts: ::core::option::Option<::std::string::String>,
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
    pub struct PostBlockkitInputBlocksItem {
        #[serde(rename = "type")]
        pub r#type: ::std::string::String,
    }
    ///Input of `postBlockkit`: Post a Block Kit message to a channel (chat.postMessage with blocks).
    #[derive(
        ::core::fmt::Debug,
        ::core::clone::Clone,
        ::core::cmp::PartialEq,
        ::connector_runtime::__private::serde::Serialize,
        ::connector_runtime::__private::serde::Deserialize
    )]
    #[serde(crate = "::connector_runtime::__private::serde")]
    #[serde(deny_unknown_fields)]
    pub struct PostBlockkitInput {
        ///The channel to post to (ID or name), as a one-element list.
        #[serde(rename = "channels")]
        pub channels: ::std::vec::Vec<::std::string::String>,
        ///Block Kit blocks, as built in Slack's Block Kit Builder.
        #[serde(rename = "blocks")]
        pub blocks: ::std::vec::Vec<PostBlockkitInputBlocksItem>,
        ///Fallback text for notifications and clients that cannot show blocks.
        #[serde(
            rename = "text",
            default,
            skip_serializing_if = "::core::option::Option::is_none"
        )]
        pub text: ::core::option::Option<::std::string::String>,
    }
    ///Output of `postBlockkit`.
    #[derive(
        ::core::fmt::Debug,
        ::core::clone::Clone,
        ::core::cmp::PartialEq,
        ::connector_runtime::__private::serde::Serialize,
        ::connector_runtime::__private::serde::Deserialize
    )]
    #[serde(crate = "::connector_runtime::__private::serde")]
    pub struct PostBlockkitOutput {
        #[serde(
            rename = "channel",
            default,
            skip_serializing_if = "::core::option::Option::is_none"
        )]
        pub channel: ::core::option::Option<::std::string::String>,
        #[serde(
            rename = "ts",
            default,
            skip_serializing_if = "::core::option::Option::is_none"
        )]
        pub ts: ::core::option::Option<::std::string::String>,
    }
    impl ::connector_runtime::__private::ActionInput for GetAllowedChannelsInput {
        const ACTION: &'static str = "getAllowedChannels";
        type Output = GetAllowedChannelsOutput;
    }
    impl ::connector_runtime::__private::ActionInput for ValidChannelIdInput {
        const ACTION: &'static str = "validChannelId";
        type Output = ValidChannelIdOutput;
    }
    impl ::connector_runtime::__private::ActionInput for PostMessageInput {
        const ACTION: &'static str = "postMessage";
        type Output = PostMessageOutput;
    }
    impl ::connector_runtime::__private::ActionInput for PostBlockkitInput {
        const ACTION: &'static str = "postBlockkit";
        type Output = PostBlockkitOutput;
    }
    /// The Rust code the spec asks for: one method per `handler: code` action (snake_case
    /// of the action name), plus `test` and `hook` when the spec declares them in code.
    #[diagnostic::on_unimplemented(
        message = "`{Self}` does not implement the code handlers of `.slack_api`",
        note = "implement `slack_api::Handlers` for your handler type"
    )]
    pub trait Handlers: ::core::marker::Send + ::core::marker::Sync + 'static {}
    /// The connector: the declarative executor runs the spec's requests.
    pub fn connector() -> ::core::result::Result<
        ::connector_runtime::DeclarativeConnector,
        ::connector_runtime::ActionError,
    > {
        ::core::result::Result::Ok(
            ::connector_runtime::DeclarativeConnector::new(spec()?),
        )
    }
}
