//! The `portcullis users|orgs|roles|flags` administration commands, run as the real binary
//! against a real server (`TestIssuer` on an ephemeral port, SQLite and PostgreSQL): create and
//! list each kind of item (JSON parsed, tables read), paging with `--all`, and the errors a
//! script must be able to tell apart — no credentials, a wrong secret, a missing scope, no
//! server — each with its message on stderr and its exit code.
//!
//! What the commands created is checked through the management API itself, not only through
//! the command's own output.

mod admin;
mod common;

use std::process::Output;
use std::time::Duration;

use admin::{ADMIN_ID, ADMIN_SECRET, Admin, on_both};
use common::TestDb;
use portcullis_server::testing::{TestIssuer, TestIssuerBuilder};
use serde_json::Value;

const BIN: &str = env!("CARGO_BIN_EXE_portcullis");
/// A management application allowed only to read users.
const READER_ID: &str = "reader-m2m";
const READER_SECRET: &str = "reader-secret-reader-secret-reader-secret-01";
/// How long one command may take.
const PATIENCE: Duration = Duration::from_secs(60);

/// The exit codes the commands document.
const EXIT_API: i32 = 1;
const EXIT_USAGE: i32 = 2;
const EXIT_AUTH: i32 = 3;
const EXIT_UNREACHABLE: i32 = 4;

/// A finished command: exit code, stdout, stderr.
#[derive(Debug)]
struct Run {
    code: Option<i32>,
    stdout: String,
    stderr: String,
}

impl Run {
    /// Stdout as the one JSON document it must be; fails the test otherwise.
    fn json(&self) -> Value {
        assert_eq!(self.code, Some(0), "{self:#?}");
        serde_json::from_str(&self.stdout)
            .unwrap_or_else(|e| panic!("stdout is not one JSON document ({e}): {self:#?}"))
    }

    /// Stdout of a successful command.
    fn ok(&self) -> &str {
        assert_eq!(self.code, Some(0), "{self:#?}");
        &self.stdout
    }

    /// Asserts a failure with `code`, nothing on stdout, and no panic or backtrace.
    fn failed(&self, code: i32) -> &str {
        assert_eq!(self.code, Some(code), "{self:#?}");
        assert!(self.stdout.is_empty(), "{self:#?}");
        for bad in ["panicked", "stack backtrace", "RUST_BACKTRACE"] {
            assert!(!self.stderr.contains(bad), "{self:#?}");
        }
        &self.stderr
    }
}

/// Runs `portcullis args…` with only `env` set of the `PORTCULLIS_*` / `KINDE_*` variables.
async fn portcullis(args: &[&str], env: &[(&str, &str)]) -> Run {
    let mut cmd = tokio::process::Command::new(BIN);
    for (key, _) in std::env::vars_os() {
        let name = key.to_string_lossy();
        if name.starts_with("PORTCULLIS_") || name.starts_with("KINDE_") {
            cmd.env_remove(&key);
        }
    }
    cmd.args(args)
        .envs(env.iter().copied())
        // A panic would print its backtrace: the assertions would see it.
        .env("RUST_BACKTRACE", "1")
        .env("NO_COLOR", "1")
        .stdin(std::process::Stdio::null())
        .kill_on_drop(true);
    let output: Output = tokio::time::timeout(PATIENCE, cmd.output())
        .await
        .unwrap_or_else(|_| panic!("portcullis {args:?} did not finish in {PATIENCE:?}"))
        .expect("portcullis runs");
    Run {
        code: output.status.code(),
        stdout: String::from_utf8(output.stdout).expect("stdout is UTF-8"),
        stderr: String::from_utf8(output.stderr).expect("stderr is UTF-8"),
    }
}

