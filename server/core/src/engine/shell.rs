//! Quoting for a POSIX remote shell. [`quote`] is THE one function through which any
//! user-supplied value (hostname, path, folder, archive name, extra_vars…) reaches a remote
//! command line; locally, commands are always argv arrays and never go through a shell.

/// Why a value cannot be put on a remote command line.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ShellError {
    /// A NUL byte cannot be passed in a shell word (C strings end at it), so it is refused rather
    /// than silently truncated.
    #[error("a value contains a NUL byte, which cannot be passed to a shell")]
    Nul,
    /// An environment variable name that is not `[A-Za-z_][A-Za-z0-9_]*`.
    #[error("invalid environment variable name {0:?}")]
    InvalidVarName(String),
}

/// Quotes `s` as one word for a POSIX shell: wrapped in single quotes, each `'` written as
/// `'\''`; the empty string becomes `''`. Inside single quotes nothing is special (`$`, backquote,
/// `\`, `;`, `*`, `~`, newlines…), so the shell yields exactly `s`. NUL is refused.
pub fn quote(s: &str) -> Result<String, ShellError> {
    if s.contains('\0') {
        return Err(ShellError::Nul);
    }
    let mut out = String::with_capacity(s.len() + 2);
    out.push('\'');
    for c in s.chars() {
        if c == '\'' {
            out.push_str("'\\''");
        } else {
            out.push(c);
        }
    }
    out.push('\'');
    Ok(out)
}

/// The command line running `argv` in a POSIX shell: every word quoted with [`quote`], joined by
/// single spaces.
pub fn command_line(argv: &[impl AsRef<str>]) -> Result<String, ShellError> {
    let words = argv
        .iter()
        .map(|a| quote(a.as_ref()))
        .collect::<Result<Vec<_>, _>>()?;
    Ok(words.join(" "))
}

/// Whether `name` is a portable environment variable name.
pub fn is_var_name(name: &str) -> bool {
    let mut chars = name.chars();
    matches!(chars.next(), Some(c) if c == '_' || c.is_ascii_alphabetic())
        && chars.all(|c| c == '_' || c.is_ascii_alphanumeric())
}

/// The remote command line that reads one line from stdin into the environment variable `var`,
/// exports it and `exec`s `remote_argv`: `IFS= read -r VAR && export VAR && exec 'argv0' …`.
///
/// This is how secrets (BORG_PASSPHRASE) travel: the engine writes the secret followed by a
/// newline on the SSH connection's stdin, so it never appears on a command line (local or remote,
/// visible in `ps`) nor in a log. The secret itself must not contain a newline.
pub fn with_secret_env(var: &str, remote_argv: &[String]) -> Result<String, ShellError> {
    if !is_var_name(var) {
        return Err(ShellError::InvalidVarName(var.to_string()));
    }
    Ok(format!(
        "IFS= read -r {var} && export {var} && exec {}",
        command_line(remote_argv)?
    ))
}

#[cfg(test)]
mod tests {
    use std::process::Command;

    use proptest::prelude::*;

    use super::*;

    /// Runs `printf '%s\0' <words>` through `/bin/sh -c` and answers the words it printed.
    fn sh_words(line: &str) -> Vec<Vec<u8>> {
        let out = Command::new("/bin/sh")
            .arg("-c")
            .arg(format!("printf '%s\\0' {line}"))
            .output()
            .expect("running /bin/sh");
        assert!(out.status.success(), "sh failed: {out:?}");
        let mut words: Vec<Vec<u8>> = out.stdout.split(|b| *b == 0).map(<[u8]>::to_vec).collect();
        assert_eq!(words.pop(), Some(vec![]), "output ends with NUL");
        words
    }

    #[test]
    fn quote_simple_values() {
        assert_eq!(quote("").unwrap(), "''");
        assert_eq!(quote("abc").unwrap(), "'abc'");
        assert_eq!(quote("a b").unwrap(), "'a b'");
        assert_eq!(quote("it's").unwrap(), "'it'\\''s'");
        assert_eq!(quote("'").unwrap(), "''\\'''");
        assert_eq!(quote("$(x)").unwrap(), "'$(x)'");
    }

