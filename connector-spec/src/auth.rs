//! The auth types, each with its configuration and secrets schema, defined once.

use std::sync::OnceLock;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

/// Every auth type a connector may accept.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize, JsonSchema,
)]
#[serde(rename_all = "snake_case")]
pub enum AuthTypeId {
    /// No credentials.
    None,
    /// HTTP Basic: username and password.
    Basic,
    /// `Authorization: Bearer <token>`.
    Bearer,
    /// An API key in a configurable header.
    ApiKeyHeader,
    /// An API key in a configurable query parameter.
    ApiKeyQuery,
    /// Arbitrary secret headers.
    Headers,
    /// The secret is the URL itself (incoming webhooks).
    WebhookUrl,
    /// OAuth 2.0 client credentials grant.
    OauthClientCredentials,
    /// OAuth 2.0 authorization code grant with PKCE, per user.
    OauthAuthorizationCode,
    /// Elastic Auth Redirect Service: OAuth through a broker that holds the client, per user.
    Ears,
    /// Mutual TLS with a client certificate.
    Mtls,
    /// AWS Signature Version 4.
    AwsSigv4,
    /// A key id and a key, each in its own header (Tines, Cortex XSOAR 8).
    ApiKeyPair,
    /// OAuth 2.0 JWT bearer grant (RFC 7523 section 2.1), as ServiceNow's OAuth with a JWT.
    OauthJwtBearer,
    /// A Google Cloud service-account JSON key: an RS256 JWT exchanged at the key's
    /// `token_uri` for an access token (Vertex AI).
    GcpServiceAccount,
}

/// Whether a connector instance has one credential set or one per user.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum AuthMode {
    Shared,
    PerUser,
}

impl AuthMode {
    pub fn as_str(self) -> &'static str {
        match self {
            AuthMode::Shared => "shared",
            AuthMode::PerUser => "per_user",
        }
    }
}

