//! The dependency rules between top-level modules, checked by reading `src/**/*.rs` (a test-only
//! module: it is compiled for `cargo test` and never shipped).
//!
//! It builds the graph of `crate::<top>` uses between top-level modules — `use crate::a::…`,
//! `use crate::{a, b}` groups, inline `crate::a::f()` paths, paths inside string attributes such as
//! `#[serde(with = "crate::a::f")]`, and `super::` paths climbing out of a top-level module — and
//! fails, naming the files, when:
//!
//! - two top-level modules depend on each other, directly or through others (composition roots
//!   excepted, see [`COMPOSITION_ROOTS`]), or a module other than a composition root imports one;
//! - a domain module ([`DOMAIN_MODULES`]) uses an HTTP crate ([`HTTP_CRATES`]);
//! - a front end other than SEES ([`SEES_FREE`]) imports `crate::sees`.
//!
//! The reading is lexical (comments skipped, strings kept apart, inline `mod x { … }` tracked for
//! `super::`); it never needs the compiler, so a broken rule is reported in well under a second.

use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::path::Path;

/// Composition roots build the application from every part: they may import anything, and only
/// another composition root may import them (`cli` starts `app` and `dev`). They are left out of the
/// cycle check; every other module is in it.
const COMPOSITION_ROOTS: &[&str] = &["app", "cli", "dev"];

/// Modules that hold the domain and its storage: no HTTP in them.
const DOMAIN_MODULES: &[&str] = &[
    "ids", "clock", "catalog", "decision", "devices", "keys", "store", "audit", "playback", "cpix",
    "drm",
];

/// HTTP crates, and their companions (`hyper_util`, `tower_http`, …), kept out of the domain.
const HTTP_CRATES: &[&str] = &["axum", "hyper", "tower", "reqwest"];

/// Front ends and edges that must reach the application through its own layer, never through the
/// SEES wire protocol module.
const SEES_FREE: &[&str] = &["admin", "ops", "net"];

/// Files of `src/` that are not part of any top-level module's dependencies.
const NOT_SCANNED: &[&str] = &["lib.rs", "main.rs", "dependency_rules.rs"];

/// One source file: its path under `src/` (with `/`) and its text.
struct Source {
    path: String,
    text: String,
}

/// What the sources use: edges between top-level modules and uses of HTTP crates, each with the
/// files that make it.
#[derive(Default)]
struct Graph {
    modules: BTreeSet<String>,
    edges: BTreeMap<String, BTreeMap<String, BTreeSet<String>>>,
    external: BTreeMap<String, BTreeMap<String, BTreeSet<String>>>,
}

impl Graph {
    fn add_edge(&mut self, from: &str, to: &str, file: &str) {
        if from != to && self.modules.contains(to) {
            self.edges
                .entry(from.to_owned())
                .or_default()
                .entry(to.to_owned())
                .or_default()
                .insert(file.to_owned());
        }
    }

    fn targets(&self, from: &str) -> impl Iterator<Item = &String> {
        self.edges.get(from).into_iter().flat_map(|to| to.keys())
    }

    fn witness(&self, from: &str, to: &str) -> String {
        let files = &self.edges[from][to];
        files.iter().cloned().collect::<Vec<_>>().join(", ")
    }
}

