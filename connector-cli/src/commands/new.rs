//! `connector new`: scaffold a spec that validates clean under `--strict`.

use std::path::{Path, PathBuf};

use anyhow::{Context, bail};
use connector_spec::AuthTypeId;
use connector_spec::format_schema::FORMAT_SCHEMA_PATH;

use crate::Outcome;
use crate::output::{Stream, emit};

pub fn run(name: &str, dir: &Path, auth: AuthTypeId) -> anyhow::Result<Outcome> {
    check_name(name)?;
    for ext in ["yaml", "yml"] {
        let existing = dir.join(format!("{name}.{ext}"));
        if existing.exists() {
            bail!(
                "{} already exists; not overwriting it (pick another name or delete the file)",
                existing.display()
            );
        }
    }
    std::fs::create_dir_all(dir)
        .with_context(|| format!("cannot create directory {}", dir.display()))?;
    let path = dir.join(format!("{name}.yaml"));
    let (schema_ref, found) = schema_modeline_target(dir);
    let text = scaffold(name, auth, &schema_ref);
    // `create_new` so that a file appearing between the check and the write is not clobbered.
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(&path)
        .with_context(|| format!("cannot create {}", path.display()))?;
    std::io::Write::write_all(&mut file, text.as_bytes())
        .with_context(|| format!("cannot write {}", path.display()))?;

    let mut msg = format!(
        "created {path}\n\nnext:\n  1. edit {path}: baseUrl, the sample action, the connection test\n  2. connector validate {path} --strict\n  3. connector schema {path}\n",
        path = path.display()
    );
    if !found {
        msg.push_str(&format!(
            "\nnote: no {FORMAT_SCHEMA_PATH} found above {}; point the yaml-language-server \
             modeline at it for editor completion\n",
            dir.display()
        ));
    }
    emit(Stream::Stdout, &msg);
    Ok(Outcome::Success)
}

/// Names become the id `.<name>` and the file name, so they stay in a portable subset.
fn check_name(name: &str) -> anyhow::Result<()> {
    if name.is_empty() {
        bail!("the connector name is empty");
    }
    if name.len() > 63 {
        bail!(
            "connector name `{name}` is {} characters long; at most 63 are allowed (the id `.{name}` may have 64)",
            name.len()
        );
    }
    if let Some(bad) = name
        .chars()
        .find(|c| !(c.is_ascii_lowercase() || c.is_ascii_digit() || matches!(c, '_' | '-')))
    {
        bail!(
            "invalid connector name `{name}`: `{bad}` is not allowed; use lowercase letters, digits, `_` and `-`"
        );
    }
    Ok(())
}

/// The modeline's path to the format schema, relative to the new file: found by walking up from
/// `dir` to the directory that holds `docs/connector-spec.schema.json`. Falls back to the
/// layout of this repository (`specs/` next to `docs/`) and reports that it did not find it.
fn schema_modeline_target(dir: &Path) -> (String, bool) {
    let fallback = format!("../{FORMAT_SCHEMA_PATH}");
    let Ok(start) = std::fs::canonicalize(dir) else {
        return (fallback, false);
    };
    let mut ups = PathBuf::new();
    for ancestor in start.ancestors() {
        if ancestor.join(FORMAT_SCHEMA_PATH).is_file() {
            let rel = ups.join(FORMAT_SCHEMA_PATH);
            return (rel.to_string_lossy().replace('\\', "/"), true);
        }
        ups.push("..");
    }
    (fallback, false)
}

/// `my_service` -> `My Service`.
fn display_name(name: &str) -> String {
    name.split(['_', '-'])
        .filter(|w| !w.is_empty())
        .map(|w| {
            let mut chars = w.chars();
            match chars.next() {
                Some(first) => first.to_ascii_uppercase().to_string() + chars.as_str(),
                None => String::new(),
            }
        })
        .collect::<Vec<_>>()
        .join(" ")
}

/// The scaffolded spec text.
pub fn scaffold(name: &str, auth: AuthTypeId, schema_ref: &str) -> String {
    let title = display_name(name);
    let title = if title.is_empty() {
        name.to_string()
    } else {
        title
    };
    format!(
        r#"# yaml-language-server: $schema={schema_ref}
#
# {title}: scaffolded by `connector new`. Replace the base URL, the sample action and the
# connection test with the real API, then check it with:
#   connector validate <this file> --strict
# The format is described in docs/spec-format.md.
id: .{name}
displayName: {title}
description: Connects to the {title} API.
minimumLicense: basic
supportedFeatureIds: [workflows]
baseUrl: https://api.example.com/v1

auth:
  types:
    # {auth_title}
    - {auth}

config:
  type: object
  additionalProperties: false
  properties: {{}}

actions:
  getItem:
    description: Fetch one item by its id.
    isTool: true
    scope: read
    # Every string input has a maxLength and every array a maxItems, so no caller (or AI
    # agent) can send an unbounded value; `connector validate --strict` enforces this.
    input:
      type: object
      additionalProperties: false
      required: [id]
      properties:
        id:
          type: string
          minLength: 1
          maxLength: 128
          pattern: "^[A-Za-z0-9_-]+$"
          description: The item's id.
          x-ui:
            label: Item ID
            placeholder: item_123
            order: 1
    request:
      method: GET
      path: "/items/{{{{ input.id }}}}"
    response:
      output: $

test:
  description: The API answers an authenticated request.
  request:
    method: GET
    path: /ping
"#,
        auth = auth.as_str(),
        auth_title = auth.title(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_checked() {
        assert!(check_name("my_service-2").is_ok());
        for bad in ["", "My", "a.b", "a b", "ü", "../x", &"a".repeat(64)] {
            assert!(check_name(bad).is_err(), "{bad:?} should be rejected");
        }
        assert!(check_name(&"a".repeat(63)).is_ok());
    }

    #[test]
    fn display_names() {
        assert_eq!(display_name("my_service-api"), "My Service Api");
        assert_eq!(display_name("x"), "X");
    }

    #[test]
    fn every_auth_type_scaffolds_a_strictly_valid_spec() {
        let options = connector_spec::LoadOptions {
            strict: true,
            ..Default::default()
        };
        for auth in AuthTypeId::ALL {
            let text = scaffold("demo_svc", auth, "../docs/connector-spec.schema.json");
            let loaded = connector_spec::load_str("demo_svc.yaml", &text, &options);
            assert!(
                loaded.diagnostics.is_empty(),
                "--auth {auth}:\n{}",
                loaded.render(false)
            );
            let spec = loaded.spec.expect("valid");
            assert_eq!(spec.id, ".demo_svc");
            assert_eq!(spec.auth.types[0].kind, auth);
        }
    }
}
