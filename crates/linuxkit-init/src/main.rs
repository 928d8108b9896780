//! linuxkit-init: the whole in-VM system of linuxkit-rs in one static
//! binary, dispatched by the name it is called by: `/init` (PID 1),
//! `service`, `logread`; or `linuxkit-init <command>`.

mod boot;
mod client;
mod container;
mod modules;
mod netlink;
mod proto;
mod ring;
mod rootdisk;
mod supervisor;
mod sys;

const HELP: &str = "linuxkit-init: the in-VM system of linuxkit-rs

Called as `init` it is PID 1; as `service` or `logread` the commands of the same names.
Usage: linuxkit-init init | service ARGS... | logread [-f] | validate BUNDLE... | version
";

fn main() {
    let mut args: Vec<String> = std::env::args().collect();
    let argv0 = args
        .first()
        .map(|a| a.rsplit('/').next().unwrap_or(a).to_string())
        .unwrap_or_default();
    let mut cmd = argv0.clone();
    if cmd == "linuxkit-init" {
        if args.len() < 2 {
            eprint!("{HELP}");
            std::process::exit(2);
        }
        cmd = args.remove(1);
    }
    let rest = &args[1.min(args.len())..];
    let code = match cmd.as_str() {
        "init" => {
            if std::process::id() != 1 {
                eprintln!(
                    "init: must run as PID 1 (this is pid {})",
                    std::process::id()
                );
                std::process::exit(1);
            }
            boot::run()
        }
        "service" => client::service(rest),
        "logread" => client::logread(rest),
        "runc" | "ctr" => {
            eprintln!(
                "{cmd}: this linuxkit-rs system has no {cmd}; its containers are managed by `service` (service list, logs, exec, ps)"
            );
            1
        }
        "validate" => {
            let mut code = 0;
            for d in rest {
                match container::validate(std::path::Path::new(d)) {
                    Ok(m) => println!("{d}: {m}"),
                    Err(e) => {
                        eprintln!("{d}: {e}");
                        code = 1;
                    }
                }
            }
            code
        }
        "version" | "--version" => {
            println!("linuxkit-init {}", env!("CARGO_PKG_VERSION"));
            0
        }
        "help" | "--help" | "-h" => {
            print!("{HELP}");
            0
        }
        other => {
            eprintln!("linuxkit-init: unknown command {other}\n{HELP}");
            2
        }
    };
    std::process::exit(code)
}