/// The module path of a file under `src/`: `admin/jwt/mod.rs` → `[admin, jwt]`, `akamai.rs` →
/// `[akamai]`.
fn module_path(path: &str) -> Vec<String> {
    let mut parts: Vec<String> = path.split('/').map(str::to_owned).collect();
    let file = parts.pop().unwrap_or_default();
    if file != "mod.rs" {
        parts.push(file.trim_end_matches(".rs").to_owned());
    }
    parts
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Tok<'a> {
    Ident(&'a str),
    PathSep,
    Open,
    Close,
    Comma,
    Other,
}

/// The tokens of `src` that matter here, and the contents of its string literals. Comments are
/// dropped; char literals and lifetimes are told apart.
fn lex(src: &str) -> (Vec<Tok<'_>>, Vec<&str>) {
    let bytes = src.as_bytes();
    let (mut toks, mut strings) = (Vec::new(), Vec::new());
    let mut i = 0;
    let ident_byte = |b: u8| b.is_ascii_alphanumeric() || b == b'_';
    while i < bytes.len() {
        let b = bytes[i];
        let next = bytes.get(i + 1).copied();
        if b == b'/' && next == Some(b'/') {
            while i < bytes.len() && bytes[i] != b'\n' {
                i += 1;
            }
        } else if b == b'/' && next == Some(b'*') {
            let mut depth = 0;
            while i < bytes.len() {
                if bytes[i] == b'/' && bytes.get(i + 1) == Some(&b'*') {
                    depth += 1;
                    i += 2;
                } else if bytes[i] == b'*' && bytes.get(i + 1) == Some(&b'/') {
                    depth -= 1;
                    i += 2;
                    if depth == 0 {
                        break;
                    }
                } else {
                    i += 1;
                }
            }
        } else if b == b'"' {
            let start = i + 1;
            i = start;
            while i < bytes.len() && bytes[i] != b'"' {
                i += if bytes[i] == b'\\' { 2 } else { 1 };
            }
            strings.push(&src[start..i.min(bytes.len())]);
            i += 1;
        } else if b == b'\'' {
            match src[i + 1..].chars().next() {
                Some('\\') => {
                    i += 2;
                    while i < bytes.len() && bytes[i] != b'\'' {
                        i += if bytes[i] == b'\\' { 2 } else { 1 };
                    }
                    i += 1;
                }
                Some(c) if bytes.get(i + 1 + c.len_utf8()) == Some(&b'\'') => {
                    i += 2 + c.len_utf8();
                }
                _ => i += 1, // a lifetime or label: its name is lexed as an identifier
            }
        } else if b.is_ascii_alphabetic() || b == b'_' {
            let start = i;
            while i < bytes.len() && ident_byte(bytes[i]) {
                i += 1;
            }
            let word = &src[start..i];
            let raw_string = matches!(word, "r" | "br" | "cr")
                && matches!(bytes.get(i), Some(b'"') | Some(b'#'));
            if raw_string {
                let hashes = bytes[i..].iter().take_while(|&&c| c == b'#').count();
                let open = i + hashes;
                if bytes.get(open) == Some(&b'"') {
                    let close = format!("\"{}", "#".repeat(hashes));
                    let body = open + 1;
                    let end = src[body..].find(&close).map_or(bytes.len(), |at| body + at);
                    strings.push(&src[body..end]);
                    i = (end + close.len()).min(bytes.len());
                    continue;
                }
            }
            if matches!(word, "b" | "c") && bytes.get(i) == Some(&b'"') {
                continue; // a byte or C string: the quote is lexed next
            }
            toks.push(Tok::Ident(word));
        } else if b.is_ascii_digit() {
            while i < bytes.len() && ident_byte(bytes[i]) {
                i += 1;
            }
            toks.push(Tok::Other);
        } else {
            i += 1;
            toks.push(match b {
                b':' if next == Some(b':') => {
                    i += 1;
                    Tok::PathSep
                }
                b'{' => Tok::Open,
                b'}' => Tok::Close,
                b',' => Tok::Comma,
                _ if b.is_ascii_whitespace() => continue,
                _ => Tok::Other,
            });
        }
    }
    (toks, strings)
}

/// The first segment of each path a use names at `toks[at]`: `a::b` → `[a]`, `{a, b::c}` → `[a, b]`.
fn path_heads<'a>(toks: &[Tok<'a>], at: usize) -> Vec<&'a str> {
    match toks.get(at) {
        Some(Tok::Ident(name)) => vec![name],
        Some(Tok::Open) => {
            let (mut heads, mut depth, mut item_start) = (Vec::new(), 0, true);
            for tok in &toks[at..] {
                match tok {
                    Tok::Open => {
                        depth += 1;
                        item_start = depth == 1;
                        continue;
                    }
                    Tok::Close => {
                        depth -= 1;
                        if depth == 0 {
                            break;
                        }
                    }
                    Tok::Comma if depth == 1 => {
                        item_start = true;
                        continue;
                    }
                    Tok::Ident(name) if item_start && depth == 1 => heads.push(*name),
                    _ => {}
                }
                item_start = false;
            }
            heads
        }
        _ => Vec::new(),
    }
}

