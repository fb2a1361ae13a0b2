fn main() {
    std::process::exit(helmigrate::cli::flux_main(std::env::args_os()));
}