impl AuthTypeId {
    pub const ALL: [AuthTypeId; 15] = [
        AuthTypeId::None,
        AuthTypeId::Basic,
        AuthTypeId::Bearer,
        AuthTypeId::ApiKeyHeader,
        AuthTypeId::ApiKeyQuery,
        AuthTypeId::Headers,
        AuthTypeId::WebhookUrl,
        AuthTypeId::OauthClientCredentials,
        AuthTypeId::OauthAuthorizationCode,
        AuthTypeId::Ears,
        AuthTypeId::Mtls,
        AuthTypeId::AwsSigv4,
        AuthTypeId::ApiKeyPair,
        AuthTypeId::OauthJwtBearer,
        AuthTypeId::GcpServiceAccount,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            AuthTypeId::None => "none",
            AuthTypeId::Basic => "basic",
            AuthTypeId::Bearer => "bearer",
            AuthTypeId::ApiKeyHeader => "api_key_header",
            AuthTypeId::ApiKeyQuery => "api_key_query",
            AuthTypeId::Headers => "headers",
            AuthTypeId::WebhookUrl => "webhook_url",
            AuthTypeId::OauthClientCredentials => "oauth_client_credentials",
            AuthTypeId::OauthAuthorizationCode => "oauth_authorization_code",
            AuthTypeId::Ears => "ears",
            AuthTypeId::Mtls => "mtls",
            AuthTypeId::AwsSigv4 => "aws_sigv4",
            AuthTypeId::ApiKeyPair => "api_key_pair",
            AuthTypeId::OauthJwtBearer => "oauth_jwt_bearer",
            AuthTypeId::GcpServiceAccount => "gcp_service_account",
        }
    }

    pub fn parse(s: &str) -> Option<AuthTypeId> {
        AuthTypeId::ALL.into_iter().find(|t| t.as_str() == s)
    }

    /// Human title for forms.
    pub fn title(self) -> &'static str {
        match self {
            AuthTypeId::None => "No authentication",
            AuthTypeId::Basic => "Basic authentication",
            AuthTypeId::Bearer => "Bearer token",
            AuthTypeId::ApiKeyHeader => "API key (header)",
            AuthTypeId::ApiKeyQuery => "API key (query parameter)",
            AuthTypeId::Headers => "Custom headers",
            AuthTypeId::WebhookUrl => "Webhook URL",
            AuthTypeId::OauthClientCredentials => "OAuth 2.0 client credentials",
            AuthTypeId::OauthAuthorizationCode => "OAuth 2.0 authorization code (per user)",
            AuthTypeId::Ears => "Elastic Auth Redirect Service (per user)",
            AuthTypeId::Mtls => "Mutual TLS (client certificate)",
            AuthTypeId::AwsSigv4 => "AWS Signature Version 4",
            AuthTypeId::ApiKeyPair => "API key ID and key (two headers)",
            AuthTypeId::OauthJwtBearer => "OAuth 2.0 JWT bearer grant",
            AuthTypeId::GcpServiceAccount => "Google Cloud service account key",
        }
    }

    /// Per-user for the user-delegated OAuth flows, shared for everything else.
    pub fn auth_mode(self) -> AuthMode {
        match self {
            AuthTypeId::OauthAuthorizationCode | AuthTypeId::Ears => AuthMode::PerUser,
            _ => AuthMode::Shared,
        }
    }

    /// JSON Schema of this auth type's non-secret configuration, built once per type.
    pub fn config_schema(self) -> &'static Value {
        static SCHEMAS: [OnceLock<Value>; AuthTypeId::ALL.len()] =
            [const { OnceLock::new() }; AuthTypeId::ALL.len()];
        SCHEMAS[self.index()].get_or_init(|| self.build_config_schema())
    }

    /// JSON Schema of this auth type's secrets, built once per type.
    pub fn secrets_schema(self) -> &'static Value {
        static SCHEMAS: [OnceLock<Value>; AuthTypeId::ALL.len()] =
            [const { OnceLock::new() }; AuthTypeId::ALL.len()];
        SCHEMAS[self.index()].get_or_init(|| self.build_secrets_schema())
    }

    /// This type's position in [`AuthTypeId::ALL`].
    fn index(self) -> usize {
        AuthTypeId::ALL
            .iter()
            .position(|t| *t == self)
            .expect("every auth type is in ALL")
    }

    fn build_config_schema(self) -> Value {
        match self {
            AuthTypeId::None
            | AuthTypeId::Basic
            | AuthTypeId::Bearer
            | AuthTypeId::Headers
            | AuthTypeId::WebhookUrl => object(json!({}), &[]),
            AuthTypeId::ApiKeyHeader => object(
                json!({
                    "headerName": {
                        "type": "string", "default": "X-API-Key", "minLength": 1, "maxLength": 256,
                        "x-ui": { "label": "Header name", "widget": "text", "order": 1 }
                    },
                    "prefix": prefix_field("Key prefix", 2, "Written before the key in the header value, e.g. `GenieKey ` (mind the space)")
                }),
                &[],
            ),
            AuthTypeId::ApiKeyQuery => object(
                json!({
                    "paramName": {
                        "type": "string", "default": "api_key", "minLength": 1, "maxLength": 256,
                        "x-ui": { "label": "Query parameter name", "widget": "text", "order": 1 }
                    }
                }),
                &[],
            ),
            AuthTypeId::OauthClientCredentials => oauth_client_credentials_config(),
            AuthTypeId::OauthAuthorizationCode => oauth_authorization_code_config(),
            AuthTypeId::Ears => ears_config(),
            AuthTypeId::Mtls => mtls_config(),
            AuthTypeId::AwsSigv4 => aws_sigv4_config(),
            AuthTypeId::ApiKeyPair => api_key_pair_config(),
            AuthTypeId::OauthJwtBearer => oauth_jwt_bearer_config(),
            AuthTypeId::GcpServiceAccount => gcp_service_account_config(),
        }
    }

    /// The secrets schema: every property is marked sensitive.
    fn build_secrets_schema(self) -> Value {
        match self {
            AuthTypeId::None | AuthTypeId::Ears => object(json!({}), &[]),
            AuthTypeId::Basic => object(
                json!({
                    "username": {
                        "type": "string", "minLength": 1, "maxLength": 1024,
                        "x-ui": { "label": "Username", "widget": "text", "order": 1, "sensitive": true }
                    },
                    "password": secret_field("Password", 2)
                }),
                &["username", "password"],
            ),
            AuthTypeId::Bearer => object(json!({ "token": secret_field("Token", 1) }), &["token"]),
            AuthTypeId::ApiKeyHeader | AuthTypeId::ApiKeyQuery => {
                object(json!({ "apiKey": secret_field("API key", 1) }), &["apiKey"])
            }
            AuthTypeId::Headers => object(
                json!({
                    "headers": {
                        "type": "object",
                        "additionalProperties": { "type": "string", "maxLength": 8192 },
                        "maxProperties": 64,
                        "x-ui": { "label": "Headers", "widget": "keyValue", "order": 1, "sensitive": true }
                    }
                }),
                &["headers"],
            ),
            AuthTypeId::WebhookUrl => object(
                json!({
                    "url": {
                        "type": "string", "format": "uri", "minLength": 1, "maxLength": 4096,
                        "x-ui": { "label": "Webhook URL", "widget": "password", "order": 1, "sensitive": true }
                    }
                }),
                &["url"],
            ),
            AuthTypeId::OauthClientCredentials => oauth_client_credentials_secrets(),
            AuthTypeId::OauthAuthorizationCode => object(
                json!({ "clientSecret": secret_field("Client secret", 1) }),
                &["clientSecret"],
            ),
            AuthTypeId::Mtls => object(
                json!({
                    "certificate": {
                        "type": "string", "minLength": 1, "maxLength": 65536,
                        "x-ui": { "label": "Client certificate (PEM)", "widget": "fileUpload", "order": 1, "sensitive": true }
                    },
                    "privateKey": {
                        "type": "string", "minLength": 1, "maxLength": 65536,
                        "x-ui": { "label": "Private key (PEM)", "widget": "fileUpload", "order": 2, "sensitive": true }
                    },
                    "passphrase": secret_field("Key passphrase", 3)
                }),
                &["certificate", "privateKey"],
            ),
            AuthTypeId::AwsSigv4 => object(
                json!({
                    "accessKeyId": {
                        "type": "string", "minLength": 1, "maxLength": 128,
                        "x-ui": { "label": "Access key ID", "widget": "text", "order": 1, "sensitive": true }
                    },
                    "secretAccessKey": secret_field("Secret access key", 2),
                    "sessionToken": secret_field("Session token", 3)
                }),
                &["accessKeyId", "secretAccessKey"],
            ),
            AuthTypeId::ApiKeyPair => api_key_pair_secrets(),
            AuthTypeId::OauthJwtBearer => oauth_jwt_bearer_secrets(),
            AuthTypeId::GcpServiceAccount => gcp_service_account_secrets(),
        }
    }
}