/// Whether `toks[i]` starts a path (is not a later segment of one).
fn starts_path(toks: &[Tok<'_>], i: usize) -> bool {
    i == 0 || toks[i - 1] != Tok::PathSep || (i >= 2 && !matches!(toks[i - 2], Tok::Ident(_)))
}

fn is_http_crate(name: &str) -> bool {
    HTTP_CRATES.iter().any(|c| {
        name == *c
            || name
                .strip_prefix(c)
                .is_some_and(|rest| rest.starts_with('_'))
    })
}

/// The dependency graph of `sources` (paths relative to `src/`).
fn analyse(sources: &[Source]) -> Graph {
    let mut graph = Graph {
        modules: sources
            .iter()
            .filter_map(|s| module_path(&s.path).into_iter().next())
            .collect(),
        ..Graph::default()
    };
    for source in sources {
        let file_path = module_path(&source.path);
        let Some(top) = file_path.first().cloned() else {
            continue;
        };
        let (toks, strings) = lex(&source.text);
        let mut inline_mods: Vec<(&str, usize)> = Vec::new();
        let mut depth = 0usize;
        for (i, tok) in toks.iter().enumerate() {
            let followed_by_path = toks.get(i + 1) == Some(&Tok::PathSep);
            match *tok {
                Tok::Open => depth += 1,
                Tok::Close => {
                    depth = depth.saturating_sub(1);
                    if inline_mods.last().is_some_and(|&(_, at)| at == depth) {
                        inline_mods.pop();
                    }
                }
                Tok::Ident("mod") => {
                    if let (Some(Tok::Ident(name)), Some(Tok::Open)) =
                        (toks.get(i + 1), toks.get(i + 2))
                    {
                        inline_mods.push((*name, depth));
                    }
                }
                Tok::Ident("crate") if followed_by_path && starts_path(&toks, i) => {
                    for head in path_heads(&toks, i + 2) {
                        graph.add_edge(&top, head, &source.path);
                    }
                }
                Tok::Ident("super") if followed_by_path && starts_path(&toks, i) => {
                    let mut climbs = 0;
                    let mut at = i;
                    while toks.get(at) == Some(&Tok::Ident("super"))
                        && toks.get(at + 1) == Some(&Tok::PathSep)
                    {
                        climbs += 1;
                        at += 2;
                    }
                    if climbs == file_path.len() + inline_mods.len() {
                        for head in path_heads(&toks, at) {
                            graph.add_edge(&top, head, &source.path);
                        }
                    }
                }
                Tok::Ident(name)
                    if followed_by_path && starts_path(&toks, i) && is_http_crate(name) =>
                {
                    graph
                        .external
                        .entry(top.clone())
                        .or_default()
                        .entry(name.to_owned())
                        .or_default()
                        .insert(source.path.clone());
                }
                _ => {}
            }
        }
        for text in strings {
            for (at, _) in text.match_indices("crate::") {
                let before = text[..at].chars().next_back();
                if before.is_some_and(|c| c.is_alphanumeric() || c == '_') {
                    continue;
                }
                let rest = &text[at + "crate::".len()..];
                let head: String = rest
                    .chars()
                    .take_while(|c| c.is_alphanumeric() || *c == '_')
                    .collect();
                graph.add_edge(&top, &head, &source.path);
            }
        }
    }
    graph
}

/// Cycles between top-level modules (composition roots left out), each as `a → b → a` with the files
/// that make every step; and modules that import a composition root.
fn cycle_violations(graph: &Graph) -> Vec<String> {
    let roots: BTreeSet<&str> = COMPOSITION_ROOTS.iter().copied().collect();
    let mut problems = Vec::new();
    for (from, targets) in &graph.edges {
        for to in targets.keys() {
            if roots.contains(to.as_str()) && !roots.contains(from.as_str()) {
                problems.push(format!(
                    "{from} imports the composition root {to} ({})",
                    graph.witness(from, to)
                ));
            }
        }
    }
    let inner: Vec<&String> = graph
        .modules
        .iter()
        .filter(|m| !roots.contains(m.as_str()))
        .collect();
    let reach = |start: &str| -> BTreeMap<String, String> {
        // Every module reachable from `start`, with the module it was reached from (for the path).
        let mut seen = BTreeMap::new();
        let mut queue = VecDeque::from([start.to_owned()]);
        while let Some(at) = queue.pop_front() {
            for next in graph.targets(&at) {
                if roots.contains(next.as_str()) || seen.contains_key(next) {
                    continue;
                }
                seen.insert(next.clone(), at.clone());
                queue.push_back(next.clone());
            }
        }
        seen
    };
    let mut reported: BTreeSet<String> = BTreeSet::new();
    for module in inner {
        if reported.contains(module) {
            continue;
        }
        let seen = reach(module);
        if !seen.contains_key(module) {
            continue;
        }
        // Walk the predecessors back from `module` to itself: the shortest cycle through it.
        let mut cycle = vec![module.clone()];
        let mut at = seen[module].clone();
        while &at != module {
            cycle.push(at.clone());
            at = seen[&at].clone();
        }
        cycle.push(module.clone());
        cycle.reverse();
        let steps: Vec<String> = cycle
            .windows(2)
            .map(|w| format!("{} → {} ({})", w[0], w[1], graph.witness(&w[0], &w[1])))
            .collect();
        reported.extend(cycle.iter().cloned());
        problems.push(format!("cycle {}: {}", cycle.join(" → "), steps.join("; ")));
    }
    problems
}

/// Domain modules that use an HTTP crate.
fn http_violations(graph: &Graph) -> Vec<String> {
    let mut problems = Vec::new();
    for module in DOMAIN_MODULES {
        for (krate, files) in graph.external.get(*module).into_iter().flatten() {
            let files: Vec<&str> = files.iter().map(String::as_str).collect();
            problems.push(format!(
                "domain module {module} uses {krate} ({})",
                files.join(", ")
            ));
        }
    }
    problems
}

/// Front ends that import the SEES wire module.
fn sees_violations(graph: &Graph) -> Vec<String> {
    SEES_FREE
        .iter()
        .filter(|m| {
            graph
                .edges
                .get(**m)
                .is_some_and(|to| to.contains_key("sees"))
        })
        .map(|m| format!("{m} imports crate::sees ({})", graph.witness(m, "sees")))
        .collect()
}

/// Every scanned file of this crate's `src/`.
fn crate_sources() -> Vec<Source> {
    fn walk(root: &Path, dir: &Path, out: &mut Vec<Source>) {
        let mut entries: Vec<_> = std::fs::read_dir(dir)
            .expect("src/ is readable")
            .map(|e| e.expect("a directory entry").path())
            .collect();
        entries.sort();
        for path in entries {
            if path.is_dir() {
                walk(root, &path, out);
            } else if path.extension().is_some_and(|e| e == "rs") {
                let rel = path.strip_prefix(root).expect("under src/");
                let rel = rel
                    .components()
                    .map(|c| c.as_os_str().to_string_lossy().into_owned())
                    .collect::<Vec<_>>()
                    .join("/");
                if NOT_SCANNED.contains(&rel.as_str()) {
                    continue;
                }
                let text = std::fs::read_to_string(&path).expect("a readable source file");
                out.push(Source { path: rel, text });
            }
        }
    }
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut out = Vec::new();
    walk(&root, &root, &mut out);
    out
}

/// Fails with every violation, one per line, after printing the graph (seen with `--nocapture`).
fn assert_none(rule: &str, problems: Vec<String>) {
    assert!(
        problems.is_empty(),
        "{rule}:\n  - {}",
        problems.join("\n  - ")
    );
}

fn crate_graph() -> Graph {
    let graph = analyse(&crate_sources());
    for (from, to) in &graph.edges {
        println!(
            "{from} → {}",
            to.keys().cloned().collect::<Vec<_>>().join(", ")
        );
    }
    graph
}

#[test]
fn no_cycles_between_top_level_modules() {
    assert_none(
        "modules that depend on each other",
        cycle_violations(&crate_graph()),
    );
}

#[test]
fn domain_modules_use_no_http_crates() {
    assert_none("HTTP crates in the domain", http_violations(&crate_graph()));
}

#[test]
fn admin_ops_and_net_do_not_import_sees() {
    assert_none(
        "front ends importing the SEES wire module",
        sees_violations(&crate_graph()),
    );
}

mod tests {
    use super::*;

    fn fake(files: &[(&str, &str)]) -> Graph {
        analyse(
            &files
                .iter()
                .map(|(path, text)| Source {
                    path: (*path).to_owned(),
                    text: (*text).to_owned(),
                })
                .collect::<Vec<_>>(),
        )
    }

    fn edges(graph: &Graph) -> Vec<String> {
        graph
            .edges
            .iter()
            .flat_map(|(from, to)| to.keys().map(move |to| format!("{from}->{to}")))
            .collect()
    }

    #[test]
    fn every_form_of_use_is_an_edge() {
        let graph = fake(&[
            ("a.rs", "use crate::b::Thing;\nfn f() { crate::c::go(); }"),
            (
                "b/mod.rs",
                "pub mod inner;\nuse crate::{c, d::{x, y}, self};",
            ),
            ("b/inner.rs", "use super::super::e::E;\nuse super::Sibling;"),
            ("c.rs", "#[serde(with = \"crate::f::millis\")] struct S;"),
            ("d.rs", ""),
            ("e.rs", ""),
            ("f.rs", ""),
        ]);
        assert_eq!(
            edges(&graph),
            vec!["a->b", "a->c", "b->c", "b->d", "b->e", "c->f"]
        );
    }

    #[test]
    fn comments_lifetimes_chars_and_later_segments_are_not_edges() {
        let graph = fake(&[
            (
                "a.rs",
                "// use crate::b;\n/* crate::b /* nested */ crate::b */\n\
                 fn f<'x>(s: &'x str) -> char { let _ = other::crate::b; '\"' }\n\
                 const URL: &str = \"https://example.com\"; // crate::b\n\
                 mod tests { use super::*; }",
            ),
            ("b.rs", "pub(crate) fn g() {}"),
        ]);
        assert!(edges(&graph).is_empty(), "{:?}", edges(&graph));
    }

    #[test]
    fn super_climbs_through_inline_modules() {
        let graph = fake(&[
            (
                "a/mod.rs",
                "mod tests { use super::super::b::B; fn f() {} }\nuse super::c::C;",
            ),
            ("b.rs", ""),
            ("c.rs", ""),
        ]);
        assert_eq!(edges(&graph), vec!["a->b", "a->c"]);
    }

    #[test]
    fn a_cycle_is_reported_with_its_files() {
        let graph = fake(&[
            ("a.rs", "use crate::b::B;"),
            ("b/mod.rs", "mod x;"),
            ("b/x.rs", "use crate::c::C;"),
            ("c.rs", "use crate::a::A;"),
            ("app.rs", "use crate::{a, b, c};"),
            ("cli.rs", "use crate::app::run;"),
        ]);
        let problems = cycle_violations(&graph);
        assert_eq!(problems.len(), 1, "{problems:?}");
        assert_eq!(
            problems[0],
            "cycle a → b → c → a: a → b (a.rs); b → c (b/x.rs); c → a (c.rs)"
        );
        let acyclic = fake(&[
            ("a.rs", "use crate::b::B;"),
            ("b.rs", ""),
            ("app.rs", "use crate::{a, b};"),
            ("cli.rs", "use crate::{app, dev};"),
            ("dev.rs", "use crate::a::A;"),
        ]);
        assert!(cycle_violations(&acyclic).is_empty());
    }

    #[test]
    fn only_composition_roots_import_composition_roots() {
        let graph = fake(&[
            ("a.rs", "use crate::app::Application;"),
            ("app.rs", "use crate::a::A;"),
        ]);
        assert_eq!(
            cycle_violations(&graph),
            vec!["a imports the composition root app (a.rs)"]
        );
    }

    #[test]
    fn http_in_the_domain_and_sees_in_front_ends_are_reported() {
        let graph = fake(&[
            (
                "store/mod.rs",
                "fn f() { let _ = reqwest::Url::parse(\"x\"); }",
            ),
            (
                "catalog.rs",
                "use hyper_util::rt::TokioIo;\nuse serde::Serialize;",
            ),
            ("keys.rs", "fn f() { let _ = my::axum::Router; }"),
            (
                "admin/mod.rs",
                "use axum::Router;\nuse crate::sees::ErrorCode;",
            ),
            ("ops.rs", "use crate::keys;"),
            ("sees.rs", ""),
        ]);
        assert_eq!(
            http_violations(&graph),
            vec![
                "domain module catalog uses hyper_util (catalog.rs)",
                "domain module store uses reqwest (store/mod.rs)",
            ]
        );
        assert_eq!(
            sees_violations(&graph),
            vec!["admin imports crate::sees (admin/mod.rs)"]
        );
    }

    #[test]
    fn raw_and_byte_strings_are_read_as_strings() {
        let graph = fake(&[
            (
                "a.rs",
                "const A: &str = r#\"use crate::b; \"quoted\" \"#;\nconst B: &[u8] = b\"crate::\";\nuse crate::c;",
            ),
            ("b.rs", ""),
            ("c.rs", ""),
        ]);
        assert_eq!(edges(&graph), vec!["a->b", "a->c"]);
    }
}
