//! `connector list`.

use std::path::PathBuf;

use connector_spec::{AuthMode, ConnectorSpec};
use serde_json::json;

use crate::output::{ColorChoice, Stream, count, emit};
use crate::{ListFormat, Outcome, specs};

pub fn run(paths: &[PathBuf], format: ListFormat, color: ColorChoice) -> anyhow::Result<Outcome> {
    let files = specs::collect(paths)?;
    let loaded = specs::load_all(&files, false);

    // Specs with errors cannot be listed; say why on stderr and fail, but still list the rest.
    let color = color.enabled(Stream::Stderr);
    let mut failed = 0;
    for l in loaded.iter().filter(|l| l.has_errors()) {
        failed += 1;
        emit(Stream::Stderr, &l.render(color));
    }
    let mut rows: Vec<(String, &ConnectorSpec)> = loaded
        .iter()
        .filter_map(|l| l.spec.as_ref().map(|s| (l.source.name().to_string(), s)))
        .collect();
    rows.sort_by(|a, b| a.1.id.cmp(&b.1.id).then_with(|| a.0.cmp(&b.0)));

    let text = match format {
        ListFormat::Table => table(&rows),
        ListFormat::Json => {
            let items: Vec<serde_json::Value> = rows
                .iter()
                .map(|(file, spec)| {
                    let auth: Vec<serde_json::Value> = spec
                        .auth
                        .types
                        .iter()
                        .map(|r| json!({ "type": r.kind.as_str(), "authMode": r.kind.auth_mode().as_str() }))
                        .collect();
                    json!({
                        "id": spec.id,
                        "displayName": spec.display_name,
                        "minimumLicense": spec.minimum_license.as_str(),
                        "authTypes": auth,
                        "actions": spec.actions.keys().collect::<Vec<_>>(),
                        "file": file,
                    })
                })
                .collect();
            connector_spec::export::to_pretty_json(&serde_json::Value::Array(items))
        }
    };
    emit(Stream::Stdout, &text);

    if failed > 0 {
        emit(
            Stream::Stderr,
            &format!(
                "error: {} not listed because of errors\n",
                count(failed, "spec", "specs")
            ),
        );
        return Ok(Outcome::Invalid);
    }
    Ok(Outcome::Success)
}

fn table(rows: &[(String, &ConnectorSpec)]) -> String {
    let mut cells: Vec<[String; 4]> = vec![[
        "ID".into(),
        "LICENSE".into(),
        "AUTH".into(),
        "ACTIONS".into(),
    ]];
    for (_, spec) in rows {
        let auth: Vec<String> = spec
            .auth
            .types
            .iter()
            .map(|r| match r.kind.auth_mode() {
                AuthMode::PerUser => format!("{} (per-user)", r.kind),
                AuthMode::Shared => r.kind.to_string(),
            })
            .collect();
        let actions: Vec<&str> = spec.actions.keys().map(String::as_str).collect();
        cells.push([
            spec.id.clone(),
            spec.minimum_license.as_str().to_string(),
            auth.join(", "),
            actions.join(", "),
        ]);
    }
    let mut widths = [0usize; 4];
    for row in &cells {
        for (w, cell) in widths.iter_mut().zip(row) {
            *w = (*w).max(cell.chars().count());
        }
    }
    let mut out = String::new();
    for row in &cells {
        let mut line = String::new();
        for (i, cell) in row.iter().enumerate() {
            if i + 1 < row.len() {
                line.push_str(&format!("{cell:<width$}  ", width = widths[i]));
            } else {
                line.push_str(cell);
            }
        }
        out.push_str(line.trim_end());
        out.push('\n');
    }
    out
}
