//! The job engine's execution foundation: quoting values for a remote POSIX shell (`shell`) and
//! running commands on clients over OpenSSH (`ssh`). See SPEC §7.
pub mod shell;
pub mod ssh;
