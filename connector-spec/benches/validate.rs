//! Validation throughput: 1,000 generated, realistic spec files of about 200 lines each, loaded
//! one after another on one thread with one `SpecLoader`.
//!
//! ```text
//! cargo bench -p connector-spec --bench validate
//! ```
//!
//! Criterion reports `thrpt` in elements per second; an element is one spec file. The
//! `yaml_parse` group runs only the located-YAML stage (`yaml::parse`) on the same files, to see
//! how the time splits between parsing and decoding plus validation. Results are recorded in
//! docs/performance.md.

use std::fmt::Write as _;
use std::hint::black_box;
use std::time::Duration;

use connector_spec::source::SourceFile;
use connector_spec::yaml::{self, Budget};
use connector_spec::{LoadOptions, SpecLoader};
use criterion::{Criterion, Throughput, criterion_group, criterion_main};

const SPECS: usize = 1_000;

const VENDORS: [&str; 20] = [
    "acme",
    "globex",
    "initech",
    "umbrella",
    "hooli",
    "vandelay",
    "stark",
    "wayne",
    "wonka",
    "tyrell",
    "cyberdyne",
    "soylent",
    "oscorp",
    "aperture",
    "blackmesa",
    "massive",
    "dunder",
    "pied",
    "gringotts",
    "sirius",
];

const RESOURCES: [&str; 20] = [
    "ticket",
    "incident",
    "alert",
    "issue",
    "page",
    "task",
    "case",
    "deal",
    "contact",
    "order",
    "invoice",
    "build",
    "deployment",
    "message",
    "document",
    "event",
    "asset",
    "account",
    "project",
    "channel",
];

const TITLE_FIELDS: [&str; 5] = ["title", "name", "summary", "subject", "label"];
const TEXT_FIELDS: [&str; 5] = ["body", "details", "notes", "content", "description"];
const LIST_FIELDS: [&str; 5] = ["tags", "labels", "watchers", "categories", "components"];
const FILTER_FIELDS: [&str; 5] = ["query", "search", "filter", "text", "term"];
const LICENSES: [&str; 4] = ["basic", "gold", "platinum", "enterprise"];

fn capitalize(s: &str) -> String {
    let mut c = s.chars();
    match c.next() {
        Some(first) => first.to_ascii_uppercase().to_string() + c.as_str(),
        None => String::new(),
    }
}

/// Append `text` as lines (the first line's indentation is kept as written).
macro_rules! put {
    ($out:expr, $($arg:tt)*) => {{
        writeln!($out, $($arg)*).expect("writing to a String cannot fail");
    }};
}

