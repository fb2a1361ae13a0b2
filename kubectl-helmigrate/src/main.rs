fn main() {
    std::process::exit(helmigrate::cli::kubectl_main(std::env::args_os()));
}
