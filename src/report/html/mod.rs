//! report.html: one self-contained page to attach to a ticket or open from CI.
//!
//! Self-contained means the file alone is the report, offline and forever:
//! CSS is inline, the time charts are inline SVG drawn here ([`charts`]),
//! and the flamegraphs are embedded as `<img src="data:image/svg+xml;base64,…">`.
//! An image, not inline `<svg>`, because inferno's SVGs carry a `<script>`
//! (click-to-zoom, search) and element ids: browsers never run scripts of an
//! SVG shown as an image, so the page has no script at all and two graphs
//! cannot clash, while the frames, their labels and colours still show. The
//! interactive originals stay beside the report (`cpu.svg`, `wall.svg`).
//! No fonts, scripts or styles are fetched; the only URLs a page holds are
//! those in the user's own data (a command line).
//!
//! The page is plain semantic HTML (headings, tables, lists) so that it reads
//! in an attachment preview that drops the styles, and prints on white with
//! sections kept whole. Every piece of text from the report — commands,
//! function and thread names, messages — goes through [`esc`]. The same
//! input gives the same bytes (no clock, sorted maps), so golden files pin it.

mod charts;
mod facts;
mod sections;

pub use charts::{MAX_COLUMNS, MAX_LANES};

use super::Report;
use super::text::shorten;
use crate::timeline::Timeline;
use std::fmt::Write;

/// The file name the page is written as, in the report directory.
pub const HTML_FILE: &str = "report.html";

/// The page in the format registry.
pub const FORMAT: super::format::Format = super::format::Format {
    name: "html",
    file_name: HTML_FILE,
    source: super::format::Source::Page,
    run_extra: false,
    render: |i| Some(render(i.report, i.timeline, i.flames)),
};

/// Render the page. `timeline` draws the time charts (without it they are
/// left out, with a note); `flamegraphs` are `(file name, bytes)` pairs as
/// written beside the report, of which the `.svg` ones are embedded in order.
pub fn render(
    report: &Report,
    timeline: Option<&Timeline>,
    flamegraphs: &[(String, Vec<u8>)],
) -> Vec<u8> {
    let d = &report.diagnosis;
    let mut s = String::with_capacity(64 * 1024);
    let title = format!(
        "boundcheck: {} — {}",
        d.verdict.as_str(),
        shorten(&sections::shell_join(&report.command), 80)
    );
    let _ = write!(
        s,
        "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n\
         <meta name=\"generator\" content=\"boundcheck {}\">\n<title>{}</title>\n<style>{STYLE}</style>\n</head>\n<body>\n<main>\n",
        esc(&report.host.boundcheck_version),
        esc(&title)
    );
    sections::header(&mut s, report);
    sections::evidence(&mut s, report);
    super::budget::html(&mut s, d);
    sections::site_and_hot(&mut s, report);
    sections::caveats(&mut s, report);
    sections::reruns(&mut s, report);
    sections::time_split(&mut s, report);
    sections::core_chart(&mut s, report, timeline);
    sections::thread_chart(&mut s, report, timeline);
    sections::flamegraphs(&mut s, flamegraphs);
    facts::processes(&mut s, report);
    facts::run_facts(&mut s, report);
    let _ = write!(
        s,
        "<footer><p class=\"note\">Written by boundcheck {} from a report of schema {}. \
         This page is self-contained: no scripts, nothing fetched.</p></footer>\n</main>\n</body>\n</html>\n",
        esc(&report.host.boundcheck_version),
        esc(&report.schema_version)
    );
    s.into_bytes()
}

/// Escape text for HTML content and double- or single-quoted attributes.
pub fn esc(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// Escape text, then show its `backtick spans` as `<code>` (messages and the
/// recommendation name code that way). Unbalanced backticks stay as typed.
fn esc_code_spans(text: &str) -> String {
    let escaped = esc(text);
    let parts: Vec<&str> = escaped.split('`').collect();
    if parts.len().is_multiple_of(2) {
        return escaped;
    }
    let mut out = String::with_capacity(escaped.len() + 16);
    for (i, part) in parts.iter().enumerate() {
        if i % 2 == 1 {
            let _ = write!(out, "<code>{part}</code>");
        } else {
            out.push_str(part);
        }
    }
    out
}

/// Standard base64 (RFC 4648, with padding), for the data: URLs of the
/// embedded flamegraphs. Ten lines here instead of a dependency: it is the
/// only use, and encoding (never decoding) has no edge cases worth a crate.
fn base64(bytes: &[u8]) -> String {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::with_capacity(bytes.len().div_ceil(3) * 4);
    for chunk in bytes.chunks(3) {
        let b = [
            chunk[0],
            *chunk.get(1).unwrap_or(&0),
            *chunk.get(2).unwrap_or(&0),
        ];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(ALPHABET[(n >> (18 - 6 * i) & 63) as usize] as char);
            } else {
                out.push('=');
            }
        }
    }
    out
}

