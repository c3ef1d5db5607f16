//! The shape of `src/` that `docs/architecture.md` draws, kept true by a test.
//!
//! - **Rooms import one way.** A room is a top-level module of `src/` (a
//!   folder such as `report/`, or a file such as `spec.rs`). Every production
//!   `crate::ROOM` path in a room's files is an edge to `ROOM`; the test
//!   prints the edges with their counts and fails on any cycle between rooms,
//!   naming the file and line of every edge in it.
//! - **No Rust file of `src/`, `tests/` or `benches/` past
//!   [`MAX_FILE_LINES`]** lines.
//! - **No function past [`MAX_FN_LINES`]** lines, counted from its `fn` line
//!   to its closing brace.
//!
//! Limits of the scan (it is a text scan, not a parser, and says so):
//! - Test code is left out: files named `tests.rs` and `#[cfg(test)] mod … { }`
//!   blocks. Whole-line comments (`//`, `///`, `//!`) are left out, so a doc
//!   link to another room is not an edge; a `crate::` inside a string literal
//!   would count as one (there are none).
//! - Only `crate::` paths are edges: `super::` stays inside a room by
//!   construction, except from a room's root file, where it would reach
//!   `lib.rs` (nothing does). `lib.rs` and `main.rs` are the doors, not rooms.
//! - A function is a line whose first words are `fn NAME` (after `pub`,
//!   `pub(crate)`, `const`, `async`, `unsafe`, `extern "C"`); its body is
//!   found by counting braces outside strings, chars and comments. Raw
//!   strings are recognised with up to three `#`. A function inside another
//!   counts for both.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

/// House limit on a file's length (lines).
const MAX_FILE_LINES: usize = 600;
/// House limit on a function's length (lines, signature to closing brace).
const MAX_FN_LINES: usize = 150;

/// Functions past [`MAX_FN_LINES`] in rooms another issue is rewriting: the
/// diagnosis rewrite owns `diagnose/` and `rerun/`. Each entry is
/// (file, function); the test fails when an entry is no longer too long, so
/// the list only shrinks.
const KNOWN_LONG_FUNCTIONS: &[(&str, &str)] = &[];

fn src() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("src")
}

/// Every `.rs` file under `dir`, sorted.
fn rust_files(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for entry in std::fs::read_dir(&d).expect("read src") {
            let path = entry.expect("entry").path();
            if path.is_dir() {
                stack.push(path);
            } else if path.extension().is_some_and(|e| e == "rs") {
                out.push(path);
            }
        }
    }
    out.sort();
    out
}

/// `src/`-relative path with `/` separators.
fn rel(path: &Path) -> String {
    path.strip_prefix(src())
        .expect("under src")
        .to_string_lossy()
        .replace('\\', "/")
}

/// The room a file belongs to: its first path component, without `.rs`.
fn room_of(rel: &str) -> Option<String> {
    let first = rel.split('/').next()?;
    let room = first.strip_suffix(".rs").unwrap_or(first);
    (room != "lib" && room != "main").then(|| room.to_string())
}

/// Source text with comments and string/char literals blanked out (same
/// length and line breaks, so positions and line numbers hold).
fn code_only(text: &str) -> String {
    let b = text.as_bytes();
    let mut out = b.to_vec();
    let mut i = 0;
    let blank = |out: &mut Vec<u8>, from: usize, to: usize| {
        for c in &mut out[from..to] {
            if *c != b'\n' {
                *c = b' ';
            }
        }
    };
    while i < b.len() {
        match b[i] {
            b'/' if b.get(i + 1) == Some(&b'/') => {
                let end = text[i..].find('\n').map_or(b.len(), |n| i + n);
                blank(&mut out, i, end);
                i = end;
            }
            b'/' if b.get(i + 1) == Some(&b'*') => {
                let end = text[i + 2..].find("*/").map_or(b.len(), |n| i + 2 + n + 2);
                blank(&mut out, i, end);
                i = end;
            }
            b'r' if (b.get(i + 1) == Some(&b'"') || b.get(i + 1) == Some(&b'#'))
                && (i == 0 || !(b[i - 1].is_ascii_alphanumeric() || b[i - 1] == b'_')) =>
            {
                let hashes = b[i + 1..].iter().take_while(|&&c| c == b'#').count();
                if b.get(i + 1 + hashes) != Some(&b'"') || hashes > 3 {
                    i += 1;
                    continue;
                }
                let close = format!("\"{}", "#".repeat(hashes));
                let start = i + 2 + hashes;
                let end = text[start..]
                    .find(&close)
                    .map_or(b.len(), |n| start + n + close.len());
                blank(&mut out, i, end);
                i = end;
            }
            b'"' => {
                let mut j = i + 1;
                while j < b.len() && b[j] != b'"' {
                    j += if b[j] == b'\\' { 2 } else { 1 };
                }
                let end = (j + 1).min(b.len());
                blank(&mut out, i, end);
                i = end;
            }
            b'\'' => {
                // A char literal ('x', '\n', '\u{7f}', '{') or a lifetime ('a).
                let end = if b.get(i + 1) == Some(&b'\\') {
                    text[i + 2..].find('\'').map(|n| i + 2 + n + 1)
                } else {
                    let ch_len = text[i + 1..].chars().next().map_or(1, char::len_utf8);
                    (b.get(i + 1 + ch_len) == Some(&b'\'')).then_some(i + 2 + ch_len)
                };
                match end {
                    Some(end) => {
                        blank(&mut out, i, end);
                        i = end;
                    }
                    None => i += 1,
                }
            }
            _ => i += 1,
        }
    }
    String::from_utf8(out).expect("ascii blanks keep utf-8")
}

