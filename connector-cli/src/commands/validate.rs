//! `connector validate`.

use std::path::PathBuf;

use connector_spec::Loaded;
use serde_json::json;

use crate::output::{ColorChoice, Stream, count, emit};
use crate::{Format, Outcome, specs};

pub fn run(
    paths: &[PathBuf],
    format: Format,
    strict: bool,
    color: ColorChoice,
) -> anyhow::Result<Outcome> {
    let files = specs::collect(paths)?;
    let loaded = specs::load_all(&files, strict);
    let errors: usize = loaded.iter().map(Loaded::error_count).sum();
    let warnings: usize = loaded.iter().map(Loaded::warning_count).sum();
    let summary = format!(
        "checked {}: {}, {}\n",
        count(loaded.len(), "file", "files"),
        count(errors, "error", "errors"),
        count(warnings, "warning", "warnings"),
    );

    let mut out = String::new();
    match format {
        Format::Human => {
            let color = color.enabled(Stream::Stdout);
            for l in &loaded {
                if !l.diagnostics.is_empty() {
                    out.push_str(&l.render(color));
                }
            }
            out.push_str(&summary);
        }
        Format::Github => {
            for l in &loaded {
                for d in l.located() {
                    out.push_str(&d.github());
                    out.push('\n');
                }
            }
            out.push_str(&summary);
        }
        Format::Json => {
            let files: Vec<serde_json::Value> = loaded
                .iter()
                .map(|l| {
                    json!({
                        "file": l.source.name(),
                        "ok": !l.has_errors(),
                        "diagnostics": l.located(),
                    })
                })
                .collect();
            let doc = json!({
                "files": files,
                "summary": { "files": loaded.len(), "errors": errors, "warnings": warnings },
            });
            out.push_str(&connector_spec::export::to_pretty_json(&doc));
        }
    }
    emit(Stream::Stdout, &out);

    Ok(if errors > 0 {
        Outcome::Invalid
    } else {
        Outcome::Success
    })
}
