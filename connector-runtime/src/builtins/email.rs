//! `.email` `execute` and its connection test: a message over SMTP ([`crate::smtp`]) for the
//! SMTP services, or through Microsoft Graph `sendMail` for `exchange_server` (through
//! `ctx.http()`, so the HTTP policies and the client-credentials token apply), as Kibana's
//! email connector does.

use async_trait::async_trait;
use connector_spec::AuthTypeId;
use lettre::message::{Mailbox, MultiPart, header::ContentType};
use serde_json::{Map, Value, json};

use super::util::{non_null, seg};
use crate::connector::ActionHandler;
use crate::context::ActionContext;
use crate::error::ActionError;
use crate::smtp::{Outgoing, SmtpAuth, SmtpSettings, SmtpTarget};

/// The handler of `.email` `execute`.
pub struct EmailExecute;

/// The handler of `.email`'s connection test.
pub struct EmailConnectionTest;

/// Where a message goes for the configured `service`.
#[derive(Debug, PartialEq, Eq)]
enum Route {
    Smtp(SmtpTarget),
    Graph,
}

fn config_str<'c>(config: &'c Map<String, Value>, key: &str) -> Option<&'c str> {
    config
        .get(key)
        .and_then(Value::as_str)
        .filter(|s| !s.is_empty())
}

fn config_port(config: &Map<String, Value>) -> Result<Option<u16>, ActionError> {
    match config.get("port").filter(|v| !v.is_null()) {
        None => Ok(None),
        Some(v) => v
            .as_u64()
            .and_then(|p| u16::try_from(p).ok())
            .filter(|p| *p > 0)
            .map(Some)
            .ok_or_else(|| ActionError::user("invalid_config", "`port` must be 1 to 65535")),
    }
}

/// A relay named by `host` and `port`, `secure` defaulting to implicit TLS on 465 (Kibana's
/// `getSecureValue`).
fn custom(
    config: &Map<String, Value>,
    host: Option<&str>,
    port: Option<u16>,
) -> Result<Route, ActionError> {
    let host = host.ok_or_else(|| ActionError::user("invalid_config", "[host] is required"))?;
    let port = port.ok_or_else(|| ActionError::user("invalid_config", "[port] is required"))?;
    let secure = config.get("secure").and_then(Value::as_bool);
    Ok(Route::Smtp(SmtpTarget {
        host: host
            .trim_start_matches('[')
            .trim_end_matches(']')
            .to_string(),
        port,
        implicit_tls: secure.unwrap_or(port == 465),
    }))
}

fn fixed(host: &str, port: u16, implicit_tls: bool) -> Route {
    Route::Smtp(SmtpTarget {
        host: host.to_string(),
        port,
        implicit_tls,
    })
}

fn route(config: &Map<String, Value>) -> Result<Route, ActionError> {
    let host = config_str(config, "host");
    let port = config_port(config)?;
    match config_str(config, "service").unwrap_or("other") {
        "exchange_server" => Ok(Route::Graph),
        "other" => custom(config, host, port),
        // nodemailer's well-known entries, which Kibana uses.
        "gmail" => Ok(fixed("smtp.gmail.com", 465, true)),
        "ses" => custom(
            config,
            Some(host.unwrap_or("email-smtp.us-east-1.amazonaws.com")),
            Some(port.unwrap_or(465)),
        ),
        // Kibana's ELASTIC_CLOUD_SERVICE: the deployment's relay on the docker host.
        "elastic_cloud" => Ok(fixed("dockerhost", 10025, false)),
        other => Err(ActionError::user(
            "invalid_config",
            format!("[service] value `{other}` is not valid"),
        )),
    }
}

fn from_address(ctx: &ActionContext) -> Result<&str, ActionError> {
    config_str(&ctx.config, "from")
        .ok_or_else(|| ActionError::user("invalid_config", "[from] is required"))
}