/// The environment that connects to `issuer` as `client_id` (secret from the environment).
fn env_for<'a>(issuer: &'a str, client_id: &'a str, secret: &'a str) -> [(&'a str, &'a str); 3] {
    [
        ("PORTCULLIS_ISSUER", issuer),
        ("PORTCULLIS_CLIENT_ID", client_id),
        ("PORTCULLIS_CLIENT_SECRET", secret),
    ]
}

/// A server with the full-scope management application and a read-only one.
fn tenant() -> TestIssuerBuilder {
    TestIssuer::builder().management_app(READER_ID, READER_SECRET, &["read:users"])
}

/// Runs `args` as the full-scope application.
async fn as_admin(admin: &Admin, args: &[&str]) -> Run {
    portcullis(args, &env_for(admin.issuer.url(), ADMIN_ID, ADMIN_SECRET)).await
}

/// The rows of a table (header first), split on runs of two or more spaces.
fn table_rows(text: &str) -> Vec<Vec<String>> {
    text.lines()
        .filter(|l| !l.trim().is_empty() && !l.starts_with('('))
        .map(|l| {
            l.split("  ")
                .map(str::trim)
                .filter(|c| !c.is_empty())
                .map(str::to_owned)
                .collect()
        })
        .collect()
}

/// Users: create with JSON output, list (JSON and table), get, delete; on SQLite and
/// PostgreSQL.
#[tokio::test]
async fn users_create_list_get_delete() {
    on_both(|db: TestDb| async move {
        let admin = Admin::start(db, tenant().organization("org_acme", "Acme")).await;
        let created = as_admin(
            &admin,
            &[
                "users",
                "create",
                "--email",
                "grace@example.com",
                "--given-name",
                "Grace",
                "--family-name",
                "Hopper",
                "--org",
                "org_acme",
                "--json",
            ],
        )
        .await
        .json();
        let id = created["id"].as_str().expect("an id").to_owned();
        assert!(id.starts_with("kp_"), "{created}");
        assert_eq!(created["email"], "grace@example.com");

        // The API itself has the user, in the organization.
        let answer = admin.get(&format!("/user?id={id}")).await;
        assert_eq!(answer.status, 200, "{answer:?}");
        assert_eq!(answer.body["first_name"], "Grace");
        assert_eq!(answer.body["last_name"], "Hopper");
        let members = admin.get("/organizations/org_acme/users").await;
        assert!(
            members.body["organization_users"]
                .as_array()
                .unwrap()
                .iter()
                .any(|u| u["id"] == id.as_str()),
            "{members:?}"
        );

        // JSON list: one document with the users and the next page's token.
        let listed = as_admin(&admin, &["users", "list", "--json"]).await.json();
        let users = listed["users"].as_array().expect("a users array");
        let grace = users
            .iter()
            .find(|u| u["id"] == id.as_str())
            .expect("the new user is listed");
        assert_eq!(grace["email"], "grace@example.com");
        assert!(listed.get("next_token").is_some(), "{listed}");

        // Table list: a header, and a row with the user.
        let table = as_admin(&admin, &["users", "list"]).await;
        let rows = table_rows(table.ok());
        assert_eq!(
            rows[0],
            ["ID", "EMAIL", "GIVEN NAME", "FAMILY NAME", "SUSPENDED"]
        );
        assert!(
            rows.iter()
                .any(|r| r == &[&id, "grace@example.com", "Grace", "Hopper", "no"]),
            "{rows:?}"
        );

        // Filtered by email; connection flags after the subcommand work too.
        let one = portcullis(
            &[
                "users",
                "list",
                "--email",
                "grace@example.com",
                "--json",
                "--issuer",
                admin.issuer.url(),
                "--client-id",
                ADMIN_ID,
            ],
            &[("PORTCULLIS_CLIENT_SECRET", ADMIN_SECRET)],
        )
        .await
        .json();
        assert_eq!(one["users"].as_array().unwrap().len(), 1, "{one}");

        let got = as_admin(&admin, &["users", "get", &id, "--json"])
            .await
            .json();
        assert_eq!(got["id"], id.as_str());
        assert_eq!(got["organizations"], serde_json::json!(["org_acme"]));
        let shown = as_admin(&admin, &["users", "get", &id]).await;
        assert!(shown.ok().contains("grace@example.com"), "{shown:#?}");

        let deleted = as_admin(&admin, &["users", "delete", &id, "--json"])
            .await
            .json();
        assert_eq!(deleted["deleted"], true);
        assert_eq!(admin.get(&format!("/user?id={id}")).await.status, 404);

        // A second delete: the API's 404 and error code, exit 1.
        let again = as_admin(&admin, &["users", "delete", &id]).await;
        let stderr = again.failed(EXIT_API);
        assert!(stderr.contains("HTTP 404"), "{again:#?}");
        assert!(stderr.contains("USER_NOT_FOUND"), "{again:#?}");
        admin.finish().await;
    })
    .await;
}

