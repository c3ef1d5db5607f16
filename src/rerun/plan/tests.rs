use super::*;

fn ctx(verdict: Verdict, argv: &[&str]) -> PlanContext {
    PlanContext {
        verdict,
        argv: argv.iter().map(OsString::from).collect(),
        env: Vec::new(),
        cores: 2,
        python: None,
        python_314: None,
        python_ft: None,
        python_version: Some("3.11.7".into()),
        workload: None,
        vary: Vec::new(),
        predictions: Vec::new(),
        site: None,
        cluster: None,
        uses_joblib: false,
    }
}

fn labels(p: &[Planned]) -> Vec<&str> {
    p.iter().map(|x| x.label.as_str()).collect()
}

#[test]
fn gil_bound_python_tries_processes_and_says_why_not_interpreters() {
    let (p, not) = plan(&ctx(Verdict::GilContended, &["python3", "app.py"]));
    assert_eq!(
        labels(&p),
        [
            "as-is",
            "pinned to 1 CPU",
            "processes (swap)",
            "ray (swap, local cluster)",
            "dask (swap, local cluster)"
        ]
    );
    assert_eq!(p[2].swap, Some("processes"));
    assert!(
        not.iter()
            .any(|n| n.strategy == Strategy::Interpreters && n.reason.contains("3.14"))
    );
    assert!(not.iter().any(|n| n.strategy == Strategy::FreeThreaded));
}

#[test]
fn a_python_314_on_path_runs_the_interpreter_swap_with_it() {
    let mut c = ctx(Verdict::GilContended, &["python3", "app.py"]);
    c.python_314 = Some("/opt/py/bin/python3.14".into());
    c.python_ft = Some("/opt/py/bin/python3.13t".into());
    let (p, _) = plan(&c);
    let interp = p
        .iter()
        .find(|x| x.strategy == Some(Strategy::Interpreters))
        .unwrap();
    assert_eq!(interp.argv[0], "/opt/py/bin/python3.14");
    // The unchanged program under 3.14 runs too, after the swap (a swap
    // that finds nothing to swap stops it), so the swap's own gain can be
    // told from the interpreter's.
    let control = p.iter().position(|x| x.kind == "control").unwrap();
    assert_eq!(p[control].label, "as-is (python3.14)");
    assert_eq!(p[control].argv[0], "/opt/py/bin/python3.14");
    assert_eq!(p[control].argv[1..], interp.argv[1..]);
    assert!(p[control].strategy.is_none() && p[control].swap.is_none());
    let swap_at = p
        .iter()
        .position(|x| x.strategy == Some(Strategy::Interpreters));
    assert!(swap_at < Some(control));
    let ft = p
        .iter()
        .find(|x| x.strategy == Some(Strategy::FreeThreaded))
        .unwrap();
    assert!(ft.env.contains(&("PYTHON_GIL".into(), "0".into())));
    // And the same build with its GIL on, the control for free threading.
    let ft_control = p
        .iter()
        .find(|x| x.kind == "control" && x.argv[0] == "/opt/py/bin/python3.13t")
        .unwrap();
    assert_eq!(ft_control.label, "as-is (python3.13t, GIL on)");
    assert!(ft_control.env.contains(&("PYTHON_GIL".into(), "1".into())));
}

#[test]
fn non_python_commands_get_the_core_count_experiment_only() {
    let (p, _) = plan(&ctx(Verdict::CpuSerial, &["./native-app"]));
    assert_eq!(labels(&p), ["as-is", "pinned to 1 CPU"]);
    assert_eq!(p[1].cpus.as_ref().map(Vec::len), Some(1));
}

#[test]
fn io_bound_and_pool_overhead_swaps() {
    let (p, _) = plan(&ctx(Verdict::IoNetwork, &["python3", "x.py"]));
    assert!(labels(&p).contains(&"more threads (swap)"));
    let (p, _) = plan(&ctx(Verdict::PoolOverhead, &["python3", "x.py"]));
    assert!(p.iter().any(|x| x.strategy == Some(Strategy::Batch)));
    let (_, not) = plan(&ctx(Verdict::EventLoopBlocked, &["python3", "x.py"]));
    assert!(not.iter().any(|n| n.strategy == Strategy::Offload));
}

