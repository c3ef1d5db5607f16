//! report.html is one self-contained, safe file: nothing fetched, no script,
//! every piece of the user's data escaped — for every recorded timeline.
//! (What it looks like is pinned by tests/golden.rs; that it renders in a
//! real browser, by tests/html_browser.rs.)

use boundcheck::report::flame::{View, folded, svg};
use boundcheck::report::{Report, html, read_timeline};
use boundcheck::timeline::Timeline;
use std::path::Path;

fn timelines() -> Vec<(String, Timeline)> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures/timelines");
    let mut names: Vec<_> = std::fs::read_dir(&dir)
        .unwrap()
        .filter_map(|e| e.ok())
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| n.ends_with(".json"))
        .collect();
    names.sort();
    assert!(names.len() >= 10, "fixtures/timelines holds {names:?}");
    names
        .into_iter()
        .map(|n| {
            let tl = read_timeline(&dir.join(&n)).unwrap();
            (n, tl)
        })
        .collect()
}

fn page(report: &Report, tl: &Timeline) -> String {
    let mut flames = Vec::new();
    for view in [View::Cpu, View::Wall] {
        let f = folded(tl, view);
        if let Some(s) = svg(tl, &f, view).unwrap() {
            flames.push((format!("{}.svg", view.file_stem()), s));
        }
    }
    String::from_utf8(html::render(report, Some(tl), &flames)).unwrap()
}

/// Every `src=`/`href=` value of the page.
fn references(page: &str) -> Vec<String> {
    let mut refs = Vec::new();
    for attr in ["src=\"", "href=\"", "src='", "href='"] {
        let mut rest = page;
        while let Some(i) = rest.find(attr) {
            rest = &rest[i + attr.len()..];
            refs.push(rest.chars().take(40).collect());
        }
    }
    refs
}

#[test]
fn every_recorded_run_gives_a_page_that_fetches_nothing_and_runs_nothing() {
    for (name, tl) in timelines() {
        let report = Report::of(&tl);
        let page = page(&report, &tl);
        let lower = page.to_ascii_lowercase();
        for banned in [
            "http://", "https://", "<script", "<link", "<iframe", "<object", "<embed", "@import",
            "url(", " on", // event handler attributes (onload=…) would run script
        ] {
            let hit = match banned {
                // " on" is fine in text; only as an attribute `onxxx=` is it code.
                " on" => lower.match_indices(" on").any(|(i, _)| {
                    let word: String = lower[i + 1..]
                        .chars()
                        .take_while(|c| c.is_ascii_alphabetic())
                        .collect();
                    lower[i + 1 + word.len()..].starts_with('=')
                }),
                _ => lower.contains(banned),
            };
            assert!(!hit, "{name}: the page holds {banned:?}");
        }
        for r in references(&page) {
            assert!(
                r.starts_with("data:image/svg+xml;base64,"),
                "{name}: reference to {r:?}"
            );
        }
        assert!(
            page.contains(&format!(
                "<code id=\"verdict\">{}</code>",
                report.diagnosis.verdict.as_str()
            )),
            "{name}"
        );
        assert!(page.contains("<svg class=\"chart\""), "{name}: no chart");
        assert_eq!(
            page.matches("<section").count(),
            page.matches("</section>").count(),
            "{name}"
        );
        assert!(page.ends_with("</html>\n"), "{name}");
    }
}

#[test]
fn many_threads_are_capped_with_a_note() {
    // The fixtures have few threads; clone one thread's samples under new tids.
    let mut tl = timelines()
        .into_iter()
        .find(|(n, _)| n.starts_with("gil-contended__gil_threads_stacks"))
        .unwrap()
        .1;
    let extra = 60;
    let template = tl.threads[0].clone();
    for i in 0..extra {
        let mut t = template.clone();
        t.tid = 900_000 + i;
        t.name = format!("worker-{i}");
        tl.threads.push(t);
    }
    for s in &mut tl.samples {
        if let Some(first) = s.threads.first().cloned() {
            for i in 0..extra {
                let mut t = first.clone();
                t.tid = 900_000 + i;
                s.threads.push(t);
            }
        }
    }
    let total = tl.threads.len();
    let page = page(&Report::of(&tl), &tl);
    let lanes = html::MAX_LANES;
    assert!(
        page.contains(&format!(
            "{total} threads: the {} busiest by CPU time have a lane of their own; the other {} share the last lane",
            lanes - 1,
            total - (lanes - 1)
        )),
        "no cap note for {total} threads"
    );
    assert!(page.contains(&format!("{} other threads</text>", total - (lanes - 1))));
}

#[test]
fn commands_and_names_from_the_program_are_escaped() {
    let (_, mut tl) = timelines()
        .into_iter()
        .find(|(n, _)| n.starts_with("gil-contended__gil_threads_stacks"))
        .unwrap();
    tl.meta.command = vec![
        "sh".into(),
        "-c".into(),
        "echo '<script>alert(1)</script>' && curl https://example.com/?a=1&b=2".into(),
    ];
    tl.threads[0].name = "<img src=x onerror=alert(2)>".into();
    tl.processes[0].cmdline = vec!["</td></tr><script>alert(3)</script>".into()];
    let mut report = Report::of(&tl);
    report.diagnosis.caveats.push(boundcheck::diagnose::Caveat {
        // Codes are an enum now; the message is where program text can reach.
        code: boundcheck::diagnose::CaveatCode::Thinned,
        message: "use `<b>bold</b>` & see".into(),
    });
    if let Some(site) = report.diagnosis.site.as_mut() {
        site.at.function = "<lambda>".into();
    }
    let page = page(&report, &tl);
    let lower = page.to_ascii_lowercase();
    assert!(!lower.contains("<script"), "a script tag got through");
    assert!(
        !lower.contains("<img src=x"),
        "a tag from a thread name got through"
    );
    assert!(!page.contains("<b>"), "a tag from a caveat got through");
    assert!(!page.contains("<lambda>"));
    assert!(page.contains("&lt;script&gt;alert(1)&lt;/script&gt;"));
    assert!(page.contains("&lt;img src=x onerror=alert(2)&gt;"));
    assert!(page.contains("<code>&lt;b&gt;bold&lt;/b&gt;</code> &amp; see"));
    assert!(page.contains("&lt;lambda&gt;"));
    // The one URL on the page is the user's own, as text, in the command.
    assert!(page.contains("curl https://example.com/?a=1&amp;b=2"));
    assert_eq!(
        page.matches("https://").count(),
        page.matches("curl https://example.com").count()
    );
    assert!(!page.contains("http://"));
}

#[test]
fn the_same_input_gives_the_same_bytes() {
    let (_, tl) = timelines().into_iter().next().unwrap();
    let r = Report::of(&tl);
    assert_eq!(page(&r, &tl), page(&r, &tl));
}
