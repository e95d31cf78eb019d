//! The shape rules of `docs/architecture.md`, checked on the source tree itself:
//!
//! * no import cycles between the files of `connector-runtime` or of `connector-cli`;
//! * no non-test function over 80 lines without a reason written beside it (a `// Long: ...`
//!   comment among the lines just above the function, with its attributes and doc comment).
//!
//! A file's imports are every path it names (`use` trees and paths in code) that resolves to
//! another file's module of the same crate. A module file naming its own descendants (a
//! `mod.rs` re-exporting its children) is containment, not an import: a facade over its own
//! parts. A child naming its parent, or two siblings naming each other, is an import.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use connector_tests::repo_root;
use syn::spanned::Spanned;
use syn::visit::Visit;

/// The longest a function may be without a written reason.
const MAX_FN_LINES: usize = 80;

type ModPath = Vec<String>;

/// One source file of a crate and the module it is.
struct SourceFile {
    path: PathBuf,
    module: ModPath,
    text: String,
}

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    let mut entries: Vec<_> = std::fs::read_dir(dir)
        .unwrap_or_else(|e| panic!("read {}: {e}", dir.display()))
        .map(|e| e.expect("dir entry").path())
        .collect();
    entries.sort();
    for p in entries {
        if p.is_dir() {
            rust_files(&p, out);
        } else if p.extension().is_some_and(|x| x == "rs") {
            out.push(p);
        }
    }
}

/// The module a file under `src` is: `lib.rs`/`main.rs` the root, `a/mod.rs` and `a.rs` `a`.
fn module_of(src: &Path, file: &Path) -> ModPath {
    let rel = file.strip_prefix(src).expect("under src");
    let mut parts: Vec<String> = rel
        .iter()
        .map(|c| c.to_string_lossy().into_owned())
        .collect();
    let last = parts.pop().expect("a file name");
    let stem = last.trim_end_matches(".rs");
    let root = parts.is_empty() && matches!(stem, "lib" | "main");
    if stem != "mod" && !root {
        parts.push(stem.to_string());
    }
    parts
}

/// The files of one crate's library or binary (not `src/bin/*`, which are crates of their own).
fn crate_files(krate: &str) -> Vec<SourceFile> {
    let src = repo_root().join(krate).join("src");
    let mut paths = Vec::new();
    rust_files(&src, &mut paths);
    paths
        .into_iter()
        .filter(|p| !p.starts_with(src.join("bin")))
        .map(|path| SourceFile {
            module: module_of(&src, &path),
            text: std::fs::read_to_string(&path).expect("readable source"),
            path,
        })
        .collect()
}

fn is_test_attr(attrs: &[syn::Attribute]) -> bool {
    attrs.iter().any(|a| {
        let p = a.path();
        if p.is_ident("test") || p.segments.last().is_some_and(|s| s.ident == "test") {
            return true;
        }
        p.is_ident("cfg")
            && a.parse_args::<syn::Meta>()
                .is_ok_and(|m| m.path().is_ident("test"))
    })
}

/// Collects the module paths a file names, each with the line that names it.
struct Imports<'a> {
    /// The module the visitor is in (the file's module, then inline `mod`s).
    here: ModPath,
    modules: &'a BTreeSet<ModPath>,
    found: Vec<(ModPath, usize)>,
}

impl Imports<'_> {
    /// Resolve a path's leading segments to an absolute module path, when they start in this
    /// crate (`crate::`, `super::`, `self::`, or a child module of the current one).
    fn absolute(&self, segs: &[String]) -> Option<ModPath> {
        let first = segs.first()?;
        let mut base = self.here.clone();
        let rest = match first.as_str() {
            "crate" => {
                base.clear();
                &segs[1..]
            }
            "self" => &segs[1..],
            "super" => {
                let mut rest = segs;
                while rest.first().is_some_and(|s| s == "super") {
                    base.pop();
                    rest = &rest[1..];
                }
                rest
            }
            _ => {
                let mut child = base.clone();
                child.push(first.clone());
                if !self.modules.contains(&child) {
                    return None;
                }
                segs
            }
        };
        base.extend(rest.iter().cloned());
        Some(base)
    }

    fn record(&mut self, segs: &[String], line: usize) {
        if let Some(abs) = self.absolute(segs) {
            // The longest prefix that is a file's module.
            let target = (0..=abs.len())
                .rev()
                .map(|n| abs[..n].to_vec())
                .find(|m| self.modules.contains(m));
            if let Some(t) = target {
                self.found.push((t, line));
            }
        }
    }

    fn use_tree(&mut self, prefix: &mut Vec<String>, tree: &syn::UseTree) {
        match tree {
            syn::UseTree::Path(p) => {
                prefix.push(p.ident.to_string());
                self.use_tree(prefix, &p.tree);
                prefix.pop();
            }
            syn::UseTree::Name(n) => {
                prefix.push(n.ident.to_string());
                self.record(prefix, n.ident.span().start().line);
                prefix.pop();
            }
            syn::UseTree::Rename(r) => {
                prefix.push(r.ident.to_string());
                self.record(prefix, r.ident.span().start().line);
                prefix.pop();
            }
            syn::UseTree::Glob(g) => self.record(prefix, g.star_token.span().start().line),
            syn::UseTree::Group(g) => {
                for t in &g.items {
                    self.use_tree(prefix, t);
                }
            }
        }
    }
}

