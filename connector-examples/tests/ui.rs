//! Compile-fail and pass tests of the macros, one compile-fail case per error category, with
//! the expected compiler output committed next to each case (`tests/ui/fail/*.stderr`).
//!
//! The `.stderr` files are tied to the pinned toolchain (1.95). After an intended change to a
//! message: `TRYBUILD=overwrite cargo test -p connector-examples --test ui`, then review the diff.

#[test]
fn ui() {
    let t = trybuild::TestCases::new();
    t.compile_fail("tests/ui/fail/*.rs");
    t.pass("tests/ui/pass/*.rs");
}
