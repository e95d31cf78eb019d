//! Feed arbitrary bytes (as lossy UTF-8) to the spec loader and render every diagnostic.
//!
//! Besides panics and hangs, this checks the invariants every consumer of diagnostics relies
//! on: spans lie inside the text, start <= end, and locations are 1-based.

#![no_main]

use std::sync::OnceLock;

use connector_spec::{LoadOptions, SpecLoader};
use libfuzzer_sys::fuzz_target;

fn loader(strict: bool) -> &'static SpecLoader {
    static LENIENT: OnceLock<SpecLoader> = OnceLock::new();
    static STRICT: OnceLock<SpecLoader> = OnceLock::new();
    let cell = if strict { &STRICT } else { &LENIENT };
    cell.get_or_init(|| {
        SpecLoader::new(LoadOptions {
            strict,
            ..LoadOptions::default()
        })
    })
}

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    // Vary strictness with the input so both paths are exercised without doubling the work.
    let strict = data.first().is_some_and(|b| b & 1 == 1);
    let loaded = loader(strict).load_str("fuzz.yaml", &text);

    for d in &loaded.diagnostics {
        // A caret just past the last byte is how "unexpected end of file" is reported, so a span
        // may end beyond the text only when it starts at its end.
        assert!(
            d.span.start <= d.span.end
                && d.span.start <= text.len()
                && (d.span.end <= text.len() || d.span.start == text.len()),
            "span {:?} outside the {}-byte text: {d:?}",
            d.span,
            text.len()
        );
    }
    for d in loaded.located() {
        assert!(
            d.line >= 1 && d.column >= 1,
            "location is not 1-based: {d:?}"
        );
        let _ = d.short();
        let _ = d.github();
    }
    let _ = loaded.render(false);
    let _ = loaded.render(true);
    if let Some(spec) = &loaded.spec {
        let _ = serde_json::to_string(spec);
    }
});
