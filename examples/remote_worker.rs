//! A remote worker serving a few demo tasks on a Redis queue.
//!
//! ```sh
//! cargo run --example remote_worker -- redis://127.0.0.1:6379 demo
//! ```
//!
//! Arguments: `REDIS_URL QUEUE [--tasks N] [--concurrency C] [--sleep-ms MS]
//! [--visibility-ms MS]`. It serves:
//! - `noop`: does nothing (for measuring overhead);
//! - `echo`: outputs its upstream output `src` (or the initial entry `src`)
//!   followed by `!`;
//! - `sq_0` .. `sq_{N-1}`: sleeps MS, outputs `i*i:PID` (the PID tells
//!   which worker process ran it).
//!
//! It stops when its standard input is closed (or at Ctrl-C / kill).

use dremioorch::{CancelToken, RemoteOptions, Worker};
use std::io::Read;
use std::time::Duration;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if args.len() < 2 {
        return Err("usage: remote_worker REDIS_URL QUEUE [--tasks N] [--concurrency C] [--sleep-ms MS] [--visibility-ms MS]".into());
    }
    let flag = |name: &str, default: u64| -> u64 {
        args.iter()
            .position(|a| a == name)
            .and_then(|i| args.get(i + 1))
            .and_then(|v| v.parse().ok())
            .unwrap_or(default)
    };
    let opts =
        RemoteOptions::new().visibility_timeout(Duration::from_millis(flag("--visibility-ms", 0)));
    let mut w = Worker::new(&args[0], &args[1], opts)?;
    w.set_concurrency(flag("--concurrency", 1) as usize)?;
    w.add_task("noop", |_| Ok(()))?;
    w.add_task("echo", |ctx| {
        let mut out = ctx.get("src").unwrap_or_default().to_vec();
        out.push(b'!');
        ctx.set_output(out);
        Ok(())
    })?;
    let sleep = Duration::from_millis(flag("--sleep-ms", 0));
    for i in 0..flag("--tasks", 0) {
        w.add_task(&format!("sq_{i}"), move |ctx| {
            ctx.sleep(sleep)?;
            ctx.set_output(format!("{}:{}", i * i, std::process::id()));
            Ok(())
        })?;
    }
    let stop = CancelToken::new();
    let on_eof = stop.clone();
    std::thread::spawn(move || {
        let _ = std::io::stdin().read_to_end(&mut Vec::new());
        on_eof.cancel(Some("standard input closed"));
    });
    eprintln!("worker {} serving queue {}", w.consumer(), args[1]);
    println!("ready");
    w.run(&stop)?;
    Ok(())
}