impl<'ast> Visit<'ast> for Imports<'_> {
    fn visit_item_mod(&mut self, m: &'ast syn::ItemMod) {
        if is_test_attr(&m.attrs) {
            return;
        }
        self.here.push(m.ident.to_string());
        syn::visit::visit_item_mod(self, m);
        self.here.pop();
    }

    fn visit_item_fn(&mut self, f: &'ast syn::ItemFn) {
        if !is_test_attr(&f.attrs) {
            syn::visit::visit_item_fn(self, f);
        }
    }

    fn visit_item_use(&mut self, u: &'ast syn::ItemUse) {
        if !is_test_attr(&u.attrs) {
            self.use_tree(&mut Vec::new(), &u.tree);
        }
    }

    fn visit_path(&mut self, p: &'ast syn::Path) {
        let segs: Vec<String> = p.segments.iter().map(|s| s.ident.to_string()).collect();
        self.record(&segs, p.span().start().line);
        syn::visit::visit_path(self, p);
    }
}

/// Every file-to-file import of a crate: `from -> to -> first line naming it`.
fn import_graph(files: &[SourceFile]) -> BTreeMap<ModPath, BTreeMap<ModPath, usize>> {
    let modules: BTreeSet<ModPath> = files.iter().map(|f| f.module.clone()).collect();
    let mut graph = BTreeMap::new();
    for f in files {
        let ast = syn::parse_file(&f.text)
            .unwrap_or_else(|e| panic!("{} does not parse: {e}", f.path.display()));
        let mut v = Imports {
            here: f.module.clone(),
            modules: &modules,
            found: Vec::new(),
        };
        v.visit_file(&ast);
        let edges: &mut BTreeMap<ModPath, usize> = graph.entry(f.module.clone()).or_default();
        for (to, line) in v.found {
            // Itself, or its own descendants: containment, not an import.
            if to.starts_with(&f.module) {
                continue;
            }
            edges.entry(to).or_insert(line);
        }
    }
    graph
}

/// Strongly connected components with more than one file (Tarjan).
fn cycles(graph: &BTreeMap<ModPath, BTreeMap<ModPath, usize>>) -> Vec<Vec<ModPath>> {
    struct Tarjan<'g> {
        graph: &'g BTreeMap<ModPath, BTreeMap<ModPath, usize>>,
        index: BTreeMap<&'g ModPath, usize>,
        low: BTreeMap<&'g ModPath, usize>,
        stack: Vec<&'g ModPath>,
        on_stack: BTreeSet<&'g ModPath>,
        out: Vec<Vec<ModPath>>,
    }
    impl<'g> Tarjan<'g> {
        fn visit(&mut self, v: &'g ModPath) {
            let i = self.index.len();
            self.index.insert(v, i);
            self.low.insert(v, i);
            self.stack.push(v);
            self.on_stack.insert(v);
            for w in self.graph.get(v).into_iter().flat_map(|e| e.keys()) {
                if !self.index.contains_key(w) {
                    self.visit(w);
                    let lw = self.low[w];
                    let lv = self.low.get_mut(v).expect("visited");
                    *lv = (*lv).min(lw);
                } else if self.on_stack.contains(w) {
                    let iw = self.index[w];
                    let lv = self.low.get_mut(v).expect("visited");
                    *lv = (*lv).min(iw);
                }
            }
            if self.low[v] == self.index[v] {
                let mut scc = Vec::new();
                while let Some(w) = self.stack.pop() {
                    self.on_stack.remove(w);
                    scc.push(w.clone());
                    if w == v {
                        break;
                    }
                }
                if scc.len() > 1 {
                    scc.sort();
                    self.out.push(scc);
                }
            }
        }
    }
    let mut t = Tarjan {
        graph,
        index: BTreeMap::new(),
        low: BTreeMap::new(),
        stack: Vec::new(),
        on_stack: BTreeSet::new(),
        out: Vec::new(),
    };
    for v in graph.keys() {
        if !t.index.contains_key(v) {
            t.visit(v);
        }
    }
    t.out
}