/// Blank out `#[cfg(test)] mod name { … }` blocks (already comment-free text).
fn without_test_modules(code: &str) -> String {
    let mut out = code.to_string();
    let mut from = 0;
    while let Some(at) = out[from..].find("#[cfg(test)]").map(|n| from + n) {
        let rest = out[at + "#[cfg(test)]".len()..].trim_start();
        let is_mod = rest.starts_with("mod ") || rest.starts_with("pub mod ");
        let Some(open) = out[at..].find(['{', ';']).map(|n| at + n) else {
            break;
        };
        if !is_mod || out.as_bytes()[open] == b';' {
            from = at + 1;
            continue;
        }
        let close = matching_brace(&out, open).unwrap_or(out.len() - 1);
        let blanked: String = out[at..=close]
            .chars()
            .map(|c| if c == '\n' { '\n' } else { ' ' })
            .collect();
        out.replace_range(at..=close, &blanked);
        from = close + 1;
    }
    out
}

/// Index of the `}` closing the `{` at `open` (comment- and string-free text).
fn matching_brace(code: &str, open: usize) -> Option<usize> {
    let mut depth = 0usize;
    for (i, c) in code[open..].char_indices() {
        match c {
            '{' => depth += 1,
            '}' => {
                depth -= 1;
                if depth == 0 {
                    return Some(open + i);
                }
            }
            _ => {}
        }
    }
    None
}

fn line_of(code: &str, at: usize) -> usize {
    code[..at].matches('\n').count() + 1
}

fn ident_at(s: &str) -> &str {
    let end = s
        .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
        .unwrap_or(s.len());
    &s[..end]
}

/// The rooms a file's production code names through `crate::`, with the line.
fn crate_refs(code: &str) -> Vec<(String, usize)> {
    let mut refs = Vec::new();
    for (at, _) in code.match_indices("crate::") {
        if at > 0 {
            let before = code.as_bytes()[at - 1];
            if before.is_ascii_alphanumeric() || before == b'_' {
                continue; // `boundcheck::` or another `…crate::` identifier
            }
        }
        let rest = &code[at + "crate::".len()..];
        let line = line_of(code, at);
        if let Some(group) = rest.strip_prefix('{') {
            // `use crate::{a::X, b, c::{…}}`: the first word of each top-level item.
            let mut depth = 0;
            let mut item_start = true;
            for (i, c) in group.char_indices() {
                match c {
                    '{' => depth += 1,
                    '}' if depth == 0 => break,
                    '}' => depth -= 1,
                    ',' if depth == 0 => item_start = true,
                    c if item_start && (c.is_ascii_alphabetic() || c == '_') => {
                        refs.push((ident_at(&group[i..]).to_string(), line));
                        item_start = false;
                    }
                    _ => {}
                }
            }
        } else {
            let word = ident_at(rest);
            if !word.is_empty() {
                refs.push((word.to_string(), line));
            }
        }
    }
    refs
}

struct Tree {
    /// (room, room) → every (file, line) that makes the edge.
    edges: BTreeMap<(String, String), Vec<(String, usize)>>,
    rooms: BTreeSet<String>,
}