#[test]
fn cpu_workload_reruns_every_strategy_and_the_native_versions() {
    let mut c = ctx(Verdict::GilContended, &[]);
    c.workload = Some(WorkloadSpec {
        name: "cpu".into(),
        strategy: "threads".into(),
        workers: 2,
        size: "low".into(),
        python: "python3".into(),
    });
    let (p, _) = plan(&c);
    let l = labels(&p);
    assert_eq!(l[0], "as-is (threads)");
    for want in [
        "processes (workload)",
        "native-serial (Rust)",
        "native-parallel (Rust)",
        "pinned to 1 CPU",
    ] {
        assert!(l.contains(&want), "{l:?}");
    }
    let native = p
        .iter()
        .find(|x| x.label == "native-parallel (Rust)")
        .unwrap();
    assert_eq!(native.strategy, Some(Strategy::Native));
    assert_eq!(native.argv[1], "native-workload");
}

#[test]
fn vary_grid_expands_every_point() {
    let mut c = ctx(
        Verdict::GilContended,
        &[
            "python3",
            "app.py",
            "--executor",
            "{strategy}",
            "--workers={workers}",
        ],
    );
    c.vary = vec![
        (
            "strategy".into(),
            vec!["threads".into(), "processes".into()],
        ),
        ("workers".into(), vec!["1".into(), "2".into()]),
    ];
    check_vary(&c.argv, &c.vary).unwrap();
    let (p, _) = plan(&c);
    assert_eq!(p.len(), 4);
    assert_eq!(p[0].kind, "as-is");
    assert_eq!(p[3].label, "strategy=processes workers=2");
    assert_eq!(p[3].argv[3], "processes");
    assert_eq!(p[3].argv[4], "--workers=2");
    assert_eq!(p[3].strategy, Some(Strategy::Processes));
}

#[test]
fn vary_without_its_placeholder_or_a_placeholder_without_vary_is_an_error() {
    let argv: Vec<OsString> = ["python3", "app.py", "--workers", "{workers}"]
        .map(OsString::from)
        .to_vec();
    let missing = check_vary(&argv, &[("threads".into(), vec!["1".into()])]).unwrap_err();
    assert!(missing.contains("no {threads} placeholder"), "{missing}");
    let unfilled = check_vary(&argv, &[]).unwrap_err();
    assert!(unfilled.contains("{workers}"), "{unfilled}");
    // JSON-looking braces in arguments are not placeholders.
    let json: Vec<OsString> = ["python3", "-c", "print({'a': 1})"]
        .map(OsString::from)
        .to_vec();
    assert!(check_vary(&json, &[]).is_ok());
}

#[test]
fn a_joblib_program_gets_its_backend_varied_and_others_pay_nothing() {
    let label = "joblib multiprocessing (swap)";
    let mut c = ctx(Verdict::GilContended, &["python3", "app.py"]);
    assert!(!labels(&plan(&c).0).contains(&label));
    c.uses_joblib = true;
    let (planned, _) = plan(&c);
    let p = planned.iter().find(|p| p.label == label).expect("planned");
    assert_eq!(
        (p.swap, p.strategy),
        (Some("joblib-backend"), Some(Strategy::Processes))
    );
    c.verdict = Verdict::IoNetwork;
    assert!(!labels(&plan(&c).0).contains(&label), "waits: no backend");
}

#[test]
fn a_program_already_on_314_gets_no_interpreter_control() {
    let mut c = ctx(Verdict::GilContended, &["python3", "app.py"]);
    c.python_version = Some("3.14.0".into());
    c.python_314 = Some("/opt/py/bin/python3.14".into());
    let (p, _) = plan(&c);
    assert!(p.iter().any(|x| x.strategy == Some(Strategy::Interpreters)));
    assert!(p.iter().all(|x| x.kind != "control"), "{:?}", labels(&p));
}
