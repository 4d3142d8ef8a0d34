//! `portcullis users|orgs|roles|flags …`: the common administration tasks, run against a
//! running server (Portcullis or Kinde) through the SDK's management client
//! ([`portcullis::management::ManagementClient`]).
//!
//! The command authenticates as a machine-to-machine application granted the management API
//! (`client_credentials`, audience `{issuer}/api`): `--issuer`, `--client-id` and
//! `--client-secret`, or `PORTCULLIS_ISSUER`, `PORTCULLIS_CLIENT_ID` and
//! `PORTCULLIS_CLIENT_SECRET` (the environment is the better place for the secret: a command
//! line is visible to other local users). The secret is never printed.
//!
//! Output is a table on stdout, or with `--json` one JSON document. A failure prints what went
//! wrong on stderr — for an API error its HTTP status, error codes, messages and request id —
//! and ends with one of the [`exit`] codes.

mod commands;
mod output;

use std::io::Write as _;

use clap::{Args, Subcommand};
use portcullis::Config;
use portcullis::management::{ManagementClient, ManagementError};

use commands::Resource;
pub(crate) use commands::{FlagsCommand, OrgsCommand, RolesCommand, UsersCommand};

/// Exit codes of the administration commands.
pub(crate) mod exit {
    /// The API refused or failed the request (an HTTP error status, an unexpected answer).
    pub(crate) const API: u8 = 1;
    /// Bad usage or configuration: a missing issuer or credential, an invalid value (clap's own
    /// usage errors exit with 2 too).
    pub(crate) const USAGE: u8 = 2;
    /// The token endpoint refused the client id and secret (or the application is not allowed
    /// the management API).
    pub(crate) const AUTH: u8 = 3;
    /// The server could not be reached (connection refused, DNS, TLS, timeout).
    pub(crate) const UNREACHABLE: u8 = 4;
}

/// Text shown after the help of every administration command.
const AFTER_HELP: &str = "\
Connection (flags or environment):
  --issuer         PORTCULLIS_ISSUER         the server, e.g. http://localhost:8080
  --client-id      PORTCULLIS_CLIENT_ID      a machine-to-machine application granted the
                                             management API (`portcullis dev`: demo-admin)
  --client-secret  PORTCULLIS_CLIENT_SECRET  its secret; prefer the environment variable

Output: a table, or one JSON document with --json.
Exit codes: 0 done, 1 the API refused the request, 2 bad usage or configuration,
            3 the credentials were refused, 4 the server could not be reached.";

/// The administration commands, flattened into the top-level command line.
#[derive(Subcommand)]
pub(crate) enum ManagementCommand {
    /// Manage users (through the management API of a running server).
    #[command(after_help = AFTER_HELP)]
    Users {
        #[command(flatten)]
        common: Common,
        #[command(subcommand)]
        command: UsersCommand,
    },
    /// Manage organizations (through the management API of a running server).
    #[command(after_help = AFTER_HELP)]
    Orgs {
        #[command(flatten)]
        common: Common,
        #[command(subcommand)]
        command: OrgsCommand,
    },
    /// Manage roles (through the management API of a running server).
    #[command(after_help = AFTER_HELP)]
    Roles {
        #[command(flatten)]
        common: Common,
        #[command(subcommand)]
        command: RolesCommand,
    },
    /// Manage feature flags (through the management API of a running server).
    #[command(after_help = AFTER_HELP)]
    Flags {
        #[command(flatten)]
        common: Common,
        #[command(subcommand)]
        command: FlagsCommand,
    },
}

/// How to reach the management API, and how to print the answer. Accepted before or after the
/// subcommand (`portcullis users --json list` or `portcullis users list --json`).
#[derive(Args)]
pub(crate) struct Common {
    /// The server's issuer URL, e.g. http://localhost:8080 (https except on localhost).
    #[arg(long, env = "PORTCULLIS_ISSUER", global = true, value_name = "URL")]
    issuer: Option<String>,
    /// Client id of a machine-to-machine application granted the management API.
    #[arg(long, env = "PORTCULLIS_CLIENT_ID", global = true, value_name = "ID")]
    client_id: Option<String>,
    /// Its client secret. Prefer the environment variable: a command line is visible to other
    /// local users.
    #[arg(
        long,
        env = "PORTCULLIS_CLIENT_SECRET",
        hide_env_values = true,
        global = true,
        value_name = "SECRET"
    )]
    client_secret: Option<String>,
    /// Print one JSON document instead of a table.
    #[arg(long, global = true)]
    json: bool,
}

