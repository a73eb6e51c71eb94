//! The embedded web UI over HTTP: every route, auth, filters and paging,
//! escaping, the same-origin check, path traversal, Run now and the stored
//! DAG.

use dremioorch::ui::{Ui, UiOptions};
use dremioorch::{
    Backend, BackendRef, MemoryBackend, Pipeline, PipelineRun, RunStatus, SqliteBackend, Task,
    TaskStatus,
};
use serde_json::Value;
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::sync::Arc;
use std::time::{Duration, Instant};

const EVIL: &str = "<img src=x onerror=alert(1)>";

/// One HTTP/1.1 answer.
struct Answer {
    status: u16,
    headers: Vec<(String, String)>,
    body: Vec<u8>,
}

impl Answer {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
    fn json(&self) -> Value {
        serde_json::from_slice(&self.body)
            .unwrap_or_else(|e| panic!("not JSON ({e}): {}", String::from_utf8_lossy(&self.body)))
    }
}

/// Sends one request with `Connection: close` and reads the whole answer.
fn request(addr: SocketAddr, method: &str, path: &str, extra: &[(&str, &str)]) -> Answer {
    let mut s = TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
    let mut req = format!("{method} {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n");
    for (k, v) in extra {
        req.push_str(&format!("{k}: {v}\r\n"));
    }
    if method == "POST" {
        req.push_str("Content-Length: 0\r\n");
    }
    req.push_str("\r\n");
    s.write_all(req.as_bytes()).unwrap();
    let mut raw = Vec::new();
    s.read_to_end(&mut raw).unwrap();
    let split = raw
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .expect("no end of headers");
    let head = String::from_utf8(raw[..split].to_vec()).unwrap();
    let mut lines = head.split("\r\n");
    let status: u16 = lines
        .next()
        .unwrap()
        .split(' ')
        .nth(1)
        .unwrap()
        .parse()
        .unwrap();
    let headers: Vec<(String, String)> = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(k, v)| (k.trim().to_string(), v.trim().to_string()))
        .collect();
    let mut body = raw[split + 4..].to_vec();
    if headers
        .iter()
        .any(|(k, v)| k.eq_ignore_ascii_case("transfer-encoding") && v.contains("chunked"))
    {
        body = dechunk(&body);
    }
    Answer {
        status,
        headers,
        body,
    }
}

fn dechunk(mut b: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    loop {
        let eol = b.windows(2).position(|w| w == b"\r\n").unwrap();
        let n = usize::from_str_radix(std::str::from_utf8(&b[..eol]).unwrap().trim(), 16).unwrap();
        if n == 0 {
            return out;
        }
        out.extend_from_slice(&b[eol + 2..eol + 2 + n]);
        b = &b[eol + 4 + n..];
    }
}

fn get(addr: SocketAddr, path: &str) -> Answer {
    request(addr, "GET", path, &[])
}

fn start(backend: BackendRef) -> Ui {
    Ui::start(
        backend,
        UiOptions {
            listen: Some("127.0.0.1:0".into()),
            ..UiOptions::default()
        },
    )
    .unwrap()
}

fn sqlite(name: &str) -> (tempdir::Dir, BackendRef) {
    let dir = tempdir::Dir::new(name);
    let b: BackendRef = Arc::new(SqliteBackend::open(dir.0.join("h.db")).unwrap());
    (dir, b)
}

mod tempdir {
    /// A directory removed on drop.
    pub struct Dir(pub std::path::PathBuf);
    impl Dir {
        pub fn new(name: &str) -> Dir {
            let p = std::env::temp_dir().join(format!(
                "dorch-ui-test-{name}-{}-{}",
                std::process::id(),
                dremioorch::now_seconds()
            ));
            std::fs::create_dir_all(&p).unwrap();
            Dir(p)
        }
    }
    impl Drop for Dir {
        fn drop(&mut self) {
            let _ = std::fs::remove_dir_all(&self.0);
        }
    }
}