/// The OAuth access token the instance's auth strategy would send: the strategy writes it
/// into a probe request's `Authorization` header (fetching or refreshing it as it would for
/// an HTTP call), and the bearer value is read back. Nothing is sent with the probe.
async fn access_token(ctx: &ActionContext) -> Result<String, ActionError> {
    let url = reqwest::Url::parse("https://token.probe.invalid/")
        .map_err(|e| ActionError::system("invalid_request", e.to_string()))?;
    let mut probe = reqwest::Request::new(reqwest::Method::POST, url);
    ctx.client.auth.apply(&mut probe).await?;
    probe
        .headers()
        .get(reqwest::header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .map(str::to_string)
        .ok_or_else(|| ActionError::auth("no_token", "the auth type produced no bearer token"))
}

/// SMTP credentials for the instance's auth type: none, AUTH PLAIN/LOGIN with the basic
/// type's username and password, or XOAUTH2 with the client-credentials token and the sender
/// address as the user.
async fn smtp_auth(ctx: &ActionContext, from: &str) -> Result<SmtpAuth, ActionError> {
    match ctx.instance.auth_type {
        AuthTypeId::None => Ok(SmtpAuth::None),
        AuthTypeId::Basic => {
            let get = |k: &str| {
                ctx.secrets.get_str(k).map(str::to_string).ok_or_else(|| {
                    ActionError::user("invalid_config", format!("[{k}] is required"))
                })
            };
            Ok(SmtpAuth::Password {
                user: get("username")?,
                password: get("password")?,
            })
        }
        AuthTypeId::OauthClientCredentials => Ok(SmtpAuth::Xoauth2 {
            user: from.to_string(),
            token: access_token(ctx).await?,
        }),
        other => Err(ActionError::user(
            "invalid_config",
            format!("auth type `{other}` cannot authenticate to an SMTP server"),
        )),
    }
}

fn settings(ctx: &ActionContext) -> SmtpSettings<'_> {
    let (connect_timeout, total_timeout) = ctx.instance.timeouts();
    SmtpSettings {
        egress: ctx.client.egress.as_deref(),
        extra_roots: ctx.client.smtp_roots.as_deref(),
        connect_timeout,
        total_timeout,
        retry: ctx.instance.spec.policies.retry.as_ref(),
        redactor: &ctx.client.redactor,
        cancel: &ctx.cancel,
    }
}

/// The addresses of `input[key]` (an array of strings), blank entries dropped as Kibana does.
fn addresses(input: &Value, key: &str) -> Result<Vec<String>, ActionError> {
    let Some(list) = non_null(input, key) else {
        return Ok(Vec::new());
    };
    let list = list.as_array().ok_or_else(|| {
        ActionError::user("invalid_input", format!("input.{key} is not an array"))
    })?;
    let mut out = Vec::with_capacity(list.len());
    for (i, v) in list.iter().enumerate() {
        let s = v.as_str().ok_or_else(|| {
            ActionError::user("invalid_input", format!("input.{key}[{i}] is not a string"))
        })?;
        if !s.trim().is_empty() {
            out.push(s.trim().to_string());
        }
    }
    Ok(out)
}

/// The message's fields, read and checked once for either route.
struct Mail {
    to: Vec<String>,
    cc: Vec<String>,
    bcc: Vec<String>,
    reply_to: Vec<String>,
    subject: String,
    text: String,
    html: Option<String>,
}

impl Mail {
    fn from_input(input: &Value) -> Result<Mail, ActionError> {
        let text_of = |k: &str| {
            non_null(input, k)
                .and_then(Value::as_str)
                .map(str::to_string)
        };
        let mail = Mail {
            to: addresses(input, "to")?,
            cc: addresses(input, "cc")?,
            bcc: addresses(input, "bcc")?,
            reply_to: addresses(input, "replyTo")?,
            subject: text_of("subject")
                .ok_or_else(|| ActionError::user("invalid_input", "input.subject is required"))?,
            text: text_of("message")
                .ok_or_else(|| ActionError::user("invalid_input", "input.message is required"))?,
            html: text_of("messageHTML"),
        };
        if mail.to.is_empty() && mail.cc.is_empty() && mail.bcc.is_empty() {
            return Err(ActionError::user(
                "invalid_input",
                "At least one entry in [to], [cc], or [bcc] is required",
            ));
        }
        Ok(mail)
    }