/// Why an administration command failed.
#[derive(Debug, thiserror::Error)]
pub(crate) enum CliError {
    /// A missing or invalid setting or argument; nothing was sent.
    #[error("{0}")]
    Usage(String),
    /// The management client failed.
    #[error(transparent)]
    Management(#[from] ManagementError),
    /// The server sent the same `next_token` twice while listing every page.
    #[error("the server sent the same next_token twice: stopped listing to avoid a loop")]
    PagingLoop,
    /// Stdout could not be written.
    #[error("cannot write the output: {0}")]
    Output(#[from] std::io::Error),
}

/// Runs an administration command and returns the process exit code (0 on success). Errors
/// are printed on stderr here.
pub(crate) async fn run(command: ManagementCommand) -> u8 {
    let (common, resource) = match command {
        ManagementCommand::Users { common, command } => (common, Resource::Users(command)),
        ManagementCommand::Orgs { common, command } => (common, Resource::Orgs(command)),
        ManagementCommand::Roles { common, command } => (common, Resource::Roles(command)),
        ManagementCommand::Flags { common, command } => (common, Resource::Flags(command)),
    };
    let outcome = match connect(&common) {
        Ok(client) => commands::run(&client, resource, common.json).await,
        Err(e) => Err(e),
    };
    let result = outcome.and_then(|text| write_stdout(&text));
    match result {
        Ok(()) => 0,
        // `portcullis users list | head`: the reader left, nothing is wrong.
        Err(CliError::Output(e)) if e.kind() == std::io::ErrorKind::BrokenPipe => 0,
        Err(e) => report(&e, common.issuer.as_deref().unwrap_or("")),
    }
}

fn write_stdout(text: &str) -> Result<(), CliError> {
    let mut out = std::io::stdout().lock();
    out.write_all(text.as_bytes())?;
    out.flush()?;
    Ok(())
}

/// A setting from a flag or the environment, trimmed; `None` when absent or blank.
fn setting(value: Option<&String>) -> Option<&str> {
    value.map(|v| v.trim()).filter(|v| !v.is_empty())
}

/// The management client for these settings.
fn connect(common: &Common) -> Result<ManagementClient, CliError> {
    let missing = |what: &str, flag: &str, var: &str| {
        CliError::Usage(format!("{what} is not set: use {flag} or {var}"))
    };
    let issuer = setting(common.issuer.as_ref()).ok_or_else(|| {
        missing(
            "the issuer (the server's URL, e.g. http://localhost:8080)",
            "--issuer",
            "PORTCULLIS_ISSUER",
        )
    })?;
    let client_id = setting(common.client_id.as_ref()).ok_or_else(|| {
        missing(
            "the client id (of a machine-to-machine application granted the management API)",
            "--client-id",
            "PORTCULLIS_CLIENT_ID",
        )
    })?;
    let secret = setting(common.client_secret.as_ref()).ok_or_else(|| {
        missing(
            "the client secret",
            "--client-secret",
            "PORTCULLIS_CLIENT_SECRET",
        )
    })?;
    let config = Config::builder(issuer)
        .client_id(client_id)
        .client_secret(secret)
        .build()
        .map_err(|e| CliError::Usage(e.to_string()))?;
    Ok(ManagementClient::new(&config)?)
}

/// Prints `error` on stderr and returns its exit code.
fn report(error: &CliError, issuer: &str) -> u8 {
    let (code, text) = describe(error, issuer.trim());
    let mut err = std::io::stderr().lock();
    // Nothing more can be done if stderr is gone too.
    let _ = writeln!(err, "{text}");
    let _ = err.flush();
    code
}

/// The exit code and the message (one or more lines, no trailing newline) for `error`.
fn describe(error: &CliError, issuer: &str) -> (u8, String) {
    let management = match error {
        CliError::Usage(message) => return (exit::USAGE, format!("error: {message}")),
        CliError::PagingLoop | CliError::Output(_) => {
            return (exit::API, format!("error: {error}"));
        }
        CliError::Management(e) => e,
    };
    match management {
        ManagementError::Api(api) => {
            let mut text = format!(
                "error: the server refused the request: {} {} answered HTTP {}",
                api.method, api.path, api.status
            );
            for detail in &api.errors {
                let code = detail.code.as_deref().unwrap_or("-");
                match detail.message.as_deref() {
                    Some(message) => text.push_str(&format!("\n  {code}: {message}")),
                    None => text.push_str(&format!("\n  {code}")),
                }
            }
            if api.errors.is_empty()
                && let Some(snippet) = &api.body_snippet
            {
                text.push_str(&format!("\n  body: {snippet:?}"));
            }
            if let Some(id) = &api.request_id {
                text.push_str(&format!("\n  request id: {id}"));
            }
            if matches!(api.status, 401 | 403) {
                text.push_str(
                    "\nhint: the application is not allowed this operation; grant it the \
                     management scope the server names",
                );
            }
            (exit::API, output::clean(&text))
        }
        ManagementError::InvalidResponse { .. } => {
            (exit::API, output::clean(&format!("error: {management}")))
        }
        ManagementError::Transport { .. } => (
            exit::UNREACHABLE,
            output::clean(&format!(
                "error: cannot reach the management API at {issuer}: {management}"
            )),
        ),
        ManagementError::Token(portcullis::Error::Fetch(fetch)) => (
            exit::UNREACHABLE,
            output::clean(&format!(
                "error: cannot reach the server at {issuer} (is it running, and is the issuer \
                 right?): {fetch}"
            )),
        ),
        ManagementError::Token(token) => {
            let mut text = format!("error: could not sign in to the management API: {token}");
            if token.oauth_error_code() == Some("invalid_client") {
                text.push_str("\nhint: check the client id and secret");
            } else if token.oauth_error_code() == Some("unauthorized_client")
                || token.oauth_error_code() == Some("access_denied")
            {
                text.push_str(
                    "\nhint: the application must be a machine-to-machine application granted \
                     the management API",
                );
            }
            (exit::AUTH, output::clean(&text))
        }
        ManagementError::InvalidArgument { .. } | ManagementError::Config(_) => {
            (exit::USAGE, output::clean(&format!("error: {management}")))
        }
        // A kind of failure this version does not know: the API failed.
        _ => (exit::API, output::clean(&format!("error: {management}"))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn usage_errors_exit_with_2() {
        let (code, text) = describe(&CliError::Usage("the issuer is not set".into()), "");
        assert_eq!(code, exit::USAGE);
        assert_eq!(text, "error: the issuer is not set");
    }

    #[test]
    fn blank_settings_are_absent() {
        assert_eq!(setting(Some(&"  ".to_owned())), None);
        assert_eq!(setting(Some(&" x ".to_owned())), Some("x"));
        assert_eq!(setting(None), None);
    }
}
