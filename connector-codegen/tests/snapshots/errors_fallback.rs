pub struct Acme {
    pub a: String,
}
::core::compile_error! {
    "unknown connector key `dispaly_name`; did you mean `display_name`?"
}
::core::compile_error! {
    "invalid connector id `acme`: an id starts with `.`, e.g. `.acme`"
}
::core::compile_error! {
    "unknown license `silver`; expected one of: basic, gold, platinum, enterprise"
}
::core::compile_error! {
    "unknown auth type `bearr`; did you mean `bearer`?"
}
::core::compile_error! {
    "`#[connector(...)]` is missing a required key: `description`"
}
::core::compile_error! {
    "unknown field key `lable`; did you mean `label`?"
}
::core::compile_error! {
    "unknown widget `dropdown`; expected one of: text, password, textarea, select, json, code, url, keyValue, fileUpload, hidden"
}
impl ::connector_runtime::__private::ConnectorConfig for Acme {
    fn spec_document() -> ::connector_runtime::__private::serde_json::Map<
        ::std::string::String,
        ::connector_runtime::__private::serde_json::Value,
    > {
        ::core::unreachable!("the #[connector] attribute has errors")
    }
    fn from_context(
        _: &::connector_runtime::ActionContext,
    ) -> ::core::result::Result<Self, ::connector_runtime::ActionError> {
        ::core::unreachable!("the #[connector] attribute has errors")
    }
    fn to_parts(
        &self,
    ) -> ::core::result::Result<
        ::connector_runtime::__private::InstanceParts,
        ::connector_runtime::ActionError,
    > {
        ::core::unreachable!("the #[connector] attribute has errors")
    }
}