    fn recipients(&self) -> Vec<String> {
        [&self.to, &self.cc, &self.bcc]
            .into_iter()
            .flatten()
            .cloned()
            .collect()
    }
}

fn mailbox(s: &str, field: &str) -> Result<Mailbox, ActionError> {
    s.parse().map_err(|_| {
        ActionError::user(
            "invalid_input",
            format!("{field} `{s}` is not an email address"),
        )
    })
}

/// The RFC 5322 message: From, To, Cc, Reply-To, Subject; Bcc only in the envelope.
fn smtp_message(from: &str, mail: &Mail) -> Result<Outgoing, ActionError> {
    let mut b = lettre::Message::builder()
        .from(mailbox(from, "[from]")?)
        .subject(mail.subject.clone());
    for a in &mail.to {
        b = b.to(mailbox(a, "input.to")?);
    }
    for a in &mail.cc {
        b = b.cc(mailbox(a, "input.cc")?);
    }
    for a in &mail.bcc {
        b = b.bcc(mailbox(a, "input.bcc")?);
    }
    for a in &mail.reply_to {
        b = b.reply_to(mailbox(a, "input.replyTo")?);
    }
    let built = match &mail.html {
        Some(html) => b.multipart(MultiPart::alternative_plain_html(
            mail.text.clone(),
            html.clone(),
        )),
        None => b.header(ContentType::TEXT_PLAIN).body(mail.text.clone()),
    };
    let message = built.map_err(|e| {
        ActionError::user("invalid_input", format!("cannot build the message: {e}"))
    })?;
    Ok(Outgoing {
        envelope: message.envelope().clone(),
        bytes: message.formatted(),
    })
}

fn graph_recipients(list: &[String]) -> Value {
    Value::Array(
        list.iter()
            .map(|a| json!({ "emailAddress": { "address": a } }))
            .collect(),
    )
}

/// The body of Graph's `POST /users/{from}/sendMail`.
fn graph_body(mail: &Mail) -> Value {
    let (content_type, content) = match &mail.html {
        Some(html) => ("HTML", html),
        None => ("Text", &mail.text),
    };
    let mut message = json!({
        "subject": mail.subject,
        "body": { "contentType": content_type, "content": content },
        "toRecipients": graph_recipients(&mail.to),
        "ccRecipients": graph_recipients(&mail.cc),
        "bccRecipients": graph_recipients(&mail.bcc),
    });
    if !mail.reply_to.is_empty() {
        message["replyTo"] = graph_recipients(&mail.reply_to);
    }
    json!({ "message": message, "saveToSentItems": true })
}

fn require_client_credentials(ctx: &ActionContext) -> Result<(), ActionError> {
    if ctx.instance.auth_type == AuthTypeId::OauthClientCredentials {
        return Ok(());
    }
    Err(ActionError::user(
        "invalid_config",
        "service `exchange_server` needs the `oauth_client_credentials` auth type \
         (tenant, client id and secret)",
    ))
}

async fn send_graph(ctx: &ActionContext, from: &str, mail: &Mail) -> Result<Value, ActionError> {
    require_client_credentials(ctx)?;
    let reply = ctx
        .http()
        .post(&format!("/users/{}/sendMail", seg(from)))
        .json(&graph_body(mail))
        .send()
        .await?;
    Ok(json!({
        "service": "exchange_server",
        "accepted": mail.recipients(),
        "response": format!("{} Accepted", reply.status),
    }))
}

#[async_trait]
impl ActionHandler for EmailExecute {
    async fn call(&self, ctx: &ActionContext, input: Value) -> Result<Value, ActionError> {
        let from = from_address(ctx)?;
        let mail = Mail::from_input(&input)?;
        let target = match route(&ctx.config)? {
            Route::Graph => return send_graph(ctx, from, &mail).await,
            Route::Smtp(t) => t,
        };
        let outgoing = smtp_message(from, &mail)?;
        let auth = smtp_auth(ctx, from).await?;
        let response =
            crate::smtp::exchange(&settings(ctx), &target, &auth, Some(&outgoing)).await?;
        Ok(json!({
            "service": config_str(&ctx.config, "service").unwrap_or("other"),
            "accepted": mail.recipients(),
            "response": response,
        }))
    }
}

