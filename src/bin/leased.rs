//! `leased`: the lease daemon.

fn main() -> std::process::ExitCode {
    eprintln!("leased: the daemon is not part of this build yet; use `lease direct`");
    std::process::ExitCode::from(69)
}