/// A finished run saved directly, starting at `start`.
fn saved(b: &dyn Backend, pipeline: &str, start: f64, status: RunStatus) -> String {
    let id = format!("{pipeline}-{start}");
    b.save_run(&PipelineRun {
        pipeline_name: pipeline.into(),
        run_id: id.clone(),
        start_time: start,
        end_time: Some(start + 1.0),
        status,
        tasks: [("t".to_string(), TaskStatus::Success)].into(),
    })
    .unwrap();
    id
}

/// a -> (b, EVIL) -> c, with outputs.
fn pipeline(backend: BackendRef) -> Pipeline {
    let mut p = Pipeline::with_backend("demo", backend).unwrap();
    p.add_task(Task::new("a", |ctx| {
        ctx.set_output(vec![b'x'; 5000]);
        Ok(())
    }))
    .unwrap();
    p.add_task(Task::new("b", |_| Ok(()))).unwrap();
    p.add_task(Task::new(EVIL, |ctx| {
        ctx.set_output(EVIL.as_bytes().to_vec());
        Ok(())
    }))
    .unwrap();
    p.add_task(Task::new("c", |_| Ok(()))).unwrap();
    p.add_dependency("a", "b").unwrap();
    p.add_dependency("a", EVIL).unwrap();
    p.add_dependency("b", "c").unwrap();
    p.add_dependency(EVIL, "c").unwrap();
    p
}

#[test]
fn page_assets_health_and_security_headers() {
    let ui = start(Arc::new(MemoryBackend::new()));
    let a = ui.address();
    assert!(a.ip().is_loopback() && a.port() != 0);
    let h = get(a, "/healthz");
    assert_eq!((h.status, &h.body[..]), (200, &b"ok"[..]));
    for (path, ty) in [
        ("/", "text/html"),
        ("/assets/app.js", "text/javascript"),
        ("/assets/app.css", "text/css"),
        ("/assets/dagre.min.js", "text/javascript"),
    ] {
        let r = get(a, path);
        assert_eq!(r.status, 200, "{path}");
        assert!(r.header("content-type").unwrap().starts_with(ty), "{path}");
        assert!(!r.body.is_empty());
        let csp = r.header("content-security-policy").unwrap();
        assert!(csp.contains("script-src 'self'") && csp.contains("frame-ancestors 'none'"));
        assert_eq!(r.header("x-content-type-options"), Some("nosniff"));
    }
    for path in [
        "/nope",
        "/assets/",
        "/assets/other.js",
        "/assets/../Cargo.toml",
        "/%2e%2e/Cargo.toml",
        "/assets/%2e%2e/%2e%2e/Cargo.toml",
        "/assets/app.js/",
        "/index.html",
    ] {
        let r = get(a, path);
        assert_eq!(r.status, 404, "{path}");
        assert!(r.header("content-security-policy").is_some());
        assert!(!String::from_utf8_lossy(&r.body).contains("[package]"));
    }
    assert_eq!(get(a, "/api/schedules").json(), serde_json::json!([]));
    ui.stop();
    assert!(TcpStream::connect(a).is_err(), "still listening after stop");
}

#[test]
fn basic_auth_guards_every_route() {
    let ui = Ui::start(
        Arc::new(MemoryBackend::new()),
        UiOptions {
            listen: Some("127.0.0.1:0".into()),
            username: Some("admin".into()),
            password: Some("s3cret".into()),
            ..UiOptions::default()
        },
    )
    .unwrap();
    let a = ui.address();
    for path in ["/", "/assets/app.js", "/api/runs", "/healthz", "/nope"] {
        let r = get(a, path);
        assert_eq!(r.status, 401, "{path}");
        assert!(r.header("www-authenticate").unwrap().starts_with("Basic"));
        // "admin:wrong" and "admin:s3cret" in base64.
        let bad = request(
            a,
            "GET",
            path,
            &[("Authorization", "Basic YWRtaW46d3Jvbmc=")],
        );
        assert_eq!(bad.status, 401, "{path}");
    }
    let ok = request(
        a,
        "GET",
        "/api/runs",
        &[("Authorization", "Basic YWRtaW46czNjcmV0")],
    );
    assert_eq!(ok.status, 200);
    assert_eq!(ok.json(), serde_json::json!([]));
    // Only one of the two is a configuration error.
    let half = Ui::start(
        Arc::new(MemoryBackend::new()),
        UiOptions {
            listen: Some("127.0.0.1:0".into()),
            username: Some("admin".into()),
            ..UiOptions::default()
        },
    );
    assert!(half.is_err());
    assert!(Ui::start(
        Arc::new(MemoryBackend::new()),
        UiOptions {
            listen: Some("not an address".into()),
            ..UiOptions::default()
        }
    )
    .is_err());
}

