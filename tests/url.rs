//! The SQLite URL convention, shared with dremioframe's command line and
//! SQLAlchemy, checked by where the files appear: what follows `sqlite:///`
//! is the path (relative to the current directory, or absolute with a fourth
//! slash), a path with no scheme is a SQLite file, and `sqlite://rel.db`
//! stays relative. One test in its own binary: it changes the current
//! directory of the process.

use dremioorch::backend::open;
use dremioorch::{PipelineRun, RunStatus, TaskStatus};
use std::path::Path;

fn save_one_run(url: &str) {
    let b = open(url).unwrap_or_else(|e| panic!("{url}: {e}"));
    let run = PipelineRun {
        pipeline_name: "url".into(),
        run_id: "url-run".into(),
        start_time: 1.0,
        end_time: None,
        status: RunStatus::Running,
        tasks: [("t".to_string(), TaskStatus::Pending)].into(),
    };
    b.save_run(&run).unwrap();
}

#[test]
fn sqlite_urls_create_their_files_where_sqlalchemy_would() {
    let base = std::env::temp_dir().join(format!("dorch-url-{}", std::process::id()));
    let work = base.join("work");
    let abs = base.join("abs");
    std::fs::create_dir_all(work.join("sub")).unwrap();
    std::fs::create_dir_all(&abs).unwrap();
    std::env::set_current_dir(&work).unwrap();

    save_one_run("sqlite:///rel.db");
    assert!(
        work.join("rel.db").is_file(),
        "sqlite:///rel.db is ./rel.db"
    );
    assert!(
        !Path::new("/rel.db").exists(),
        "sqlite:///rel.db is not /rel.db"
    );

    save_one_run("sqlite:///sub/nested.db");
    assert!(work.join("sub/nested.db").is_file());

    let four = format!("sqlite:///{}", abs.join("four.db").display()); // sqlite:////tmp/...
    assert!(four.starts_with("sqlite:////"));
    save_one_run(&four);
    assert!(abs.join("four.db").is_file(), "{four} is absolute");

    save_one_run("bare.db");
    assert!(
        work.join("bare.db").is_file(),
        "a path with no scheme is a SQLite file"
    );
    save_one_run(abs.join("bare-abs.db").to_str().unwrap());
    assert!(abs.join("bare-abs.db").is_file());

    save_one_run("sqlite://two.db");
    assert!(
        work.join("two.db").is_file(),
        "sqlite://two.db stays relative"
    );

    std::env::set_current_dir(std::env::temp_dir()).unwrap();
    std::fs::remove_dir_all(&base).unwrap();
}