/// `--page-size` gives one page and says how to get the next; `--all` follows every page.
#[tokio::test]
async fn users_list_pages_and_all() {
    let admin = Admin::start(TestDb::sqlite(), tenant()).await;
    for n in 0..5 {
        let email = format!("user{n}@example.com");
        as_admin(&admin, &["users", "create", "--email", &email])
            .await
            .ok();
    }
    let first = as_admin(&admin, &["users", "list", "--page-size", "2", "--json"])
        .await
        .json();
    assert_eq!(first["users"].as_array().unwrap().len(), 2, "{first}");
    let token = first["next_token"]
        .as_str()
        .expect("a next_token")
        .to_owned();

    let second = as_admin(
        &admin,
        &[
            "users",
            "list",
            "--page-size",
            "2",
            "--next-token",
            &token,
            "--json",
        ],
    )
    .await
    .json();
    assert_eq!(second["users"].as_array().unwrap().len(), 2, "{second}");
    assert_ne!(first["users"][0]["id"], second["users"][0]["id"]);

    let table = as_admin(&admin, &["users", "list", "--page-size", "2"]).await;
    assert!(
        table.ok().contains("--next-token"),
        "the table says there is more: {table:#?}"
    );

    let all = as_admin(
        &admin,
        &["users", "list", "--page-size", "2", "--all", "--json"],
    )
    .await
    .json();
    let mut emails: Vec<&str> = all["users"]
        .as_array()
        .unwrap()
        .iter()
        .map(|u| u["email"].as_str().unwrap())
        .collect();
    emails.sort_unstable();
    let expected: Vec<String> = (0..5).map(|n| format!("user{n}@example.com")).collect();
    assert_eq!(emails, expected);
    assert!(all["next_token"].is_null(), "{all}");

    let bad = as_admin(&admin, &["users", "list", "--page-size", "0"]).await;
    bad.failed(EXIT_USAGE);
    admin.finish().await;
}

/// Organizations: create (the server picks the code), list, get, delete.
#[tokio::test]
async fn orgs_create_list_get_delete() {
    let admin = Admin::start(TestDb::sqlite(), tenant()).await;
    let created = as_admin(
        &admin,
        &[
            "orgs",
            "create",
            "--name",
            "Initech",
            "--external-id",
            "crm-42",
            "--json",
        ],
    )
    .await
    .json();
    let code = created["code"].as_str().expect("a code").to_owned();
    assert!(code.starts_with("org_"), "{created}");
    let answer = admin.get(&format!("/organization?code={code}")).await;
    assert_eq!(answer.status, 200, "{answer:?}");
    assert_eq!(answer.body["name"], "Initech");
    assert_eq!(answer.body["external_id"], "crm-42");

    let listed = as_admin(&admin, &["orgs", "list", "--json"]).await.json();
    assert!(
        listed["organizations"]
            .as_array()
            .unwrap()
            .iter()
            .any(|o| o["code"] == code.as_str() && o["name"] == "Initech"),
        "{listed}"
    );
    let table = as_admin(&admin, &["orgs", "list"]).await;
    let rows = table_rows(table.ok());
    assert_eq!(rows[0], ["CODE", "NAME", "EXTERNAL ID", "CREATED"]);
    assert!(
        rows.iter()
            .any(|r| r.len() == 4 && r[0] == code && r[1] == "Initech" && r[2] == "crm-42"),
        "{rows:?}"
    );

    let got = as_admin(&admin, &["orgs", "get", &code, "--json"])
        .await
        .json();
    assert_eq!(got["name"], "Initech");

    as_admin(&admin, &["orgs", "delete", &code]).await.ok();
    assert_eq!(
        admin
            .get(&format!("/organization?code={code}"))
            .await
            .status,
        404
    );
    admin.finish().await;
}