impl AuthTypeId {
    /// Conditions across this type's config and secrets fields, for a form that shows them
    /// together (each an `allOf` item over the merged object). The runtime checks the same
    /// when it builds the type's strategy.
    pub fn form_conditions(self) -> Vec<Value> {
        match self {
            AuthTypeId::OauthClientCredentials => vec![json!({
                "if": {
                    "properties": { "clientAuthentication": { "const": "private_key_jwt" } },
                    "required": ["clientAuthentication"]
                },
                "then": { "required": ["keyId", "privateKey"] },
                "else": { "required": ["clientSecret"] }
            })],
            _ => Vec::new(),
        }
    }
}

impl std::fmt::Display for AuthTypeId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// OAuth 2.0 client credentials: token endpoint, client, requested scope and audience.
fn oauth_client_credentials_config() -> Value {
    object(
        json!({
            "tokenUrl": url_field("Token URL", 1),
            "clientId": text_field("Client ID", 2),
            "scope": {
                "type": "string", "maxLength": 2048,
                "x-ui": { "label": "Scope", "widget": "text", "order": 3,
                          "helpText": "Space-separated scopes to request" }
            },
            "audience": {
                "type": "string", "maxLength": 2048,
                "x-ui": { "label": "Audience", "widget": "text", "order": 4 }
            },
            "clientAuthentication": client_auth_field(5, true),
            "keyId": {
                "type": "string", "minLength": 1, "maxLength": 1024,
                "x-ui": { "label": "Key ID", "widget": "text", "order": 6, "section": "Advanced",
                          "when": { "field": "clientAuthentication", "equals": "private_key_jwt" },
                          "helpText": "For `private_key_jwt`: the id of the signing key, written in the JWT header" }
            },
            "keyIdHeader": {
                "type": "string", "enum": ["kid", "x5t", "x5t#S256"], "default": "kid",
                "x-ui": { "label": "Key ID header parameter", "widget": "select", "order": 7, "section": "Advanced",
                          "when": { "field": "clientAuthentication", "equals": "private_key_jwt" },
                          "helpText": "Entra ID names the key by its certificate's thumbprint: `x5t` (SHA-1) or `x5t#S256` (SHA-256), base64url" }
            }
        }),
        &["tokenUrl", "clientId"],
    )
}

