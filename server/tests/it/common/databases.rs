//! The machine's PostgreSQL and MariaDB (and any program) driven from tests through their own
//! command-line clients, which fail the test when the command fails.
use std::{
    io::Write,
    process::{Command, Stdio},
};

/// Runs `program args…` with `input` on stdin; panics with its stderr unless it succeeds.
pub fn run(program: &str, args: &[&str], input: &[u8]) -> String {
    let mut child = Command::new(program)
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("running {program}: {e}"));
    let mut pipe = child.stdin.take().unwrap();
    let input = input.to_vec();
    let writer = std::thread::spawn(move || {
        let _ = pipe.write_all(&input);
    });
    let out = child.wait_with_output().unwrap();
    writer.join().unwrap();
    assert!(
        out.status.success(),
        "{program} {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// psql's connection to the machine's PostgreSQL database `db`, stopping at the first error.
fn psql_args(db: &str) -> Vec<&str> {
    vec![
        "-h",
        "127.0.0.1",
        "-U",
        "postgres",
        "-d",
        db,
        "-v",
        "ON_ERROR_STOP=1",
    ]
}

/// One SQL command in `db`; its rows unaligned, without headers.
pub fn psql(db: &str, sql: &str) -> String {
    let mut args = psql_args(db);
    args.extend(["-qAt", "-c", sql]);
    run("psql", &args, b"")
}

/// A script (e.g. a dump) read from stdin in `db`.
pub fn psql_script(db: &str, script: &[u8]) -> String {
    let mut args = psql_args(db);
    args.push("-q");
    run("psql", &args, script)
}

pub fn mysql(sql: &str) -> String {
    run(
        "mysql",
        &["-h", "127.0.0.1", "-u", "root", "-N", "-B", "-e", sql],
        b"",
    )
}