/// Roles: create, list, get, delete.
#[tokio::test]
async fn roles_create_list_get_delete() {
    let admin = Admin::start(TestDb::sqlite(), tenant()).await;
    let created = as_admin(
        &admin,
        &[
            "roles",
            "create",
            "--key",
            "auditor",
            "--name",
            "Auditor",
            "--description",
            "Reads the books",
            "--json",
        ],
    )
    .await
    .json();
    let id = created["id"].as_str().expect("an id").to_owned();
    let answer = admin.get(&format!("/roles/{id}")).await;
    assert_eq!(answer.status, 200, "{answer:?}");
    assert_eq!(answer.body["role"]["key"], "auditor");
    assert_eq!(answer.body["role"]["description"], "Reads the books");

    let listed = as_admin(&admin, &["roles", "list", "--json"]).await.json();
    assert!(
        listed["roles"]
            .as_array()
            .unwrap()
            .iter()
            .any(|r| r["id"] == id.as_str() && r["key"] == "auditor"),
        "{listed}"
    );
    let table = as_admin(&admin, &["roles", "list"]).await;
    let rows = table_rows(table.ok());
    assert_eq!(rows[0], ["ID", "KEY", "NAME", "DEFAULT", "DESCRIPTION"]);
    assert!(
        rows.iter()
            .any(|r| r == &[&id, "auditor", "Auditor", "no", "Reads the books"]),
        "{rows:?}"
    );

    // The same key again: the API's conflict, shown with its code.
    let dup = as_admin(
        &admin,
        &["roles", "create", "--key", "auditor", "--name", "Again"],
    )
    .await;
    let stderr = dup.failed(EXIT_API);
    assert!(stderr.contains("HTTP 409"), "{dup:#?}");

    let got = as_admin(&admin, &["roles", "get", &id]).await;
    assert!(got.ok().contains("Reads the books"), "{got:#?}");
    as_admin(&admin, &["roles", "delete", &id]).await.ok();
    assert_eq!(admin.get(&format!("/roles/{id}")).await.status, 404);
    admin.finish().await;
}