/// OAuth 2.0 authorization code: the two endpoints, client, scopes and where the tokens sit in the reply.
fn oauth_authorization_code_config() -> Value {
    object(
        json!({
            "authorizationUrl": url_field("Authorization URL", 1),
            "tokenUrl": url_field("Token URL", 2),
            "clientId": text_field("Client ID", 3),
            "scope": {
                "type": "string", "maxLength": 2048,
                "x-ui": { "label": "Scope", "widget": "text", "order": 4,
                          "helpText": "Space-separated scopes to request" }
            },
            "scopeParameter": {
                "type": "string", "default": "scope", "minLength": 1, "maxLength": 64,
                "x-ui": { "label": "Scope parameter name", "widget": "text", "order": 5,
                          "section": "Advanced",
                          "helpText": "Some providers (e.g. Slack user scopes) use another name" }
            },
            "clientAuthentication": client_auth_field(6, false),
            "accessTokenPath": {
                "type": "string", "default": "$.access_token", "maxLength": 256,
                "x-ui": { "label": "Access token path", "widget": "text", "order": 7, "section": "Advanced" }
            },
            "refreshTokenPath": {
                "type": "string", "default": "$.refresh_token", "maxLength": 256,
                "x-ui": { "label": "Refresh token path", "widget": "text", "order": 8, "section": "Advanced" }
            },
            "tokenRequestFormat": {
                "type": "string", "enum": ["form", "json"], "default": "form",
                "x-ui": { "label": "Token request body", "widget": "select", "order": 9, "section": "Advanced",
                          "helpText": "`form` (RFC 6749) or `json`, for providers that want the grant as a JSON object (Notion)" }
            }
        }),
        &["authorizationUrl", "tokenUrl", "clientId"],
    )
}

/// EARS: the provider, its scope and an optional EARS base URL.
fn ears_config() -> Value {
    object(
        json!({
            "provider": {
                "type": "string", "enum": ["google", "microsoft", "slack"],
                "x-ui": { "label": "Provider", "widget": "select", "order": 1 }
            },
            "scope": {
                "type": "string", "maxLength": 2048,
                "x-ui": { "label": "Scope", "widget": "text", "order": 2 }
            },
            "earsBaseUrl": {
                "type": "string", "format": "uri", "maxLength": 2048,
                "x-ui": { "label": "EARS base URL", "widget": "url", "order": 3, "section": "Advanced",
                          "helpText": "Defaults to the server's configured EARS URL" }
            }
        }),
        &["provider"],
    )
}