#[async_trait]
impl ActionHandler for EmailConnectionTest {
    async fn call(&self, ctx: &ActionContext, _input: Value) -> Result<Value, ActionError> {
        let from = from_address(ctx)?;
        match route(&ctx.config)? {
            Route::Graph => {
                require_client_credentials(ctx)?;
                access_token(ctx).await?;
                Ok(json!({ "service": "exchange_server", "token": "issued" }))
            }
            Route::Smtp(target) => {
                let auth = smtp_auth(ctx, from).await?;
                let response = crate::smtp::exchange(&settings(ctx), &target, &auth, None).await?;
                Ok(
                    json!({ "service": config_str(&ctx.config, "service").unwrap_or("other"), "response": response }),
                )
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn smtp(config: Value) -> Result<(String, u16, bool), ActionError> {
        let Value::Object(config) = config else {
            unreachable!("the tests pass objects")
        };
        match route(&config)? {
            Route::Smtp(t) => Ok((t.host, t.port, t.implicit_tls)),
            Route::Graph => panic!("an SMTP service routed to Graph"),
        }
    }

    #[test]
    fn the_well_known_services_have_nodemailers_and_kibanas_relays() {
        let gmail = smtp(json!({"service": "gmail", "host": "ignored", "port": 25}));
        assert_eq!(gmail.unwrap(), ("smtp.gmail.com".into(), 465, true));
        let ses = smtp(json!({"service": "ses"})).unwrap();
        assert_eq!(
            ses,
            ("email-smtp.us-east-1.amazonaws.com".into(), 465, true)
        );
        // SES in another region: the configured host and port, STARTTLS off 465.
        let ses = smtp(
            json!({"service": "ses", "host": "email-smtp.eu-west-1.amazonaws.com", "port": 587}),
        );
        assert_eq!(
            ses.unwrap(),
            ("email-smtp.eu-west-1.amazonaws.com".into(), 587, false)
        );
        let cloud = smtp(json!({"service": "elastic_cloud", "host": "ignored"})).unwrap();
        assert_eq!(cloud, ("dockerhost".into(), 10025, false));
    }

    #[test]
    fn other_needs_a_host_and_port_and_secure_defaults_to_port_465() {
        let other = smtp(json!({"host": "[::1]", "port": 465})).unwrap();
        assert_eq!(
            other,
            ("::1".into(), 465, true),
            "`other` is the default service"
        );
        let other = smtp(json!({"service": "other", "host": "relay.example.com", "port": 587}));
        assert_eq!(other.unwrap(), ("relay.example.com".into(), 587, false));
        let secure = smtp(
            json!({"service": "other", "host": "relay.example.com", "port": 2525, "secure": true}),
        );
        assert_eq!(secure.unwrap(), ("relay.example.com".into(), 2525, true));

        let no_host = smtp(json!({"service": "other", "port": 587})).unwrap_err();
        assert_eq!(no_host.code, "invalid_config");
        assert_eq!(no_host.message, "[host] is required");
        let no_port = smtp(json!({"service": "other", "host": "relay.example.com"})).unwrap_err();
        assert_eq!(no_port.message, "[port] is required");
        let bad_port = smtp(json!({"host": "relay.example.com", "port": 70000})).unwrap_err();
        assert_eq!(bad_port.message, "`port` must be 1 to 65535");
        let bad = smtp(json!({"service": "sendmail"})).unwrap_err();
        assert_eq!(bad.message, "[service] value `sendmail` is not valid");
    }

    #[test]
    fn exchange_server_goes_through_graph() {
        let Value::Object(config) = json!({"service": "exchange_server", "host": "ignored"}) else {
            unreachable!()
        };
        assert!(matches!(route(&config), Ok(Route::Graph)));
    }
}
