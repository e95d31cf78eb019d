//! `.microsoft-defender-endpoint`: Entra ID client credentials, machines and machine actions,
//! OData `$filter` and `$skip`/`$top` paging.

use super::*;

const MACHINE: &str = "1e5bc9d7e413ddd7902c2932e418702b84d0cc07";

fn defender(server: &MockServer) -> Harness {
    Harness::new(
        load_spec("microsoft_defender_endpoint.yaml"),
        json!({
            "apiUrl": server.uri(),
            "tenantId": "contoso.onmicrosoft.com",
            "tokenUrl": format!("{}/contoso.onmicrosoft.com/oauth2/v2.0/token", server.uri()),
            "clientId": "app-1"
        }),
        json!({ "clientSecret": CANARY }),
    )
}

async fn mount_token(server: &MockServer) {
    Mock::given(method("POST"))
        .and(path("/contoso.onmicrosoft.com/oauth2/v2.0/token"))
        .respond_with(json_reply(json!({
            "token_type": "Bearer", "expires_in": 3599, "ext_expires_in": 3599,
            "access_token": "mde-token"
        })))
        .mount(server)
        .await;
}

/// The calls to the Defender API (not the token endpoint).
async fn api_calls(server: &MockServer) -> Vec<wiremock::Request> {
    requests(server)
        .await
        .into_iter()
        .filter(|r| !r.url.path().ends_with("/oauth2/v2.0/token"))
        .collect()
}

fn assert_bearer(r: &wiremock::Request) {
    assert_eq!(
        header(r, "authorization").as_deref(),
        Some("Bearer mde-token")
    );
}

fn machine_action(kind: &str) -> Value {
    json!({
        "id": "b89eb834-4578-496c-8be0-03f004061435", "type": kind, "scope": "Full",
        "requestor": "app-1", "requestorComment": "ransomware", "status": "Pending",
        "machineId": MACHINE, "computerDnsName": "web-01.contoso.com",
        "creationDateTimeUtc": "2024-04-12T09:00:00.123Z", "lastUpdateDateTimeUtc": null
    })
}

#[tokio::test]
async fn defender_token_request_uses_client_credentials_and_scope() {
    let server = loopback().await;
    mount_token(&server).await;
    mount_any(&server, json_reply(json!({ "value": [{ "id": MACHINE }] }))).await;
    let out = defender(&server)
        .test()
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(out, json!({ "machines": 1 }));
    let token = requests(&server)
        .await
        .into_iter()
        .find(|r| r.url.path().ends_with("/oauth2/v2.0/token"))
        .expect("a token request");
    let form: Vec<(String, String)> = url::form_urlencoded::parse(&token.body)
        .map(|(k, v)| (k.into_owned(), v.into_owned()))
        .collect();
    assert!(form.contains(&("grant_type".into(), "client_credentials".into())));
    assert!(form.contains(&("client_id".into(), "app-1".into())));
    assert!(form.contains(&("client_secret".into(), CANARY.into())));
    assert!(form.contains(&(
        "scope".into(),
        "https://api.securitycenter.microsoft.com/.default".into()
    )));
    let calls = api_calls(&server).await;
    assert_line(&calls[0], "GET", "/api/machines");
    assert_query(&calls[0], &[("$top", "1")]);
    assert_bearer(&calls[0]);
}

#[tokio::test]
async fn defender_isolate_and_release() {
    for (action, suffix, kind, body) in [
        (
            "isolateHost",
            "isolate",
            "Isolate",
            json!({ "Comment": "ransomware", "IsolationType": "Selective" }),
        ),
        (
            "releaseHost",
            "unisolate",
            "Unisolate",
            json!({ "Comment": "ransomware" }),
        ),
    ] {
        let server = loopback().await;
        mount_token(&server).await;
        mount_any(
            &server,
            ResponseTemplate::new(201).set_body_json(machine_action(kind)),
        )
        .await;
        let mut input = json!({ "id": MACHINE, "comment": "ransomware" });
        if action == "isolateHost" {
            input["isolationType"] = json!("Selective");
        }
        let out = defender(&server)
            .exec(action, input)
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(out, machine_action(kind));
        let calls = api_calls(&server).await;
        assert_eq!(calls.len(), 1);
        assert_line(
            &calls[0],
            "POST",
            &format!("/api/machines/{MACHINE}/{suffix}"),
        );
        assert_bearer(&calls[0]);
        assert_eq!(json_body(&calls[0]), body);
    }
}