/// Mutual TLS: an extra CA and whether to verify the server.
fn mtls_config() -> Value {
    object(
        json!({
            "caCertificate": {
                "type": "string", "maxLength": 65536,
                "x-ui": { "label": "CA certificate (PEM)", "widget": "fileUpload", "order": 1,
                          "helpText": "Trust this CA in addition to the system roots" }
            },
            "verifyServerCertificate": {
                "type": "boolean", "default": true,
                "x-ui": { "label": "Verify the server certificate", "order": 2, "section": "Advanced" }
            }
        }),
        &[],
    )
}

/// AWS Signature Version 4: region and service.
fn aws_sigv4_config() -> Value {
    object(
        json!({
            "region": {
                "type": "string", "minLength": 1, "maxLength": 64,
                "x-ui": { "label": "Region", "widget": "text", "order": 1, "placeholder": "us-east-1" }
            },
            "service": {
                "type": "string", "minLength": 1, "maxLength": 64,
                "x-ui": { "label": "Service", "widget": "text", "order": 2, "placeholder": "bedrock" }
            }
        }),
        &["region", "service"],
    )
}

/// `clientSecret` is required unless `clientAuthentication` is `private_key_jwt`, which needs
/// `privateKey` instead: a condition across config and secrets, so it is in
/// [`AuthTypeId::form_conditions`] and checked when the strategy is built.
fn oauth_client_credentials_secrets() -> Value {
    object(
        json!({
            "clientSecret": secret_field("Client secret", 1),
            "privateKey": private_key_field(2, "For `private_key_jwt`: the RSA private key that signs the client assertion"),
            "privateKeyPassword": secret_field("Private key password", 3)
        }),
        &[],
    )
}

/// The key id (a user's email, an API key ID) and the key.
fn api_key_pair_secrets() -> Value {
    object(
        json!({
            "keyId": {
                "type": "string", "minLength": 1, "maxLength": 1024,
                "x-ui": { "label": "Key ID", "widget": "text", "order": 1, "sensitive": true,
                          "helpText": "The identifier sent with the key (a user's email, an API key ID)" }
            },
            "apiKey": secret_field("API key", 2)
        }),
        &["keyId", "apiKey"],
    )
}

/// The client secret sent with the grant, and the key that signs the assertion.
fn oauth_jwt_bearer_secrets() -> Value {
    object(
        json!({
            "clientSecret": secret_field("Client secret", 1),
            "privateKey": private_key_field(2, "RSA private key (PEM) that signs the JWT assertion"),
            "privateKeyPassword": secret_field("Private key password", 3)
        }),
        &["clientSecret", "privateKey"],
    )
}

/// A key id and a key in two headers: the header names and a prefix for the key's value.
fn api_key_pair_config() -> Value {
    object(
        json!({
            "idHeaderName": header_name_field("Key ID header name", 1),
            "keyHeaderName": header_name_field("Key header name", 2),
            "keyPrefix": prefix_field("Key prefix", 3, "Written before the key in its header value")
        }),
        &["idHeaderName", "keyHeaderName"],
    )
}

/// OAuth 2.0 JWT bearer grant: token endpoint, client, the user the JWT names (`sub`), the
/// signing key's id (`kid`), and the audience and scope.
fn oauth_jwt_bearer_config() -> Value {
    object(
        json!({
            "tokenUrl": url_field("Token URL", 1),
            "clientId": text_field("Client ID", 2),
            "userIdentifier": {
                "type": "string", "minLength": 1, "maxLength": 1024,
                "x-ui": { "label": "User identifier", "widget": "text", "order": 3,
                          "helpText": "The JWT subject (`sub`): the user the token acts as" }
            },
            "keyId": {
                "type": "string", "minLength": 1, "maxLength": 1024,
                "x-ui": { "label": "Key ID", "widget": "text", "order": 4,
                          "helpText": "The JWT header `kid`: the id of the key the provider verifies the assertion with" }
            },
            "audience": {
                "type": "string", "maxLength": 2048,
                "x-ui": { "label": "Audience", "widget": "text", "order": 5, "section": "Advanced",
                          "helpText": "The JWT `aud`; defaults to the client ID" }
            },
            "scope": {
                "type": "string", "maxLength": 2048,
                "x-ui": { "label": "Scope", "widget": "text", "order": 6, "section": "Advanced",
                          "helpText": "Space-separated scopes to request" }
            }
        }),
        &["tokenUrl", "clientId", "userIdentifier", "keyId"],
    )
}

