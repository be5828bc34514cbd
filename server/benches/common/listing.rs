//! Synthetic `borg list --json-lines` listings for the catalog benchmarks: 100 sites × 10 × 10
//! nested directories, files in the leaves, directories before their contents (as borg lists
//! them). Archive 1 is the base; each later archive changes the size of about 1 % of the files
//! and leaves out about 0.1 % (back in the archive after): a client's nightly churn.
use std::io::Write;

/// Whether file number `f` differs in `archive` (≥ 2) from the base: (changed, left out).
fn churn(f: usize, archive: usize) -> (bool, bool) {
    if archive < 2 {
        return (false, false);
    }
    let x = (f as u64)
        .wrapping_mul(0x9e37_79b9_7f4a_7c15)
        .wrapping_add((archive as u64).wrapping_mul(0xc2b2_ae3d_27d4_eb4f));
    let x = (x ^ (x >> 29)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    let x = x ^ (x >> 32);
    (x.is_multiple_of(100), x % 1000 == 7)
}

/// Writes archive `archive`'s listing of `n` lines (fewer by the files left out) and answers
/// the leaf directories (for browsing).
pub fn write(out: &mut impl Write, n: usize, archive: usize) -> Vec<String> {
    let mut written = 0;
    let mut file = 0;
    let mut leaves = Vec::new();
    let line = |out: &mut dyn Write, kind: &str, p: &str, size: u64| {
        let mode = if kind == "d" {
            "drwxr-xr-x"
        } else {
            "-rw-r--r--"
        };
        writeln!(
            out,
            r#"{{"type": "{kind}", "mode": "{mode}", "user": "www-data", "group": "www-data", "uid": 33, "gid": 33, "path": "{p}", "healthy": true, "source": "", "linktarget": "", "flags": 0, "size": {size}, "mtime": "2024-05-06T07:08:09.123456"}}"#
        )
        .unwrap();
    };
    'outer: for top in 0.. {
        let t = format!("srv/www/site{top:03}.example.com");
        line(out, "d", &t, 0);
        written += 1;
        for a in 0..10 {
            let da = format!("{t}/htdocs/wp-content/uploads{a}");
            line(out, "d", &da, 0);
            written += 1;
            for b in 0..10 {
                let db = format!("{da}/2024-{b:02} caf\\u00e9");
                line(out, "d", &db, 0);
                written += 1;
                leaves.push(db.replace("\\u00e9", "é"));
                for f in 0..100 {
                    if written >= n {
                        break 'outer;
                    }
                    written += 1;
                    file += 1;
                    let (changed, left_out) = churn(file, archive);
                    if left_out {
                        continue;
                    }
                    let p = format!("{db}/image-{f:04}-{}x{}.jpg", 100 + f, 200 + b);
                    let size =
                        (f * 7919 + b * 31) as u64 + if changed { archive as u64 } else { 0 };
                    line(out, "-", &p, size);
                }
            }
        }
    }
    leaves
}
