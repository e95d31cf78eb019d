pub struct Acme {
    /// The API's base URL.
    pub api_url: String,
    pub project: Option<String>,
    pub signing_key: Secret,
}
impl ::connector_runtime::__private::ConnectorConfig for Acme {
    fn spec_document() -> ::connector_runtime::__private::serde_json::Map<
        ::std::string::String,
        ::connector_runtime::__private::serde_json::Value,
    > {
        let mut doc = ::connector_runtime::__private::serde_json::Map::new();
        doc.insert(
            "id".into(),
            ::connector_runtime::__private::serde_json::json!(".acme"),
        );
        doc.insert(
            "displayName".into(),
            ::connector_runtime::__private::serde_json::json!("Acme"),
        );
        doc.insert(
            "description".into(),
            ::connector_runtime::__private::serde_json::json!("Acme tickets."),
        );
        doc.insert(
            "minimumLicense".into(),
            ::connector_runtime::__private::serde_json::json!("gold"),
        );
        doc.insert(
            "supportedFeatureIds".into(),
            ::connector_runtime::__private::serde_json::json!(["workflows"]),
        );
        doc.insert(
            "auth".into(),
            ::connector_runtime::__private::serde_json::json!(
                { "types" : [{ "type" : "bearer" }], "headers" : {}, }
            ),
        );
        doc.insert(
            "config".into(),
            {
                #[allow(unused_mut)]
                let mut props = ::connector_runtime::__private::serde_json::Map::new();
                {
                    #[allow(unused_mut)]
                    let mut s = ::connector_runtime::__private::field_schema::<
                        String,
                    >(
                        ::core::option::Option::Some("The API's base URL."),
                        ::connector_runtime::__private::serde_json::json!(
                            { "label" : "API URL", "widget" : "url", "order" : 1i64 }
                        ),
                    );
                    props.insert("apiUrl".into(), s);
                }
                {
                    #[allow(unused_mut)]
                    let mut s = ::connector_runtime::__private::field_schema::<
                        String,
                    >(
                        ::core::option::Option::None,
                        ::connector_runtime::__private::serde_json::json!(
                            { "label" : "Project" }
                        ),
                    );
                    if let ::connector_runtime::__private::serde_json::Value::Object(
                        m,
                    ) = &mut s {
                        m.insert(
                            "default".into(),
                            ::connector_runtime::__private::serde_json::json!("OPS"),
                        );
                    }
                    props.insert("project".into(), s);
                }
                let mut s = ::connector_runtime::__private::serde_json::Map::new();
                s.insert(
                    "type".into(),
                    ::connector_runtime::__private::serde_json::json!("object"),
                );
                s.insert(
                    "additionalProperties".into(),
                    ::connector_runtime::__private::serde_json::json!(false),
                );
                let required: &[&str] = &["apiUrl"];
                if !required.is_empty() {
                    s.insert(
                        "required".into(),
                        ::connector_runtime::__private::serde_json::json!(required),
                    );
                }
                s.insert(
                    "properties".into(),
                    ::connector_runtime::__private::serde_json::Value::Object(props),
                );
                ::connector_runtime::__private::serde_json::Value::Object(s)
            },
        );
        doc.insert(
            "secrets".into(),
            {
                #[allow(unused_mut)]
                let mut props = ::connector_runtime::__private::serde_json::Map::new();
                {
                    #[allow(unused_mut)]
                    let mut s = ::connector_runtime::__private::field_schema::<
                        Secret,
                    >(
                        ::core::option::Option::None,
                        ::connector_runtime::__private::serde_json::json!(
                            { "label" : "Signing key" }
                        ),
                    );
                    props.insert("signingKey".into(), s);
                }
                let mut s = ::connector_runtime::__private::serde_json::Map::new();
                s.insert(
                    "type".into(),
                    ::connector_runtime::__private::serde_json::json!("object"),
                );
                s.insert(
                    "additionalProperties".into(),
                    ::connector_runtime::__private::serde_json::json!(false),
                );
                let required: &[&str] = &["signingKey"];
                if !required.is_empty() {
                    s.insert(
                        "required".into(),
                        ::connector_runtime::__private::serde_json::json!(required),
                    );
                }
                s.insert(
                    "properties".into(),
                    ::connector_runtime::__private::serde_json::Value::Object(props),
                );
                ::connector_runtime::__private::serde_json::Value::Object(s)
            },
        );
        doc
    }
    fn from_context(
        ctx: &::connector_runtime::ActionContext,
    ) -> ::core::result::Result<Self, ::connector_runtime::ActionError> {
        let _ = ctx;
        ::core::result::Result::Ok(Acme {
            api_url: ::connector_runtime::__private::config_field::<
                String,
            >(&ctx.config, "apiUrl")?,
            project: ::connector_runtime::__private::config_field::<
                Option<String>,
            >(&ctx.config, "project")?,
            signing_key: ::connector_runtime::__private::secret_field::<
                Secret,
            >(&ctx.secrets, "signingKey")?,
        })
    }
    fn to_parts(
        &self,
    ) -> ::core::result::Result<
        ::connector_runtime::__private::InstanceParts,
        ::connector_runtime::ActionError,
    > {
        #[allow(unused_mut)]
        let mut config = ::connector_runtime::__private::serde_json::Map::new();
        #[allow(unused_mut)]
        let mut secrets = ::connector_runtime::__private::serde_json::Map::new();
        if let ::core::option::Option::Some(v) = ::connector_runtime::__private::config_value(
            "apiUrl",
            &self.api_url,
        )? {
            config.insert("apiUrl".into(), v);
        }
        if let ::core::option::Option::Some(v) = ::connector_runtime::__private::config_value(
            "project",
            &self.project,
        )? {
            config.insert("project".into(), v);
        }
        if let ::core::option::Option::Some(v) = ::connector_runtime::__private::SecretField::secret_value(
            &self.signing_key,
        ) {
            secrets.insert("signingKey".into(), v);
        }
        ::core::result::Result::Ok((config, secrets))
    }
}