/// Light only, print-friendly; charts scale with the page width.
const STYLE: &str = r#"
:root { color-scheme: light; }
body { margin: 0; background: #fff; color: #1d1d1f; font: 15px/1.45 system-ui, -apple-system, "Segoe UI", Roboto, "Helvetica Neue", Arial, sans-serif; }
main { max-width: 1000px; margin: 0 auto; padding: 20px 20px 40px; }
h1 { font-size: 1.6em; margin: .1em 0 .2em; }
h2 { font-size: 1.2em; margin: 1.8em 0 .5em; padding-bottom: .2em; border-bottom: 1px solid #d8d8d8; }
h3 { font-size: 1em; margin: 1.2em 0 .3em; }
.kicker { margin: 0; color: #666; font-size: .9em; letter-spacing: .04em; text-transform: uppercase; }
.meaning { font-size: 1.1em; margin: .2em 0 .6em; }
code, pre { font-family: ui-monospace, "SF Mono", Menlo, Consolas, "Liberation Mono", monospace; font-size: .92em; }
pre.cmd { margin: .4em 0; padding: 8px 10px; background: #f5f5f5; border: 1px solid #ddd; white-space: pre-wrap; overflow-wrap: anywhere; }
.warn { border-left: 4px solid #c77700; background: #fff6e5; padding: 6px 12px; }
ul.warn { padding-left: 2em; }
.recommend { border-left: 4px solid #3f9e5a; background: #f1f9f3; padding: 8px 12px; font-size: 1.05em; }
table { border-collapse: collapse; width: 100%; margin: .4em 0; font-size: .93em; }
table.narrow { width: auto; min-width: 40%; }
th, td { text-align: left; vertical-align: top; padding: 4px 8px; border-bottom: 1px solid #e3e3e3; }
th { border-bottom: 1px solid #bbb; font-weight: 600; }
.n { text-align: right; white-space: nowrap; font-variant-numeric: tabular-nums; }
.pass { color: #1a7f37; } .fail { color: #b3261e; }
.note { color: #555; font-size: .9em; }
ul.caveats li { margin: .25em 0; }
dl.facts { display: grid; grid-template-columns: max-content 1fr; gap: 3px 18px; margin: .4em 0; }
dl.facts dt { color: #555; } dl.facts dd { margin: 0; overflow-wrap: anywhere; }
figure { margin: .8em 0 1.2em; }
figcaption { color: #555; font-size: .9em; margin-top: .3em; }
svg.chart { display: block; width: 100%; height: auto; }
svg.chart text { font-family: system-ui, Arial, sans-serif; font-size: 11px; fill: #333; }
svg.chart .lbl { text-anchor: end; }
svg.chart .tick { text-anchor: middle; }
img.flame { display: block; width: 100%; height: auto; border: 1px solid #ddd; }
.bar { display: flex; width: 100%; min-width: 200px; height: 14px; background: #f3f3f3; print-color-adjust: exact; -webkit-print-color-adjust: exact; }
.bar span { display: block; height: 100%; }
table.budget td:nth-child(2) { width: 45%; }
p.legend span { margin-right: 10px; white-space: nowrap; font-size: .88em; }
p.legend i { display: inline-block; width: 10px; height: 10px; margin-right: 4px; vertical-align: -1px; print-color-adjust: exact; -webkit-print-color-adjust: exact; }
@page { margin: 14mm; }
@media print {
  body { font-size: 10.5pt; }
  main { max-width: none; padding: 0; }
  h2, h3 { break-after: avoid; }
  figure, tr, .recommend, .warn, dl.facts { break-inside: avoid; }
  pre.cmd, .recommend, .warn { background: none; }
}
"#;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base64_matches_rfc_4648_vectors() {
        for (plain, encoded) in [
            ("", ""),
            ("f", "Zg=="),
            ("fo", "Zm8="),
            ("foo", "Zm9v"),
            ("foob", "Zm9vYg=="),
            ("fooba", "Zm9vYmE="),
            ("foobar", "Zm9vYmFy"),
        ] {
            assert_eq!(base64(plain.as_bytes()), encoded, "{plain:?}");
        }
        assert_eq!(base64(&[0xfb, 0xff, 0xfe]), "+//+");
    }

    #[test]
    fn text_is_escaped_and_code_spans_marked() {
        assert_eq!(
            esc(r#"<script>alert("x") & 'y'</script>"#),
            "&lt;script&gt;alert(&quot;x&quot;) &amp; &#39;y&#39;&lt;/script&gt;"
        );
        assert_eq!(
            esc_code_spans("Replace `ThreadPoolExecutor(4)` with `<b>`"),
            "Replace <code>ThreadPoolExecutor(4)</code> with <code>&lt;b&gt;</code>"
        );
        assert_eq!(esc_code_spans("a ` b"), "a ` b");
    }
}