fn paging_and_filters(backend: BackendRef) {
    for i in 0..120 {
        let status = if i % 3 == 0 {
            RunStatus::Failed
        } else {
            RunStatus::Success
        };
        saved(&*backend, "p", 1000.0 + i as f64, status);
        saved(&*backend, "q", 1000.5 + i as f64, RunStatus::Success);
    }
    let ui = start(backend);
    let a = ui.address();
    // No parameters: dremioframe's 50 newest, newest first.
    let all = get(a, "/api/runs").json();
    let all = all.as_array().unwrap();
    assert_eq!(all.len(), 50);
    assert_eq!(all[0]["start_time"], 1119.5);
    let keys: Vec<&String> = all[0].as_object().unwrap().keys().collect();
    let mut expected = vec![
        "end_time",
        "pipeline_name",
        "run_id",
        "start_time",
        "status",
        "tasks",
    ];
    expected.sort();
    let mut got: Vec<&str> = keys.iter().map(|k| k.as_str()).collect();
    got.sort();
    assert_eq!(got, expected);
    // Three pages of pipeline p: 50, 50, 20, strictly older each time.
    let mut before: Option<f64> = None;
    let mut sizes = Vec::new();
    let mut seen = std::collections::HashSet::new();
    loop {
        let path = match before {
            Some(b) => format!("/api/runs?pipeline=p&limit=50&before={b}"),
            None => "/api/runs?pipeline=p&limit=50".to_string(),
        };
        let page = get(a, &path).json();
        let page = page.as_array().unwrap().clone();
        if page.is_empty() {
            break;
        }
        sizes.push(page.len());
        let starts: Vec<f64> = page
            .iter()
            .map(|r| r["start_time"].as_f64().unwrap())
            .collect();
        assert!(starts.windows(2).all(|w| w[0] > w[1]), "not newest first");
        for r in &page {
            assert_eq!(r["pipeline_name"], "p");
            assert!(seen.insert(r["run_id"].as_str().unwrap().to_string()));
        }
        before = starts.last().copied();
    }
    assert_eq!(sizes, vec![50, 50, 20]);
    let failed = get(a, "/api/runs?status=FAILED&limit=1000").json();
    assert_eq!(failed.as_array().unwrap().len(), 40);
    assert!(failed
        .as_array()
        .unwrap()
        .iter()
        .all(|r| r["status"] == "FAILED"));
    let q = get(a, "/api/runs?pipeline=q&status=FAILED").json();
    assert_eq!(q, serde_json::json!([]));
    let unknown = get(a, "/api/runs?pipeline=nobody").json();
    assert_eq!(unknown, serde_json::json!([]));
    for bad in [
        "/api/runs?limit=0",
        "/api/runs?limit=1001",
        "/api/runs?limit=x",
        "/api/runs?status=DONE",
        "/api/runs?before=soon",
    ] {
        let r = get(a, bad);
        assert_eq!(r.status, 400, "{bad}");
        assert!(r.json()["error"].is_string());
    }
}

#[test]
fn paging_and_filters_on_sqlite() {
    let (_dir, b) = sqlite("paging");
    paging_and_filters(b);
}

#[test]
fn paging_and_filters_in_memory() {
    paging_and_filters(Arc::new(MemoryBackend::new()));
}

