//! Run the connector's action against a loopback server, as a user of the crate would.

use acme_tickets::{AcmeTickets, AcmeTicketsConnector, NewTicket, Ticket};
use connector_runtime::serde_json::json;
use connector_runtime::{ActionError, Credentials};
use wiremock::matchers::{body_json, header, method, path};
use wiremock::{Mock, MockServer, ResponseTemplate};

#[tokio::test]
async fn opens_a_ticket_as_the_tenant_with_the_token() -> Result<(), ActionError> {
    let api = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/v2/tickets"))
        .and(header("authorization", "Bearer t0ken"))
        .and(header("x-acme-tenant", "acme-eu"))
        .and(body_json(json!({ "title": "Printer on fire" })))
        .respond_with(
            ResponseTemplate::new(201)
                .set_body_json(json!({ "id": 7, "title": "Printer on fire" })),
        )
        .expect(1)
        .mount(&api)
        .await;

    let config = AcmeTickets {
        api_url: api.uri(),
        tenant: "acme-eu".into(),
    };
    let acme = AcmeTicketsConnector::instance(&config, Credentials::bearer("t0ken"))?;
    let ticket: Ticket = acme
        .call(
            "openTicket",
            &NewTicket {
                title: "Printer on fire".into(),
            },
        )
        .await?;

    assert_eq!(
        ticket,
        Ticket {
            id: 7,
            title: "Printer on fire".into()
        }
    );
    Ok(())
}

#[tokio::test]
async fn a_refused_token_is_a_classified_error() -> Result<(), ActionError> {
    let api = MockServer::start().await;
    Mock::given(method("POST"))
        .respond_with(ResponseTemplate::new(401))
        .mount(&api)
        .await;

    let config = AcmeTickets {
        api_url: api.uri(),
        tenant: "acme-eu".into(),
    };
    let acme = AcmeTicketsConnector::instance(&config, Credentials::bearer("expired"))?;
    let err = acme
        .call::<Ticket>("openTicket", &NewTicket { title: "x".into() })
        .await
        .unwrap_err();

    assert_eq!(err.class, connector_runtime::ErrorClass::Auth);
    Ok(())
}

#[test]
fn the_schema_document_is_exported() -> Result<(), ActionError> {
    let schema = AcmeTicketsConnector::schema_json()?;
    assert!(schema.contains("\".acme-tickets\""), "{schema}");
    assert!(schema.contains("\"openTicket\""), "{schema}");
    Ok(())
}
