fn main() -> std::process::ExitCode {
    finscope::cli::main()
}