/// One realistic spec: several auth types with defaults, config and secrets with `x-ui` hints,
/// six actions (paged list, get, create with a JSON body, update with a form body, delete, code),
/// policies and a connection test. Every name that matters varies with `i`.
fn generate_spec(i: usize) -> String {
    let vendor = VENDORS[i % VENDORS.len()];
    let res = RESOURCES[(i / VENDORS.len() + i) % RESOURCES.len()];
    let vendor_title = capitalize(vendor);
    let res_title = capitalize(res);
    let title = TITLE_FIELDS[i % TITLE_FIELDS.len()];
    let text = TEXT_FIELDS[(i / 2) % TEXT_FIELDS.len()];
    let list = LIST_FIELDS[(i / 3) % LIST_FIELDS.len()];
    let filter = FILTER_FIELDS[(i / 5) % FILTER_FIELDS.len()];
    let priority_field = ["defaultPriority", "priority", "urgency"][i % 3];
    let version = 1 + i % 4;
    let list_action = format!("list{res_title}s");

    let mut s = String::with_capacity(8 * 1024);
    put!(
        s,
        "# Generated benchmark spec #{i}: {vendor_title} {res_title}s."
    );
    put!(s, "id: .{vendor}_{res}_{i}");
    put!(s, "displayName: {vendor_title} {res_title}s");
    put!(
        s,
        "description: Manage {res}s in {vendor_title} from alerts and workflows."
    );
    put!(s, "minimumLicense: {}", LICENSES[i % LICENSES.len()]);
    put!(s, "supportedFeatureIds: [alerting, workflows]");
    put!(s, "icon: logo{vendor_title}");
    put!(s, "docsUrl: https://docs.{vendor}.example/api/{res}s");
    if i.is_multiple_of(2) {
        put!(s, "baseUrl: https://api.{vendor}.example/v{version}");
    } else {
        put!(s, "baseUrl: \"{{{{ config.apiUrl }}}}\"");
    }
    put!(s, "");

    // auth
    put!(s, "auth:");
    put!(s, "  types:");
    let first_auth = match i % 5 {
        0 => {
            put!(s, "    - bearer");
            "bearer"
        }
        1 => {
            put!(s, "    - type: api_key_header");
            put!(s, "      recommended: true");
            put!(s, "      defaults:");
            put!(s, "        headerName: X-{vendor_title}-Key");
            put!(s, "    - basic");
            "api_key_header"
        }
        2 => {
            put!(s, "    - type: oauth_client_credentials");
            put!(s, "      defaults:");
            put!(
                s,
                "        tokenUrl: https://auth.{vendor}.example/oauth/token"
            );
            put!(s, "        scope: {res}s:read {res}s:write");
            put!(s, "    - bearer");
            "oauth_client_credentials"
        }
        3 => {
            put!(s, "    - type: oauth_authorization_code");
            put!(s, "      recommended: true");
            put!(s, "      defaults:");
            put!(
                s,
                "        authorizationUrl: https://auth.{vendor}.example/oauth/authorize"
            );
            put!(
                s,
                "        tokenUrl: https://auth.{vendor}.example/oauth/token"
            );
            put!(s, "        scope: {res}s.read {res}s.write offline_access");
            "oauth_authorization_code"
        }
        _ => {
            put!(s, "    - api_key_query");
            put!(s, "    - mtls");
            "api_key_query"
        }
    };
    put!(s, "  headers:");
    put!(s, "    User-Agent: elastic-connectors/{version}.{i}");
    put!(s, "    X-Workspace: \"{{{{ config.workspace }}}}\"");
    put!(s, "");

    // config and secrets
    put!(s, "config:");
    put!(s, "  type: object");
    put!(s, "  required: [apiUrl, workspace]");
    put!(s, "  additionalProperties: false");
    put!(s, "  properties:");
    put!(s, "    apiUrl:");
    put!(s, "      type: string");
    put!(s, "      format: uri");
    put!(s, "      maxLength: 2048");
    put!(s, "      default: https://api.{vendor}.example/v{version}");
    put!(s, "      x-ui:");
    put!(s, "        widget: url");
    put!(s, "        label: API URL");
    put!(s, "        order: 1");
    put!(s, "    workspace:");
    put!(s, "      type: string");
    put!(s, "      minLength: 1");
    put!(s, "      maxLength: 64");
    put!(s, "      x-ui:");
    put!(s, "        widget: select");
    put!(s, "        label: Workspace");
    put!(s, "        optionsFrom:");
    put!(s, "          action: {list_action}");
    put!(s, "          valuePath: $.id");
    put!(s, "          labelPath: $.name");
    put!(s, "        order: 2");
    put!(s, "    {priority_field}:");
    put!(s, "      type: string");
    put!(s, "      enum: [low, normal, high, urgent]");
    put!(s, "      default: normal");
    put!(s, "      x-ui:");
    put!(s, "        widget: select");
    put!(s, "        label: Default priority");
    put!(s, "        section: Advanced");
    put!(
        s,
        "        when: {{ field: authType, equals: {first_auth} }}"
    );
    put!(s, "        order: 3");
    put!(s, "");
    put!(s, "secrets:");
    put!(s, "  type: object");
    put!(s, "  properties:");
    put!(s, "    webhookSecret:");
    put!(s, "      type: string");
    put!(s, "      maxLength: 256");
    put!(s, "      x-ui:");
    put!(s, "        widget: password");
    put!(s, "        label: Webhook signing secret");
    put!(s, "        sensitive: true");
    put!(s, "");

    // policies
    put!(s, "policies:");
    put!(s, "  retry:");
    put!(s, "    presets: [rate_limit, server_errors]");
    put!(s, "    maxRetries: {}", 2 + i % 4);
    put!(s, "    backoff:");
    put!(
        s,
        "      strategy: {}",
        ["exponential", "linear", "fixed"][i % 3]
    );
    put!(s, "      initialDelayMs: {}", 250 * (1 + i % 4));
    put!(s, "      maxDelayMs: 20000");
    put!(s, "  rateLimit:");
    put!(s, "    strategy: header");
    put!(s, "    remainingHeader: X-RateLimit-Remaining");
    put!(s, "    resetHeader: X-RateLimit-Reset");
    put!(s, "    resetFormat: epoch_seconds");
    put!(s, "  pagination:");
    match i % 4 {
        0 => {
            put!(s, "    style: cursor");
            put!(s, "    records: $.data");
            put!(s, "    cursorParam: starting_after");
            put!(s, "    cursorPath: $.meta.next_cursor");
        }
        1 => {
            put!(s, "    style: offset");
            put!(s, "    records: $.data");
            put!(s, "    offsetParam: offset");
            put!(s, "    totalPath: $.meta.total");
        }
        2 => {
            put!(s, "    style: page");
            put!(s, "    records: $.data");
            put!(s, "    pageParam: page");
            put!(s, "    startPage: 1");
        }
        _ => {
            put!(s, "    style: link_header");
            put!(s, "    records: $");
        }
    }
    put!(s, "    limitParam: limit");
    put!(s, "    pageSize: {}", 25 * (1 + i % 4));
    put!(s, "    maxPages: 50");
    put!(s, "  timeouts:");
    put!(s, "    connectMs: 5000");
    put!(s, "    totalMs: 60000");
    put!(s, "  errors:");
    put!(s, "    - status: [401, 403]");
    put!(s, "      class: auth");
    put!(s, "    - status: [409, 422]");
    put!(s, "      class: user");
    put!(s, "");

    // actions
    put!(s, "actions:");
    put!(s, "  {list_action}:");
    put!(
        s,
        "    description: List {res}s in the workspace, newest first."
    );
    put!(s, "    isTool: true");
    put!(s, "    scope: read");
    put!(s, "    input:");
    put!(s, "      type: object");
    put!(s, "      properties:");
    put!(s, "        {filter}:");
    put!(s, "          type: string");
    put!(s, "          maxLength: 128");
    put!(s, "        limit:");
    put!(s, "          type: integer");
    put!(s, "          minimum: 1");
    put!(s, "          maximum: 100");
    put!(s, "    output:");
    put!(s, "      type: array");
    put!(s, "      items:");
    put!(s, "        type: object");
    put!(s, "        properties:");
    put!(s, "          id: {{ type: string }}");
    put!(s, "          name: {{ type: string }}");
    put!(s, "    request:");
    put!(s, "      method: GET");
    put!(
        s,
        "      path: /workspaces/{{{{ config.workspace }}}}/{res}s"
    );
    put!(s, "      query:");
    put!(s, "        q: \"{{{{ input.{filter} | default('') }}}}\"");
    put!(
        s,
        "        per_page: \"{{{{ input.limit | default(50) }}}}\""
    );
    put!(s, "    response:");
    put!(s, "      output: $.data[*]");
    put!(s, "      errors:");
    put!(s, "        - when: {{ path: $.error.code, exists: true }}");
    put!(s, "          class: user");
    put!(
        s,
        "          message: \"{vendor_title} error: {{{{ response.error.message }}}}\""
    );
    put!(s, "");
    put!(s, "  get{res_title}:");
    put!(s, "    description: Read one {res} by id.");
    put!(s, "    isTool: true");
    put!(s, "    scope: read");
    put!(s, "    input:");
    put!(s, "      type: object");
    put!(s, "      required: [id]");
    put!(s, "      properties:");
    put!(s, "        id:");
    put!(s, "          type: string");
    put!(s, "          maxLength: 64");
    put!(s, "    request:");
    put!(s, "      method: GET");
    put!(s, "      path: /{res}s/{{{{ input.id }}}}");
    put!(s, "    response:");
    put!(s, "      output: $.data");
    put!(s, "");
    put!(s, "  create{res_title}:");
    put!(s, "    description: Create a {res} from an alert.");
    put!(s, "    isTool: true");
    put!(s, "    scope: write");
    put!(s, "    input:");
    put!(s, "      type: object");
    put!(s, "      required: [{title}]");
    put!(s, "      properties:");
    put!(s, "        {title}:");
    put!(s, "          type: string");
    put!(s, "          maxLength: 256");
    put!(s, "        {text}:");
    put!(s, "          type: string");
    put!(s, "          maxLength: 10000");
    put!(s, "          x-ui:");
    put!(s, "            widget: textarea");
    put!(s, "            label: {}", capitalize(text));
    put!(s, "        {list}:");
    put!(s, "          type: array");
    put!(s, "          maxItems: 20");
    put!(s, "          items:");
    put!(s, "            type: string");
    put!(s, "            maxLength: 64");
    put!(s, "        priority:");
    put!(s, "          type: string");
    put!(s, "          enum: [low, normal, high, urgent]");
    put!(s, "    request:");
    put!(s, "      method: POST");
    put!(s, "      path: /{res}s");
    put!(s, "      headers:");
    put!(
        s,
        "        Idempotency-Key: \"{{{{ input.{title} | lower }}}}-{i}\""
    );
    put!(s, "      body:");
    put!(s, "        json:");
    put!(s, "          {title}: \"{{{{ input.{title} }}}}\"");
    put!(
        s,
        "          {text}: \"{{{{ input.{text} | default('') }}}}\""
    );
    put!(s, "          {list}: \"{{{{ input.{list} }}}}\"");
    put!(
        s,
        "          priority: \"{{{{ input.priority or config.{priority_field} }}}}\""
    );
    put!(s, "          source: elastic");
    put!(s, "    response:");
    put!(s, "      output:");
    put!(s, "        id: $.data.id");
    put!(s, "        url: $.data.links.self");
    put!(s, "");
    put!(s, "  update{res_title}:");
    put!(s, "    description: Change the status of a {res}.");
    put!(s, "    scope: write");
    put!(s, "    input:");
    put!(s, "      type: object");
    put!(s, "      required: [id, status]");
    put!(s, "      properties:");
    put!(s, "        id:");
    put!(s, "          type: string");
    put!(s, "          maxLength: 64");
    put!(s, "        status:");
    put!(s, "          type: string");
    put!(s, "          enum: [open, acknowledged, closed]");
    put!(s, "    request:");
    put!(s, "      method: PATCH");
    put!(s, "      path: /{res}s/{{{{ input.id }}}}");
    put!(s, "      body:");
    put!(s, "        form:");
    put!(s, "          status: \"{{{{ input.status }}}}\"");
    put!(s, "");
    put!(s, "  delete{res_title}:");
    put!(s, "    description: Delete a {res}.");
    put!(s, "    scope: destroy");
    put!(s, "    input:");
    put!(s, "      type: object");
    put!(s, "      required: [id]");
    put!(s, "      properties:");
    put!(s, "        id:");
    put!(s, "          type: string");
    put!(s, "          maxLength: 64");
    put!(s, "    request:");
    put!(s, "      method: DELETE");
    put!(s, "      path: /{res}s/{{{{ input.id }}}}");
    put!(s, "");
    put!(s, "  export{res_title}s:");
    put!(
        s,
        "    description: Export {res}s as CSV, implemented in Rust."
    );
    put!(s, "    scope: read");
    put!(s, "    handler: code");
    put!(s, "");
    put!(s, "test:");
    put!(
        s,
        "  description: Listing one {res} proves the credentials and workspace."
    );
    put!(s, "  action: {list_action}");
    put!(s, "  input:");
    put!(s, "    limit: 1");
    s
}