    #[test]
    fn quote_refuses_nul() {
        assert_eq!(quote("a\0b"), Err(ShellError::Nul));
        assert_eq!(command_line(&["ok", "a\0"]), Err(ShellError::Nul));
    }

    #[test]
    fn command_line_joins_quoted_words() {
        assert_eq!(
            command_line(&["borg", "create", "--json", "r::a b", ""]).unwrap(),
            "'borg' 'create' '--json' 'r::a b' ''"
        );
        let none: [&str; 0] = [];
        assert_eq!(command_line(&none).unwrap(), "");
    }

    #[test]
    fn nasty_values_survive_sh() {
        let values = [
            "",
            "a b",
            "$(touch /tmp/x)",
            "`id`",
            ";rm -rf /",
            "'",
            "\"",
            "a'b\"c",
            "line1\nline2",
            "héllo ✓ 日本",
            "*",
            "~",
            "-n",
            "\\",
            "$HOME",
            "  lead and trail  ",
            "tab\there",
        ];
        let line = command_line(&values).unwrap();
        let got = sh_words(&line);
        let want: Vec<Vec<u8>> = values.iter().map(|v| v.as_bytes().to_vec()).collect();
        assert_eq!(got, want);
    }

    #[test]
    fn with_secret_env_line() {
        let argv = vec!["borg".to_string(), "list".into(), "r::it's".into()];
        assert_eq!(
            with_secret_env("BORG_PASSPHRASE", &argv).unwrap(),
            "IFS= read -r BORG_PASSPHRASE && export BORG_PASSPHRASE && exec 'borg' 'list' 'r::it'\\''s'"
        );
        assert!(matches!(
            with_secret_env("A;B", &argv),
            Err(ShellError::InvalidVarName(_))
        ));
        assert!(matches!(
            with_secret_env("1A", &argv),
            Err(ShellError::InvalidVarName(_))
        ));
    }

    #[test]
    fn with_secret_env_runs_locally() {
        let argv = vec![
            "sh".to_string(),
            "-c".into(),
            "printf %s \"$SECRET\"".into(),
        ];
        let line = with_secret_env("SECRET", &argv).unwrap();
        let mut child = Command::new("/bin/sh")
            .arg("-c")
            .arg(&line)
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        use std::io::Write;
        child
            .stdin
            .take()
            .unwrap()
            .write_all(b" s3cr3t $(x) 'q' \\n\n")
            .unwrap();
        let out = child.wait_with_output().unwrap();
        assert!(out.status.success());
        assert_eq!(out.stdout, b" s3cr3t $(x) 'q' \\n");
    }

    fn nasty_char() -> impl Strategy<Value = char> {
        prop_oneof![
            prop::sample::select(vec![
                '\'', '"', '$', '(', ')', '`', ';', '\n', ' ', '*', '~', '-', '\\', '&', '|', '<',
                '>', '!', '#', '?', '[', ']', '{', '}', '\t', '=', '%',
            ]),
            any::<char>().prop_filter("no NUL", |c| *c != '\0'),
        ]
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(256))]

        #[test]
        fn quoted_value_round_trips_through_sh(
            s in prop::collection::vec(nasty_char(), 0..40).prop_map(|v| v.into_iter().collect::<String>())
        ) {
            let got = sh_words(&quote(&s).unwrap());
            prop_assert_eq!(got, vec![s.as_bytes().to_vec()]);
        }

        #[test]
        fn command_line_round_trips_through_sh(
            words in prop::collection::vec("[^\0]{0,12}", 1..6)
        ) {
            let got = sh_words(&command_line(&words).unwrap());
            let want: Vec<Vec<u8>> = words.iter().map(|w| w.as_bytes().to_vec()).collect();
            prop_assert_eq!(got, want);
        }
    }
}
