//! What reading one line of `borg list --json-lines` costs, apart from any database: the parse
//! of a typical line (`catalog::parse_line`) and of its mtime alone (`catalog::parse::parse_time`).
//! A catalog that writes only what changed spends most of an unchanged archive here.
//! Run: `cargo bench -p server --bench catalog_parse`.
use criterion::{Criterion, black_box, criterion_group, criterion_main};
use cyborg_core::catalog::{parse::parse_time, parse_line};

const LINE: &str = r#"{"type": "-", "mode": "-rw-r--r--", "user": "www-data", "group": "www-data", "uid": 33, "gid": 33, "path": "srv/www/site/static/img/d07/f0042.png", "healthy": true, "source": "", "linktarget": "", "flags": 0, "size": 48213, "mtime": "2024-05-06T07:08:09.123456"}"#;

fn benches(c: &mut Criterion) {
    assert!(parse_line(LINE, 1).is_ok());
    c.bench_function("parse_line: a typical borg list line", |b| {
        b.iter(|| black_box(parse_line(black_box(LINE), 1)))
    });
    c.bench_function("parse_time: borg's mtime", |b| {
        b.iter(|| black_box(parse_time(black_box("2024-05-06T07:08:09.123456"))))
    });
}

criterion_group! {
    name = parse;
    config = Criterion::default().sample_size(30);
    targets = benches
}
criterion_main!(parse);