fn detail_dag_and_trigger(backend: BackendRef) {
    let p = Arc::new(pipeline(backend.clone()));
    let first = p.run().unwrap();
    let ui = start(backend.clone());
    ui.add_pipeline(p.clone());
    let a = ui.address();
    let d = get(a, &format!("/api/runs/{}", first.run_id())).json();
    assert_eq!(d["status"], "SUCCESS");
    assert_eq!(d["tasks"][EVIL], "SUCCESS", "the name comes back as it is");
    assert_eq!(d["task_details"].as_array().unwrap().len(), 4);
    assert_eq!(d["task_details"][0]["attempts"], 1);
    assert_eq!(d["outputs"]["a"]["size"], 5000);
    assert_eq!(d["outputs"]["a"]["truncated"], true);
    assert_eq!(d["outputs"]["a"]["preview"].as_str().unwrap().len(), 4096);
    assert_eq!(d["outputs"][EVIL]["preview"], EVIL);
    assert_eq!(d["outputs"][EVIL]["truncated"], false);
    let dag = &d["dag"];
    assert_eq!(dag["tasks"], serde_json::json!(["a", "b", EVIL, "c"]));
    let mut edges: Vec<(String, String)> = dag["edges"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| (e[0].as_str().unwrap().into(), e[1].as_str().unwrap().into()))
        .collect();
    edges.sort();
    assert_eq!(
        edges,
        vec![
            ("<img src=x onerror=alert(1)>".into(), "c".into()),
            ("a".into(), "<img src=x onerror=alert(1)>".into()),
            ("a".into(), "b".into()),
            ("b".into(), "c".into()),
        ]
    );
    // The raw body carries the name only inside JSON strings.
    let raw = get(a, &format!("/api/runs/{}", first.run_id()));
    assert!(raw
        .header("content-type")
        .unwrap()
        .starts_with("application/json"));
    let unknown = get(a, "/api/runs/no-such-run");
    assert_eq!(unknown.status, 404);
    assert!(unknown.json()["error"].is_string());

    assert_eq!(get(a, "/api/pipelines").json(), serde_json::json!(["demo"]));
    assert_eq!(
        get(a, "/api/pipelines?detail=1").json(),
        serde_json::json!([{"name": "demo", "runnable": true}])
    );
    // Cross-site POSTs are refused; the page's own and scripts' pass.
    let origin = format!("http://{a}");
    for (k, v) in [
        ("Origin", "http://evil.example"),
        ("Origin", "http://127.0.0.1:1"),
        ("Referer", "http://evil.example/"),
    ] {
        let r = request(a, "POST", "/api/pipelines/demo/trigger", &[(k, v)]);
        assert_eq!(r.status, 403, "{k}: {v}");
    }
    let none = request(
        a,
        "POST",
        "/api/pipelines/nobody/trigger",
        &[("Origin", &origin)],
    );
    assert_eq!(none.status, 404);
    assert_eq!(get(a, "/api/pipelines/demo/trigger").status, 405);
    let r = request(
        a,
        "POST",
        "/api/pipelines/demo/trigger",
        &[("Origin", &origin)],
    );
    assert_eq!(r.status, 202);
    assert_eq!(
        String::from_utf8(r.body.clone()).unwrap(),
        r#"{"status":"triggered","pipeline":"demo"}"#
    );
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let runs = get(a, "/api/runs?pipeline=demo&status=SUCCESS").json();
        if runs.as_array().unwrap().len() == 2 {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the triggered run never finished"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[test]
fn run_detail_dag_and_trigger_on_sqlite() {
    let (_dir, b) = sqlite("detail");
    detail_dag_and_trigger(b.clone());
    // Runs of an unchanged pipeline share one stored DAG.
    let runs = b.list_runs(Some("demo"), 10).unwrap();
    let dags: Vec<_> = runs
        .iter()
        .map(|r| b.get_run_dag(&r.run_id).unwrap().unwrap())
        .collect();
    assert!(dags.windows(2).all(|w| w[0] == w[1]));
}

#[test]
fn run_detail_dag_and_trigger_in_memory() {
    detail_dag_and_trigger(Arc::new(MemoryBackend::new()));
}

#[test]
fn a_changed_pipeline_keeps_older_runs_drawable() {
    let (_dir, b) = sqlite("changed");
    let mut p = Pipeline::with_backend("grow", b.clone()).unwrap();
    p.add_task(Task::new("one", |_| Ok(()))).unwrap();
    let old = p.run().unwrap();
    p.add_task(Task::new("two", |_| Ok(()))).unwrap();
    p.add_dependency("one", "two").unwrap();
    let new = p.run().unwrap();
    let ui = start(b);
    let a = ui.address();
    let old = get(a, &format!("/api/runs/{}", old.run_id())).json();
    let new = get(a, &format!("/api/runs/{}", new.run_id())).json();
    assert_eq!(
        old["dag"],
        serde_json::json!({"tasks": ["one"], "edges": []})
    );
    assert_eq!(
        new["dag"],
        serde_json::json!({"tasks": ["one", "two"], "edges": [["one", "two"]]})
    );
}

#[test]
fn a_run_without_a_stored_dag_has_dag_null() {
    let (_dir, b) = sqlite("nodag");
    let id = saved(&*b, "old", 5.0, RunStatus::Success);
    let ui = start(b);
    let d = get(ui.address(), &format!("/api/runs/{id}")).json();
    assert_eq!(d["dag"], Value::Null);
    assert_eq!(d["outputs"], serde_json::json!({}));
    assert_eq!(d["task_details"][0]["name"], "t");
}

#[test]
fn history_mode_lists_the_pipelines_of_the_history() {
    let (_dir, b) = sqlite("history");
    saved(&*b, "x", 1.0, RunStatus::Success);
    saved(&*b, "y", 2.0, RunStatus::Failed);
    let ui = Ui::start(
        b,
        UiOptions {
            listen: Some("127.0.0.1:0".into()),
            pipelines_from_history: true,
            ..UiOptions::default()
        },
    )
    .unwrap();
    let a = ui.address();
    assert_eq!(
        get(a, "/api/pipelines").json(),
        serde_json::json!(["x", "y"])
    );
    assert_eq!(
        get(a, "/api/pipelines?detail=1").json(),
        serde_json::json!([{"name": "x", "runnable": false}, {"name": "y", "runnable": false}])
    );
    let r = request(a, "POST", "/api/pipelines/x/trigger", &[]);
    assert_eq!(r.status, 404);
}

#[test]
fn command_line_ui_serves_until_sigterm() {
    use std::io::BufRead;
    let (dir, b) = sqlite("cli");
    saved(&*b, "from-cli", 3.0, RunStatus::Success);
    drop(b);
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_dremioorch"))
        .args(["ui", "--listen", "127.0.0.1:0", "--backend"])
        .arg(dir.0.join("h.db"))
        .env("DORCH_UI_USER", "u")
        .env("DORCH_UI_PASSWORD", "p")
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut line = String::new();
    std::io::BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    let addr: SocketAddr = line
        .trim()
        .strip_prefix("listening on http://")
        .unwrap_or_else(|| panic!("unexpected first line {line:?}"))
        .parse()
        .unwrap();
    assert_eq!(get(addr, "/api/pipelines").status, 401);
    // "u:p" in base64.
    let r = request(
        addr,
        "GET",
        "/api/pipelines",
        &[("Authorization", "Basic dTpw")],
    );
    assert_eq!(r.json(), serde_json::json!(["from-cli"]));
    // SAFETY: signalling our own child.
    unsafe { libc::kill(child.id() as i32, libc::SIGTERM) };
    let status = child.wait().unwrap();
    assert!(status.success(), "{status:?}");
    assert!(TcpStream::connect(addr).is_err());
}

fn pg_dsn() -> String {
    std::env::var("DORCH_TEST_PG_DSN")
        .unwrap_or_else(|_| "host=127.0.0.1 port=5432 user=postgres dbname=test".to_string())
}

#[test]
fn paging_filters_and_dag_on_postgres() {
    use dremioorch::PostgresBackend;
    let table = format!("dorch_ui_{}", std::process::id());
    let pg: BackendRef = Arc::new(PostgresBackend::connect(Some(&pg_dsn()), Some(&table)).unwrap());
    paging_and_filters(pg.clone());
    detail_dag_and_trigger(pg.clone());
    // Purging deletes the runs' DAG links with them.
    let ids: Vec<String> = pg
        .list_runs(Some("demo"), 10)
        .unwrap()
        .into_iter()
        .map(|r| r.run_id)
        .collect();
    assert!(pg.get_run_dag(&ids[0]).unwrap().is_some());
    pg.purge(dremioorch::now_seconds() + 10.0, None, false)
        .unwrap();
    assert!(pg.get_run_dag(&ids[0]).unwrap().is_none());
    let mut c = postgres::Client::connect(&pg_dsn(), postgres::NoTls).unwrap();
    for suffix in [
        "_dag",
        "_run_dag",
        "_task_output",
        "_run_meta",
        "_task_state",
        "_task_detail",
        "",
    ] {
        c.batch_execute(&format!("DROP TABLE IF EXISTS \"{table}{suffix}\" CASCADE"))
            .unwrap();
    }
}

#[test]
fn paging_filters_and_dag_on_mysql() {
    use dremioorch::MySqlBackend;
    let url = std::env::var("DORCH_TEST_MYSQL_URL")
        .unwrap_or_else(|_| "mysql://root@127.0.0.1:3306/test".to_string());
    let table = format!("dorch_ui_{}", std::process::id());
    let my: BackendRef = Arc::new(MySqlBackend::connect(Some(&url), Some(&table)).unwrap());
    paging_and_filters(my.clone());
    detail_dag_and_trigger(my.clone());
    let ids: Vec<String> = my
        .list_runs(Some("demo"), 10)
        .unwrap()
        .into_iter()
        .map(|r| r.run_id)
        .collect();
    assert!(my.get_run_dag(&ids[0]).unwrap().is_some());
    my.purge(dremioorch::now_seconds() + 10.0, None, false)
        .unwrap();
    assert!(my.get_run_dag(&ids[0]).unwrap().is_none());
    drop(my);
    let tables = [
        "_task_state",
        "_task_detail",
        "_task_output",
        "_run_meta",
        "_dag",
        "_run_dag",
        "",
    ]
    .iter()
    .map(|s| format!("`{table}{s}`"))
    .collect::<Vec<_>>()
    .join(", ");
    let out = std::process::Command::new("mariadb")
        .args(["-h", "127.0.0.1", "-u", "root", "test", "-e"])
        .arg(format!("DROP TABLE IF EXISTS {tables}"))
        .status();
    let _ = out;
}

/// The Schedules page's data: what schedulers using the backend for claims
/// recorded, in the shape of `dremioorch schedules list --json`.
#[test]
fn schedules_recorded_by_a_scheduler_are_served() {
    use dremioorch::schedule::{Schedule, Scheduler, Spec};
    let dir = std::env::temp_dir().join(format!("dorch-ui-sched-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let backend: BackendRef = Arc::new(SqliteBackend::open(dir.join("h.db")).unwrap());
    let ui = start(backend.clone());
    let a = ui.address();
    assert_eq!(get(a, "/api/schedules").json(), serde_json::json!([]));

    let mut p = Pipeline::with_backend("nightly_etl", backend.clone()).unwrap();
    p.add_task(Task::new(EVIL, |_| Ok(()))).unwrap();
    let s = Scheduler::new(Some(backend.clone()));
    let spec = Spec::cron("30 2 * * *", Some("Europe/Berlin")).unwrap();
    s.add("nightly", Arc::new(p), Schedule::new(spec)).unwrap();
    s.start().unwrap();
    let deadline = Instant::now() + Duration::from_secs(30);
    let list = loop {
        let v = get(a, "/api/schedules").json();
        if v.as_array().is_some_and(|l| !l.is_empty()) || Instant::now() > deadline {
            break v;
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    s.stop(false);
    let list = list.as_array().expect("an array");
    assert_eq!(list.len(), 1, "{list:?}");
    let rec = &list[0];
    assert_eq!(rec["name"], "nightly");
    assert_eq!(rec["pipeline"], "nightly_etl");
    assert_eq!(rec["timezone"], "Europe/Berlin");
    assert_eq!(rec["overlap"], "skip");
    assert!(
        rec["spec"].as_str().unwrap().contains("30 2 * * *"),
        "{rec}"
    );
    let next = rec["next_fire"].as_f64().expect("a next fire");
    let now = dremioorch::now_seconds();
    assert!(
        next > now && next <= now + 86_400.0 + 3_600.0,
        "{next} vs {now}"
    );
    ui.stop();
    let _ = std::fs::remove_dir_all(&dir);
}