fn scan_edges() -> Tree {
    let mut tree = Tree {
        edges: BTreeMap::new(),
        rooms: BTreeSet::new(),
    };
    let files = rust_files(&src());
    for path in &files {
        if let Some(room) = room_of(&rel(path)) {
            tree.rooms.insert(room);
        }
    }
    for path in files {
        let rel = rel(&path);
        let Some(room) = room_of(&rel) else { continue };
        if rel.ends_with("/tests.rs") || rel.contains("/tests/") {
            continue;
        }
        let text = std::fs::read_to_string(&path).expect("read");
        let code = without_test_modules(&code_only(&text));
        for (target, line) in crate_refs(&code) {
            if target != room && tree.rooms.contains(&target) {
                tree.edges
                    .entry((room.clone(), target))
                    .or_default()
                    .push((rel.clone(), line));
            }
        }
    }
    tree
}

/// Strongly connected components with more than one room (Tarjan).
fn cycles(rooms: &BTreeSet<String>, edges: &BTreeSet<(String, String)>) -> Vec<Vec<String>> {
    struct State<'a> {
        index: BTreeMap<&'a str, usize>,
        low: BTreeMap<&'a str, usize>,
        stack: Vec<&'a str>,
        on_stack: BTreeSet<&'a str>,
        next: usize,
        found: Vec<Vec<String>>,
    }
    fn visit<'a>(v: &'a str, edges: &'a BTreeSet<(String, String)>, s: &mut State<'a>) {
        s.index.insert(v, s.next);
        s.low.insert(v, s.next);
        s.next += 1;
        s.stack.push(v);
        s.on_stack.insert(v);
        for (_, w) in edges.iter().filter(|(a, _)| a == v) {
            let w = w.as_str();
            if !s.index.contains_key(w) {
                visit(w, edges, s);
                let lw = s.low[w];
                let lv = s.low.get_mut(v).expect("visited");
                *lv = (*lv).min(lw);
            } else if s.on_stack.contains(w) {
                let iw = s.index[w];
                let lv = s.low.get_mut(v).expect("visited");
                *lv = (*lv).min(iw);
            }
        }
        if s.low[v] == s.index[v] {
            let mut component = Vec::new();
            while let Some(w) = s.stack.pop() {
                s.on_stack.remove(w);
                component.push(w.to_string());
                if w == v {
                    break;
                }
            }
            if component.len() > 1 {
                component.sort();
                s.found.push(component);
            }
        }
    }
    let mut s = State {
        index: BTreeMap::new(),
        low: BTreeMap::new(),
        stack: Vec::new(),
        on_stack: BTreeSet::new(),
        next: 0,
        found: Vec::new(),
    };
    for room in rooms {
        if !s.index.contains_key(room.as_str()) {
            visit(room, edges, &mut s);
        }
    }
    s.found
}

#[test]
fn rooms_import_each_other_one_way_only() {
    let tree = scan_edges();
    let mut listing = String::new();
    for room in &tree.rooms {
        let out: Vec<String> = tree
            .edges
            .iter()
            .filter(|((from, _), _)| from == room)
            .map(|((_, to), at)| format!("{to}({})", at.len()))
            .collect();
        listing.push_str(&format!("{room} ──> {}\n", out.join(" ")));
    }
    println!("Edges between the rooms of src/ (production `crate::` paths):\n{listing}");
    let pairs: BTreeSet<(String, String)> = tree.edges.keys().cloned().collect();
    let found = cycles(&tree.rooms, &pairs);
    let mut report = String::new();
    for component in &found {
        report.push_str(&format!("cycle between {}:\n", component.join(", ")));
        for ((from, to), at) in &tree.edges {
            if component.contains(from) && component.contains(to) {
                let places: Vec<String> = at.iter().map(|(f, l)| format!("{f}:{l}")).collect();
                report.push_str(&format!("  {from} → {to}: {}\n", places.join(", ")));
            }
        }
    }
    assert!(
        found.is_empty(),
        "rooms of src/ import each other in a loop (docs/architecture.md: data flows one way):\n{report}\nall edges:\n{listing}"
    );
}

#[test]
fn the_scan_sees_grouped_and_nested_paths_and_ignores_tests_and_comments() {
    let text = "use crate::{a::X, b, c::{d, e}};\n// crate::f in a comment\nlet s = \"crate::g\";\nfn h() { crate::i::j(); }\n#[cfg(test)]\nmod tests {\n    use crate::k;\n}\n";
    let code = without_test_modules(&code_only(text));
    let rooms: Vec<(String, usize)> = crate_refs(&code);
    let names: Vec<&str> = rooms.iter().map(|(r, _)| r.as_str()).collect();
    assert_eq!(names, ["a", "b", "c", "i"]);
    assert_eq!(rooms[3].1, 4);
    let edges: BTreeSet<(String, String)> = [("a", "b"), ("b", "c"), ("c", "a"), ("c", "d")]
        .iter()
        .map(|(x, y)| (x.to_string(), y.to_string()))
        .collect();
    let rooms: BTreeSet<String> = ["a", "b", "c", "d"].iter().map(|r| r.to_string()).collect();
    assert_eq!(cycles(&rooms, &edges), vec![vec!["a", "b", "c"]]);
}