/// The benchmark corpus, checked once: every file must load without any diagnostic.
fn corpus() -> Vec<(String, String)> {
    let specs: Vec<(String, String)> = (0..SPECS)
        .map(|i| (format!("bench/spec_{i:04}.yaml"), generate_spec(i)))
        .collect();
    let strict = SpecLoader::new(LoadOptions {
        strict: true,
        ..LoadOptions::default()
    });
    for (name, text) in &specs {
        let loaded = strict.load_str(name, text);
        assert!(
            loaded.diagnostics.is_empty() && loaded.spec.is_some(),
            "generated spec does not validate clean:\n{}\n{text}",
            loaded.render(false)
        );
    }
    let lines: usize = specs.iter().map(|(_, t)| t.lines().count()).sum();
    let bytes: usize = specs.iter().map(|(_, t)| t.len()).sum();
    eprintln!(
        "bench corpus: {} specs, {:.0} lines and {:.0} bytes per spec on average",
        specs.len(),
        lines as f64 / specs.len() as f64,
        bytes as f64 / specs.len() as f64
    );
    specs
}

fn bench_validate(c: &mut Criterion) {
    let specs = corpus();
    let loader = SpecLoader::new(LoadOptions::default());

    let mut group = c.benchmark_group("validate");
    group.throughput(Throughput::Elements(specs.len() as u64));
    group.sample_size(20);
    group.measurement_time(Duration::from_secs(10));
    group.bench_function("load_str/1000_specs", |b| {
        b.iter(|| {
            let mut errors = 0;
            for (name, text) in &specs {
                let loaded = loader.load_str(black_box(name), black_box(text));
                errors += loaded.error_count();
            }
            assert_eq!(errors, 0);
        })
    });
    group.finish();

    let mut group = c.benchmark_group("yaml_parse");
    group.throughput(Throughput::Elements(specs.len() as u64));
    group.sample_size(20);
    group.measurement_time(Duration::from_secs(10));
    group.bench_function("parse/1000_specs", |b| {
        b.iter(|| {
            for (name, text) in &specs {
                let source = SourceFile::new(black_box(name.as_str()), black_box(text.as_str()));
                let (root, diags) = yaml::parse(&source, Budget::default());
                black_box((root, diags));
            }
        })
    });
    group.finish();
}

criterion_group!(benches, bench_validate);
criterion_main!(benches);