/// The service account's JSON key file, whole.
fn gcp_service_account_secrets() -> Value {
    object(
        json!({
            "serviceAccountKey": {
                "type": "string", "minLength": 1, "maxLength": 65536,
                "x-ui": { "label": "Service account key (JSON)", "widget": "fileUpload", "order": 1,
                          "sensitive": true,
                          "helpText": "The whole JSON key file of the service account (`type: service_account`)" }
            }
        }),
        &["serviceAccountKey"],
    )
}

/// Google service account: the OAuth scope to request and an optional token endpoint
/// (default: the key's `token_uri`).
fn gcp_service_account_config() -> Value {
    object(
        json!({
            "scope": {
                "type": "string", "default": "https://www.googleapis.com/auth/cloud-platform",
                "minLength": 1, "maxLength": 2048,
                "x-ui": { "label": "Scope", "widget": "text", "order": 1, "section": "Advanced",
                          "helpText": "Space-separated OAuth scopes the token is for" }
            },
            "tokenUrl": {
                "type": "string", "format": "uri", "minLength": 1, "maxLength": 2048,
                "x-ui": { "label": "Token URL", "widget": "url", "order": 2, "section": "Advanced",
                          "helpText": "Defaults to the key's `token_uri`" }
            }
        }),
        &[],
    )
}

fn object(properties: Value, required: &[&str]) -> Value {
    let mut schema = json!({
        "type": "object",
        "properties": properties,
        "additionalProperties": false,
    });
    if !required.is_empty() {
        schema["required"] = json!(required);
    }
    schema
}

fn url_field(label: &str, order: u32) -> Value {
    json!({
        "type": "string", "format": "uri", "minLength": 1, "maxLength": 2048,
        "x-ui": { "label": label, "widget": "url", "order": order }
    })
}

fn text_field(label: &str, order: u32) -> Value {
    json!({
        "type": "string", "minLength": 1, "maxLength": 1024,
        "x-ui": { "label": label, "widget": "text", "order": order }
    })
}

fn secret_field(label: &str, order: u32) -> Value {
    json!({
        "type": "string", "minLength": 1, "maxLength": 8192,
        "x-ui": { "label": label, "widget": "password", "order": order, "sensitive": true }
    })
}

fn header_name_field(label: &str, order: u32) -> Value {
    json!({
        "type": "string", "minLength": 1, "maxLength": 256,
        "x-ui": { "label": label, "widget": "text", "order": order }
    })
}

fn prefix_field(label: &str, order: u32, help: &str) -> Value {
    json!({
        "type": "string", "default": "", "maxLength": 64, "pattern": "^[ -~]*$",
        "x-ui": { "label": label, "widget": "text", "order": order, "section": "Advanced",
                  "helpText": help }
    })
}

fn private_key_field(order: u32, help: &str) -> Value {
    json!({
        "type": "string", "minLength": 1, "maxLength": 65536,
        "x-ui": { "label": "Private key (PEM)", "widget": "fileUpload", "order": order,
                  "sensitive": true, "helpText": help }
    })
}

fn client_auth_field(order: u32, private_key_jwt: bool) -> Value {
    let methods: &[&str] = if private_key_jwt {
        &[
            "client_secret_basic",
            "client_secret_post",
            "private_key_jwt",
        ]
    } else {
        &["client_secret_basic", "client_secret_post"]
    };
    json!({
        "type": "string", "enum": methods,
        "default": "client_secret_basic",
        "x-ui": { "label": "Client authentication", "widget": "select", "order": order, "section": "Advanced" }
    })
}