/// Feature flags: create of each type, list, delete; a default not of the type is refused
/// before anything is sent.
#[tokio::test]
async fn flags_create_list_delete() {
    let admin = Admin::start(TestDb::sqlite(), tenant()).await;
    let created = as_admin(
        &admin,
        &[
            "flags",
            "create",
            "--key",
            "dark_mode",
            "--name",
            "Dark mode",
            "--type",
            "bool",
            "--default",
            "true",
            "--json",
        ],
    )
    .await
    .json();
    assert_eq!(created["key"], "dark_mode");
    assert_eq!(created["type"], "bool");
    assert_eq!(created["default_value"], "true");
    as_admin(
        &admin,
        &[
            "flags",
            "create",
            "--key",
            "max_seats",
            "--name",
            "Seats",
            "--type",
            "int",
            "--default",
            "-5",
            "--override-level",
            "org",
        ],
    )
    .await
    .ok();
    as_admin(
        &admin,
        &[
            "flags",
            "create",
            "--key",
            "theme",
            "--name",
            "Theme",
            "--type",
            "str",
            "--default",
            "pink",
        ],
    )
    .await
    .ok();

    let listed = as_admin(&admin, &["flags", "list", "--json"]).await.json();
    let flags = &listed["feature_flags"];
    assert_eq!(flags["dark_mode"]["type"], "bool", "{listed}");
    assert_eq!(flags["dark_mode"]["value"], "true", "{listed}");
    assert_eq!(flags["max_seats"]["type"], "int", "{listed}");
    assert_eq!(flags["max_seats"]["value"], "-5", "{listed}");
    assert_eq!(flags["theme"]["value"], "pink", "{listed}");

    let table = as_admin(&admin, &["flags", "list"]).await;
    let rows = table_rows(table.ok());
    assert_eq!(rows[0], ["KEY", "TYPE", "VALUE"]);
    assert!(
        rows.iter().any(|r| r == &["theme", "str", "pink"]),
        "{rows:?}"
    );

    let bad = as_admin(
        &admin,
        &[
            "flags",
            "create",
            "--key",
            "x",
            "--name",
            "X",
            "--type",
            "int",
            "--default",
            "many",
        ],
    )
    .await;
    assert!(
        bad.failed(EXIT_USAGE).contains("not an integer"),
        "{bad:#?}"
    );

    as_admin(&admin, &["flags", "delete", "theme"]).await.ok();
    let listed = as_admin(&admin, &["flags", "list", "--json"]).await.json();
    assert!(listed["feature_flags"].get("theme").is_none(), "{listed}");
    admin.finish().await;
}

/// No issuer, no client id, no secret: exit 2 naming the flag and the variable; nothing is
/// sent.
#[tokio::test]
async fn missing_settings_are_named() {
    let run = portcullis(&["users", "list"], &[]).await;
    let stderr = run.failed(EXIT_USAGE);
    assert!(stderr.contains("PORTCULLIS_ISSUER"), "{run:#?}");
    assert!(stderr.contains("--issuer"), "{run:#?}");

    let run = portcullis(
        &["orgs", "list"],
        &[("PORTCULLIS_ISSUER", "http://localhost:9")],
    )
    .await;
    assert!(
        run.failed(EXIT_USAGE).contains("PORTCULLIS_CLIENT_ID"),
        "{run:#?}"
    );

    let run = portcullis(
        &["roles", "list", "--client-id", "someone"],
        &[
            ("PORTCULLIS_ISSUER", "http://localhost:9"),
            ("PORTCULLIS_CLIENT_SECRET", "   "),
        ],
    )
    .await;
    assert!(
        run.failed(EXIT_USAGE).contains("PORTCULLIS_CLIENT_SECRET"),
        "{run:#?}"
    );

    // A plain-http issuer that is not loopback is refused before anything is sent.
    let run = portcullis(
        &["flags", "list"],
        &env_for("http://id.example.com", "someone", "secret"),
    )
    .await;
    assert!(run.failed(EXIT_USAGE).contains("https"), "{run:#?}");
}

/// A wrong secret: exit 3 with the token endpoint's `invalid_client`; the secret is never
/// printed.
#[tokio::test]
async fn wrong_secret_is_an_auth_error() {
    let admin = Admin::start(TestDb::sqlite(), tenant()).await;
    let wrong = "not-the-secret-not-the-secret-not-the-secret";
    let run = portcullis(
        &["users", "list"],
        &env_for(admin.issuer.url(), ADMIN_ID, wrong),
    )
    .await;
    let stderr = run.failed(EXIT_AUTH);
    assert!(stderr.contains("invalid_client"), "{run:#?}");
    assert!(stderr.contains("client id and secret"), "{run:#?}");
    assert!(!stderr.contains(wrong), "the secret is printed: {run:#?}");

    // Given on the command line, it is not printed either.
    let run = portcullis(
        &[
            "users",
            "list",
            "--issuer",
            admin.issuer.url(),
            "--client-id",
            ADMIN_ID,
            "--client-secret",
            wrong,
        ],
        &[],
    )
    .await;
    assert!(!run.failed(EXIT_AUTH).contains(wrong), "{run:#?}");
    admin.finish().await;
}