fn machine(i: u32) -> Value {
    json!({ "id": format!("{MACHINE}{i}"), "computerDnsName": format!("web-{i:02}.contoso.com"),
            "osPlatform": "Windows11", "healthStatus": "Active", "machineTags": [] })
}

#[tokio::test]
async fn defender_agent_list_filters_and_pages_with_skip_and_top() {
    let server = loopback().await;
    mount_token(&server).await;
    let first: Vec<Value> = (0..1000).map(machine).collect();
    Mock::given(method("GET"))
        .and(path("/api/machines"))
        .and(query_param("$skip", "0"))
        .respond_with(json_reply(json!({
            "@odata.context": "https://api.securitycenter.microsoft.com/api/$metadata#Machines",
            "value": first
        })))
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path("/api/machines"))
        .and(query_param("$skip", "1000"))
        .respond_with(json_reply(json!({ "value": [machine(1000)] })))
        .mount(&server)
        .await;
    let out = defender(&server)
        .exec_all(
            "getAgentList",
            json!({ "healthStatuses": ["Active", "Inactive"], "osPlatforms": ["Windows11"] }),
        )
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(out.as_array().map(Vec::len), Some(1001));
    let calls = api_calls(&server).await;
    assert_eq!(calls.len(), 2);
    let filter = "healthStatus in ('Active','Inactive') and osPlatform in ('Windows11')";
    assert_query(
        &calls[0],
        &[("$filter", filter), ("$top", "1000"), ("$skip", "0")],
    );
    assert_query(
        &calls[1],
        &[("$filter", filter), ("$top", "1000"), ("$skip", "1000")],
    );
    assert_bearer(&calls[1]);
}

#[tokio::test]
async fn defender_agent_list_without_filters_sends_none() {
    let server = loopback().await;
    mount_token(&server).await;
    mount_any(&server, json_reply(json!({ "value": [machine(1)] }))).await;
    let out = defender(&server)
        .exec("getAgentList", json!({}))
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(out, json!([machine(1)]));
    let calls = api_calls(&server).await;
    assert_query(&calls[0], &[("$top", "1000"), ("$skip", "0")]);
}

#[tokio::test]
async fn defender_get_actions_filters_by_machine_and_type() {
    let server = loopback().await;
    mount_token(&server).await;
    mount_any(
        &server,
        json_reply(json!({ "value": [machine_action("Isolate")] })),
    )
    .await;
    let out = defender(&server)
        .exec(
            "getActions",
            json!({ "machineIds": [MACHINE], "types": ["Isolate", "Unisolate"], "statuses": ["Pending"] }),
        )
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(out, json!([machine_action("Isolate")]));
    let calls = api_calls(&server).await;
    assert_line(&calls[0], "GET", "/api/machineactions");
    let filter = format!(
        "machineId in ('{MACHINE}') and type in ('Isolate','Unisolate') and status in ('Pending')"
    );
    assert_query(
        &calls[0],
        &[
            ("$filter", filter.as_str()),
            ("$top", "1000"),
            ("$skip", "0"),
        ],
    );
}

#[tokio::test]
async fn defender_get_agent_details() {
    let server = loopback().await;
    mount_token(&server).await;
    mount_any(&server, json_reply(machine(1))).await;
    let out = defender(&server)
        .exec("getAgentDetails", json!({ "id": MACHINE }))
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(out, machine(1));
    let calls = api_calls(&server).await;
    assert_line(&calls[0], "GET", &format!("/api/machines/{MACHINE}"));
    assert_bearer(&calls[0]);
}

#[tokio::test]
async fn defender_run_script_posts_a_live_response_command() {
    let server = loopback().await;
    mount_token(&server).await;
    mount_any(
        &server,
        ResponseTemplate::new(201).set_body_json(machine_action("LiveResponse")),
    )
    .await;
    let out = defender(&server)
        .exec(
            "runScript",
            json!({ "id": MACHINE, "scriptName": "collect.ps1", "args": "-Full", "comment": "triage" }),
        )
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(out, machine_action("LiveResponse"));
    let calls = api_calls(&server).await;
    assert_line(
        &calls[0],
        "POST",
        &format!("/api/machines/{MACHINE}/runliveresponse"),
    );
    assert_eq!(
        json_body(&calls[0]),
        json!({
            "Commands": [{ "type": "RunScript", "params": [
                { "key": "ScriptName", "value": "collect.ps1" },
                { "key": "Args", "value": "-Full" }
            ]}],
            "Comment": "triage"
        })
    );
}

