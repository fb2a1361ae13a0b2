fn main() {
    helmigrate::cli::native::set_commit(env!("HELMIGRATE_GIT_COMMIT"));
    std::process::exit(helmigrate::cli::kubectl_main(std::env::args_os()));
}
