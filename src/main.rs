//! Command line of plugin-exporter: parses flags, sets up logging and runs the library.

use clap::{Parser, Subcommand};
use plugin_exporter::{app, config, logging};
use std::path::PathBuf;
use std::process::ExitCode;

const VERSION: &str = concat!(
    env!("CARGO_PKG_VERSION"),
    " (revision ",
    env!("PLUGIN_EXPORTER_REVISION"),
    ")"
);

/// A Prometheus exporter that runs metric collector plugins as supervised child processes
/// and serves what they return as one /metrics.
#[derive(Parser, Debug)]
#[command(name = "plugin-exporter", version = VERSION, about)]
struct Cli {
    /// Configuration file (YAML).
    #[arg(long = "config.file", default_value = "plugin-exporter.yml")]
    config_file: PathBuf,
    /// Reload the configuration when its file changes (its directory is watched, so
    /// replacing the file by rename, as editors and Kubernetes ConfigMaps do, is seen).
    #[arg(long = "config.watch")]
    config_watch: bool,
    /// Address to listen on; repeat for several. `:PORT` listens on every interface.
    #[arg(long = "web.listen-address", default_value = ":10100")]
    listen: Vec<String>,
    /// Use the sockets systemd passes (socket activation) instead of --web.listen-address.
    #[arg(long = "web.systemd-socket", default_value_t = false)]
    systemd_socket: bool,
    /// Path under which to expose metrics.
    #[arg(long = "web.telemetry-path", default_value = "/metrics")]
    telemetry_path: String,
    /// Web config file (Prometheus exporter-toolkit format): TLS, basic authentication and
    /// response headers.
    #[arg(long = "web.config.file")]
    web_config: Option<PathBuf>,
    /// Serve POST /-/reload (SIGHUP and --config.watch reload without it).
    #[arg(long = "web.enable-lifecycle")]
    enable_lifecycle: bool,
    /// Serve POST /api/v1/plugins/NAME/restart, disable and enable.
    #[arg(long = "web.enable-admin-api")]
    enable_admin_api: bool,
    /// Most connections open at once (also at most half the NOFILE limit); at the limit, the
    /// connection idle the longest is closed to make room.
    #[arg(long = "web.max-connections", default_value_t = 512,
          value_parser = clap::value_parser!(u32).range(1..))]
    max_connections: u32,
    /// How long a keep-alive connection may wait for its next request before it is closed.
    #[arg(long = "web.idle-timeout", default_value = "60s", value_parser = parse_positive_duration)]
    idle_timeout: std::time::Duration,
    /// Only log messages with this severity or above: debug, info, warn, error.
    #[arg(long = "log.level", default_value = "info",
          value_parser = ["debug", "info", "warn", "error"])]
    log_level: String,
    /// Log format: logfmt or json.
    #[arg(long = "log.format", default_value = "logfmt")]
    log_format: logging::LogFormat,
    /// Time a plugin gets to exit after `shutdown`, and again after SIGTERM, before SIGKILL.
    #[arg(long = "plugin.shutdown-grace", default_value = "2s", value_parser = parse_duration)]
    shutdown_grace: std::time::Duration,
    /// Fence plugins with cgroups where the host allows (v2 delegated subtree, else v1);
    /// with false, only rlimits and the watchdog.
    #[arg(long = "sandbox.cgroups", default_value_t = true, action = clap::ArgAction::Set)]
    cgroups: bool,
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Validates a configuration file (and a web config file, when given): exit 0 when valid,
    /// else print every problem of both and exit 1.
    CheckConfig {
        /// The file to check.
        file: PathBuf,
        /// A web config file to check too (TLS, basic auth, headers).
        #[arg(long = "web.config.file")]
        web_config: Option<PathBuf>,
    },
    /// Checks a plugin against the protocol and the exporter's validation: exit 0 when it
    /// conforms (warnings allowed), 1 on any error, 2 when the command cannot be started.
    CheckPlugin {
        /// How the plugin talks: jsonl, prometheus or nagios.
        #[arg(long, default_value = "jsonl", value_parser = plugin_exporter::check_plugin::parse_format)]
        format: config::Format,
        /// What the plugin is: collector (answers collects or pushes), processor (sent
        /// sample batches to process; jsonl only) or output (sent sample writes to deliver;
        /// jsonl only).
        #[arg(long, default_value = "collector", value_parser = plugin_exporter::check_plugin::parse_role)]
        role: config::Role,
        /// Collects to send (batches to process, for a processor) (jsonl), pushes to wait for (jsonl, --mode push), or runs
        /// (prometheus, nagios).
        #[arg(long, default_value_t = 3)]
        collects: u32,
        /// The plugin's mode: scrape (answers collects) or push (sends batches on its own; each
        /// must come within --timeout of the one before).
        #[arg(long, default_value = "scrape", value_parser = ["scrape", "push"])]
        mode: String,
        /// Deadline of each collect or run.
        #[arg(long, default_value = "5s", value_parser = parse_duration)]
        timeout: std::time::Duration,
        /// How to print the report: text, or json (every finding with the exporter's error
        /// kind, for scripts and CI).
        #[arg(long, default_value = "text", value_parser = ["text", "json"])]
        report: String,
        /// The plugin's command and arguments, after `--`.
        #[arg(last = true, required = true)]
        command: Vec<String>,
    },
    /// Prints a Grafana dashboard (JSON) for what the configured plugins export: starts them,
    /// collects once, and builds an overview row plus a row per plugin with a panel per
    /// family. The same as `GET /api/v1/dashboards/grafana` on a running exporter.
    Dashboard {
        /// The configuration file (default: `--config.file`).
        #[arg(long)]
        config: Option<PathBuf>,
        /// Only this plugin's row (beside the overview).
        #[arg(long)]
        plugin: Option<String>,
        /// How long to wait for plugins' first batches.
        #[arg(long, default_value = "10s", value_parser = parse_duration)]
        wait: std::time::Duration,
    },
    /// Plugin packages: list, verify, scaffold and sign them.
    Plugins {
        #[command(subcommand)]
        action: PluginsCommand,
    },
    /// Internal: kills the processes a dead exporter's plugins left behind.
    #[command(hide = true)]
    Guard {
        /// The exporter's pid.
        supervisor: u32,
    },
}

