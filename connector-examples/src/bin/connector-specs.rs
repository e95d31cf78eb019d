//! Write the spec of every Rust (`#[connector]`) example connector as a spec file, so that the
//! `connector` CLI treats it like any YAML spec:
//!
//! ```sh
//! cargo run -p connector-examples --bin connector-specs -- target/rust-specs
//! connector schema target/rust-specs/server-log-rs.yaml
//! ```
//!
//! The files hold the model in the spec format as JSON (which is YAML).

use std::path::PathBuf;
use std::process::ExitCode;

fn main() -> ExitCode {
    let Some(dir) = std::env::args_os().nth(1).map(PathBuf::from) else {
        eprintln!("usage: connector-specs <output directory>");
        return ExitCode::from(2);
    };
    if let Err(e) = std::fs::create_dir_all(&dir) {
        eprintln!("cannot create {}: {e}", dir.display());
        return ExitCode::from(2);
    }
    for (name, text) in connector_examples::rust_spec_files() {
        let path = dir.join(name);
        if let Err(e) = std::fs::write(&path, text) {
            eprintln!("cannot write {}: {e}", path.display());
            return ExitCode::from(2);
        }
        println!("wrote {}", path.display());
    }
    ExitCode::SUCCESS
}
