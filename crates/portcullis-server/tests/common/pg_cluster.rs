//! A private PostgreSQL server for fault tests: its own cluster (`initdb`) in a temporary
//! directory, on a free loopback port, that a test may stop, start and kill without touching the
//! shared test server. Uses the installed server's programs (`pg_config --bindir`, or
//! `PORTCULLIS_TEST_PG_BIN`); when they run as root, through `runuser -u postgres`
//! (PostgreSQL refuses to run as root).

use std::path::PathBuf;
use std::process::Command;

/// A cluster of one's own. Stopped and removed when dropped.
pub struct PgCluster {
    bin: PathBuf,
    dir: PathBuf,
    port: u16,
    as_postgres: bool,
}

/// Where the server programs are, or `None` when they are not installed.
fn bin_dir() -> Option<PathBuf> {
    if let Ok(dir) = std::env::var("PORTCULLIS_TEST_PG_BIN") {
        return Some(PathBuf::from(dir));
    }
    let out = Command::new("pg_config").arg("--bindir").output().ok()?;
    let dir = PathBuf::from(String::from_utf8(out.stdout).ok()?.trim());
    if dir.join("initdb").exists() {
        return Some(dir);
    }
    // Debian's pg_config (libpq-dev) may name the client's directory: try the servers'.
    let mut found: Vec<PathBuf> = std::fs::read_dir("/usr/lib/postgresql")
        .ok()?
        .filter_map(|e| Some(e.ok()?.path().join("bin")))
        .filter(|p| p.join("initdb").exists())
        .collect();
    found.sort();
    found.pop()
}

fn is_root() -> bool {
    Command::new("id")
        .arg("-u")
        .output()
        .map(|o| o.stdout.trim_ascii() == b"0")
        .unwrap_or(false)
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

impl PgCluster {
    /// A new, running cluster, or `None` (skip) when PostgreSQL's server programs are not
    /// installed — a failure under CI (`CI=true`), where they must be.
    pub fn start() -> Option<PgCluster> {
        let Some(bin) = bin_dir() else {
            assert!(
                std::env::var("CI").is_err(),
                "PostgreSQL's server programs (initdb, pg_ctl) must be installed in CI"
            );
            eprintln!("skipping: PostgreSQL's server programs (initdb, pg_ctl) are not installed");
            return None;
        };
        let as_postgres = is_root();
        let mut rand = [0u8; 6];
        aws_lc_rs::rand::fill(&mut rand).unwrap();
        let name: String = rand.iter().map(|b| format!("{b:02x}")).collect();
        let dir = std::env::temp_dir().join(format!("portcullis-pg-{name}"));
        std::fs::create_dir_all(&dir).unwrap();
        let cluster = PgCluster {
            bin,
            dir,
            port: free_port(),
            as_postgres,
        };
        if as_postgres {
            let status = Command::new("chown")
                .args(["postgres:postgres"])
                .arg(&cluster.dir)
                .status()
                .unwrap();
            assert!(status.success(), "chown of the cluster directory failed");
        }
        cluster.run(
            "initdb",
            &[
                "-D",
                cluster.data().to_str().unwrap(),
                "-U",
                "postgres",
                "--auth=trust",
                "--no-sync",
            ],
        );
        cluster.start_again();
        Some(cluster)
    }

    fn data(&self) -> PathBuf {
        self.dir.join("data")
    }

    /// `program` of the server's, run as `postgres` when we are root.
    fn command(&self, program: &str) -> Command {
        let path = self.bin.join(program);
        if self.as_postgres {
            let mut c = Command::new("runuser");
            c.args(["-u", "postgres", "--"]).arg(path);
            c
        } else {
            Command::new(path)
        }
    }

    fn run(&self, program: &str, args: &[&str]) {
        let out = self.command(program).args(args).output().unwrap();
        assert!(
            out.status.success(),
            "{program} {args:?} failed: {}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
    }

    /// The URL of its `postgres` database.
    pub fn url(&self) -> String {
        format!("postgres://postgres@127.0.0.1:{}/postgres", self.port)
    }

    /// Starts the server (again) and waits until it accepts connections.
    pub fn start_again(&self) {
        let options = format!(
            "-p {} -k {} -c listen_addresses=127.0.0.1 -c fsync=off -c max_connections=50",
            self.port,
            self.dir.display()
        );
        self.run(
            "pg_ctl",
            &[
                "-D",
                self.data().to_str().unwrap(),
                "-l",
                self.dir.join("log").to_str().unwrap(),
                "-o",
                &options,
                "-w",
                "start",
            ],
        );
    }

    /// Stops the server (`fast`: open connections are ended, as in an operator's restart).
    pub fn stop(&self) {
        self.run(
            "pg_ctl",
            &[
                "-D",
                self.data().to_str().unwrap(),
                "-m",
                "fast",
                "-w",
                "stop",
            ],
        );
    }
}

impl Drop for PgCluster {
    fn drop(&mut self) {
        let _ = self
            .command("pg_ctl")
            .arg("-D")
            .arg(self.data())
            .args(["-m", "immediate", "-w", "stop"])
            .output();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}