#[derive(Subcommand, Debug)]
enum PluginsCommand {
    /// Every package under the configuration's plugins_dirs: version, roles, signature, where.
    List {
        /// The configuration file (default: `--config.file`).
        #[arg(long)]
        config: Option<PathBuf>,
    },
    /// Checks package directories (manifest, schema, checksums, signature): exit 1 on any
    /// problem, naming the file.
    Verify {
        /// Public keys (minisign, the base64 line or a `.pub` file) to check signatures with.
        #[arg(long = "key")]
        keys: Vec<String>,
        /// Package directories.
        #[arg(required = true)]
        dirs: Vec<PathBuf>,
    },
    /// Writes a new package (manifest, schema, plugin, a test config) that passes `verify`.
    New {
        /// The package's name.
        name: String,
        /// sh or python.
        #[arg(long, default_value = "sh")]
        lang: String,
        /// The plugin's role.
        #[arg(long, default_value = "collector")]
        role: String,
        /// Where to write it.
        #[arg(long, default_value = ".")]
        dir: PathBuf,
    },
    /// Pins every file's SHA-256 in the manifest and signs it with a minisign secret key.
    Sign {
        /// The package directory.
        dir: PathBuf,
        /// The secret key file (`minisign -G` writes one).
        #[arg(long)]
        key: PathBuf,
    },
}

fn plugins_command(action: &PluginsCommand, config_file: &std::path::Path) -> ExitCode {
    use plugin_exporter::package;
    match action {
        PluginsCommand::List { config } => {
            match app::list_packages(config.as_deref().unwrap_or(config_file)) {
                Ok(text) => {
                    print!("{text}");
                    ExitCode::SUCCESS
                }
                Err(e) => {
                    eprintln!("plugin-exporter: {e}");
                    ExitCode::FAILURE
                }
            }
        }
        PluginsCommand::Verify { keys, dirs } => {
            let mut trusted = Vec::new();
            for k in keys {
                let text = std::fs::read_to_string(k).unwrap_or_else(|_| k.clone());
                match package::TrustedKey::parse(&text) {
                    Ok(t) => trusted.push(t),
                    Err(e) => {
                        eprintln!("plugin-exporter: --key {k}: {e}");
                        return ExitCode::from(2);
                    }
                }
            }
            let mut all_ok = true;
            for d in dirs {
                let (lines, ok) = package::cli::verify(d, &trusted);
                for l in lines {
                    println!("{l}");
                }
                all_ok &= ok;
            }
            if all_ok {
                ExitCode::SUCCESS
            } else {
                ExitCode::FAILURE
            }
        }
        PluginsCommand::New {
            name,
            lang,
            role,
            dir,
        } => match package::cli::new_package(dir, name, lang, role) {
            Ok(path) => {
                println!("wrote {}", path.display());
                ExitCode::SUCCESS
            }
            Err(e) => {
                eprintln!("plugin-exporter: {e}");
                ExitCode::FAILURE
            }
        },
        PluginsCommand::Sign { dir, key } => match package::sign::sign(dir, key) {
            Ok(()) => {
                println!(
                    "signed {}",
                    dir.join(package::manifest::SIGNATURE).display()
                );
                ExitCode::SUCCESS
            }
            Err(e) => {
                eprintln!("plugin-exporter: {e}");
                ExitCode::FAILURE
            }
        },
    }
}