fn show(m: &ModPath) -> String {
    if m.is_empty() {
        "crate".to_string()
    } else {
        m.join("::")
    }
}

fn cycle_report(krate: &str) -> Vec<String> {
    let files = crate_files(krate);
    let graph = import_graph(&files);
    cycles(&graph)
        .into_iter()
        .map(|scc| {
            let members: BTreeSet<&ModPath> = scc.iter().collect();
            let edges: Vec<String> = scc
                .iter()
                .flat_map(|from| {
                    graph[from]
                        .iter()
                        .filter(|(to, _)| members.contains(to))
                        .map(move |(to, line)| {
                            format!("{} -> {} (line {line})", show(from), show(to))
                        })
                })
                .collect();
            format!("{krate}: {}", edges.join(", "))
        })
        .collect()
}

#[test]
fn connector_runtime_files_import_no_cycle() {
    let found = cycle_report("connector-runtime");
    assert!(found.is_empty(), "import cycles:\n{}", found.join("\n"));
}

#[test]
fn connector_cli_files_import_no_cycle() {
    let found = cycle_report("connector-cli");
    assert!(found.is_empty(), "import cycles:\n{}", found.join("\n"));
}

/// Non-test functions of one file longer than [`MAX_FN_LINES`] with no `// Long:` reason.
struct LongFns<'a> {
    lines: &'a [&'a str],
    found: Vec<(String, usize, usize)>,
}

impl LongFns<'_> {
    fn check(
        &mut self,
        name: &syn::Ident,
        attrs: &[syn::Attribute],
        sig: &syn::Signature,
        block: &syn::Block,
    ) {
        if is_test_attr(attrs) {
            return;
        }
        let start = sig.fn_token.span().start().line;
        let end = block.brace_token.span.close().end().line;
        let len = end + 1 - start;
        if len > MAX_FN_LINES && !self.has_reason(start) {
            self.found.push((name.to_string(), start, len));
        }
    }

    /// A `// Long:` comment among the comment and attribute lines right above line `start`.
    fn has_reason(&self, start: usize) -> bool {
        self.lines[..start.saturating_sub(1)]
            .iter()
            .rev()
            .map(|l| l.trim())
            .take_while(|l| l.starts_with("//") || l.starts_with("#[") || l.ends_with(")]"))
            .any(|l| l.starts_with("// Long:"))
    }
}

impl<'ast> Visit<'ast> for LongFns<'_> {
    fn visit_item_mod(&mut self, m: &'ast syn::ItemMod) {
        if !is_test_attr(&m.attrs) {
            syn::visit::visit_item_mod(self, m);
        }
    }
    fn visit_item_fn(&mut self, f: &'ast syn::ItemFn) {
        self.check(&f.sig.ident, &f.attrs, &f.sig, &f.block);
        syn::visit::visit_item_fn(self, f);
    }
    fn visit_impl_item_fn(&mut self, f: &'ast syn::ImplItemFn) {
        self.check(&f.sig.ident, &f.attrs, &f.sig, &f.block);
        syn::visit::visit_impl_item_fn(self, f);
    }
    fn visit_trait_item_fn(&mut self, f: &'ast syn::TraitItemFn) {
        if let Some(b) = &f.default {
            self.check(&f.sig.ident, &f.attrs, &f.sig, b);
        }
        syn::visit::visit_trait_item_fn(self, f);
    }
}

#[test]
fn no_function_is_over_80_lines_without_a_reason() {
    let crates = [
        "connector-spec",
        "connector-runtime",
        "connector-cli",
        "connector-server",
        "connector-codegen",
        "connector-macros",
        "connector-examples",
        "xtask",
    ];
    let mut found = Vec::new();
    for krate in crates {
        let src = repo_root().join(krate).join("src");
        let mut paths = Vec::new();
        rust_files(&src, &mut paths);
        for path in paths {
            let text = std::fs::read_to_string(&path).expect("readable source");
            let ast = syn::parse_file(&text)
                .unwrap_or_else(|e| panic!("{} does not parse: {e}", path.display()));
            let lines: Vec<&str> = text.lines().collect();
            let mut v = LongFns {
                lines: &lines,
                found: Vec::new(),
            };
            v.visit_file(&ast);
            let rel = path
                .strip_prefix(repo_root())
                .expect("in the repo")
                .display()
                .to_string();
            found.extend(
                v.found
                    .into_iter()
                    .map(|(name, line, len)| format!("{rel}:{line}: fn {name} is {len} lines")),
            );
        }
    }
    assert!(
        found.is_empty(),
        "functions over {MAX_FN_LINES} lines with no `// Long:` reason above them:\n{}",
        found.join("\n")
    );
}