#[test]
fn no_rust_file_is_past_the_size_limit() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut long = Vec::new();
    for dir in ["src", "tests", "benches"] {
        for p in rust_files(&root.join(dir)) {
            let n = std::fs::read_to_string(&p).expect("read").lines().count();
            if n > MAX_FILE_LINES {
                let name = p.strip_prefix(root).unwrap_or(&p).display().to_string();
                long.push(format!("{name} ({n} lines)"));
            }
        }
    }
    assert!(
        long.is_empty(),
        "files past {MAX_FILE_LINES} lines: {long:?} (split them by what they do)"
    );
}

/// Every function of a file as (name, first line, lines).
fn functions(text: &str) -> Vec<(String, usize, usize)> {
    let code = code_only(text);
    let mut found = Vec::new();
    let mut offset = 0;
    for line in code.split_inclusive('\n') {
        let mut words = line.trim_start();
        loop {
            let before = words;
            for prefix in [
                "pub(crate) ",
                "pub(super) ",
                "pub ",
                "const ",
                "async ",
                "unsafe ",
            ] {
                words = words.strip_prefix(prefix).unwrap_or(words).trim_start();
            }
            if let Some(rest) = words.strip_prefix("extern ") {
                // `extern "C" fn`: the ABI string is blanked, skip to `fn`.
                words = rest.trim_start();
            }
            if words == before {
                break;
            }
        }
        if let Some(rest) = words.strip_prefix("fn ") {
            let name = ident_at(rest.trim_start()).to_string();
            let start = offset + (line.len() - words.len());
            // The body opens at the first `{` after the signature's
            // parentheses close; a `;` first means a declaration.
            let mut depth = 0i32;
            let mut open = None;
            for (i, c) in code[start..].char_indices() {
                match c {
                    '(' | '<' | '[' => depth += 1,
                    ')' | ']' => depth -= 1,
                    '>' if !code[..start + i].ends_with('-') => depth -= 1,
                    '{' if depth <= 0 => {
                        open = Some(start + i);
                        break;
                    }
                    ';' if depth <= 0 => break,
                    _ => {}
                }
            }
            if let Some(open) = open
                && let Some(close) = matching_brace(&code, open)
            {
                let first = line_of(&code, start);
                found.push((name, first, line_of(&code, close) - first + 1));
            }
        }
        offset += line.len();
    }
    found
}

#[test]
fn no_function_is_past_the_size_limit() {
    let mut long = Vec::new();
    let mut known_seen = BTreeSet::new();
    for path in rust_files(&src()) {
        let rel = rel(&path);
        let text = std::fs::read_to_string(&path).expect("read");
        for (name, line, lines) in functions(&text) {
            if lines <= MAX_FN_LINES {
                continue;
            }
            if KNOWN_LONG_FUNCTIONS.contains(&(rel.as_str(), name.as_str())) {
                known_seen.insert((rel.clone(), name));
                continue;
            }
            long.push(format!("{rel}:{line} fn {name} ({lines} lines)"));
        }
    }
    assert!(
        long.is_empty(),
        "functions past {MAX_FN_LINES} lines: {long:#?}"
    );
    let shrunk: Vec<_> = KNOWN_LONG_FUNCTIONS
        .iter()
        .filter(|(f, n)| !known_seen.contains(&(f.to_string(), n.to_string())))
        .collect();
    assert!(
        shrunk.is_empty(),
        "now within the limit, remove from KNOWN_LONG_FUNCTIONS: {shrunk:?}"
    );
}

#[test]
fn the_function_scan_counts_bodies_not_braces_in_strings() {
    let text = "pub fn a() -> Vec<u8> {\n    let s = \"}}}\";\n    let c = '{';\n    vec![]\n}\nfn b<T: Fn() -> u8>(t: T) where T: Copy {\n    t();\n}\ntrait X { fn c(&self); }\n";
    let f = functions(text);
    assert_eq!(f, vec![("a".to_string(), 1, 5), ("b".to_string(), 6, 3)]);
}