/// An application without the scope a command needs: exit 1 with the API's 403 and its error
/// code; what it may do still works.
#[tokio::test]
async fn missing_scope_shows_the_api_error() {
    let admin = Admin::start(TestDb::sqlite(), tenant()).await;
    let env = env_for(admin.issuer.url(), READER_ID, READER_SECRET);
    portcullis(&["users", "list", "--json"], &env).await.json();

    let run = portcullis(&["users", "create", "--email", "eve@example.com"], &env).await;
    let stderr = run.failed(EXIT_API);
    assert!(stderr.contains("HTTP 403"), "{run:#?}");
    assert!(stderr.contains("FORBIDDEN"), "{run:#?}");
    assert!(stderr.contains("create:users"), "{run:#?}");
    assert!(!stderr.contains(READER_SECRET), "{run:#?}");
    let answer = admin.get("/users?email=eve@example.com").await;
    assert!(
        answer.body["users"]
            .as_array()
            .is_none_or(|users| users.is_empty()),
        "{answer:?}"
    );

    let run = portcullis(&["orgs", "list", "--json"], &env).await;
    assert!(run.failed(EXIT_API).contains("FORBIDDEN"), "{run:#?}");
    admin.finish().await;
}

/// No server at the issuer: exit 4 with a message saying so.
#[tokio::test]
async fn unreachable_server_is_named() {
    // A port that was just free: nothing listens there.
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    drop(listener);
    let issuer = format!("http://127.0.0.1:{port}");
    let run = portcullis(
        &["users", "list"],
        &env_for(&issuer, ADMIN_ID, ADMIN_SECRET),
    )
    .await;
    let stderr = run.failed(EXIT_UNREACHABLE);
    assert!(stderr.contains("cannot reach"), "{run:#?}");
    assert!(stderr.contains(&issuer), "{run:#?}");
}

/// The help texts list the commands, the connection settings and the exit codes.
#[tokio::test]
async fn help_reads_well() {
    let top = portcullis(&["--help"], &[]).await;
    let text = top.ok();
    for command in ["users", "orgs", "roles", "flags", "serve", "dev"] {
        assert!(
            text.lines()
                .any(|l| l.trim_start().starts_with(&format!("{command} "))),
            "{command} in {text}"
        );
    }

    let users = portcullis(&["users", "--help"], &[]).await;
    let text = users.ok();
    for expected in [
        "list",
        "create",
        "get",
        "delete",
        "--issuer",
        "--client-id",
        "--client-secret",
        "--json",
        "PORTCULLIS_ISSUER",
        "PORTCULLIS_CLIENT_SECRET",
        "Exit codes",
    ] {
        assert!(text.contains(expected), "{expected} in {text}");
    }

    let create = portcullis(&["users", "create", "--help"], &[]).await;
    let text = create.ok();
    for expected in ["--email", "--given-name", "--family-name", "--org"] {
        assert!(text.contains(expected), "{expected} in {text}");
    }

    let flags = portcullis(&["flags", "create", "--help"], &[]).await;
    let text = flags.ok();
    for expected in ["--type", "bool", "str", "int", "--default"] {
        assert!(text.contains(expected), "{expected} in {text}");
    }

    // The secret's value from the environment is never shown in the help.
    let hidden = portcullis(
        &["users", "list", "--help"],
        &[("PORTCULLIS_CLIENT_SECRET", "shh-shh-shh-shh")],
    )
    .await;
    assert!(!hidden.ok().contains("shh-shh"), "{hidden:#?}");
}