#[tokio::test]
async fn defender_get_library_files() {
    let server = loopback().await;
    mount_token(&server).await;
    let files = json!([{
        "fileName": "collect.ps1", "description": "Collects triage data", "creationTime": "2024-04-01T10:00:00Z",
        "createdBy": "admin@contoso.com", "hasParameters": true, "parametersDescription": "-Full"
    }]);
    mount_any(&server, json_reply(json!({ "value": files.clone() }))).await;
    let out = defender(&server)
        .exec("getLibraryFiles", json!({}))
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(out, files);
    let calls = api_calls(&server).await;
    assert_line(&calls[0], "GET", "/api/libraryfiles");
}

#[tokio::test]
async fn defender_get_action_results_download_link() {
    let server = loopback().await;
    mount_token(&server).await;
    let link =
        "https://userrequests-us.securitycenter.windows.com:443/safedownload/output.json?token=abc";
    mount_any(&server, json_reply(json!({ "value": link }))).await;
    let out = defender(&server)
        .exec(
            "getActionResults",
            json!({ "id": "b89eb834-4578-496c-8be0-03f004061435", "commandIndex": 1 }),
        )
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(out, json!({ "downloadUrl": link }));
    let calls = api_calls(&server).await;
    assert_eq!(calls[0].method.as_str(), "GET");
    assert_eq!(
        calls[0].url.path(),
        "/api/machineactions/b89eb834-4578-496c-8be0-03f004061435/GetLiveResponseResultDownloadLink(index=1)"
    );
}

#[tokio::test]
async fn defender_not_found_is_user_and_test_action_runs() {
    let server = loopback().await;
    mount_token(&server).await;
    mount_any(
        &server,
        ResponseTemplate::new(404).set_body_json(json!({
            "error": { "code": "ResourceNotFound", "message": "Machine 123 was not found", "target": "43f4cb08" }
        })),
    )
    .await;
    let h = defender(&server);
    let e = h
        .exec("getAgentDetails", json!({ "id": "123" }))
        .await
        .expect_err("404");
    assert_eq!(e.class, ErrorClass::User);
    assert_eq!(e.status, Some(404));
    let e = h.exec("testConnector", json!({})).await.expect_err("404");
    assert_eq!(e.status, Some(404));
}

#[test]
fn defender_token_url_and_scope_default_from_the_tenant() {
    let spec = std::sync::Arc::new(load_spec("microsoft_defender_endpoint.yaml"));
    let instance = connector_runtime::ConnectorInstance::new(
        spec,
        json!({ "tenantId": "contoso.onmicrosoft.com", "clientId": "app-1" }),
        json!({ "clientSecret": CANARY }),
    )
    .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(
        instance.config.get("tokenUrl"),
        Some(&json!(
            "https://login.microsoftonline.com/contoso.onmicrosoft.com/oauth2/v2.0/token"
        ))
    );
    assert_eq!(
        instance.config.get("scope"),
        Some(&json!("https://api.securitycenter.microsoft.com/.default"))
    );
    assert_eq!(
        instance.config.get("apiUrl"),
        Some(&json!("https://api.securitycenter.microsoft.com"))
    );
}

#[tokio::test]
async fn defender_429_with_retry_after_is_retried() {
    let server = loopback().await;
    mount_token(&server).await;
    Mock::given(method("GET"))
        .and(path(format!("/api/machines/{MACHINE}")))
        .respond_with(
            ResponseTemplate::new(429)
                .insert_header("Retry-After", "0")
                .set_body_json(json!({ "error": { "code": "TooManyRequests", "message": "Rate limit is exceeded" } })),
        )
        .up_to_n_times(1)
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path(format!("/api/machines/{MACHINE}")))
        .respond_with(json_reply(machine(1)))
        .mount(&server)
        .await;
    let out = defender(&server)
        .exec("getAgentDetails", json!({ "id": MACHINE }))
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(out, machine(1));
    assert_eq!(api_calls(&server).await.len(), 2);
}