fn parse_duration(s: &str) -> Result<std::time::Duration, String> {
    config::duration::parse(s).map_err(|e| e.to_string())
}

fn parse_positive_duration(s: &str) -> Result<std::time::Duration, String> {
    match parse_duration(s)? {
        d if d.is_zero() => Err("must be more than zero".to_string()),
        d => Ok(d),
    }
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    if let Some(Command::Guard { supervisor }) = &cli.command {
        plugin_exporter::process::guard::run_guard(*supervisor);
        return ExitCode::SUCCESS;
    }
    if let Some(Command::CheckConfig { file, web_config }) = &cli.command {
        let web = web_config.as_deref().or(cli.web_config.as_deref());
        return match app::check_files(file, web) {
            Ok(summary) => {
                println!("{summary}");
                ExitCode::SUCCESS
            }
            Err(problems) => {
                eprintln!("{problems}");
                ExitCode::FAILURE
            }
        };
    }
    if let Some(Command::CheckPlugin {
        format,
        role,
        collects,
        mode,
        timeout,
        report,
        command,
    }) = cli.command
    {
        let opts = plugin_exporter::check_plugin::Options {
            format,
            collects,
            push: mode == "push",
            timeout,
            command,
            role,
        };
        let runtime = match tokio::runtime::Builder::new_multi_thread()
            .enable_all()
            .build()
        {
            Ok(r) => r,
            Err(e) => {
                eprintln!("cannot start the runtime: {e}");
                return ExitCode::from(2);
            }
        };
        let code = runtime.block_on(plugin_exporter::check_plugin::run(opts, report == "json"));
        // The reaper's task never ends; do not wait for it.
        runtime.shutdown_background();
        return ExitCode::from(code);
    }
    if let Some(Command::Plugins { action }) = &cli.command {
        return plugins_command(action, &cli.config_file);
    }
    if let Some(Command::Dashboard {
        config,
        plugin,
        wait,
    }) = &cli.command
    {
        let file = config.as_ref().unwrap_or(&cli.config_file);
        let runtime = match tokio::runtime::Builder::new_multi_thread()
            .enable_all()
            .build()
        {
            Ok(r) => r,
            Err(e) => {
                eprintln!("cannot start the runtime: {e}");
                return ExitCode::from(2);
            }
        };
        let result = runtime.block_on(app::dashboard(file, plugin.as_deref(), *wait));
        runtime.shutdown_background();
        return match result {
            Ok(d) => {
                println!("{}", serde_json::to_string_pretty(&d).unwrap_or_default());
                ExitCode::SUCCESS
            }
            Err(e) => {
                eprintln!("plugin-exporter: {}", plugin_exporter::error_chain(&e));
                ExitCode::FAILURE
            }
        };
    }
    if let Err(e) = logging::init(&cli.log_level, cli.log_format) {
        eprintln!("cannot set up logging: {e}");
        return ExitCode::FAILURE;
    }
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(r) => r,
        Err(e) => {
            eprintln!("cannot start the runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    let opts = app::Options {
        config_file: cli.config_file,
        listen: cli.listen,
        systemd_socket: cli.systemd_socket,
        telemetry_path: cli.telemetry_path,
        web_config: cli.web_config,
        shutdown_grace: cli.shutdown_grace,
        cgroups: cli.cgroups,
        config_watch: cli.config_watch,
        enable_lifecycle: cli.enable_lifecycle,
        enable_admin_api: cli.enable_admin_api,
        max_connections: cli.max_connections as usize,
        idle_timeout: cli.idle_timeout,
    };
    match runtime.block_on(app::run(opts, app::shutdown_signal())) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("plugin-exporter: {}", plugin_exporter::error_chain(&e));
            ExitCode::FAILURE
        }
    }
}
