//! The `breakglass` binary: everything lives in the library; this only maps its result to the
//! process exit code.

fn main() -> std::process::ExitCode {
    breakglass::run()
}
